"""A broadcast's run: one outbox row per recipient, keyed by the broadcast's content, so
sending the same mail again (after a crash, or a double click) finds the run it started."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.digest.runs import RunStart
from pipeline.editorial.broadcast import KIND, Broadcast
from pipeline.outbox import RunStatus, find_run, rows
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, DigestSelection
from subscribers import Subscriber

WINDOW = timedelta(hours=72)  # a broadcast not out within three days expires


def recipients(session: Session, topic: str | None) -> list[int]:
    """Confirmed subscribers, or only those who chose `topic` (compared case-blind)."""
    confirmed = session.execute(
        select(Subscriber.id, Subscriber.topics)
        .where(Subscriber.status == "confirmed")
        .order_by(Subscriber.id)
    )
    if topic is None:
        return [row.id for row in confirmed]
    wanted = topic.casefold()
    return [row.id for row in confirmed if wanted in {t.casefold() for t in row.topics or ()}]


def audience(db: Database, topic: str | None) -> dict[tuple[str, str], int]:
    """How many a broadcast to `topic` would reach, per (frequency, time zone)."""
    with db.session() as session:
        chosen = set(recipients(session, topic))
        tally: Counter[tuple[str, str]] = Counter(
            (row.frequency, row.timezone)
            for row in session.execute(
                select(Subscriber.id, Subscriber.frequency, Subscriber.timezone).where(
                    Subscriber.status == "confirmed"
                )
            )
            if row.id in chosen
        )
    return dict(sorted(tally.items()))


def start_broadcast(db: Database, mail: Broadcast, now: datetime) -> RunStart:
    """The broadcast's run with one outbox row per recipient, or the run it already has."""
    existing = find_run(db, KIND, mail.key)
    if existing is not None:
        return RunStart(existing, created=False)
    try:
        with db.session() as session:
            run = DigestRun(
                kind=KIND,
                frequency=KIND,
                period=mail.key,
                status=RunStatus.QUEUED,
                created=now,
                cutoff=now,
                expires_at=now + WINDOW,
                subject=mail.subject,
                intro=mail.body,
                topic=mail.topic,
            )
            session.add(run)
            session.flush()
            selection = DigestSelection(run_id=run.id, post_ids=[])
            session.add(selection)
            session.flush()
            chosen = recipients(session, mail.topic)
            rows.queue(
                session, run.id, (rows.Queued(selection.id, person, None) for person in chosen)
            )
            if not chosen:
                rows.move(run, RunStatus.DONE, now)
                run.note = "no confirmed subscriber to send it to"
    except IntegrityError:  # another process started it between our look and our insert
        raced = find_run(db, KIND, mail.key)
        if raced is None:
            raise
        return RunStart(raced, created=False)
    return RunStart(run, created=True)
