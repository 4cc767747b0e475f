"""The chunk task a worker runs: `send_run` with a row limit, then the next chunk.

Each worker process opens its own database (after the fork); the settings are those the
`newsletter worker` command read. Outcomes are the outbox rows, not Celery results.
"""

from __future__ import annotations

import logging
import os

from celery import Celery, Task
from sqlalchemy.exc import SQLAlchemyError

from pipeline.outbox import send_run
from pipeline.settings import Settings
from pipeline.storage import Database, open_database
from pipeline.workers.celery_app import SEND_CHUNK
from pipeline.workers.dispatch import enqueue

log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0  # a database that is away: try the chunk again this much later

_settings: Settings | None = None
_db: tuple[int, Database] | None = None


def register(app: Celery, settings: Settings) -> None:
    """Make `app` run chunk tasks with `settings`."""
    global _settings
    _settings = settings
    app.task(name=SEND_CHUNK, bind=True, max_retries=None)(send_chunk)


def send_chunk(task: Task, run_id: int, size: int) -> None:
    """Send up to `size` rows of `run_id`; go on with another chunk if rows are left, and
    with one more after taking over the rows of a sender that stopped (its chunks died
    with it)."""
    settings = _worker_settings()
    try:
        report = send_run(_database(settings), settings, run_id, wait=0, limit=size)
    except LookupError:
        log.warning("digest run %s is gone: nothing to send", run_id)
        return
    except SQLAlchemyError as exc:
        log.warning("run %s: the database failed (%s); trying again later", run_id, exc)
        raise task.retry(countdown=RETRY_SECONDS, exc=exc) from exc
    log.info("%s", report.summary())
    if report.stopped_at_limit:
        enqueue(settings, run_id, size)
    if report.taken_over:
        enqueue(settings, run_id, size)


def _worker_settings() -> Settings:
    if _settings is None:
        raise RuntimeError("no worker registered the chunk task in this process")
    return _settings


def _database(settings: Settings) -> Database:
    """This process's database, opened on first use (a forked child never shares its
    parent's connections)."""
    global _db
    if _db is None or _db[0] != os.getpid():
        _db = (os.getpid(), open_database(settings.effective_database_url))
    return _db[1]
