"""Invitation round benchmark: 100,000 pending people (an import without --confirmed),
their invitations queued in the outbox as the import, the admin or the API does it.

What the request or command waits for is the queueing; the sending is the run's (in the
background, or by workers). The baseline is the import that made those people, measured
in the same run on the same database, so the ratio says how much an import's answer is
delayed by asking everyone. Figures are printed, never asserted.

    .venv/bin/python -P bench/invitations.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pipeline.invitations import invite
from pipeline.storage import open_database
from subscribers import Signup, SubscriberStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(f"sqlite:///{Path(folder) / 'bench.db'}")
        store = SubscriberStore(db.sessions, default_timezone="Europe/London")
        started = time.perf_counter()
        for start in range(0, rows, 5_000):
            store.add_many([Signup(f"p{n}@example.org") for n in range(start, start + 5_000)])
        imported = time.perf_counter() - started
        ids = [subscriber.id for subscriber in store.iter_all(status="pending")]
        started = time.perf_counter()
        invited = invite(db, store, ids, now=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
        queued = time.perf_counter() - started
        db.close()
    print(f"{rows:,} pending people, SQLite")
    print(f"  import (baseline)      {imported:7.2f} s")
    print(f"  invitations queued     {queued:7.2f} s  ({invited.summary()})")
    print(f"  queue / import         {queued / imported:7.2f}")


if __name__ == "__main__":
    main()
