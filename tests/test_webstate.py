"""The web state every process shares, on real databases: once-only marks, limits that
hold across processes under parallel requests, and expired rows purged."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from pipeline.storage import Database, open_database
from pipeline.storage.models import WebState
from pipeline.storage.webstate import PURGE_EVERY, SharedState
from pipeline.web.ratelimit import SlidingWindow

START = datetime(2030, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def rows(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(WebState)) or 0


def test_a_mark_is_new_once_until_it_expires(db: Database) -> None:
    clock = Clock()
    state = SharedState(db, clock=clock)
    until = START + timedelta(minutes=5)
    assert state.remember("nonce", "abc", until) is True
    assert state.remember("nonce", "abc", until) is False
    assert state.known("nonce", "abc") and not state.known("other", "abc")
    clock.now = until
    assert not state.known("nonce", "abc")
    assert state.remember("nonce", "abc", until + timedelta(minutes=5)) is True


def test_a_long_key_is_kept_by_its_digest(db: Database) -> None:
    state = SharedState(db)
    key = "x" * 5000
    assert state.remember("nonce", key, state.clock() + timedelta(minutes=1))
    assert state.known("nonce", key) and not state.known("nonce", "x" * 4999)


def test_parallel_hits_from_two_processes_never_pass_the_limit(database_url: str) -> None:
    """Two engines stand for two processes; 40 requests race for 5 places."""
    first, second = open_database(database_url), open_database(database_url)
    try:
        limits = [SlidingWindow(SharedState(db), "signup", 5, 600) for db in (first, second)]
        with ThreadPoolExecutor(8) as pool:
            waits = list(pool.map(lambda n: limits[n % 2].hit("203.0.113.9"), range(40)))
    finally:
        first.close()
        second.close()
    assert sum(wait == 0 for wait in waits) == 5
    assert all(0 < wait <= 600 for wait in waits if wait)


def test_expired_rows_are_purged(db: Database) -> None:
    clock = Clock()
    state = SharedState(db, clock=clock)
    for n in range(3):
        state.remember("nonce", str(n), START + timedelta(seconds=10))
    assert rows(db) == 3
    clock.now = START + PURGE_EVERY + timedelta(seconds=1)
    state.remember("nonce", "new", clock.now + timedelta(seconds=10))
    assert rows(db) == 1 and state.known("nonce", "new")
