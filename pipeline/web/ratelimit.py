"""A per-client sliding-window limit, in memory: enough for one process serving the public
forms, and never a store that grows with the number of clients an attacker can make up."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_CLIENTS = 10_000
IPV6_PREFIX = 64


class SlidingWindow:
    """At most `limit` events per `window` seconds per key, counted over the last `window`
    seconds (not in fixed buckets, which let twice the limit through across a boundary).

    Memory is bounded: each key keeps at most `limit` times, and beyond `max_keys` keys the
    least recently seen one is forgotten. Safe to share between threads.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0 or max_keys < 1:
            raise ValueError("limit, window and max_keys must be positive")
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Count one event for `key`: 0 if it is allowed, else the seconds until one would be
        (a refused event is not counted, so retrying early does not push the wait back)."""
        with self._lock:
            now = self._clock()
            horizon = now - self.window
            self._forget_idle(horizon)
            events = self._events.pop(key, None) or deque(maxlen=self.limit)
            while events and events[0] <= horizon:
                events.popleft()
            wait = events[0] - horizon if len(events) == self.limit else 0.0
            if not wait:
                events.append(now)
            self._events[key] = events  # at the end: the most recently seen
            if len(self._events) > self.max_keys:
                self._events.popitem(last=False)
            return wait

    def _forget_idle(self, horizon: float) -> None:
        """Drop the least recently seen keys while their last event has left the window."""
        while self._events:
            events = next(iter(self._events.values()))
            if events and events[-1] > horizon:
                return
            self._events.popitem(last=False)


def client_key(host: str | None) -> str:
    """What a limit counts for a client address: an IPv6 client's whole /64, since one
    subscriber line usually gets a /64 and could otherwise change address at every request."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)
