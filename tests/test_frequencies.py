"""Every frequency a subscriber can choose has one record of its behaviour."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.frequencies import CADENCES, EACH
from subscribers import FREQUENCIES


def test_each_frequency_has_its_own_cadence() -> None:
    assert set(CADENCES) == set(FREQUENCIES)
    assert all(cadence.frequency == name for name, cadence in CADENCES.items())
    assert [name for name, cadence in CADENCES.items() if cadence.per_post] == [EACH]


def test_a_per_post_frequency_has_no_period_by_time_and_no_schedule() -> None:
    assert CADENCES[EACH].crontab is None
    with pytest.raises(ValueError, match="per post"):
        CADENCES[EACH].period(datetime(2026, 11, 22, tzinfo=UTC), UTC)
