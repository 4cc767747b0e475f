"""Live claims: each sending process registers itself and beats a heart in the database.

A claimed row names its sender. While that sender's heartbeat is fresh its claims are its
own, however slow its relay; once the heartbeat is older than SENDER_TIMEOUT_SECONDS (the
process was killed, or its machine went away) whoever looks next puts its rows back in the
queue. So a run resumed right after a `kill -9` finishes within seconds, not a lease later.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import delete, exists, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from pipeline.outbox.status import OutboxStatus
from pipeline.resting import rest
from pipeline.storage import Database
from pipeline.storage.db import changed
from pipeline.storage.models import OutboxItem, Sender

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class SenderLife:
    """This process as a registered sender while the `with` block runs (its id is `id`).
    Leaving does not wait for the heartbeat thread to end, only for a beat under way: the
    thread rests in steps of 50 ms, and waiting for the step to end made every send 25 ms
    longer on average."""

    def __init__(self, db: Database, clock: Clock, timeout: float) -> None:
        self.db, self.clock = db, clock
        self.id = uuid.uuid4().hex
        self.interval = max(timeout / 4, 0.05)
        self._stop = threading.Event()
        self._beating = threading.Lock()
        self._thread = threading.Thread(target=self._beat, name="sender-heartbeat", daemon=True)

    def __enter__(self) -> SenderLife:
        now = self.clock()
        with self.db.session() as session:
            session.add(
                Sender(
                    id=self.id,
                    host=socket.gethostname()[:255],
                    pid=os.getpid(),
                    started=now,
                    heartbeat=now,
                )
            )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        with self._beating:  # a beat under way ends first; none follows
            pass
        try:
            with self.db.session() as session:
                session.execute(delete(Sender).where(Sender.id == self.id))
        except SQLAlchemyError as exc:  # it goes stale and is cleared by the next reaper
            log.warning("could not unregister sender %s: %s", self.id, exc)

    def _beat(self) -> None:
        while rest(self._stop, self.interval):
            try:
                with self._beating:
                    if self._stop.is_set():
                        return
                    with self.db.session() as session:
                        session.execute(
                            update(Sender)
                            .where(Sender.id == self.id)
                            .values(heartbeat=self.clock())
                        )
            except SQLAlchemyError as exc:  # the database is away: the next beat tries again
                log.warning("sender heartbeat failed: %s", exc)


def reap(session: Session, run_id: int, now: datetime, timeout: float) -> int:
    """Put back in the queue the rows of `run_id` claimed by a sender that stopped (stale
    heartbeat, or no longer registered); how many."""
    stale = now - timedelta(seconds=timeout)
    session.execute(delete(Sender).where(Sender.heartbeat < stale))
    alive = exists().where(Sender.id == OutboxItem.claim)
    return changed(
        session,
        update(OutboxItem)
        .where(
            OutboxItem.run_id == run_id,
            OutboxItem.status == OutboxStatus.SENDING,
            ~alive,
        )
        .values(status=OutboxStatus.QUEUED, claim=None, next_attempt_at=None)
        .execution_options(synchronize_session=False),
    )
