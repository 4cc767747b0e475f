"""When digests fire: once per local day across DST changes, and what happens to a digest
time that passed while no scheduler ran (sent inside its window, skipped after)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import configured
from sqlalchemy import func, select

from pipeline.digest.runs import start_run
from pipeline.scheduling.jobs import send_digest
from pipeline.scheduling.misfire import missed_digest
from pipeline.scheduling.triggers import digest_triggers
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun

LONDON = ZoneInfo("Europe/London")
MONDAY_8AM = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)  # GMT: 08:00 UTC


def fire_times(settings: Settings, frequency: str, start: datetime, end: datetime):
    """Every time the frequency's trigger fires in [start, end), as APScheduler walks it."""
    trigger = digest_triggers(settings)[frequency]
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire < end:
        yield fire
        fire = trigger.get_next_fire_time(fire, fire)


# Each zone's own transitions: Europe on the last Sundays of March and October, the US
# on the second Sunday of March and the first of November. 01:30 in London and 02:30 in
# New York do not exist on the spring day; 01:30 happens twice on the autumn day in both.
DST_CHANGES = [
    pytest.param("Europe/London", "30 1 * * *", date(2026, 3, 29), id="london-spring"),
    pytest.param("Europe/London", "30 1 * * *", date(2026, 10, 25), id="london-autumn"),
    pytest.param("America/New_York", "30 2 * * *", date(2026, 3, 8), id="new-york-spring"),
    pytest.param("America/New_York", "30 1 * * *", date(2026, 11, 1), id="new-york-autumn"),
]


@pytest.mark.parametrize(("zone", "schedule", "change"), DST_CHANGES)
def test_a_dst_change_neither_doubles_nor_drops_a_daily_digest(
    zone: str, schedule: str, change: date, db: Database, settings: Settings
) -> None:
    settings = configured(settings, timezone=zone, digest_schedule=schedule)
    local = ZoneInfo(zone)
    start = datetime.combine(change - timedelta(days=3), datetime.min.time(), local)
    fires = list(fire_times(settings, "daily", start, start + timedelta(days=7)))
    days = [fire.astimezone(local).date() for fire in fires]
    assert days == [change + timedelta(days=offset) for offset in range(-3, 4)]
    instants = [fire.astimezone(UTC) for fire in fires]
    assert instants == sorted(set(instants))
    # The job at each of those times: one run per local day, each for its own day.
    for fire in fires:
        send_digest(db, settings, "daily", clock=lambda fire=fire: fire)
    with db.session() as session:
        periods = list(session.scalars(select(DigestRun.period).order_by(DigestRun.id)))
    assert periods == [day.isoformat() for day in days]


def test_both_passes_of_an_ambiguous_hour_make_one_run(db: Database, settings: Settings) -> None:
    settings = configured(settings, digest_schedule="30 1 * * *")
    first = datetime(2026, 10, 25, 1, 30, tzinfo=LONDON)  # BST, 00:30 UTC
    second = first.replace(fold=1)  # GMT, 01:30 UTC: what a plain CronTrigger fires again
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert start_run(db, settings, "daily", first, local_hours=True).created
    assert not start_run(db, settings, "daily", second, local_hours=True).created
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DigestRun)) == 1


def trigger(frequency: str = "weekly", **changes: object):
    """A digest trigger; by default, Mondays 08:00 in London."""
    return digest_triggers(load_settings(**changes))[frequency]


def test_a_digest_missed_inside_its_window_is_sent_late() -> None:
    now = MONDAY_8AM + timedelta(hours=12)
    missed = missed_digest("weekly", trigger(), MONDAY_8AM, now, timedelta(hours=72))
    assert missed is not None and missed.send
    assert (missed.due, missed.late, missed.period) == (MONDAY_8AM, timedelta(hours=12), "2026-W48")
    assert missed.describe() == (
        "the weekly digest 2026-W48 due 2026-11-23 08:00 GMT was missed by 12:00:00"
        " while no scheduler ran: sending it now"
    )


def test_a_digest_missed_past_its_window_is_skipped() -> None:
    now = MONDAY_8AM + timedelta(hours=72, seconds=1)
    missed = missed_digest("weekly", trigger(), MONDAY_8AM, now, timedelta(hours=72))
    assert missed is not None and not missed.send
    assert missed.describe().endswith(
        "was missed by 3 days, 0:00:01 while no scheduler ran: past its 72h window, not sent"
    )


def test_several_missed_digests_coalesce_into_the_latest() -> None:
    daily = trigger("daily")
    now = MONDAY_8AM + timedelta(days=3, hours=1)  # down since Monday morning
    missed = missed_digest("daily", daily, MONDAY_8AM, now, timedelta(hours=24))
    assert missed is not None and missed.send
    assert (missed.period, missed.late) == ("2026-11-26", timedelta(hours=1))


def test_nothing_is_missed_without_a_stored_run_time_in_the_past() -> None:
    weekly, window = trigger(), timedelta(hours=72)
    assert missed_digest("weekly", weekly, None, MONDAY_8AM, window) is None  # first start
    later = MONDAY_8AM + timedelta(days=7)
    assert missed_digest("weekly", weekly, later, MONDAY_8AM, window) is None  # not due yet


def test_the_digest_job_plans_a_late_run_as_of_its_time_and_skips_one_too_late(
    db: Database, settings: Settings
) -> None:
    settings = configured(settings)
    late = send_digest(db, settings, "weekly", clock=lambda: MONDAY_8AM + timedelta(hours=30))
    assert late is not None
    assert (late.period, late.cutoff, late.expires_at) == (
        "2026-W48",
        MONDAY_8AM,
        MONDAY_8AM + timedelta(hours=72),
    )
    too_late = MONDAY_8AM + timedelta(days=7) + timedelta(hours=73)
    assert send_digest(db, settings, "weekly", clock=lambda: too_late) is None
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DigestRun)) == 1
