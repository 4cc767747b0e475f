"""Small expiring records that every web process on one database shares (`web_state`).

Web state kept in one process's memory is wrong as soon as there are two processes or a
restart: a signed-out cookie works again, a rate limit is multiplied by the number of
processes. Two operations cover what the web needs:

- `remember(scope, key, until)`: a once-only mark (a signed-out session, a used nonce, a
  webhook delivery seen): True the first time, False while the mark lasts; `known` reads it.
- `change(scope, keys, update)`: read, modify and write a few records under row locks that
  every process respects (a rate-limit window, sign-in failures), so parallel requests
  spread over processes cannot all slip past a limit.

Expired rows mean nothing and are deleted now and then, a batch at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.storage.db import Database
from pipeline.storage.dialect import clash_aware_insert
from pipeline.storage.models import WebState
from subscribers.timestamps import utcnow

T = TypeVar("T")
KEY_MAX = 255
PURGE_EVERY = timedelta(minutes=1)
PURGE_BATCH = 1000


@dataclass
class Record:
    """One record as `change` hands it over: `data` is empty when the record is new or had
    expired; set `expires_at` to keep it (left as it is, a new record is dropped)."""

    data: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime = field(default_factory=utcnow)


class SharedState:
    """The `web_state` table of one database, on an injectable clock."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self.clock = clock
        self._next_purge: datetime | None = None

    def remember(self, scope: str, key: str, until: datetime) -> bool:
        """Mark `key` until `until`: True if it was not marked already."""

        def mark(records: dict[str, Record], _now: datetime) -> bool:
            record = records[key]
            fresh = not record.data
            record.data, record.expires_at = {"marked": True}, max(until, record.expires_at)
            return fresh

        return self.change(scope, [key], mark)

    def known(self, scope: str, key: str) -> bool:
        """Whether `key` is marked (or otherwise recorded) and unexpired."""
        query = select(WebState.key).where(
            WebState.scope == scope,
            WebState.key == _stored(key),
            WebState.expires_at > self.clock(),
        )
        with self._db.session() as session:
            return session.scalar(query) is not None

    def change(
        self,
        scope: str,
        keys: Iterable[str],
        update: Callable[[dict[str, Record], datetime], T],
    ) -> T:
        """Run `update(records by key, now)` with those records locked, then store them.

        The rows are created first (SQLite then holds its write lock; PostgreSQL locks them
        in key order, so two callers never wait for each other in a circle)."""
        stored = {key: _stored(key) for key in keys}
        with self._db.session() as session:
            created = self.clock()
            new = [dict(scope=scope, key=k, data={}, expires_at=created) for k in stored.values()]
            session.execute(_insert(session, new).on_conflict_do_nothing())
            locked = session.execute(
                select(WebState.key, WebState.data, WebState.expires_at)
                .where(WebState.scope == scope, WebState.key.in_(stored.values()))
                .order_by(WebState.key)
                .with_for_update()
            ).all()
            now = self.clock()  # read under the locks: no one records a later moment first
            found = {k: Record(dict(data), at) for k, data, at in locked if at > now}
            records = {key: found.get(k) or Record(expires_at=now) for key, k in stored.items()}
            result = update(records, now)
            for key, record in records.items():
                values = {"data": record.data, "expires_at": record.expires_at}
                row = {"scope": scope, "key": stored[key], **values}
                session.execute(
                    _insert(session, [row]).on_conflict_do_update(
                        index_elements=[WebState.scope, WebState.key], set_=values
                    )
                )
        self._purge(now)
        return result

    def _purge(self, now: datetime) -> None:
        """Delete a batch of expired rows, at most once per PURGE_EVERY in this process;
        rows another process holds are skipped (they are being renewed)."""
        if self._next_purge is not None and now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY
        expired = (
            select(WebState.scope, WebState.key)
            .where(WebState.expires_at <= now)
            .limit(PURGE_BATCH)
            .with_for_update(skip_locked=True)
        )
        rows = tuple_(WebState.scope, WebState.key)
        with self._db.session() as session:
            session.execute(delete(WebState).where(rows.in_(expired)))


def _stored(key: str) -> str:
    """The key as stored: a long one (a username someone typed) by its digest."""
    if len(key) <= KEY_MAX:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _insert(session: Session, rows: list[dict[str, Any]]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of `rows` that can say what to do on a clash."""
    return clash_aware_insert(session, WebState).values(rows)
