"""Digests missed while no scheduler ran: sent late inside their window, skipped after.

APScheduler judges a misfire only for a job it finds in its store with the old run time,
but every start re-adds the jobs (so a changed DIGEST_SCHEDULE wins), which replaces that
time. So the scheduler reads the stored time first and asks `missed_digest`, which
applies APScheduler's own rules for a running scheduler: misfire_grace_time = the
frequency's DIGEST_WINDOWS window, and coalesce (several missed times are one digest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from pipeline.frequencies import period_of
from subscribers import Frequency


def latest_fire(trigger: BaseTrigger, since: datetime, now: datetime) -> datetime | None:
    """The last time `trigger` fires in [since, now], as a real local time of its zone."""
    latest = None
    fire = trigger.get_next_fire_time(None, since)
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire)
    # A time in a DST gap comes back as a wall time that never happened; this is its instant.
    return datetime.fromtimestamp(latest.timestamp(), latest.tzinfo) if latest else None


@dataclass(frozen=True)
class Missed:
    """A digest time that passed while no scheduler ran, and how late it is now."""

    frequency: Frequency
    period: str
    due: datetime
    late: timedelta
    window: timedelta

    @property
    def send(self) -> bool:
        """Whether it may still go out: inside its window, like any late digest."""
        return self.late <= self.window

    def describe(self) -> str:
        """One log line naming the missed run and what happens to it."""
        hours = f"{self.window.total_seconds() / 3600:g}h"
        verdict = "sending it now" if self.send else f"past its {hours} window, not sent"
        late = timedelta(seconds=round(self.late.total_seconds()))
        return (
            f"the {self.frequency} digest {self.period} due {self.due:%Y-%m-%d %H:%M %Z}"
            f" was missed by {late} while no scheduler ran: {verdict}"
        )


def missed_digest(
    frequency: Frequency,
    trigger: CronTrigger,
    expected: datetime | None,
    now: datetime,
    window: timedelta,
) -> Missed | None:
    """The digest missed since `expected` (the run time the last scheduler stored),
    several coalesced into the latest; None when none came due (or none was stored)."""
    if expected is None or expected > now:
        return None
    due = latest_fire(trigger, expected, now)
    if due is None:  # the schedule changed and the new one had nothing due
        return None
    period = period_of(frequency, due, trigger.timezone)
    return Missed(frequency, period, due, now - due, window)
