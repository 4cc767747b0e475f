"""What the scheduler runs: polling the sources, digests, the send sweep, the clean-up.

Each job is a function of the database and the settings (and a clock), so tests run them
at any moment. The job store pickles a job as a reference to a module-level function
with plain arguments, so it holds the `*_job` entry points at the bottom instead, which
run the jobs on the database and settings the scheduler bound here when it started.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from pipeline.delivery import open_backend
from pipeline.digest.each import start_post_runs
from pipeline.digest.runs import start_run
from pipeline.outbox import UNFINISHED, SendReport, due_runs, rows, send_run
from pipeline.refresh import refresh
from pipeline.scheduling.misfire import latest_fire
from pipeline.scheduling.triggers import digest_triggers
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun
from subscribers import Frequency
from subscribers.timestamps import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# One sender at a time in this process, so SEND_RATE and SMTP_CONNECTIONS hold for it.
_sending = threading.Lock()


def poll(db: Database, settings: Settings, *, clock: Clock = utcnow) -> None:
    """Read the sources, bring the feeds up to date, then give each new post its own mail
    (frequency `each`) and send it, unless this process is sending already (then the next
    sweep, a minute later, sends it)."""
    report = refresh(db, settings)
    for source in report.sources:
        for line in source.errors:
            log.warning("%s", line)
        if source.changed:
            log.info("%s", source.summary())
    if report.feeds is not None and report.feeds.changed:
        log.info("%s", report.feeds.summary())
    if report.feeds_error:
        log.warning("%s", report.feeds_error)
    for started in start_post_runs(db, settings, clock()):
        run = started.run
        log.info("per-post mail %s: run %d %s", run.period, run.id, run.status)
    drain(db, settings, clock=clock)


def send_digest(
    db: Database, settings: Settings, frequency: Frequency, *, clock: Clock = utcnow
) -> DigestRun | None:
    """Start the run for this frequency's latest digest time within its window, and send
    what is due of it; None when no digest time is that recent.

    The run is planned as of that time, not of now: a late digest (the scheduler was
    down, or busy) belongs to the same period, covers the same posts and expires when it
    would have on time. `start_run` makes it once per period, whoever asks.
    """
    now = clock()
    window = timedelta(hours=settings.digest_windows[frequency])
    due = latest_fire(digest_triggers(settings)[frequency], now - window, now)
    if due is None:
        log.warning("%s digest: no digest time in the last %s; nothing started", frequency, window)
        return None
    started = start_run(db, settings, frequency, due, local_hours=True)
    run = started.run
    state = "started" if started.created else f"already {run.status}"
    log.info("%s digest %s: run %d %s", frequency, run.period, run.id, state)
    if settings.broker_url:
        if run.status in UNFINISHED:
            _hand_over(db, settings, run.id, now)
        return run
    with _sending:
        _send(db, settings, [run.id], clock)
    return run


def drain(db: Database, settings: Settings, *, clock: Clock = utcnow) -> list[SendReport]:
    """Send what has come due in every unfinished run: retries, the copies for time zones
    whose local hour has come, the rows of senders that stopped, and runs paused by a fault
    of the channel whose probe is due. Skipped while this process is sending already (the
    next sweep comes a minute later). With BROKER_URL, the runs that no worker is sending
    are handed over again instead."""
    if settings.broker_url:
        _hand_over(db, settings, None, clock())
        return []
    if not _sending.acquire(blocking=False):
        return []
    try:
        return _send(db, settings, due_runs(db, clock()), clock)
    finally:
        _sending.release()


def _send(db: Database, settings: Settings, run_ids: list[int], clock: Clock) -> list[SendReport]:
    """Send each run's due rows without waiting for later ones (the sweep comes back)."""
    if not run_ids:
        return []
    with open_backend(settings) as backend:
        reports = [
            send_run(db, settings, run_id, backend=backend, wait=0, clock=clock)
            for run_id in run_ids
        ]
    for report in reports:
        if report.sent or report.failed or report.skipped:
            log.info("%s", report.summary())
    return reports


def _hand_over(db: Database, settings: Settings, run_id: int | None, now: datetime) -> None:
    """Give `run_id` to the workers, or (None) the runs no worker is sending; a broker that
    is down is logged, and the next sweep tries again."""
    from pipeline.workers import dispatch, rescue
    from pipeline.workers.dispatch import BrokerUnavailable

    try:
        if run_id is not None:
            chunks = dispatch(db, settings, run_id)
            log.info("run %d: handed to the workers (%d chunk tasks)", run_id, chunks)
        for idle in rescue(db, settings, now) if run_id is None else []:
            log.info("run %d: no worker was sending it; handed over again", idle)
    except BrokerUnavailable as exc:
        log.warning("%s", exc)


def clean_up(db: Database, now: datetime) -> None:
    """Delete outbox rows past their retention."""
    removed = db.patiently(lambda session: rows.prune(session, now))
    if removed:
        log.info("outbox clean-up: %d old rows deleted", removed)


_bound: tuple[Database, Settings] | None = None


def bind(db: Database, settings: Settings) -> None:
    """Give the entry points below this process's database and settings."""
    global _bound
    _bound = (db, settings)


def _context() -> tuple[Database, Settings]:
    if _bound is None:
        raise RuntimeError("no scheduler has bound a database in this process")
    return _bound


def poll_job() -> None:
    poll(*_context())


def digest_job(frequency: Frequency) -> None:
    send_digest(*_context(), frequency)


def drain_job() -> None:
    drain(*_context())


def clean_up_job() -> None:
    clean_up(_context()[0], utcnow())
