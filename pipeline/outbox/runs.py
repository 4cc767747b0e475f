"""Runs as admins see and steer them: find, list, count, pause, resume, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from pipeline.outbox import rows
from pipeline.outbox.status import RunStatus
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, OutboxItem


def pause_run(db: Database, run_id: int, now: datetime) -> DigestRun | None:
    """Stop a run between batches until an admin resumes it (no automatic probe)."""

    def work(session: Any) -> DigestRun | None:
        run = session.get(DigestRun, run_id)
        if run is not None and (
            rows.move(run, RunStatus.PAUSED, now) or run.status == RunStatus.PAUSED
        ):
            run.resume_at, run.note = None, "paused by an admin"
        return run

    return db.patiently(work)


def resume_run(db: Database, run_id: int, now: datetime) -> DigestRun | None:
    """Let a paused run send again at once (after fixing what made it pause)."""

    def work(session: Any) -> DigestRun | None:
        run = session.get(DigestRun, run_id)
        if run is not None and run.status == RunStatus.PAUSED:
            rows.move(run, RunStatus.SENDING, now)
            run.note, run.resume_at, run.faults = None, None, 0
        return run

    return db.patiently(work)


def cancel_run(db: Database, run_id: int, now: datetime) -> DigestRun | None:
    """End a run for good: what was not sent yet is skipped."""

    def work(session: Any) -> DigestRun | None:
        run = session.get(DigestRun, run_id)
        if run is not None and RunStatus(run.status).can_become(RunStatus.CANCELLED):
            rows.cancel(session, run, now)
        return run

    return db.patiently(work)


def due_runs(db: Database, now: datetime) -> list[int]:
    """Runs the sweep should look at: unfinished ones, and paused ones due for a probe."""
    with db.session() as session:
        return list(
            session.scalars(
                select(DigestRun.id)
                .where(
                    DigestRun.status.in_((RunStatus.QUEUED, RunStatus.SENDING))
                    | (
                        (DigestRun.status == RunStatus.PAUSED)
                        & DigestRun.resume_at.is_not(None)
                        & (DigestRun.resume_at <= now)
                    )
                )
                .order_by(DigestRun.id)
            )
        )


def idle_runs(
    db: Database, now: datetime, timeout: float, run_ids: list[int] | None = None
) -> list[int]:
    """Unfinished runs with work due that no live sender is doing (see `rows.idle_runs`)."""
    with db.session() as session:
        return rows.idle_runs(session, now, timeout, run_ids)


def backlog(db: Database, run_id: int, now: datetime) -> rows.Backlog:
    """What is left of a run: rows waiting (and when the first is due) and rows in flight."""
    with db.session() as session:
        return rows.backlog(session, run_id, now)


def find_run(db: Database, frequency: str, period: str) -> DigestRun | None:
    """The run for one frequency and period, if there is one."""
    with db.session() as session:
        return session.scalars(
            select(DigestRun).where(DigestRun.frequency == frequency, DigestRun.period == period)
        ).one_or_none()


def started_periods(db: Database, frequency: str, periods: list[str]) -> set[str]:
    """Which of `periods` already have a run of `frequency`."""
    with db.session() as session:
        return set(
            session.scalars(
                select(DigestRun.period).where(
                    DigestRun.frequency == frequency, DigestRun.period.in_(periods)
                )
            )
        )


def unfinished_runs(db: Database, frequency: str) -> list[int]:
    """The runs of `frequency` still queued or sending, oldest first."""
    with db.session() as session:
        return list(
            session.scalars(
                select(DigestRun.id)
                .where(
                    DigestRun.frequency == frequency,
                    DigestRun.status.in_((RunStatus.QUEUED, RunStatus.SENDING)),
                )
                .order_by(DigestRun.id)
            )
        )


def get_run(db: Database, run_id: int) -> DigestRun | None:
    with db.session() as session:
        return session.get(DigestRun, run_id)


def counts(db: Database, run_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per run, how many outbox rows are in each status (every status present, zeros too)."""
    with db.session() as session:
        return rows.counts(session, run_ids)


def problems(db: Database, run_id: int, limit: int) -> list[Any]:
    with db.session() as session:
        return rows.problems(session, run_id, limit)


def deliveries_to(
    db: Database, subscriber_id: int, limit: int
) -> list[tuple[OutboxItem, DigestRun]]:
    """The last `limit` mails planned for a subscriber, with their runs, newest first."""
    with db.session() as session:
        return rows.deliveries_to(session, subscriber_id, limit)


def recent_runs(db: Database, *, limit: int = 50) -> list[DigestRun]:
    """The newest runs first."""
    with db.session() as session:
        return list(session.scalars(select(DigestRun).order_by(DigestRun.id.desc()).limit(limit)))


def run_json(run: DigestRun, run_counts: dict[str, int]) -> dict[str, Any]:
    """A run as `deliveries --json` prints it (DESIGN.md)."""
    return {
        "id": run.id,
        "kind": run.kind,
        "frequency": run.frequency,
        "period": run.period,
        "created": run.created.isoformat(),
        "status": run.status,
        "counts": run_counts,
        "expires_at": run.expires_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "resume_at": run.resume_at.isoformat() if run.resume_at else None,
        "note": run.note,
        "subject": run.subject,
        "topic": run.topic,
    }
