"""A per-client sliding-window limit, kept in the database's shared web state, so every
web process counts the same events and a restart forgets nothing."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from pipeline.storage.webstate import Record, SharedState

IPV6_PREFIX = 64


class SlidingWindow:
    """At most `limit` events per `window` seconds per key, counted over the last `window`
    seconds (not in fixed buckets, which let twice the limit through across a boundary).

    Each key keeps at most `limit` times, and is forgotten once its last event has left
    the window.
    """

    def __init__(self, state: SharedState, scope: str, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.scope, self.limit, self.window = scope, limit, window
        self._state = state

    def hit(self, key: str) -> float:
        """Count one event for `key`: 0 if it is allowed, else the seconds until one would be
        (a refused event is not counted, so retrying early does not push the wait back)."""

        def count(records: dict[str, Record], now: datetime) -> float:
            record = records[key]
            horizon = now.timestamp() - self.window
            events = [at for at in record.data.get("events", []) if at > horizon]
            wait = events[0] - horizon if len(events) >= self.limit else 0.0
            if not wait:
                events.append(now.timestamp())
            record.data = {"events": events[-self.limit :]}
            record.expires_at = datetime.fromtimestamp(events[-1] + self.window, UTC)
            return wait

        return self._state.change(self.scope, [key], count)


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
