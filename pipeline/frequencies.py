"""What each frequency means to the pipeline, in one record per frequency: how far a first
digest looks back, how long a post stays eligible by default, which period a moment falls
in and when the digest goes out.

The names themselves (`Frequency`) belong to the subscribers, who choose one. This module
imports only the standard library and `subscribers`, so the settings can read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from types import MappingProxyType

from subscribers.profile import Frequency

EACH: Frequency = "each"


@dataclass(frozen=True)
class Cadence:
    """One frequency's behaviour.

    A frequency without `period_key` is per post: each post that becomes news has a run of
    its own (period `post-ID`, see `post_period`), started after each poll rather than by a
    clock, so it has no `crontab` either.
    """

    frequency: Frequency
    first_lookback: timedelta  # a first digest's posts: those that became news this long ago
    window_hours: float  # default hours a post stays eligible (NEWSLETTER_DIGEST_WINDOWS)
    period_key: Callable[[date], str] | None  # the local day's period; None: per post
    crontab: Callable[[str], str] | None  # DIGEST_SCHEDULE -> this frequency's crontab line

    @property
    def per_post(self) -> bool:
        return self.period_key is None

    def period(self, moment: datetime, zone: tzinfo) -> str:
        """The key of the period `moment` falls in, read in `zone`."""
        if self.period_key is None:
            raise ValueError(f"{self.frequency!r} has a period per post, not per time")
        return self.period_key(moment.astimezone(zone).date())


def _day(day: date) -> str:
    return day.isoformat()  # 2026-11-22


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"  # 2026-W47


def _month(day: date) -> str:
    return f"{day:%Y-%m}"  # 2026-11


def _every_day(schedule: str) -> str:
    """DIGEST_SCHEDULE's minute and hour, every day."""
    minute, hour = schedule.split()[:2]
    return f"{minute} {hour} * * *"


def _as_scheduled(schedule: str) -> str:
    return schedule


def _first_of_month(schedule: str) -> str:
    """DIGEST_SCHEDULE's minute and hour, on the 1st of the month."""
    minute, hour = schedule.split()[:2]
    return f"{minute} {hour} 1 * *"


CADENCES: Mapping[Frequency, Cadence] = MappingProxyType(
    {
        # A per-post run counts from its post (see pipeline.digest.each); this lookback is
        # what a preview of `each` shows.
        EACH: Cadence(EACH, timedelta(days=1), 24, None, None),
        "daily": Cadence("daily", timedelta(days=1), 24, _day, _every_day),
        "weekly": Cadence("weekly", timedelta(days=7), 72, _iso_week, _as_scheduled),
        "monthly": Cadence("monthly", timedelta(days=30), 168, _month, _first_of_month),
    }
)


def default_windows() -> dict[Frequency, float]:
    """The hours a post stays eligible, per frequency, where the settings name none."""
    return {frequency: cadence.window_hours for frequency, cadence in CADENCES.items()}


def period_of(frequency: Frequency, moment: datetime, zone: tzinfo) -> str:
    """The key of the `frequency` period `moment` falls in, read in `zone`: daily
    2026-11-22, weekly the ISO week 2026-W47, monthly 2026-11."""
    return CADENCES[frequency].period(moment, zone)


def post_period(post_id: int) -> str:
    """The period key of a post's own run (a per-post frequency's)."""
    return f"post-{post_id}"
