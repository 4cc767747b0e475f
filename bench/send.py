"""Digest send benchmark: `start_run` + `send_run` to 20,000 subscribers through the
smtp backend into Postfix's smtp-sink and through the postmark and sendgrid backends into
a local HTTP server, beside a raw baseline: one prebuilt message's bytes pushed with
smtplib over the same number of connections into the same kind of sink (bench/baseline.py),
once as it comes and once with its threads kept to one CPU, as an SMTP send keeps ours
(pipeline.cpus): on several CPUs that alone makes threads taking turns under the GIL much
faster, so the second ratio compares the rest.

Sinks and phases each run in their own process; every phase gets a fresh copy of a
database prepared beforehand (5 posts, N confirmed weekly subscribers): a copied SQLite
file, or with --database postgres a PostgreSQL database made from a template, so its
peak memory (ru_maxrss) is its own. "send" is `send_run` alone, "e2e" adds planning
(`start_run`: selection and outbox rows); "send peak" is the peak RSS during the send
alone (the high-water mark is reset after planning, where Linux allows it); "cpu" is the
sender's CPU time during the send over its wall time (all threads; near 100% means the
GIL, not the network, set the pace), "sink busy" the same for the sink. Raw and ours
alternate for --rounds rounds, so a machine busy with other work slows both alike; the
ratios of each round and their spread are printed. With --dkim, each round also times
a copy's private-key operations on one core and prints the ceiling of signed/unsigned
that the CPUs allow (`ceiling`), to read the measured ratio against: where RSA is slow
next to the rest of a copy's sending, no scheduling reaches a high ratio on two CPUs.
A memory phase repeats ours via smtp on 5,000 subscribers (200,000 and 1,000,000 with
--huge, which takes many minutes) to show whether the peak stays flat. Figures are
printed, never asserted; compare the ratios, not the seconds, across machines.

    .venv/bin/python -P bench/send.py [--subscribers 20000] [--connections 4] [--rounds 3]
                                      [--database sqlite|postgres] [--huge]
                                      [--sink smtp-sink|asyncio|aiosmtpd] [--profile FILE]
                                      [--api-only]

--api-only runs only the API phases, each --rounds times, and prints their medians.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.corpus
from bench.baseline import HOST, cpu_seconds, push_raw, smtp_sink
from bench.corpus import WORDS
from bench.phases import peak_mib, run_in_child

if TYPE_CHECKING:
    from pipeline.settings import Settings

SINKS = Path(__file__).with_name("sinks.py")
SITE = "https://blog.example.org"
SECRET = "bench-send-secret-0123456789abcdef"
SENDER = "Policy Blog <news@blog.example.org>"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POSTS = 5
API = ("postmark", "sendgrid")
SIGNUP_CHUNK = 5_000
SMALL, HUGE = (5_000,), (200_000, 1_000_000)


# --- in a phase process -------------------------------------------------------------------


def reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux ≥ 4.0); False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def server_cpu() -> float:
    """CPU seconds so far of this machine's PostgreSQL server processes (0 without them):
    with PostgreSQL the server shares the CPUs with the sender and the sink."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            line = stat.read_text()
            name, _, rest = line.partition(") ")
            if name.endswith("(postgres"):
                fields = rest.split()
                total += int(fields[11]) + int(fields[12])
    return total / ticks


def bench_settings(url: str, folder: Path, **overrides: Any) -> Settings:
    """Settings for the database at `url`, with a fixed secret key; `overrides` pick the
    backend."""
    from pipeline.settings import load_settings

    return load_settings(
        database_url=url,
        data_dir=folder,
        site_url=SITE,
        site_title="Policy Blog",
        email_from=SENDER,
        secret_key=SECRET,
        **overrides,
    )


def dkim_settings(folder: Path, *, ed25519: bool) -> dict[str, Any]:
    """A fresh RSA-2048 key in `folder` as DKIM settings (and an Ed25519 key beside it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519 as edwards
    from cryptography.hazmat.primitives.asymmetric import rsa

    keys: dict[str, Any] = {"dkim_selector": "bench", "dkim_domain": "blog.example.org"}
    made = {"dkim_key_file": rsa.generate_private_key(65537, 2048)}
    if ed25519:
        made["dkim_ed25519_key_file"] = edwards.Ed25519PrivateKey.generate()
        keys["dkim_ed25519_selector"] = "bench-ed"
    for setting, key in made.items():
        path = folder / f"{setting}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        keys[setting] = path
    return keys


def signature_seconds(ed25519: bool) -> float:
    """CPU seconds of the private-key operations of one copy (RSA-2048, and Ed25519
    beside it), timed in this process for about a second."""
    from cryptography.hazmat.primitives.asymmetric import ed25519 as edwards
    from cryptography.hazmat.primitives.asymmetric import rsa

    from pipeline.mail.keyprocess import sign

    keys: list[Any] = [rsa.generate_private_key(65537, 2048)]
    if ed25519:
        keys.append(edwards.Ed25519PrivateKey.generate())
    copies, started = 0, time.process_time()
    while (spent := time.process_time() - started) < 1:
        for key in keys:
            sign(key, copies.to_bytes(32, "big"))
        copies += 1
    return spent / copies


def ceiling(unsigned: dict[str, Any], signature: float, cpus: int) -> float:
    """The best signed/unsigned ratio these CPUs allow: at best, signing adds only the
    private-key operations; the sender, its key processes and the sink share `cpus`, and
    the key processes have only the CPUs the send leaves them (all but the one it keeps
    to, see pipeline.cpus), and PostgreSQL's server its share. A signed send cannot beat
    the unsigned one, whose sender is held by the GIL."""
    messages = unsigned["messages"]
    sender = unsigned["cpu_seconds"] / messages
    sink = unsigned["sink_busy"] * unsigned["seconds"] / messages
    server = unsigned["server_seconds"] / messages
    best = (sender + signature + sink + server) / cpus  # seconds a copy, all CPUs busy
    if cpus > 1:
        best = max(best, signature / (cpus - 1))
    return min(1.0, unsigned["seconds"] / messages / best)


def prepare(url: str, subscribers: int) -> None:
    """A database with POSTS recent posts and `subscribers` confirmed weekly subscribers."""
    import random

    from pipeline.storage import open_database
    from pipeline.storage.models import Post
    from subscribers import Signup, SubscriberStore

    rng = random.Random(42)
    db = open_database(url)
    now = datetime.now(UTC)
    with db.session() as session:
        for number in range(POSTS):
            when = now - timedelta(hours=1 + 12 * number)
            summary = " ".join(rng.choices(WORDS, k=60)).capitalize() + "."
            session.add(
                Post(
                    guid=f"urn:bench:{number}",
                    source="bench",
                    slug=f"post-{number}",
                    status="published",
                    title=" ".join(rng.choices(WORDS, k=rng.randint(4, 10))).capitalize(),
                    url=f"{SITE}/posts/post-{number}",
                    authors=[f"Author {rng.randrange(50)}"],
                    tags=[],
                    summary=summary[:300],
                    content_html=f"<p>{summary}</p>" * 4,
                    content_hash=f"bench{number}",
                    published=when,
                    updated=when,
                    first_seen=when,
                )
            )
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    for start in range(0, subscribers, SIGNUP_CHUNK):
        signups = [
            Signup(f"reader{number}@example.org", f"Reader {number}", confirmed=True)
            for number in range(start, min(start + SIGNUP_CHUNK, subscribers))
        ]
        store.add_many(signups, method="import")
    db.close()


def sample_message(url: str, folder: Path) -> tuple[str, bytes]:
    """One real digest from the database, as the envelope sender and the bytes on the wire."""
    from sqlalchemy import select

    from pipeline.digest import digest_recipient, digest_template, render_digest
    from pipeline.storage import open_database
    from pipeline.storage.models import Post
    from subscribers import Subscriber, TokenSigner

    settings = bench_settings(url, folder)
    db = open_database(settings.effective_database_url)
    with db.session() as session:
        posts = list(session.scalars(select(Post).order_by(Post.published.desc())))
        reader = session.scalars(select(Subscriber).limit(1)).one()
    db.close()
    template = digest_template(settings, render_digest(settings, posts))
    message = template.render(digest_recipient(settings, TokenSigner([SECRET]), reader, "1"))
    return message.sender, message.raw


def raw_phase(
    url: str, folder: Path, messages: int, connections: int, port: int, one: bool = False
) -> dict[str, Any]:
    """`messages` copies of one prebuilt digest pushed with smtplib over `connections`;
    with `one`, its threads kept to one CPU as ours are (pipeline.cpus)."""
    from pipeline.cpus import one_cpu

    sender, raw = sample_message(url, folder)
    with one_cpu(folder) if one else contextlib.nullcontext():
        figures = push_raw(port, sender, raw, messages, connections)
    figures |= {"total_seconds": figures["seconds"], "peak_mib": peak_mib(), "send_peak_mib": None}
    return figures


def ours_phase(url: str, folder: Path, backend: str, port: int, connections: int) -> dict[str, Any]:
    """`start_run` then `send_run` through `backend` ("smtp", "postmark" or "sendgrid";
    "smtp+dkim" signs each copy with RSA, "smtp+dkim2" with RSA and Ed25519)."""
    from pipeline.digest.runs import start_run
    from pipeline.outbox import send_run
    from pipeline.storage import open_database

    backend, _, signed = backend.partition("+")
    if backend == "smtp":
        wire = {"smtp_host": HOST, "smtp_port": port, "smtp_security": "none"}
    else:
        wire = {"api_key": "test", "api_base_url": f"http://{HOST}:{port}"}
    keys = dkim_settings(folder, ed25519=signed == "dkim2") if signed else {}
    settings = bench_settings(
        url, folder, email_backend=backend, smtp_connections=connections, **wire, **keys
    )
    db = open_database(settings.effective_database_url)
    started = time.perf_counter()
    run = start_run(db, settings, "weekly", datetime.now(UTC)).run
    planned = time.perf_counter()
    plan_peak = peak_mib()
    gc.collect()
    reset = reset_peak()
    planned_at, cpu = time.perf_counter(), cpu_seconds()  # the reset is not the pipeline's
    server = server_cpu()
    report = send_run(db, settings, run.id)
    finished, cpu = time.perf_counter(), cpu_seconds() - cpu
    server = server_cpu() - server
    db.close()
    if report.failed or report.retrying or report.status != "done":
        raise SystemExit(f"{backend}: {report.summary()}; {report.errors[:3]}")
    send_peak = peak_mib()
    return {
        "messages": report.sent,
        "seconds": finished - planned_at,
        "cpu_seconds": cpu,
        "server_seconds": server,
        "total_seconds": planned - started + finished - planned_at,
        "plan_seconds": planned - started,
        "peak_mib": max(plan_peak, send_peak),
        "plan_peak_mib": plan_peak,
        "send_peak_mib": send_peak if reset else None,
    }


def phase(kind: str, url: str, messages: int, connections: int, port: int) -> None:
    """Run one phase in this process (its folder is the working directory) and print its
    figures as JSON."""
    folder = Path.cwd()
    if kind == "prepare":
        prepare(url, messages)
        figures: dict[str, Any] = {}
    elif kind in ("raw", "raw1"):
        figures = raw_phase(url, folder, messages, connections, port, one=kind == "raw1")
    else:
        figures = ours_phase(url, folder, kind, port, connections)
    print(json.dumps(figures))


def profiled_phase(kind: str, url: str, connections: int, port: int, out: str) -> None:
    """`ours_phase` under cProfile (main thread only: SMTP workers show as waiting)."""
    import cProfile
    import io
    import pstats

    profile = cProfile.Profile()
    figures = profile.runcall(ours_phase, url, Path.cwd(), kind, port, connections)
    profile.dump_stats(out)
    listing = io.StringIO()
    stats = pstats.Stats(profile, stream=listing)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    print(listing.getvalue(), file=sys.stderr)
    print(json.dumps(figures))


# --- in the parent ------------------------------------------------------------------------


class Databases:
    """Prepared databases, one per size, and a fresh copy of one for each phase: a copied
    SQLite file, or a PostgreSQL database made from the prepared one as its template."""

    def __init__(self, kind: str, scratch: Path, postgres: str) -> None:
        self.kind, self.scratch, self.postgres = kind, scratch, postgres
        self.prepared: dict[int, str] = {}
        self.made: list[str] = []
        self.copies = 0

    def prepare(self, size: int) -> None:
        started = time.perf_counter()
        folder = self.scratch / f"prepared-{size}"
        folder.mkdir()
        if self.kind == "sqlite":
            url = f"sqlite:///{folder / 'bench.db'}"
        else:
            url = self._create(f"bench_send_{os.getpid()}_prepared_{size}")
        run_phase("prepare", url, folder, size)
        self.prepared[size] = url
        print(f"prepared {size:,} subscribers in {time.perf_counter() - started:.1f} s")

    def fresh(self, size: int) -> tuple[str, Path]:
        """A copy of the database prepared with `size` subscribers, and a folder of its own."""
        self.copies += 1
        folder = self.scratch / f"phase-{self.copies}"
        folder.mkdir()
        if self.kind == "sqlite":
            prepared = self.prepared[size].removeprefix("sqlite:///")
            return f"sqlite:///{shutil.copy(prepared, folder / 'bench.db')}", folder
        name = f"bench_send_{os.getpid()}_{self.copies}"
        template = self.prepared[size].rsplit("/", 1)[1]
        return self._create(name, template), folder

    def drop(self) -> None:
        for name in self.made:
            self._admin(f'DROP DATABASE IF EXISTS "{name}"')

    def _create(self, name: str, template: str | None = None) -> str:
        self._admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.made.append(name)
        return self.postgres.rsplit("/", 1)[0] + f"/{name}"

    def _admin(self, statement: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.postgres, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()


@contextlib.contextmanager
def python_sink(kind: str) -> Iterator[dict[str, Any]]:
    """A sink process of `kind` (see bench/sinks.py); yields `{"port": …}`, to which
    `messages` and its CPU seconds are added on exit."""
    process = subprocess.Popen(
        [sys.executable, "-P", str(SINKS), kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the {kind} sink did not start")
        state: dict[str, Any] = json.loads(line)
        yield state
    finally:
        process.stdin.close()
        tail = process.stdout.read()
        process.wait(timeout=30)
    tally = json.loads(tail) if tail.strip() else {}
    state["messages"], state["cpu_seconds"] = tally.get("messages"), tally.get("cpu_seconds")


def run_phase(
    kind: str,
    url: str,
    folder: Path,
    messages: int,
    connections: int = 0,
    port: int = 0,
    profile: str | None = None,
) -> dict[str, Any]:
    """One phase in a fresh process (in `folder`, no NEWSLETTER_ variables)."""
    extra = ["--profile", profile] if profile else []
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSLETTER_")}
    return run_in_child(
        __file__, "--phase", kind, url, messages, connections, port, *extra, cwd=folder, env=env
    )


def measured(
    kind: str,
    databases: Databases,
    size: int,
    connections: int,
    smtp: str,
    profile: str | None = None,
) -> dict[str, Any]:
    """One phase on a fresh copy of the database prepared with `size` subscribers, with a
    sink of its own, which must receive every message exactly once. `sink_busy` is the
    sink's CPU time over the send time."""
    url, folder = databases.fresh(size)
    sink = (
        python_sink("api")
        if kind in API
        else (smtp_sink() if smtp == "smtp-sink" else python_sink(smtp))
    )
    with sink as state:
        figures = run_phase(kind, url, folder, size, connections, state["port"], profile)
    if figures["messages"] != size or state["messages"] != size:
        raise SystemExit(f"{kind}: sent {figures['messages']}, sink got {state['messages']}")
    figures["sink_busy"] = state["cpu_seconds"] / figures["seconds"]
    return figures


HEADER = (
    f"{'phase':<24} {'messages':>9} {'send s':>7} {'msg/s':>6} {'e2e s':>7} {'e2e m/s':>7}"
    f" {'peak MiB':>8} {'plan peak':>9} {'send peak':>9} {'cpu':>5} {'sink busy':>9}"
    f" {'db busy':>7}"
)


def row(name: str, figures: dict[str, Any]) -> str:
    """One line of the table (see HEADER)."""
    messages, seconds, total = figures["messages"], figures["seconds"], figures["total_seconds"]
    plan_peak, send_peak = figures.get("plan_peak_mib"), figures["send_peak_mib"]
    return (
        f"{name:<24} {messages:>9} {seconds:>7.2f} {messages / seconds:>6.0f}"
        f" {total:>7.2f} {messages / total:>7.0f} {figures['peak_mib']:>8.1f}"
        f" {'-' if plan_peak is None else f'{plan_peak:.1f}':>9}"
        f" {'-' if send_peak is None else f'{send_peak:.1f}':>9}"
        f" {figures['cpu_seconds'] / seconds:>5.0%} {figures['sink_busy']:>9.0%}"
        f" {figures.get('server_seconds', 0) / seconds:>7.0%}"
    )


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def api_rounds(databases: Databases, size: int, connections: int, rounds: int) -> None:
    """Each API backend `rounds` times, alternating, then each one's median send rate and
    the sender's CPU time per recipient (steadier than the rate on a machine busy with
    other work)."""
    rates: dict[str, list[float]] = {kind: [] for kind in API}
    costs: dict[str, list[float]] = {kind: [] for kind in API}
    print(HEADER)
    for number in range(1, rounds + 1):
        for kind in API:
            figures = measured(kind, databases, size, connections, "api")
            rates[kind].append(figures["messages"] / figures["seconds"])
            costs[kind].append(figures["cpu_seconds"] / figures["messages"] * 1e6)
            print(row(f"ours {kind} #{number}", figures), flush=True)
    for kind, values in rates.items():
        listed = ", ".join(f"{value:.0f}" for value in values)
        print(
            f"{kind}: {listed} recipients/s; median {statistics.median(values):.0f}"
            f" (min {min(values):.0f}, max {max(values):.0f});"
            f" sender CPU {statistics.median(costs[kind]):.0f} µs per recipient (median)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4, help="SMTP_CONNECTIONS")
    parser.add_argument(
        "--rounds", type=int, default=3, help="raw and ours via smtp, alternating (0: none)"
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES, help="a database to connect to")
    parser.add_argument(
        "--huge", action="store_true", help=f"memory phases on {' and '.join(map(str, HUGE))}"
    )
    parser.add_argument(
        "--sink",
        choices=["smtp-sink", "aiosmtpd", "asyncio"],
        default="smtp-sink",
        help="Postfix's smtp-sink, or a Python sink of bench/sinks.py (they spend more CPU)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="only run ours via smtp under cProfile; stats to FILE, top costs to stderr",
    )
    parser.add_argument(
        "--api-only",
        action="store_true",
        help=f"only {' and '.join(API)}, each --rounds times (medians printed)",
    )
    parser.add_argument(
        "--dkim",
        choices=["rsa", "rsa+ed25519"],
        help="each round also sends DKIM-signed copies (RSA-2048, and Ed25519 beside it)",
    )
    parser.add_argument("--phase", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        kind, url, messages, connections, port = args.phase
        if args.profile:
            profiled_phase(kind, url, int(connections), int(port), args.profile)
        else:
            phase(kind, url, int(messages), int(connections), int(port))
        return

    count, connections = args.subscribers, args.connections
    signed = {None: None, "rsa": "smtp+dkim", "rsa+ed25519": "smtp+dkim2"}[args.dkim]
    others = () if args.profile or args.api_only else HUGE if args.huge else SMALL
    with tempfile.TemporaryDirectory(prefix="bench-send-") as folder:
        databases = Databases(args.database, Path(folder), args.postgres_url)
        try:
            for size in (count, *others):
                databases.prepare(size)
            if args.profile:
                kind = signed or "smtp"
                figures = measured(kind, databases, count, connections, args.sink, args.profile)
                listed = row(f"ours {kind}", figures)
                print(f"profiled, so slower than unprofiled:\n{HEADER}\n{listed}")
                return
            results: list[tuple[str, dict[str, Any]]] = []
            ratios: dict[str, list[float]] = {
                "send": [],
                "end to end": [],
                "send, raw kept to one CPU": [],
                "end to end, raw kept to one CPU": [],
                "signed": [],
            }
            ceilings, signatures = [], []
            if args.api_only:
                api_rounds(databases, count, connections, max(1, args.rounds))
                return
            for number in range(1, args.rounds + 1):
                raw = measured("raw", databases, count, connections, args.sink)
                raw1 = measured("raw1", databases, count, connections, args.sink)
                ours = measured("smtp", databases, count, connections, args.sink)
                results += [
                    (f"raw smtplib #{number}", raw),
                    (f"raw, one CPU #{number}", raw1),
                    (f"ours smtp #{number}", ours),
                ]
                for baseline, label in ((raw, ""), (raw1, ", raw kept to one CPU")):
                    rate = baseline["messages"] / baseline["seconds"]
                    ratios["send" + label].append(ours["messages"] / ours["seconds"] / rate)
                    ratios["end to end" + label].append(
                        ours["messages"] / ours["total_seconds"] / rate
                    )
                if signed:
                    dkim = measured(signed, databases, count, connections, args.sink)
                    results.append((f"ours {signed} #{number}", dkim))
                    ratios["signed"].append(ours["seconds"] / dkim["seconds"])
                    signatures.append(signature_seconds(signed == "smtp+dkim2"))
                    ceilings.append(ceiling(ours, signatures[-1], os.cpu_count() or 1))
            for kind in API:
                results.append(
                    (f"ours {kind}", measured(kind, databases, count, connections, args.sink))
                )
            for size in others:
                figures = measured("smtp", databases, size, connections, args.sink)
                results.append((f"ours smtp ({size:,})", figures))
        finally:
            databases.drop()
    print(
        f"\n{count:,} subscribers, {args.database}, {connections} SMTP connections,"
        f" {args.sink}, {os.cpu_count()} CPUs"
    )
    print(HEADER)
    for name, figures in results:
        print(row(name, figures))
    for label, values in ratios.items():
        if values:
            rounds = ", ".join(f"{value:.2f}" for value in values)
            what = f"{signed}/smtp, send" if label == "signed" else f"ours/raw via smtp, {label}"
            print(f"{what}: {rounds}; {spread(values)}")
    if ceilings:
        print(
            f"{signed}/smtp, ceiling on {os.cpu_count()} CPUs: {spread(ceilings)};"
            f" a copy's private-key operations take"
            f" {statistics.median(signatures) * 1e6:.0f} µs of CPU (median)"
        )
    for name, figures in results:
        if name.startswith("ours smtp (") or name == "ours smtp #1":
            print(
                f"peak RSS at {figures['messages']:,}: {figures['peak_mib']:.1f} MiB"
                f" (planning {figures['plan_peak_mib']:.1f}, planned in"
                f" {figures['plan_seconds']:.1f} s)"
            )


if __name__ == "__main__":
    main()
