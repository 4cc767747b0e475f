"""The dashboard's charts: confirmed subscribers over time, who came and went each week,
and runs whose labels stay inside the picture with the newest on the right."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from pipeline.web.admin.charts import (
    CHAR_WIDTH,
    RIGHT,
    WIDTH,
    Membership,
    bar_chart,
    weekly_members,
)

LONDON = ZoneInfo("Europe/London")


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def test_confirmed_over_time_counts_people_out_when_they_leave() -> None:
    people = [
        Membership(at("2026-11-02"), None),
        Membership(at("2026-11-03"), at("2026-11-17")),
        Membership(at("2026-11-10"), None),
        Membership(None, None),  # pending: never counted
    ]
    weeks = weekly_members(people, LONDON, date(2026, 11, 25))
    assert weeks == [
        (date(2026, 11, 2), 2, 2, 0),
        (date(2026, 11, 9), 3, 1, 0),
        (date(2026, 11, 16), 2, 0, 1),
        (date(2026, 11, 23), 2, 0, 0),
    ]


def test_a_few_runs_stand_at_the_right_with_both_labels_inside() -> None:
    columns = [(f"run {n}", {"sent": 10 * n, "failed": 1}) for n in (1, 2)]
    chart = bar_chart(
        "Messages", columns, ("sent", "failed"), ticks=("weekly 2026-W46", "weekly 2026-W47")
    )
    right = max(bar.x + bar.width for bar in chart.bars)
    assert WIDTH - RIGHT - right < 10  # the newest run is at the right edge
    assert chart.bars[0].x < chart.bars[-1].x  # oldest left
    assert chart.last == "weekly 2026-W47"
    assert chart.start >= 0 and chart.right - len(chart.last) * CHAR_WIDTH >= 0
    if chart.first:  # shown only where it does not run into the newest label
        assert (
            chart.start + len(chart.first) * CHAR_WIDTH < chart.right - len(chart.last) * CHAR_WIDTH
        )


def test_one_run_shows_one_label_and_many_runs_fill_the_width() -> None:
    one = bar_chart("Messages", [("run 1", {"sent": 3})], ("sent",), ticks=("a", "b"))
    assert (one.first, one.last) == ("a", "")
    many = bar_chart("Messages", [(f"run {n}", {"sent": n}) for n in range(200)], ("sent",))
    assert many.start >= 48 - 0.01 and len(many.bars) == 199  # run 0 sent nothing
    assert many.scale == 199
