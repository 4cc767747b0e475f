"""Clearing out old outbox rows, without losing what digest selection reads.

Selection finds each subscriber's last delivered digest as the latest cutoff over their
sent rows, so that row stays however old it is; without it, their next digest would
start again from the first-digest lookback.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import aliased

from pipeline.storage import Database
from pipeline.storage.models import DigestRun, OutboxItem

RETENTION = timedelta(days=90)
ENDED = ("sent", "failed", "skipped")


def prune_outbox(db: Database, now: datetime, *, keep: timedelta = RETENTION) -> int:
    """Delete the ended rows of runs planned more than `keep` before `now`, except each
    subscriber's latest sent row; how many went."""
    other, other_run = aliased(OutboxItem), aliased(DigestRun)
    latest_cutoff = (
        select(func.max(other_run.cutoff))
        .join(other, other.run_id == other_run.id)
        .where(other.subscriber_id == OutboxItem.subscriber_id, other.status == "sent")
        .scalar_subquery()
    )
    own_cutoff = select(DigestRun.cutoff).where(DigestRun.id == OutboxItem.run_id).scalar_subquery()
    latest_sent = (
        (OutboxItem.status == "sent")
        & OutboxItem.subscriber_id.is_not(None)
        & (own_cutoff == latest_cutoff)
    )
    old_runs = select(DigestRun.id).where(DigestRun.created < now - keep)
    with db.session() as session:
        result = session.execute(
            delete(OutboxItem).where(
                OutboxItem.status.in_(ENDED), OutboxItem.run_id.in_(old_runs), ~latest_sent
            )
        )
        return result.rowcount
