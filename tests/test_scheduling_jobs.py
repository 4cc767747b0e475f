"""The scheduler's jobs on real databases: the send sweep delivers other zones' copies at
their local hour, the clean-up keeps what selection needs, and a scheduler that starts
after missing a digest sends it (inside the window) or says it skipped it."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from helpers import add_post, add_subscriber, configured
from sqlalchemy import select, text

from pipeline.outbox import rows
from pipeline.scheduling.jobs import digest_job, drain, send_digest
from pipeline.scheduling.scheduler import JOBS_TABLE, Scheduler, job_store
from pipeline.scheduling.triggers import digest_triggers
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, DigestSelection, OutboxItem
from subscribers import SubscriberStore

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 08:00 in London


def statuses(db: Database) -> dict[int | None, str]:
    with db.session() as session:
        return dict(session.execute(select(OutboxItem.subscriber_id, OutboxItem.status)).all())


def test_the_sweep_sends_other_zones_copies_once_they_are_due(
    db: Database, settings: Settings
) -> None:
    settings = configured(settings)
    add_post(db, "Post", NOW - timedelta(hours=3))
    london = add_subscriber(db, "london@example.org")
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    new_york = store.add("ny@example.org", timezone="America/New_York", confirmed=True)[0].id
    run = send_digest(db, settings, "weekly", clock=lambda: NOW)
    assert run is not None
    assert statuses(db) == {london: "sent", new_york: "queued"}
    ny_morning = datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    drain(db, settings, clock=lambda: ny_morning - timedelta(minutes=1))
    assert statuses(db) == {london: "sent", new_york: "queued"}
    [report] = drain(db, settings, clock=lambda: ny_morning)
    assert (report.sent, report.status) == (1, "done")
    assert statuses(db) == {london: "sent", new_york: "sent"}
    assert len(list((settings.data_dir / "outbox").glob("*.eml"))) == 2
    assert drain(db, settings, clock=lambda: ny_morning + timedelta(minutes=1)) == []


def add_run(db: Database, days_ago: int, rows: dict[int | None, str]) -> int:
    """A run planned `days_ago` before NOW with one outbox row per subscriber (id: status)."""
    when = NOW - timedelta(days=days_ago)
    with db.session() as session:
        run = DigestRun(
            frequency="weekly",
            period=f"-{days_ago}",
            status="done",
            created=when,
            cutoff=when,
            expires_at=when + timedelta(hours=72),
        )
        session.add(run)
        session.flush()
        selection = DigestSelection(run_id=run.id, post_ids=[])
        session.add(selection)
        session.flush()
        for subscriber, status in rows.items():
            session.add(
                OutboxItem(
                    run_id=run.id,
                    selection_id=selection.id,
                    subscriber_id=subscriber,
                    status=status,
                    attempts=1,
                )
            )
        return run.id


def test_the_clean_up_keeps_each_subscribers_latest_sent_row(db: Database) -> None:
    ann, bob, cy = (add_subscriber(db, f"{name}@example.org") for name in ("ann", "bob", "cy"))
    oldest = add_run(db, 200, {ann: "sent", bob: "sent", cy: "queued", None: "sent"})
    old = add_run(db, 150, {ann: "sent", bob: "failed", cy: "skipped"})
    recent = add_run(db, 10, {bob: "skipped", cy: "failed"})
    with db.session() as session:
        before = rows.last_digests(session, min(ann, bob, cy), max(ann, bob, cy))
    assert db.patiently(lambda session: rows.prune(session, NOW)) == 4
    with db.session() as session:
        left = set(session.execute(select(OutboxItem.run_id, OutboxItem.subscriber_id)).all())
        after = rows.last_digests(session, min(ann, bob, cy), max(ann, bob, cy))
    assert left == {
        (old, ann),  # ann's latest sent row (her older one went)
        (oldest, bob),  # bob's only sent row, however old
        (oldest, cy),  # still queued: not ended
        (recent, bob),
        (recent, cy),
    }
    assert after == before
    assert db.patiently(lambda session: rows.prune(session, NOW)) == 0


def leave_behind(db: Database, settings: Settings, frequency: str, run_time: datetime) -> None:
    """The job store as a scheduler that stopped before `run_time` leaves it."""
    previous = BackgroundScheduler(jobstores={"default": job_store(db)})
    previous.start(paused=True)
    trigger = digest_triggers(settings)[frequency]
    previous.add_job(
        digest_job, trigger, args=[frequency], id=f"digest-{frequency}", next_run_time=run_time
    )
    previous.remove_jobstore("default")  # else shutting down would process the job
    previous.shutdown()


def stored_run_time(db: Database, job_id: str) -> datetime:
    with db.engine.connect() as connection:
        stamp = connection.execute(
            text(f"SELECT next_run_time FROM {JOBS_TABLE} WHERE id = :id"), {"id": job_id}
        ).scalar_one()
    return datetime.fromtimestamp(stamp, UTC)


def daily_at(settings: Settings, moment: datetime, window_hours: float) -> Settings:
    """Daily digests at `moment`'s minute of the day in London."""
    local = moment.astimezone(ZoneInfo("Europe/London"))
    return configured(
        settings,
        digest_schedule=f"{local.minute} {local.hour} * * *",
        digest_windows={"daily": window_hours},
    )


def test_a_scheduler_starting_inside_the_window_sends_the_missed_digest(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    due = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    settings = daily_at(settings, due, 24)
    leave_behind(db, settings, "daily", due)
    scheduler = Scheduler(db, settings)
    with caplog.at_level(logging.INFO, logger="pipeline.scheduling"):
        scheduler.start()
        try:
            deadline = time.monotonic() + 20
            while not runs(db) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            scheduler.stop()
    [run] = runs(db)
    assert (run.frequency, run.cutoff) == ("daily", due)
    assert re.search(
        r"was missed by 0:0[56]:\d\d while no scheduler ran: sending it now", caplog.text
    )
    assert stored_run_time(db, "digest-daily") > datetime.now(UTC)


def test_a_scheduler_starting_past_the_window_skips_the_missed_digest(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    due = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    settings = daily_at(settings, due, 1)
    leave_behind(db, settings, "daily", due)
    scheduler = Scheduler(db, settings)
    with caplog.at_level(logging.INFO, logger="pipeline.scheduling"):
        scheduler.start()
        scheduler.stop()
    assert re.search(
        r"was missed by 2:0[01]:\d\d while no scheduler ran: past its 1h window", caplog.text
    )
    assert stored_run_time(db, "digest-daily") > datetime.now(UTC) + timedelta(hours=20)
    assert runs(db) == []


def runs(db: Database) -> list[DigestRun]:
    with db.session() as session:
        return list(session.scalars(select(DigestRun)))
