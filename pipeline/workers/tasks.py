"""The chunk task a worker runs: `send_run` with a row limit, then the next chunk.

Each worker process opens its own database (after the fork); the settings are those the
`newsletter worker` command read. Outcomes are the outbox rows, not Celery results.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from celery import Celery, Task
from sqlalchemy.exc import SQLAlchemyError

from pipeline.mail.dkim import DkimSigner, dkim_signer
from pipeline.outbox import send_run
from pipeline.settings import Settings
from pipeline.storage import Database, open_database
from pipeline.workers.celery_app import SEND_CHUNK
from pipeline.workers.dispatch import enqueue

log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0  # a database that is away: try the chunk again this much later

_settings: Settings | None = None
_db: tuple[int, Database] | None = None
_signer: tuple[tuple[object, ...], DkimSigner | None] | None = None  # and what it was made of


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
        report = send_run(
            _database(settings), settings, run_id, wait=0, limit=size, signer=_dkim(settings)
        )
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


def _dkim(settings: Settings) -> DkimSigner | None:
    """This process's DKIM signer, kept from chunk to chunk: its key processes start once
    (each takes as long to start as a few hundred signatures), not per chunk. A key file
    changed or gone since, or a key process that stopped, makes a new one (which raises
    SettingsProblem for a key that cannot be used, as a sender's own would)."""
    global _signer
    made = (os.getpid(), *map(_stamp, (settings.dkim_key_file, settings.dkim_ed25519_key_file)))
    if _signer is not None:
        kept_from, kept = _signer
        if kept_from == made and not (kept is not None and kept.degraded):
            return kept
        if kept is not None and kept_from[0] == os.getpid():  # a parent's is the parent's
            kept.close()
        _signer = None  # if the key cannot be used now, nothing closed stays kept
    _signer = (made, dkim_signer(settings))
    return _signer[1]


def _stamp(path: Path | None) -> tuple[int, int, int, int] | None:
    """What tells a file changed: its inode, size, and times of change of its content and
    of its entry (a copy that keeps the times changes the latter); None if absent."""
    try:
        found = path.stat() if path is not None else None
    except OSError:
        return None
    if found is None:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns
