"""One leader among the `serve` processes sharing a database, by a lease (lease.py).

Every process runs a `Leader`. It tries the lease every third of the lease's length, so
the holder renews it twice before it could run out, and a follower takes over within
about 1⅓ lease lengths of the holder dying. Only the holder runs the scheduler:
`on_elected` starts it, `on_deposed` stops it.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from pipeline.resting import rest
from pipeline.scheduling.lease import acquire, holder_of, release
from pipeline.storage import Database
from subscribers.timestamps import utcnow

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_SECONDS = 30.0


def holder_id() -> str:
    """This process as the lease names it: host, pid, and a nonce (pids repeat, in
    containers for one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Leader:
    """Holds the lease while it can, and runs the scheduler while it holds it."""

    def __init__(
        self,
        db: Database,
        *,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
        holder: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.on_elected, self.on_deposed = db, on_elected, on_deposed
        self.holder = holder or holder_id()
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self.leading = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> bool:
        """Take or renew the lease once, starting or stopping the scheduler if that
        changes who leads; whether this process leads."""
        try:
            holds = acquire(self.db, LEASE_NAME, self.holder, self.clock(), self.lease)
        except SQLAlchemyError:
            log.warning("scheduler lease: the database did not answer", exc_info=True)
            holds = False  # unsure: stop leading rather than risk two leaders
        if holds and not self.leading:
            self.on_elected()
            self.leading = True  # only once started: a failed start is tried again
        elif self.leading and not holds:
            self.leading = False
            self.on_deposed()
        return self.leading

    def current(self) -> str | None:
        """Who leads now, by the lease."""
        return holder_of(self.db, LEASE_NAME, self.clock())

    def start(self) -> bool:
        """One step now (so the caller can say who leads), the rest in a background thread;
        whether this process leads."""
        self._checked_step()
        self._thread = threading.Thread(target=self._run, name="scheduler-leader", daemon=True)
        self._thread.start()
        return self.leading

    def stop(self) -> None:
        """Stop trying; when leading, stop the scheduler and release the lease, so a
        follower takes over at its next try instead of when the lease runs out."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self.leading:
            self.leading = False
            self.on_deposed()
            release(self.db, LEASE_NAME, self.holder)

    def _run(self) -> None:
        while rest(self._stopping, self.lease.total_seconds() / 3):
            leading = self.leading
            self._checked_step()
            if self.leading != leading:
                state = "now leads" if self.leading else "no longer leads"
                log.info("scheduler: this process (%s) %s", self.holder, state)

    def _checked_step(self) -> None:
        try:
            self.step()
        except Exception:  # a failed scheduler start or stop: logged, tried again next step
            log.exception("scheduler: could not change leadership; trying again")
