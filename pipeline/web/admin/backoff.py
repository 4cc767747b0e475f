"""Slowing down password guessing: after a few failed sign-ins, a wait that doubles.

Counted per client address (an IPv6 client's /64) and per username tried, so neither one
address trying many usernames nor many addresses trying one username gets far. A refused
attempt checks no password, so it tells nothing, and the wait it is told stays the same.
Memory is bounded: beyond MAX_KEYS the least recently seen key is forgotten (a username
under attack is seen all the time, so it is never the one).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

FAILURES_ALLOWED = 5
WINDOW_SECONDS = 15 * 60.0
FIRST_WAIT_SECONDS = 30.0
LONGEST_WAIT_SECONDS = 15 * 60.0
MAX_KEYS = 10_000


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class Backoff:
    """Failed attempts per key within WINDOW_SECONDS, and how long each key must wait."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, *keys: str) -> float:
        """Seconds until all of `keys` may try again (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [
                record.locked_until - now for key in keys if (record := self._records.get(key))
            ]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> None:
        """Count a failure for each key; from the FAILURES_ALLOWED-th on, lock the key for
        FIRST_WAIT_SECONDS, twice as long at each further failure."""
        now = self._clock()
        with self._lock:
            for key in keys:
                record = self._records.pop(key, None) or _Record()
                while record.failures and record.failures[0] <= now - WINDOW_SECONDS:
                    record.failures.popleft()
                record.failures.append(now)
                extra = len(record.failures) - FAILURES_ALLOWED
                if extra >= 0:
                    wait = min(FIRST_WAIT_SECONDS * 2**extra, LONGEST_WAIT_SECONDS)
                    record.locked_until = now + wait
                self._records[key] = record  # at the end: the most recently seen
            while len(self._records) > MAX_KEYS:
                self._records.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        """Forget the keys' failures (a signed-in admin starts afresh)."""
        with self._lock:
            for key in keys:
                self._records.pop(key, None)
