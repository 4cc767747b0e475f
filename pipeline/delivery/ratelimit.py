"""SEND_RATE: one token bucket shared by every connection or request of a backend.

Providers and relays throttle or block senders that burst, so the cap holds across all the
threads of a pool. Each caller reserves its tokens under the lock and sleeps outside it:
the balance may go negative, and later callers then wait their turn behind the debt, so
the lock is never held while waiting and the order of reservations is the order of sends.
"""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """`rate` tokens a second with no burst beyond one: messages one by one go evenly
    spaced, and a request for a batch of recipients waits until all its tokens are due.
    `rate` 0 means no cap."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = 1.0
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    @property
    def paced(self) -> bool:
        """Whether there is a cap (callers may then wait in `acquire`)."""
        return self.rate > 0

    def acquire(self, count: int = 1) -> None:
        """Take `count` tokens, sleeping until they are due (at once if there is no cap)."""
        if not self.paced:
            return
        with self._lock:
            now = time.monotonic()
            self._tokens = min(1.0, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= count
            wait = -self._tokens / self.rate
        if wait > 0:
            time.sleep(wait)
