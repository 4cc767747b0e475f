"""Group commit: connections hand each finished message over and go on to the next, while
one thread writes whatever has gathered in one transaction.

The writer commits once `GROUP` marks have gathered, or at once when someone waits for
marks not yet committed: every commit has a fixed cost (a statement, a commit, waking
the waiters), and committing each mark as it came cost the sender a fifth of its time.

Marking each message in its own transaction would cost a commit per message; marking a
whole batch at the end would leave a whole batch in doubt after a crash. Here the writer
commits what every connection finished since its last commit, and a connection waits only
for the message before its previous one (see `pipeline.delivery.base.Pipeline`).

So every commit's latency is paid by the connections, and the writer keeps it low, and
its CPU too, which it spends under the GIL the connections need: its connection is its
own, kept open (no pool checkout, ping or ORM session per commit; see
`pipeline.storage.db.HeldConnection`); the marks are one statement that commits by
itself, run on the driver's connection (on PostgreSQL its values as array literals, see
`pipeline.storage.arrays`; on SQLite one JSON array), and a commit does not wait for the
WAL to reach the disk (a flush per commit, tens of ms on a
busy disk, would set the pace of the whole send). The server has the marks once
committed, so a crash of the sender loses none; a crash of the database server itself may
lose its last fraction of a second, whose messages would go once more.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from pipeline.outbox import rows
from pipeline.storage import Database

log = logging.getLogger(__name__)

Written = Callable[[list[rows.Mark], list[int]], None]
GROUP = 4  # marks that make the writer commit before anyone waits: about one per connection


class Ticket:
    """Set once its marks are committed; waiting on it asks the writer to commit now, and
    raises what stopped the writer if they never will be: a connection then stops before
    its next message goes, instead of sending the rest of its batch unrecorded."""

    __slots__ = ("_committed", "_failed", "_hurry")

    def __init__(self, hurry: Callable[[], None]) -> None:
        self._committed = threading.Event()
        self._hurry = hurry
        self._failed: BaseException | None = None

    def set(self) -> None:
        self._committed.set()

    def fail(self, error: BaseException) -> None:
        self._failed = error
        self._committed.set()

    def wait(self) -> None:
        if not self._committed.is_set():
            self._hurry()
            self._committed.wait()
        if self._failed is not None:
            raise self._failed


class Recorder:
    """Writes marks for `sender` in the background; `written(marks, refused)` runs after
    each commit (refused: rows the sender no longer held)."""

    def __init__(self, db: Database, sender: str, written: Written) -> None:
        self.db, self.sender, self.written = db, sender, written
        self._own = db.held_connection(flush=False, single_statements=True)
        self._pending: list[tuple[list[rows.Mark], Ticket]] = []
        self._gathered = 0  # marks in `_pending`
        self._wake = threading.Condition()
        self._urgent = False
        self._closing = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="outbox-recorder", daemon=True)

    def record(self, marks: list[rows.Mark]) -> Ticket:
        """Queue `marks`; the ticket is set once they are committed."""
        committed = Ticket(self._hurry)
        with self._wake:
            if self._error is not None:
                committed.fail(self._error)
                return committed
            self._pending.append((marks, committed))
            self._gathered += len(marks)
            if self._gathered >= GROUP:
                self._wake.notify()
        return committed

    def flush(self) -> None:
        """Wait until every mark queued so far is committed (a backend may return before
        its last outcomes are)."""
        self.record([]).wait()

    def _hurry(self) -> None:
        with self._wake:
            self._urgent = True
            self._wake.notify()

    def check(self) -> None:
        """Raise what stopped the writer, if anything did (the sender must stop too)."""
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        self._own.close()
        if self._error is not None and kind is None:
            raise self._error

    def _write(self) -> None:
        while True:
            with self._wake:
                while not self._closing and not (
                    self._pending and (self._urgent or self._gathered >= GROUP)
                ):
                    self._wake.wait()
                if not self._pending:
                    return
                taken, self._pending = self._pending, []
                self._gathered, self._urgent = 0, False
            marks = [mark for group, _ in taken for mark in group]
            try:
                if marks:
                    self._commit(marks)
            except BaseException as exc:  # the sender stops; its rows stay claimed, then reaped
                log.error("could not record %d outcomes: %s", len(marks), exc)
                with self._wake:
                    self._error = exc
                    unrecorded, self._pending = [*taken, *self._pending], []
                for _, committed in unrecorded:
                    committed.fail(exc)
                return
            for _, committed in taken:
                committed.set()

    def _commit(self, marks: list[rows.Mark]) -> None:
        self.written(marks, rows.record(self._own, self.sender, marks))
