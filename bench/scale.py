"""Scale-out benchmark: one planned run of N subscribers (default 50,000) on PostgreSQL,
sent in-process by `newsletter deliveries resume`, then by 1 and by 2 `newsletter worker`
processes through a broker (Redis), into Postfix's smtp-sink (smtp backend) and into a
local Postmark-shaped HTTP stub (postmark backend, bench/sinks.py).

Each mode gets a fresh copy of one prepared database (posts, subscribers and the run's
queued outbox rows, so planning is not timed) and the same command: `deliveries resume`
with BROKER_URL unset (in-process) or set (the workers send; the command follows the run
to its end). The wall time runs from the command's start to its exit, after the workers
are up; "cores busy" is the CPU time of every process of the mode (command, workers,
sink; PostgreSQL and Redis not included) over that wall time. Figures are msg/s and ratios
against the in-process send of the same sink in the same run; each worker runs
--concurrency processes, each process (and the in-process sender) opens --connections SMTP
connections. Nothing is asserted.

    .venv/bin/python -P bench/scale.py [--subscribers 50000] [--concurrency 2]
                                       [--connections 4] [--broker redis://127.0.0.1:6379/13]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.*
from bench.baseline import smtp_sink
from bench.send import POSTGRES, SECRET, SENDER, SITE, Databases, python_sink

NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))
BROKER = "redis://127.0.0.1:6379/13"
MODES = (("in-process", 0), ("1 worker", 1), ("2 workers", 2))


def plan(url: str) -> int:
    """Plan this week's run on the prepared database (its rows are copied with it)."""
    from pipeline.digest.runs import start_run
    from pipeline.settings import load_settings
    from pipeline.storage import open_database

    settings = load_settings(database_url=url, site_url=SITE, email_from=SENDER, secret_key=SECRET)
    db = open_database(url)
    try:
        return start_run(db, settings, "weekly", datetime.now(UTC)).run.id
    finally:
        db.close()


def environment(
    url: str, sink: str, port: int, connections: int, broker: str | None
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSLETTER_")}
    settings = {
        "DATABASE_URL": url,
        "SITE_URL": SITE,
        "EMAIL_FROM": SENDER,
        "SECRET_KEY": SECRET,
        "SMTP_CONNECTIONS": str(connections),
    }
    if sink == "smtp-sink":
        settings |= {"EMAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)}
        settings["SMTP_SECURITY"] = "none"
    else:
        settings |= {"EMAIL_BACKEND": "postmark", "API_KEY": "bench-token"}
        settings["API_BASE_URL"] = f"http://127.0.0.1:{port}"
    if broker:
        settings |= {"BROKER_URL": broker, "WORKER_QUEUE": f"bench-{uuid.uuid4().hex[:10]}"}
    env.update({f"NEWSLETTER_{key}": value for key, value in settings.items()})
    return env


@contextlib.contextmanager
def workers(count: int, concurrency: int, env: dict[str, str], folder: Path) -> Iterator[None]:
    """`count` workers, each in its own process group, ready before the block runs."""
    started = []
    for number in range(count):
        log = folder / f"worker{number}.log"
        process = subprocess.Popen(
            [NEWSLETTER, "worker", "--concurrency", str(concurrency)],
            cwd=folder,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append((process, log))
    try:
        for process, log in started:
            deadline = time.monotonic() + 60
            while "ready." not in log.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"a worker did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield
    finally:
        for process, _ in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in started:
            process.wait(timeout=60)


@contextlib.contextmanager
def sink_of(kind: str) -> Iterator[dict[str, Any]]:
    if kind == "smtp-sink":
        with smtp_sink() as state:
            yield state
    else:
        with python_sink("api") as state:
            yield state


def measure(
    databases: Databases, size: int, run_id: int, sink: str, count: int, options: argparse.Namespace
) -> dict[str, Any]:
    url, folder = databases.fresh(size)
    before = children_cpu()
    with sink_of(sink) as state:
        env = environment(
            url, sink, state["port"], options.connections, options.broker if count else None
        )
        with workers(count, options.concurrency, env, folder):
            started = time.perf_counter()
            done = subprocess.run(
                [NEWSLETTER, "deliveries", "resume", str(run_id)],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - started
    if done.returncode != 0 or "(done)" not in done.stdout:
        raise SystemExit(f"{sink}, {count} workers: {done.stdout}{done.stderr}")
    cores = (children_cpu() - before) / seconds
    return {
        "seconds": seconds,
        "received": state.get("messages"),
        "rate": size / seconds,
        "cores": cores,
    }


def children_cpu() -> float:
    """CPU seconds of every ended child process (command, workers and their pools, sink)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=2, help="processes per worker")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections per process")
    parser.add_argument("--broker", default=BROKER)
    parser.add_argument("--postgres", default=POSTGRES, help="an admin URL to make databases")
    parser.add_argument("--sinks", default="smtp-sink,postmark")
    options = parser.parse_args()
    print(
        f"{options.subscribers:,} subscribers on PostgreSQL; {os.cpu_count()} CPUs; workers run"
        f" {options.concurrency} processes, each process {options.connections} connections"
    )
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        databases = Databases("postgres", Path(scratch), options.postgres)
        try:
            databases.prepare(options.subscribers)
            run_id = plan(databases.prepared[options.subscribers])
            for sink in options.sinks.split(","):
                base = None
                for name, count in MODES:
                    figures = measure(databases, options.subscribers, run_id, sink, count, options)
                    base = base or figures["rate"]
                    print(
                        f"{sink:>9}  {name:<10}  {figures['seconds']:7.1f} s  "
                        f"{figures['rate']:8,.0f} msg/s  x{figures['rate'] / base:.2f}"
                        f"  {figures['cores']:.2f} cores busy"
                        f"  (sink received {figures['received']})",
                        flush=True,
                    )
        finally:
            databases.drop()


if __name__ == "__main__":
    main()
