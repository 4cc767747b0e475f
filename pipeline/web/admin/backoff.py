"""Slowing down password guessing: after a few failed sign-ins, a wait that doubles.

Counted per client address (an IPv6 client's /64) and per address and username tried,
never per username alone: failures from one address must not lock the owner out from
another. An address may fail more often than one (address, username) pair, so a shared
office's typos do not lock everyone there at once. A refused attempt checks no password,
so it tells nothing, and the wait it is told stays the same.

The counts live in the database's shared web state: every web process and every restart
sees the same failures, and the check, the password comparison and the count happen under
one lock, so parallel guesses cannot all slip in before the first failures are counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.storage.webstate import Record, SharedState
from pipeline.web.ratelimit import client_key

SCOPE = "admin-signin"
FAILURES_ALLOWED = 5  # per (address, username)
ADDRESS_FAILURES_ALLOWED = 20  # per address, whatever the usernames
WINDOW_SECONDS = 15 * 60.0
FIRST_WAIT_SECONDS = 30.0
LONGEST_WAIT_SECONDS = 15 * 60.0
# Failures kept per key: enough for the wait to reach its longest.
KEPT_FAILURES = 10


@dataclass(frozen=True)
class Attempt:
    """The outcome of one sign-in: refused for `wait` seconds (nothing checked), or checked."""

    wait: float
    ok: bool


def signin_limits(host: str | None, username: str) -> dict[str, int]:
    """The keys one sign-in counts against, and the failures each allows."""
    address = client_key(host)
    user = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return {f"{address}": ADDRESS_FAILURES_ALLOWED, f"{address} {user}": FAILURES_ALLOWED}


class Backoff:
    """Failed attempts per key within WINDOW_SECONDS, and how long each key must wait."""

    def __init__(self, state: SharedState) -> None:
        self._state = state

    def attempt(self, limits: dict[str, int], verify: Callable[[], bool]) -> Attempt:
        """Refuse while any key of `limits` must wait; else `verify()`: a success forgets the
        keys' failures, a failure counts for each key and, from its allowed number on, locks
        it for FIRST_WAIT_SECONDS, twice as long at each further failure."""

        def step(records: dict[str, Record], now: datetime) -> Attempt:
            moment = now.timestamp()
            wait = max(record.data.get("locked_until", 0.0) - moment for record in records.values())
            if wait > 0:
                return Attempt(wait, False)
            if verify():
                for record in records.values():
                    record.data, record.expires_at = {}, now
                return Attempt(0.0, True)
            for key, record in records.items():
                _count_failure(record, moment, limits[key])
            return Attempt(0.0, False)

        return self._state.change(SCOPE, limits, step)


def _count_failure(record: Record, moment: float, allowed: int) -> None:
    failures = [at for at in record.data.get("failures", []) if at > moment - WINDOW_SECONDS]
    failures.append(moment)
    locked_until = record.data.get("locked_until", 0.0)
    extra = len(failures) - allowed
    if extra >= 0:
        locked_until = moment + min(FIRST_WAIT_SECONDS * 2**extra, LONGEST_WAIT_SECONDS)
    record.data = {"failures": failures[-(allowed + KEPT_FAILURES) :], "locked_until": locked_until}
    record.expires_at = datetime.fromtimestamp(max(moment + WINDOW_SECONDS, locked_until), UTC)
