"""Subscriber import benchmark: a 10,000-row and a 100,000-row CSV, each imported into a
fresh SQLite database and, when NEWSLETTER_TEST_POSTGRES_URL is set, a fresh PostgreSQL
schema, each in its own process, so each peak memory (ru_maxrss) is its own.

The importer streams, so the peaks should be about equal; PostgreSQL should keep pace with
SQLite at every size. Figures are printed side by side, never asserted; compare the
ratios, not the seconds, across machines.

    NEWSLETTER_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
        .venv/bin/python -P bench/subscribers.py [--rows 10000 200000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.phases
from bench.phases import peak_mib, run_in_child

FREQUENCIES = ["daily", "weekly", "weekly", "weekly", "monthly", ""]
ZONES = ["Europe/London", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", ""]
TOPICS = ["housing", "transport", "health", "data", "planning", "schools"]


def generate(path: Path, rows: int) -> None:
    """Write `rows` subscribers: ~1% bad addresses, ~2% repeats in another case."""
    rng = random.Random(42)
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(["Email", "Name", "Frequency", "Time Zone", "Topics"])
        for number in range(rows):
            roll = rng.random()
            if roll < 0.01:
                email = f"broken{number}@"
            elif roll < 0.03 and number:
                email = f"Reader{rng.randrange(number)}@Example.org"
            else:
                email = f"reader{number}@example.org"
            writer.writerow(
                [
                    email,
                    f"Reader {number}, of {rng.choice(TOPICS).title()}",
                    rng.choice(FREQUENCIES),
                    rng.choice(ZONES),
                    ";".join(rng.sample(TOPICS, rng.randint(0, 3))),
                ]
            )


def phase(source: Path, url: str) -> None:
    """Import `source` into the database at `url` in this process; print figures as JSON."""
    from pipeline.storage import open_database
    from subscribers import SubscriberStore, import_csv

    db = open_database(url)
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    started = time.perf_counter()
    with source.open(encoding="utf-8-sig", newline="") as stream:
        report = import_csv(stream, store, confirmed=True)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib(), "summary": report.summary()}))


def run_phase(source: Path, url: str) -> dict:
    return run_in_child(__file__, "--phase", source, url)


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    """A throwaway schema on the server at `base`; yields a URL that uses it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--phase", nargs=2, metavar=("CSV", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(Path(args.phase[0]), args.phase[1])
        return
    postgres = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL")
    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for rows in args.rows:
            source = Path(scratch, f"{rows}.csv")
            generate(source, rows)
            results["sqlite", rows] = run_phase(source, f"sqlite:///{scratch}/{rows}.db")
            if postgres:
                with postgres_schema(postgres) as url:
                    results["postgres", rows] = run_phase(source, url)
    for (database, rows), figures in results.items():
        rate = rows / figures["seconds"]
        print(
            f"{database:>8} {rows:>8,} rows: {figures['seconds']:7.2f} s  {rate:8.0f} rows/s  "
            f"peak {figures['peak_mib']:6.1f} MiB  ({figures['summary']})"
        )
    small, large = min(args.rows), max(args.rows)
    for database in ("sqlite", "postgres"):
        if (database, large) in results:
            peaks = results[database, large]["peak_mib"] / results[database, small]["peak_mib"]
            print(f"{database}: {large / small:.0f}x the rows, {peaks:.2f}x the peak memory")
    if not postgres:
        print("PostgreSQL skipped: set NEWSLETTER_TEST_POSTGRES_URL to compare")
        return
    for rows in args.rows:
        ratio = results["postgres", rows]["seconds"] / results["sqlite", rows]["seconds"]
        print(f"{rows:>8,} rows: PostgreSQL takes {ratio:.2f}x the time of SQLite")


if __name__ == "__main__":
    main()
