"""The jobs of the leading `serve` process, on APScheduler 3's BackgroundScheduler.

Every POLL_MINUTES the sources are read; each frequency's digest fires on its trigger;
every minute a sweep sends what has come due (retries, and other time zones' copies at
their local hour); once a day old outbox rows are cleared out.

The jobs live in APScheduler's own table (`apscheduler_jobs`) in the application's
database and are re-added on every start under fixed ids, so a changed setting takes
effect. That replaces the run times the last scheduler stored; a digest time missed
while none ran is therefore judged (`missed_digest`) before the jobs are re-added.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from pipeline.scheduling.jobs import bind, clean_up_job, digest_job, drain_job, poll_job
from pipeline.scheduling.misfire import missed_digest
from pipeline.scheduling.triggers import WallClockTrigger, digest_triggers
from pipeline.settings import Settings
from pipeline.storage import Database
from subscribers.timestamps import utcnow

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
DRAIN_SECONDS = 60
CLEAN_UP_AT = "17 3 * * *"  # a quiet hour in TIMEZONE


def job_store(db: Database) -> SQLAlchemyJobStore:
    """APScheduler's store in the application's database (it creates its table on start;
    stopping the scheduler disposes the engine's pool, which simply reconnects)."""
    return SQLAlchemyJobStore(engine=db.engine, tablename=JOBS_TABLE)


class Scheduler:
    """The jobs, started while this process leads and stopped when it no longer does."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._scheduler: BackgroundScheduler | None = None

    def start(self) -> None:
        """Catch up on missed digests, (re)schedule every job, and start firing."""
        scheduler = BackgroundScheduler(
            jobstores={"default": job_store(self.db)},
            # Late is better than never for everything but digests (their window says).
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=self.settings.zone,
        )
        scheduler.start(paused=True)
        try:
            bind(self.db, self.settings)
            self._schedule(scheduler, utcnow())
        except BaseException:
            _shut_down(scheduler)
            raise
        scheduler.resume()
        self._scheduler = scheduler
        log.info("scheduler started: %s", ", ".join(job.name for job in scheduler.get_jobs()))

    def stop(self) -> None:
        """Stop firing; waits for running jobs (a send marks what it sent)."""
        if self._scheduler is not None:
            _shut_down(self._scheduler)
            self._scheduler = None
            log.info("scheduler stopped")

    def _schedule(self, scheduler: BackgroundScheduler, now: datetime) -> None:
        stored = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        for frequency, trigger in digest_triggers(self.settings).items():
            job_id = f"digest-{frequency}"
            window = timedelta(hours=self.settings.digest_windows[frequency])
            missed = missed_digest(frequency, trigger, stored.get(job_id), now, window)
            catch_up: dict[str, Any] = {}
            if missed is not None:
                log.warning("%s", missed.describe())
                if missed.send:
                    catch_up["next_run_time"] = now
            scheduler.add_job(
                digest_job,
                trigger,
                args=[frequency],
                id=job_id,
                name=f"{frequency} digest",
                misfire_grace_time=math.ceil(window.total_seconds()),
                replace_existing=True,
                **catch_up,
            )
        scheduler.add_job(
            poll_job,
            IntervalTrigger(minutes=self.settings.poll_minutes),
            id="poll",
            name=f"poll every {self.settings.poll_minutes} min",
            replace_existing=True,
        )
        scheduler.add_job(
            drain_job,
            IntervalTrigger(seconds=DRAIN_SECONDS),
            id="drain",
            name="send what is due",
            replace_existing=True,
        )
        scheduler.add_job(
            clean_up_job,
            WallClockTrigger.from_crontab(CLEAN_UP_AT, timezone=self.settings.zone),
            id="clean-up",
            name="outbox clean-up",
            replace_existing=True,
        )


def _shut_down(scheduler: BackgroundScheduler) -> None:
    """Shut down, the job store detached first: shutting down, APScheduler hands the jobs
    due that instant to its stopped executor, and would record a digest due then as run."""
    scheduler.remove_jobstore("default")
    scheduler.shutdown()
