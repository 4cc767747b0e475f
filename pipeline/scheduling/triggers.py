"""When digests go out: DIGEST_SCHEDULE for weekly, the same time of day for daily and
on the 1st of the month for monthly, all read in TIMEZONE (so DST moves with the clock)."""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from pipeline.settings import Settings

FREQUENCIES = ("daily", "weekly", "monthly")


def digest_triggers(settings: Settings) -> dict[str, CronTrigger]:
    """One cron trigger per frequency."""
    minute, hour = settings.digest_schedule.split()[:2]
    lines = {
        "daily": f"{minute} {hour} * * *",
        "weekly": settings.digest_schedule,
        "monthly": f"{minute} {hour} 1 * *",
    }
    return {
        frequency: CronTrigger.from_crontab(line, timezone=settings.zone)
        for frequency, line in lines.items()
    }


def next_runs(settings: Settings, now: datetime) -> list[tuple[str, datetime]]:
    """Each frequency's next digest time after `now`, soonest first."""
    upcoming = []
    for frequency, trigger in digest_triggers(settings).items():
        fire = trigger.get_next_fire_time(None, now)
        if fire is not None:
            upcoming.append((frequency, fire))
    return sorted(upcoming, key=lambda item: item[1])
