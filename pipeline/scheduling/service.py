"""The scheduler beside the web app: every `serve` process runs one, only the leader fires."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.scheduling.leader import LEASE_SECONDS, Leader
from pipeline.scheduling.scheduler import Scheduler
from pipeline.settings import Settings
from pipeline.storage import Database


@contextmanager
def scheduling(
    db: Database, settings: Settings, *, lease_seconds: float = LEASE_SECONDS
) -> Iterator[Leader]:
    """Contend for the lead in the background; on leaving, stop the jobs and let go."""
    jobs = Scheduler(db, settings)
    leader = Leader(db, on_elected=jobs.start, on_deposed=jobs.stop, lease_seconds=lease_seconds)
    leader.start()
    try:
        yield leader
    finally:
        leader.stop()
