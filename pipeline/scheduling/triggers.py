"""When digests go out: each frequency's crontab line (`Cadence.crontab`, made from
DIGEST_SCHEDULE: as it is for weekly, the same time of day for daily and on the 1st of the
month for monthly), read as crontab reads it, in TIMEZONE (so DST moves with the clock)."""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from pipeline.frequencies import CADENCES
from pipeline.scheduling.crontab import crontab_fields
from pipeline.settings import Settings
from subscribers import Frequency


class WallClockTrigger(CronTrigger):
    """A cron trigger that fires once at a local time the clocks pass twice.

    When DST ends, 01:30 happens twice and APScheduler's CronTrigger fires at both; this
    one keeps the first. A time skipped when DST starts already fires once, just after
    the gap (01:30 becomes 02:30 BST), so every local day gets exactly one fire.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire = super().get_next_fire_time(previous_fire_time, now)
        while fire is not None and _second_pass(fire):
            fire = super().get_next_fire_time(fire, fire)
        return fire


def _second_pass(moment: datetime) -> bool:
    """Whether `moment` is the repeat of an ambiguous local time (fold=1 with its own offset)."""
    return moment.fold == 1 and moment.utcoffset() != moment.replace(fold=0).utcoffset()


def digest_triggers(settings: Settings) -> dict[Frequency, CronTrigger]:
    """One cron trigger per frequency that goes out by the clock (not per post)."""
    return {
        frequency: WallClockTrigger(
            **crontab_fields(cadence.crontab(settings.digest_schedule)), timezone=settings.zone
        )
        for frequency, cadence in CADENCES.items()
        if cadence.crontab is not None
    }


def next_runs(settings: Settings, now: datetime) -> list[tuple[Frequency, datetime]]:
    """Each frequency's next digest time after `now`, soonest first."""
    upcoming = []
    for frequency, trigger in digest_triggers(settings).items():
        fire = trigger.get_next_fire_time(None, now)
        if fire is not None:
            upcoming.append((frequency, fire))
    return sorted(upcoming, key=lambda item: item[1])
