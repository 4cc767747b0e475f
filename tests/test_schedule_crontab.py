"""DIGEST_SCHEDULE read as crontab reads it (0 and 7 are Sunday, 1 is Monday), as the
scheduler's triggers and `config check` show it."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_runner import NEWSLETTER, clean_environment, run

from pipeline.digest.runs import schedule_time
from pipeline.scheduling.triggers import digest_triggers
from pipeline.settings import load_settings

TUESDAY = "2026-11-24 10:00:00"  # the clock `config check` runs at, in UTC

# Each crontab line and when its weekly digest next goes out after TUESDAY (London, GMT).
SCHEDULES = [
    ("0 8 * * 1", "Mon 2026-11-30 08:00 GMT"),
    ("0 8 * * mon", "Mon 2026-11-30 08:00 GMT"),
    ("0 8 * * 0", "Sun 2026-11-29 08:00 GMT"),
    ("0 8 * * 7", "Sun 2026-11-29 08:00 GMT"),
    ("30 6 * * 1-5", "Wed 2026-11-25 06:30 GMT"),
    ("0 8 * * 5-7", "Fri 2026-11-27 08:00 GMT"),
    ("0 8 * * */3", "Wed 2026-11-25 08:00 GMT"),  # Sun, Wed, Sat
    ("0 8 * * 2,4", "Thu 2026-11-26 08:00 GMT"),
]


def config_check(schedule: str) -> subprocess.CompletedProcess[str]:
    """`newsletter config check` with its clock set to TUESDAY."""
    environment = {
        name: value
        for name, value in clean_environment(DIGEST_SCHEDULE=schedule).items()
        if not name.startswith(("FAKETIME", "LD_PRELOAD"))  # a clock the test run is under
    } | {"TZ": "UTC"}
    return subprocess.run(
        ["faketime", TUESDAY, NEWSLETTER, "config", "check"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("schedule", "next_weekly"), SCHEDULES[::2])
def test_config_check_names_the_next_digest_the_crontab_way(
    tmp_path: Path, schedule: str, next_weekly: str
) -> None:
    result = config_check(schedule)
    assert result.returncode == 0, result.stderr
    assert f"next weekly digest: {next_weekly}" in result.stdout.splitlines()
    assert "next daily digest: Wed 2026-11-25" in result.stdout


@pytest.mark.parametrize(("schedule", "next_weekly"), SCHEDULES)
def test_the_scheduler_fires_on_the_crontab_weekday(schedule: str, next_weekly: str) -> None:
    trigger = digest_triggers(load_settings(digest_schedule=schedule))["weekly"]
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 24, 10, tzinfo=UTC))
    assert f"{fire:%a %Y-%m-%d %H:%M %Z}" == next_weekly
    assert schedule_time(schedule) == (fire.hour, fire.minute)


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("0 8 * * 8", "'8' is not a day of the week (0-7 with 0 and 7 Sunday, or sun-sat)"),
        ("0 8 * * 5-1", "day of week '5-1' is an empty range"),
        ("0 8 1 * 1", "restrict the day of the month or the day of the week, not both"),
        ("0 8 * *", "needs 5 fields (minute hour day month weekday), got 4"),
    ],
)
def test_a_schedule_crontab_would_not_read_alike_is_one_line(
    tmp_path: Path, schedule: str, reason: str
) -> None:
    result = run("config", "check", cwd=tmp_path, DIGEST_SCHEDULE=schedule)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: NEWSLETTER_DIGEST_SCHEDULE: not a crontab expression ({reason})"
    ]
