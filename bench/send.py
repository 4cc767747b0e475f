"""Digest send benchmark: `start_run` + `send_run` to 20,000 subscribers through the
smtp backend into a local SMTP sink and through the postmark backend into a local HTTP
server, beside a raw baseline: prebuilt message bytes pushed with smtplib over the same
number of connections into the same sink.

Sinks (bench/sinks.py) and phases each run in their own process; every phase gets a fresh
copy of a SQLite database prepared beforehand (5 posts, N confirmed weekly subscribers),
so its peak memory (ru_maxrss) is its own. "send" is `send_run` alone, "e2e" adds
planning (`start_run`: selection and outbox rows); "send peak" is the peak RSS during the
send alone (the high-water mark is reset after planning, where Linux allows it); "cpu"
is the sender's CPU time during the send over its wall time (all threads; near 100% means
the GIL, not the network, set the pace), "sink busy" the same for the sink. A memory
phase repeats ours via smtp on 5,000 subscribers (200,000 with --large, which takes
minutes) to show whether the peak stays flat. Figures are printed, never asserted; compare
the ratios, not the seconds, across machines.

    .venv/bin/python -P bench/send.py [--subscribers 20000] [--connections 4] [--large]
                                      [--sink aiosmtpd|asyncio] [--profile FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import os
import resource
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.corpus
from bench.corpus import WORDS
from bench.phases import peak_mib, run_in_child

if TYPE_CHECKING:
    from pipeline.settings import Settings

HOST = "127.0.0.1"
SINKS = Path(__file__).with_name("sinks.py")
SITE = "https://blog.example.org"
SECRET = "bench-send-secret-0123456789abcdef"
SENDER = "Policy Blog <news@blog.example.org>"
POSTS = 5
SIGNUP_CHUNK = 5_000
SMALL, LARGE = 5_000, 200_000


# --- in a phase process -------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time of this process so far, all threads, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux ≥ 4.0); False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def bench_settings(database: Path, **overrides: Any) -> Settings:
    """Settings for `database`, with a fixed secret key; `overrides` pick the backend."""
    from pipeline.settings import load_settings

    return load_settings(
        database_url=f"sqlite:///{database}",
        data_dir=database.parent,
        site_url=SITE,
        site_title="Policy Blog",
        email_from=SENDER,
        secret_key=SECRET,
        **overrides,
    )


def prepare(database: Path, subscribers: int) -> None:
    """A database with POSTS recent posts and `subscribers` confirmed weekly subscribers."""
    import random

    from pipeline.storage import open_database
    from pipeline.storage.models import Post
    from subscribers import Signup, SubscriberStore

    rng = random.Random(42)
    db = open_database(f"sqlite:///{database}")
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


def sample_message(database: Path) -> tuple[str, bytes]:
    """One real digest from `database`, as the envelope sender and the bytes on the wire."""
    from sqlalchemy import select

    from pipeline.digest import digest_recipient, digest_template, render_digest
    from pipeline.storage import open_database
    from pipeline.storage.models import Post
    from subscribers import Subscriber, TokenSigner

    settings = bench_settings(database)
    db = open_database(settings.effective_database_url)
    with db.session() as session:
        posts = list(session.scalars(select(Post).order_by(Post.published.desc())))
        reader = session.scalars(select(Subscriber).limit(1)).one()
    db.close()
    template = digest_template(settings, render_digest(settings, posts))
    message = template.render(digest_recipient(settings, TokenSigner([SECRET]), reader, "1"))
    return message.sender, message.raw


def raw_phase(database: Path, messages: int, connections: int, port: int) -> dict[str, Any]:
    """`messages` copies of one prebuilt digest pushed with smtplib over `connections`."""
    sender, raw = sample_message(database)
    numbers = itertools.count()  # next() is atomic under the GIL: a shared work queue
    sent = [0] * connections

    def push(worker: int) -> None:
        with smtplib.SMTP(HOST, port, timeout=30) as smtp:
            while (number := next(numbers)) < messages:
                smtp.sendmail(sender, [f"reader{number}@example.org"], raw)
                sent[worker] += 1

    threads = [threading.Thread(target=push, args=(worker,)) for worker in range(connections)]
    started, cpu = time.perf_counter(), cpu_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "messages": sum(sent),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu,
        "total_seconds": seconds,
        "peak_mib": peak_mib(),
        "send_peak_mib": None,
        "bytes": len(raw),
    }


def ours_phase(database: Path, backend: str, port: int, connections: int) -> dict[str, Any]:
    """`start_run` then `send_run` through `backend` ("smtp" or "postmark")."""
    from pipeline.digest.runs import start_run
    from pipeline.outbox import send_run
    from pipeline.storage import open_database

    if backend == "smtp":
        wire = {"smtp_host": HOST, "smtp_port": port, "smtp_security": "none"}
    else:
        wire = {"api_key": "test", "api_base_url": f"http://{HOST}:{port}"}
    settings = bench_settings(database, email_backend=backend, smtp_connections=connections, **wire)
    db = open_database(settings.effective_database_url)
    started = time.perf_counter()
    run = start_run(db, settings, "weekly", datetime.now(UTC)).run
    planned = time.perf_counter()
    plan_peak = peak_mib()
    gc.collect()
    reset = reset_peak()
    planned_at, cpu = time.perf_counter(), cpu_seconds()  # the reset is not the pipeline's
    report = send_run(db, settings, run.id)
    finished, cpu = time.perf_counter(), cpu_seconds() - cpu
    db.close()
    if report.failed or report.retrying or report.status != "done":
        raise SystemExit(f"{backend}: {report.summary()}; {report.errors[:3]}")
    send_peak = peak_mib()
    return {
        "messages": report.sent,
        "seconds": finished - planned_at,
        "cpu_seconds": cpu,
        "total_seconds": planned - started + finished - planned_at,
        "peak_mib": max(plan_peak, send_peak),
        "send_peak_mib": send_peak if reset else None,
    }


def phase(kind: str, database: Path, messages: int, connections: int, port: int) -> None:
    """Run one phase in this process and print its figures as JSON."""
    if kind == "prepare":
        prepare(database, messages)
        figures: dict[str, Any] = {}
    elif kind == "raw":
        figures = raw_phase(database, messages, connections, port)
    else:
        figures = ours_phase(database, kind, port, connections)
    print(json.dumps(figures))


def profiled_phase(kind: str, database: Path, connections: int, port: int, out: str) -> None:
    """`ours_phase` under cProfile (main thread only: SMTP workers show as waiting)."""
    import cProfile
    import io
    import pstats

    profile = cProfile.Profile()
    figures = profile.runcall(ours_phase, database, kind, port, connections)
    profile.dump_stats(out)
    listing = io.StringIO()
    stats = pstats.Stats(profile, stream=listing)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    print(listing.getvalue(), file=sys.stderr)
    print(json.dumps(figures))


# --- in the parent ------------------------------------------------------------------------


@contextlib.contextmanager
def sink(kind: str, expected: int) -> Iterator[dict[str, Any]]:
    """A sink process of `kind` (see bench/sinks.py); yields `{"port": …}`, to which its
    CPU seconds are added on exit, after checking that it received `expected` messages
    (all of them, and none twice)."""
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
    if tally.get("messages") != expected:
        raise SystemExit(f"the {kind} sink received {tally.get('messages')}, not {expected}")
    state["cpu_seconds"] = tally["cpu_seconds"]


def run_phase(
    kind: str,
    database: Path,
    messages: int,
    connections: int = 0,
    port: int = 0,
    profile: str | None = None,
) -> dict[str, Any]:
    """One phase in a fresh process (in the database's folder, no NEWSLETTER_ variables)."""
    extra = ["--profile", profile] if profile else []
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSLETTER_")}
    return run_in_child(
        __file__,
        "--phase",
        kind,
        database,
        messages,
        connections,
        port,
        *extra,
        cwd=database.parent,
        env=env,
    )


def fresh_copy(prepared: Path, folder: Path) -> Path:
    """A copy of the prepared database in `folder`, its own (own WAL, secret key, .env)."""
    folder.mkdir()
    return Path(shutil.copy(prepared, folder / "bench.db"))


def measured(
    kind: str,
    prepared: Path,
    folder: Path,
    messages: int,
    connections: int,
    smtp_sink: str,
    profile: str | None = None,
) -> dict[str, Any]:
    """One phase on a fresh copy of the `prepared` database in `folder`, with its own sink.
    `sink_busy` is the sink's CPU time over the send time: near 100% for a one-threaded
    sink means the sink, not the sender, set the pace."""
    database = fresh_copy(prepared, folder)
    with sink("postmark" if kind == "postmark" else smtp_sink, messages) as state:
        figures = run_phase(kind, database, messages, connections, state["port"], profile)
    if figures["messages"] != messages:
        raise SystemExit(f"{kind}: sent {figures['messages']} of {messages}")
    figures["sink_busy"] = state["cpu_seconds"] / figures["seconds"]
    return figures


HEADER = (
    f"{'phase':<22} {'messages':>8} {'send s':>7} {'msg/s':>6} {'e2e s':>7} {'e2e m/s':>7}"
    f" {'peak MiB':>8} {'send peak':>9} {'cpu':>5} {'sink busy':>9}"
)


def row(name: str, figures: dict[str, Any]) -> str:
    """One line of the table (see HEADER)."""
    messages, seconds, total = figures["messages"], figures["seconds"], figures["total_seconds"]
    send_peak = figures["send_peak_mib"]
    return (
        f"{name:<22} {messages:>8} {seconds:>7.2f} {messages / seconds:>6.0f}"
        f" {total:>7.2f} {messages / total:>7.0f} {figures['peak_mib']:>8.1f}"
        f" {'-' if send_peak is None else f'{send_peak:.1f}':>9}"
        f" {figures['cpu_seconds'] / seconds:>5.0%} {figures['sink_busy']:>9.0%}"
    )


def report(results: dict[str, dict[str, Any]], small: str, large: str) -> None:
    """The table, the ours/raw ratio via smtp, and the peak at two sizes."""
    print(HEADER)
    for name, figures in results.items():
        print(row(name, figures))
    raw, ours = results["raw smtplib"], results["ours smtp"]
    raw_rate = raw["messages"] / raw["seconds"]
    print(
        f"ours/raw via smtp: send {ours['messages'] / ours['seconds'] / raw_rate:.0%},"
        f" end to end {ours['messages'] / ours['total_seconds'] / raw_rate:.0%} (aim: ≥ 80%)"
    )
    low, high = results[small], results[large]
    for label, key in (("peak", "peak_mib"), ("send-only peak", "send_peak_mib")):
        if low[key] is not None and high[key] is not None:
            print(
                f"{label}, ours via smtp: {low[key]:.1f} MiB at {low['messages']:,},"
                f" {high[key]:.1f} MiB at {high['messages']:,}"
                f" ({high[key] - low[key]:+.1f} MiB; aim: flat)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4, help="SMTP_CONNECTIONS")
    parser.add_argument(
        "--large", action="store_true", help=f"memory phase on {LARGE:,} (not {SMALL:,})"
    )
    parser.add_argument(
        "--sink",
        choices=["aiosmtpd", "asyncio"],
        default="asyncio",
        help="SMTP sink (bench/sinks.py); aiosmtpd spends ~2 ms CPU a message and sets the pace",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="only run ours via smtp under cProfile; stats to FILE, top costs to stderr",
    )
    parser.add_argument("--phase", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        kind, database, messages, connections, port = args.phase
        if args.profile:
            profiled_phase(kind, Path(database), int(connections), int(port), args.profile)
        else:
            phase(kind, Path(database), int(messages), int(connections), int(port))
        return

    count, connections = args.subscribers, args.connections
    other = LARGE if args.large else SMALL
    with tempfile.TemporaryDirectory(prefix="bench-send-") as folder:
        scratch = Path(folder)
        prepared: dict[int, Path] = {}
        for size in (count,) if args.profile else (count, other):
            started = time.perf_counter()
            (scratch / f"prepared-{size}").mkdir()
            prepared[size] = scratch / f"prepared-{size}" / "bench.db"
            run_phase("prepare", prepared[size], size)
            print(f"prepared {size:,} subscribers in {time.perf_counter() - started:.1f} s")
        if args.profile:
            figures = measured(
                "smtp",
                prepared[count],
                scratch / "profile",
                count,
                connections,
                args.sink,
                args.profile,
            )
            print(f"profiled, so slower than unprofiled:\n{HEADER}\n{row('ours smtp', figures)}")
            return
        phases = [
            ("raw smtplib", "raw", count),
            ("ours smtp", "smtp", count),
            ("ours postmark", "postmark", count),
            (f"ours smtp ({other:,})", "smtp", other),
        ]
        results = {
            name: measured(
                kind, prepared[size], scratch / f"{kind}-{size}", size, connections, args.sink
            )
            for name, kind, size in phases
        }
    raw_kib = results["raw smtplib"]["bytes"] / 1024
    print(
        f"\n{count:,} subscribers, {connections} SMTP connections, {args.sink} SMTP sink,"
        f" {os.cpu_count()} CPUs, {raw_kib:.1f} KiB per message"
    )
    (_, small), (_, large) = sorted([(count, "ours smtp"), (other, f"ours smtp ({other:,})")])
    report(results, small, large)


if __name__ == "__main__":
    main()
