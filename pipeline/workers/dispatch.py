"""Handing runs over to the workers as chunk tasks.

A chunk names a run and a number of rows, not which rows: the worker claims whatever is
due, like any sender. So a task that is lost, delivered twice or killed half-way costs no
recipient, only a chunk's worth of parallelism, which the next chunk that takes over a
stopped sender's rows, the scheduler's sweep and a waiting `digest send` give back.
"""

from __future__ import annotations

import math
from datetime import datetime

from kombu.exceptions import OperationalError

from pipeline.outbox import backlog, idle_runs
from pipeline.redact import redacted
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.workers.celery_app import SEND_CHUNK, celery_app
from subscribers.timestamps import utcnow

FANOUT = 16  # chunks a run is split into at first, so that many worker processes share it
CHUNK_MIN_ROWS = 200
CHUNK_MAX_ROWS = 5_000


class BrokerUnavailable(Exception):
    """The broker did not take a task (down, or refusing us); the run stays queued."""


def dispatch(db: Database, settings: Settings, run_id: int) -> int:
    """Enqueue chunk tasks for `run_id`, as many as spread its rows over FANOUT processes
    (each chunk goes on with the next when it ends at its size); how many."""
    queued = backlog(db, run_id, utcnow()).queued
    size = min(max(math.ceil(queued / FANOUT), CHUNK_MIN_ROWS), CHUNK_MAX_ROWS)
    chunks = max(1, min(FANOUT, math.ceil(queued / size)))
    for _ in range(chunks):
        enqueue(settings, run_id, size)
    return chunks


def enqueue(settings: Settings, run_id: int, size: int) -> None:
    """One chunk task: send up to `size` rows of `run_id`."""
    try:
        celery_app(settings).send_task(SEND_CHUNK, args=[run_id, size])
    except OperationalError as exc:
        raise BrokerUnavailable(
            f"cannot reach the broker at {redacted(settings.broker_url or '')}: {exc}"
        ) from exc


def rescue(
    db: Database, settings: Settings, now: datetime, run_ids: list[int] | None = None
) -> list[int]:
    """Hand over again the unfinished runs (of `run_ids`, if given) that have work due but
    no live sender: their tasks were lost with a worker, or a retry or a probe came due."""
    idle = idle_runs(db, now, settings.sender_timeout_seconds, run_ids)
    for run_id in idle:
        dispatch(db, settings, run_id)
    return idle
