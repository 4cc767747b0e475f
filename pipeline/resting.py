"""Resting between rounds of a background loop (heartbeats, the leader's lease checks).

Short sleeps instead of one timed `Event.wait`: a timed wait takes its deadline from the
monotonic clock, and under a shifted clock (libfaketime, as the suite runs to prove it
holds on any date) it never returns; sleeps do, and a stop is still seen within a step.
"""

from __future__ import annotations

import threading
import time

STEP_SECONDS = 0.05


def rest(stop: threading.Event, seconds: float) -> bool:
    """Wait `seconds` unless `stop` is set first; whether the loop should go on."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stop.is_set():
            return False
        time.sleep(min(STEP_SECONDS, seconds))
    return not stop.is_set()
