"""Digest runs: one per frequency and period, planned and queued in one transaction.

The (frequency, period) key is unique in the database, so a second `digest send`, a
double-submitted button or two schedulers racing all land on the same run: an
unfinished one resumes, a finished one is not sent again. A run past its window
(DIGEST_WINDOWS after it was planned: a paused run, or an unfinished one found in a
database restored from a backup) expires instead of going out late.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.digest.select import Planned, planned
from pipeline.editorial import Editorial
from pipeline.frequencies import period_of
from pipeline.outbox import RunStatus, find_run, rows
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, DigestSelection
from subscribers import Frequency


@dataclass(frozen=True)
class RunStart:
    """The run for this period, and whether this call created it (else it existed)."""

    run: DigestRun
    created: bool


def start_run(
    db: Database,
    settings: Settings,
    frequency: Frequency,
    now: datetime,
    *,
    local_hours: bool = False,
    note: Editorial | None = None,
) -> RunStart:
    """The run for the period `now` falls in: created with its outbox rows, or the existing one.

    With `local_hours` (scheduled runs), subscribers in zones where DIGEST_SCHEDULE's time
    of day is still to come get their copy then; everyone else at once. An editor's `note`
    (subject, intro) is stored with a run this call creates; an existing run keeps its own,
    so a resumed run sends the mail it began with.
    """
    period = period_of(frequency, now, settings.zone)
    return open_digest_run(
        db,
        settings,
        frequency,
        period,
        now,
        lambda session, cutoff: planned(session, frequency, cutoff),
        local_hours=local_hours,
        note=note,
    )


Planner = Callable[[Session, datetime], Iterable[list[Planned]]]


def open_digest_run(
    db: Database,
    settings: Settings,
    frequency: Frequency,
    period: str,
    now: datetime,
    planner: Planner,
    *,
    local_hours: bool = False,
    note: Editorial | None = None,
) -> RunStart:
    """The run for (`frequency`, `period`): the existing one, or one created now with an
    outbox row for each recipient `planner` finds (given the session and the run's cutoff),
    in one transaction; `note` is the editor's subject and intro for it."""
    new = NewRun(
        frequency,
        period,
        timedelta(hours=settings.digest_windows[frequency]),
        subject=note.subject if note else None,
        intro=note.intro if note else None,
    )
    due = _local_time(settings, now) if local_hours else _at_once
    return open_run(
        db, new, now, lambda session, run: _queue(session, run, planner(session, run.cutoff), due)
    )


@dataclass(frozen=True)
class NewRun:
    """A run to open: its key (`frequency`, for a one-off mail its kind, and `period`), how
    long it may take to go out, what the editor wrote, and its note if it has no recipient."""

    frequency: str
    period: str
    window: timedelta
    kind: str = "digest"
    subject: str | None = None
    intro: str | None = None
    topic: str | None = None
    empty: str = "nothing new to send"


Queuer = Callable[[Session, DigestRun], int]


def open_run(db: Database, new: NewRun, now: datetime, queue: Queuer) -> RunStart:
    """The run keyed as `new` is: the existing one, or one created now with the outbox rows
    `queue` adds to it (how many), in one transaction; a race to create it finds the
    winner's run."""
    existing = find_run(db, new.frequency, new.period)
    if existing is not None:
        return RunStart(existing, created=False)
    try:
        with db.session() as session:
            run = DigestRun(
                kind=new.kind,
                frequency=new.frequency,
                period=new.period,
                status=RunStatus.QUEUED,
                created=now,
                cutoff=now,
                expires_at=now + new.window,
                subject=new.subject,
                intro=new.intro,
                topic=new.topic,
            )
            session.add(run)
            session.flush()
            if not queue(session, run):
                rows.move(run, RunStatus.DONE, now)
                run.note = new.empty
    except IntegrityError:  # another process created it between our look and our insert
        raced = find_run(db, new.frequency, new.period)
        if raced is None:
            raise
        return RunStart(raced, created=False)
    return RunStart(run, created=True)


def _at_once(zone: str) -> None:
    return None


def _local_time(settings: Settings, now: datetime) -> Callable[[str], datetime | None]:
    """When copies for a time zone are due: DIGEST_SCHEDULE's time of day there if it is
    still to come, else at once (None)."""
    clock = schedule_time(settings.digest_schedule)

    @cache
    def due(zone: str) -> datetime | None:
        if clock is None:
            return None
        local = now.astimezone(ZoneInfo(zone))
        at = local.replace(hour=clock[0], minute=clock[1], second=0, microsecond=0)
        return at if at > local else None

    return due


def schedule_time(cron: str) -> tuple[int, int] | None:
    """The (hour, minute) a crontab line fires at, if it names exactly one."""
    minute, hour = cron.split()[:2]
    if minute.isdigit() and hour.isdigit():
        return int(hour), int(minute)
    return None


def _queue(
    session: Session,
    run: DigestRun,
    chunks: Iterable[list[Planned]],
    due: Callable[[str], datetime | None],
) -> int:
    """One selection row per distinct post list, one outbox row per recipient, chunk by
    chunk of the plan; how many rows."""
    selections: dict[tuple[int, ...], int] = {}
    queued = 0
    for chunk in chunks:
        for item in chunk:
            if item.post_ids not in selections:
                selection = DigestSelection(run_id=run.id, post_ids=list(item.post_ids))
                session.add(selection)
                session.flush()
                selections[item.post_ids] = selection.id
        queued += rows.queue(
            session,
            run.id,
            (
                rows.Queued(selections[item.post_ids], item.subscriber_id, due(item.zone))
                for item in chunk
            ),
        )
    return queued
