"""DIGEST_SCHEDULE read the way crontab(5) reads it, for APScheduler's CronTrigger.

The two disagree on weekdays: crontab counts from Sunday (0 and 7 are Sunday, 1 is
Monday), APScheduler from Monday (0 is Monday, 7 is refused), so `0 8 * * 1` would go
out on Tuesdays and `* * * * 7` be an error. The day-of-week field is therefore turned
into APScheduler's weekday names, ranges, lists and steps expanded the crontab way.
"""

from __future__ import annotations

import re

# crontab's numbering: 0 and 7 are both Sunday.
_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ITEM = re.compile(r"^(?:(?P<all>\*)|(?P<first>\w+)(?:-(?P<last>\w+))?)(?:/(?P<step>\d+))?$")


def crontab_fields(line: str) -> dict[str, str]:
    """CronTrigger's keyword arguments for a five-field crontab line (ValueError if it is not)."""
    values = line.split()
    if len(values) != 5:
        raise ValueError(f"needs 5 fields (minute hour day month weekday), got {len(values)}")
    minute, hour, day, month, weekday = values
    if day != "*" and weekday != "*":
        # crontab fires when either matches, APScheduler only when both do.
        raise ValueError("restrict the day of the month or the day of the week, not both")
    return {
        "minute": minute,
        "hour": hour,
        "day": day,
        "month": month,
        "day_of_week": weekday if weekday == "*" else _weekdays(weekday),
    }


def _weekdays(field: str) -> str:
    """crontab's day-of-week field as a list of weekday names (`1-5` -> `mon,…,fri`)."""
    days: set[int] = set()
    for item in field.split(","):
        match = _ITEM.match(item.lower())
        if match is None:
            raise ValueError(f"day of week {item!r} is not a day, a range or a step")
        first = 0 if match["all"] else _day(match["first"])
        last = 7 if match["all"] or (match["step"] and not match["last"]) else first
        if match["last"]:
            last = _day(match["last"]) or 7  # `sat-sun`: Sunday as the end of the week
        step = int(match["step"] or 1)
        if last < first or step == 0:
            raise ValueError(f"day of week {item!r} is an empty range")
        days.update(number % 7 for number in range(first, last + 1, step))
    return ",".join(_NAMES[number] for number in sorted(days))


def _day(text: str) -> int:
    """A crontab weekday, 0-7 or a three-letter name."""
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in _NAMES:
        return _NAMES.index(text)
    raise ValueError(f"{text!r} is not a day of the week (0-7 with 0 and 7 Sunday, or sun-sat)")
