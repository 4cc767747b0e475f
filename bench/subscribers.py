"""Subscriber import benchmark: a 10,000-row and a 100,000-row CSV, each imported into a
fresh SQLite database in its own process, so each peak memory (ru_maxrss) is its own.

The importer streams, so the two peaks should be about equal. Figures are printed, never
asserted; compare the ratios, not the seconds, across machines.

    .venv/bin/python bench/subscribers.py [--rows 10000 100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
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


def phase(source: Path, database: Path) -> None:
    """Import `source` in this process and print its figures as JSON."""
    from pipeline.storage import open_database
    from subscribers import SubscriberStore, import_csv

    db = open_database(f"sqlite:///{database}")
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    started = time.perf_counter()
    with source.open(encoding="utf-8-sig", newline="") as stream:
        report = import_csv(stream, store, confirmed=True)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib(), "summary": report.summary()}))


def run_phase(source: Path, database: Path) -> dict:
    return run_in_child(__file__, "--phase", source, database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--phase", nargs=2, metavar=("CSV", "DATABASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(Path(args.phase[0]), Path(args.phase[1]))
        return
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for rows in args.rows:
            source = Path(scratch, f"{rows}.csv")
            generate(source, rows)
            results[rows] = run_phase(source, Path(scratch, f"{rows}.db"))
    for rows, figures in results.items():
        rate = rows / figures["seconds"]
        print(
            f"{rows:>8,} rows: {figures['seconds']:7.2f} s  {rate:8.0f} rows/s  "
            f"peak {figures['peak_mib']:6.1f} MiB  ({figures['summary']})"
        )
    small, large = results[min(results)], results[max(results)]
    print(
        f"{max(results) / min(results):.0f}x the rows, "
        f"{large['peak_mib'] / small['peak_mib']:.2f}x the peak memory"
    )


if __name__ == "__main__":
    main()
