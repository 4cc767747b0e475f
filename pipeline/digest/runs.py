"""Digest runs: one per frequency and period, planned and queued in one transaction.

The (frequency, period) key is unique in the database, so a second `digest send`, a
double-submitted button or two schedulers racing all land on the same run: an
unfinished one resumes, a finished one is not sent again. A run past its window
(DIGEST_WINDOWS after it was planned: a paused run, or an unfinished one found in a
database restored from a backup) expires instead of going out late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.digest.select import Plan, period_of, plan
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, DigestSelection, OutboxItem

OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "skipped")
FINISHED = ("done", "expired", "cancelled")
_INSERT_CHUNK = 5_000


@dataclass(frozen=True)
class RunStart:
    """The run for this period, and whether this call created it (else it existed)."""

    run: DigestRun
    created: bool


def start_run(
    db: Database, settings: Settings, frequency: str, now: datetime, *, local_hours: bool = False
) -> RunStart:
    """The run for the period `now` falls in: created with its outbox rows, or the existing one.

    With `local_hours` (scheduled runs), subscribers in zones where DIGEST_SCHEDULE's time
    of day is still to come get their copy then; everyone else at once.
    """
    period = period_of(frequency, now, settings.zone)
    existing = find_run(db, frequency, period)
    if existing is not None:
        return RunStart(existing, created=False)
    expires = now + timedelta(hours=settings.digest_windows[frequency])
    try:
        with db.session() as session:
            run = DigestRun(
                frequency=frequency,
                period=period,
                status="queued",
                created=now,
                cutoff=now,
                expires_at=expires,
            )
            session.add(run)
            session.flush()
            recipients = plan(session, frequency, now)
            send_at = _local_times(settings, recipients, now) if local_hours else {}
            _queue(session, run, recipients, send_at)
            if not recipients.recipients:
                run.status, run.finished_at, run.note = "done", now, "nothing new to send"
    except IntegrityError:  # another process created it between our look and our insert
        raced = find_run(db, frequency, period)
        if raced is None:
            raise
        return RunStart(raced, created=False)
    return RunStart(run, created=True)


def _local_times(settings: Settings, recipients: Plan, now: datetime) -> dict[str, datetime]:
    """Per time zone, when its subscribers' copies are due (zones already past: absent)."""
    clock = schedule_time(settings.digest_schedule)
    if clock is None:
        return {}
    hour, minute = clock
    due: dict[str, datetime] = {}
    for zone in set(recipients.zones.values()):
        local = now.astimezone(ZoneInfo(zone))
        at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at > local:
            due[zone] = at
    return due


def schedule_time(cron: str) -> tuple[int, int] | None:
    """The (hour, minute) a crontab line fires at, if it names exactly one."""
    minute, hour = cron.split()[:2]
    if minute.isdigit() and hour.isdigit():
        return int(hour), int(minute)
    return None


def _queue(
    session: Session, run: DigestRun, recipients: Plan, send_at: dict[str, datetime]
) -> None:
    """One selection row per distinct post list, one outbox row per recipient, inserted in
    chunks so memory stays flat however long the list."""
    for post_ids, subscriber_ids in recipients.groups.items():
        selection = DigestSelection(run_id=run.id, post_ids=list(post_ids))
        session.add(selection)
        session.flush()
        for start in range(0, len(subscriber_ids), _INSERT_CHUNK):
            rows = [
                {
                    "run_id": run.id,
                    "selection_id": selection.id,
                    "subscriber_id": subscriber,
                    "status": "queued",
                    "attempts": 0,
                    "next_attempt_at": send_at.get(recipients.zones.get(subscriber, "")),
                }
                for subscriber in subscriber_ids[start : start + _INSERT_CHUNK]
            ]
            session.execute(insert(OutboxItem), rows)


def resume_run(db: Database, run_id: int) -> DigestRun | None:
    """Let a paused run send again (after fixing what made it pause)."""
    return _transition(db, run_id, {"paused": "sending"}, note=None)


def pause_run(db: Database, run_id: int) -> DigestRun | None:
    """Stop a run between batches; `resume_run` continues it where it stopped."""
    return _transition(
        db, run_id, {"queued": "paused", "sending": "paused"}, note="paused by an admin"
    )


def cancel_run(db: Database, run_id: int, now: datetime) -> DigestRun | None:
    """End a run for good: what was not sent yet is skipped."""
    with db.session() as session:
        run = session.get(DigestRun, run_id)
        if run is None or run.status in FINISHED:
            return run
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.run_id == run_id, OutboxItem.status == "queued")
            .values(status="skipped", last_error="run cancelled")
        )
        run.status, run.finished_at, run.note = "cancelled", now, "cancelled by an admin"
        return run


def _transition(
    db: Database, run_id: int, moves: dict[str, str], *, note: str | None
) -> DigestRun | None:
    """Move a run from one of `moves`' statuses to the matching one; others stay put."""
    with db.session() as session:
        run = session.get(DigestRun, run_id)
        if run is not None and run.status in moves:
            run.status, run.note = moves[run.status], note
        return run


def find_run(db: Database, frequency: str, period: str) -> DigestRun | None:
    """The run for one frequency and period, if there is one."""
    with db.session() as session:
        return session.scalars(
            select(DigestRun).where(DigestRun.frequency == frequency, DigestRun.period == period)
        ).one_or_none()


def get_run(db: Database, run_id: int) -> DigestRun | None:
    with db.session() as session:
        return session.get(DigestRun, run_id)


def counts(db: Database, run_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per run, how many outbox rows are in each status (every status present, zeros too)."""
    totals = {run_id: dict.fromkeys(OUTBOX_STATUSES, 0) for run_id in run_ids}
    with db.session() as session:
        rows = session.execute(
            select(OutboxItem.run_id, OutboxItem.status, func.count())
            .where(OutboxItem.run_id.in_(run_ids))
            .group_by(OutboxItem.run_id, OutboxItem.status)
        )
        for run_id, status, count in rows:
            totals[run_id][status] = count
    return totals


def recent_runs(db: Database, *, limit: int = 50) -> list[DigestRun]:
    """The newest runs first."""
    with db.session() as session:
        return list(session.scalars(select(DigestRun).order_by(DigestRun.id.desc()).limit(limit)))


def run_json(run: DigestRun, run_counts: dict[str, int]) -> dict[str, Any]:
    """A run as `deliveries --json` prints it (DESIGN.md)."""
    return {
        "id": run.id,
        "frequency": run.frequency,
        "period": run.period,
        "created": run.created.isoformat(),
        "status": run.status,
        "counts": run_counts,
        "expires_at": run.expires_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "note": run.note,
    }
