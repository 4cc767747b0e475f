"""A broadcast's run: one outbox row per recipient, keyed by the broadcast's content, so
sending the same mail again (after a crash, or a double click) finds the run it started."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.digest.runs import NewRun, RunStart, open_run
from pipeline.editorial.broadcast import KIND, Broadcast
from pipeline.outbox import rows
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
    new = NewRun(
        KIND,
        mail.key,
        WINDOW,
        kind=KIND,
        subject=mail.subject,
        intro=mail.body,
        topic=mail.topic,
        empty="no confirmed subscriber to send it to",
    )

    def queue(session: Session, run: DigestRun) -> int:
        selection = DigestSelection(run_id=run.id, post_ids=[])
        session.add(selection)
        session.flush()
        chosen = recipients(session, mail.topic)
        rows.queue(session, run.id, (rows.Queued(selection.id, person, None) for person in chosen))
        return len(chosen)

    return open_run(db, new, now, queue)
