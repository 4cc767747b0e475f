"""Small charts drawn on the server as SVG: no script, no library, nothing to download.

This module only computes geometry (points, bars, labels); `templates/admin/charts.html`
draws it, and `admin.css` colours it, so the CSP's `style-src 'self'` holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 22  # margins around the plot, for the labels
WEEKS_SHOWN = 52
BAR_FILL = 0.7  # of each bar's slot; the rest is the gap
WIDEST_SLOT = 40.0  # a few runs make narrow bars from the left, not slabs


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # a CSS class: what the bar counts
    label: str  # its tooltip


@dataclass(frozen=True)
class Chart:
    """One chart's geometry in a WIDTH x HEIGHT box."""

    title: str
    scale: int  # the value at the top of the plot
    first: str  # the label under the left end
    last: str  # the label under the right end
    line: str = ""  # polyline points "x,y x,y"
    bars: tuple[Bar, ...] = ()
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    base: int = HEIGHT - BOTTOM
    end: float = WIDTH - RIGHT  # where the data ends, for the right-hand label


def weekly_totals(
    created: Iterable[datetime], zone: ZoneInfo, today: date, weeks: int = WEEKS_SHOWN
) -> list[tuple[date, int]]:
    """(Monday, subscribers by that week's end) for each week from the first sign-up's (at
    most `weeks` back) to this one, weeks read in the site's time zone."""
    per_week = Counter(_monday(moment.astimezone(zone).date()) for moment in created)
    if not per_week:
        return []
    this_week = _monday(today)
    start = max(min(per_week), this_week - timedelta(weeks=weeks - 1))
    total = sum(count for week, count in per_week.items() if week < start)
    totals = []
    week = start
    while week <= this_week:
        total += per_week.get(week, 0)
        totals.append((week, total))
        week += timedelta(weeks=1)
    return totals


def line_chart(title: str, points: Sequence[tuple[str, int]]) -> Chart:
    """A line through `points` (label, value), evenly spaced, oldest on the left."""
    scale = max([1, *(value for _, value in points)])
    if not points:
        return Chart(title, scale, "", "")
    values = [value for _, value in points] if len(points) > 1 else [points[0][1]] * 2
    step = (WIDTH - RIGHT - LEFT) / (len(values) - 1)
    line = " ".join(
        f"{LEFT + index * step:.1f},{_y(value, scale):.1f}" for index, value in enumerate(values)
    )
    return Chart(title, scale, points[0][0], _last(points), line=line)


def bar_chart(
    title: str, columns: Sequence[tuple[str, dict[str, int]]], kinds: Sequence[str]
) -> Chart:
    """One column per (label, counts), its `kinds` stacked from the bottom, oldest left."""
    scale = max([1, *(sum(counts.get(kind, 0) for kind in kinds) for _, counts in columns)])
    if not columns:
        return Chart(title, scale, "", "")
    slot = min((WIDTH - RIGHT - LEFT) / len(columns), WIDEST_SLOT)
    bars = []
    for index, (label, counts) in enumerate(columns):
        below = 0
        tally = ", ".join(f"{counts.get(kind, 0)} {kind}" for kind in kinds)
        for kind in kinds:
            value = counts.get(kind, 0)
            if value:
                top = _y(below + value, scale)
                x = LEFT + index * slot + slot * (1 - BAR_FILL) / 2
                bars.append(
                    Bar(x, top, slot * BAR_FILL, _y(below, scale) - top, kind, f"{label}: {tally}")
                )
                below += value
    end = LEFT + len(columns) * slot
    return Chart(title, scale, columns[0][0], _last(columns), bars=tuple(bars), end=end)


def _last(items: Sequence[tuple[str, object]]) -> str:
    """The label under the right end: none when it would repeat the left one."""
    return items[-1][0] if len(items) > 1 else ""


def _y(value: float, scale: int) -> float:
    return HEIGHT - BOTTOM - value / scale * (HEIGHT - BOTTOM - TOP)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())
