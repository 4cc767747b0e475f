"""A named lease in the database: one holder at a time, until it expires unrenewed.

Taking and renewing are one conditional UPDATE (the lease is free, expired, or already
ours), so however many processes try at once, at most one succeeds; the very first take
is an INSERT, and a process losing that race hits the primary key. Times come from the
callers' clocks: processes on several hosts need them in step (NTP) to well under the
lease length.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from pipeline.storage import Database
from pipeline.storage.db import changed
from pipeline.storage.models import SchedulerLease


def acquire(db: Database, name: str, holder: str, now: datetime, length: timedelta) -> bool:
    """Take or renew lease `name` for `holder` until `now + length`; False if another
    holder has it."""
    expires = now + length
    with db.session() as session:
        taken = changed(
            session,
            update(SchedulerLease)
            .where(
                SchedulerLease.name == name,
                (SchedulerLease.holder == holder) | (SchedulerLease.expires_at <= now),
            )
            .values(holder=holder, expires_at=expires),
        )
        if taken or session.get(SchedulerLease, name) is not None:
            return bool(taken)
    try:
        with db.session() as session:
            session.add(SchedulerLease(name=name, holder=holder, expires_at=expires))
    except IntegrityError:  # another process took it between our look and our insert
        return False
    return True


def release(db: Database, name: str, holder: str) -> None:
    """Give lease `name` up, if `holder` still has it, so another can take it at once."""
    with db.session() as session:
        session.execute(
            delete(SchedulerLease).where(
                SchedulerLease.name == name, SchedulerLease.holder == holder
            )
        )


def holder_of(db: Database, name: str, now: datetime) -> str | None:
    """Who holds lease `name` at `now` (None: nobody, or it expired)."""
    with db.session() as session:
        return session.scalar(
            select(SchedulerLease.holder).where(
                SchedulerLease.name == name, SchedulerLease.expires_at > now
            )
        )
