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
WIDEST_SLOT = 40.0  # a few runs make narrow bars, not slabs
CHAR_WIDTH = 6.5  # of an 11px tick label's character, to keep labels inside and apart


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
    start: float = LEFT  # where the data starts, for the left-hand label


@dataclass(frozen=True)
class Membership:
    """When one person joined the digests (confirmed) and left them, if they did."""

    confirmed: datetime | None
    left: datetime | None


def weekly_members(
    people: Iterable[Membership], zone: ZoneInfo, today: date, weeks: int = WEEKS_SHOWN
) -> list[tuple[date, int, int, int]]:
    """(Monday, confirmed at that week's end, confirmed that week, left that week) for each
    week from the first confirmation's (at most `weeks` back) to this one, weeks read in
    the site's time zone. Someone who left is counted out the week they left."""
    joined: Counter[date] = Counter()
    left: Counter[date] = Counter()
    for person in people:
        if person.confirmed is not None:
            joined[_week(person.confirmed, zone)] += 1
            if person.left is not None:
                left[_week(max(person.left, person.confirmed), zone)] += 1
    if not joined:
        return []
    this_week = _monday(today)
    start = max(min(joined), this_week - timedelta(weeks=weeks - 1))
    total = sum(joined[week] - left[week] for week in joined.keys() | left.keys() if week < start)
    rows = []
    week = start
    while week <= this_week:
        total += joined[week] - left[week]
        rows.append((week, total, joined[week], left[week]))
        week += timedelta(weeks=1)
    return rows


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
    first, last = _ticks(points[0][0], _last(points), LEFT)
    return Chart(title, scale, first, last, line=line)


def bar_chart(
    title: str,
    columns: Sequence[tuple[str, dict[str, int]]],
    kinds: Sequence[str],
    ticks: tuple[str, str] | None = None,
) -> Chart:
    """One column per (label, counts), its `kinds` stacked from the bottom, oldest left and
    the newest always at the right edge. `ticks` are short labels for the two ends (the
    columns' own labels by default; each column's label is its tooltip)."""
    scale = max([1, *(sum(counts.get(kind, 0) for kind in kinds) for _, counts in columns)])
    if not columns:
        return Chart(title, scale, "", "")
    slot = min((WIDTH - RIGHT - LEFT) / len(columns), WIDEST_SLOT)
    start = WIDTH - RIGHT - len(columns) * slot
    bars = []
    for index, (label, counts) in enumerate(columns):
        below = 0
        tally = ", ".join(f"{counts.get(kind, 0)} {kind}" for kind in kinds)
        for kind in kinds:
            value = counts.get(kind, 0)
            if value:
                top = _y(below + value, scale)
                x = start + index * slot + slot * (1 - BAR_FILL) / 2
                bars.append(
                    Bar(x, top, slot * BAR_FILL, _y(below, scale) - top, kind, f"{label}: {tally}")
                )
                below += value
    first, last = ticks or (columns[0][0], _last(columns))
    first, last = _ticks(first, last if len(columns) > 1 else "", start)
    return Chart(title, scale, first, last, bars=tuple(bars), start=start)


def _ticks(first: str, last: str, start: float) -> tuple[str, str]:
    """The end labels that fit: each inside the box, and apart; the newest wins a clash."""
    right = WIDTH - RIGHT
    if len(last) * CHAR_WIDTH > right:
        last = ""
    room = right - len(last) * CHAR_WIDTH - 8 if last else right
    if start + len(first) * CHAR_WIDTH > room:
        first = ""
    return first, last


def _last(items: Sequence[tuple[str, object]]) -> str:
    """The label under the right end: none when it would repeat the left one."""
    return items[-1][0] if len(items) > 1 else ""


def _y(value: float, scale: int) -> float:
    return HEIGHT - BOTTOM - value / scale * (HEIGHT - BOTTOM - TOP)


def _week(moment: datetime, zone: ZoneInfo) -> date:
    return _monday(moment.astimezone(zone).date())


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())
