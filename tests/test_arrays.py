"""Array literals read back by PostgreSQL as the values they were built from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, create_engine, text

from pipeline.storage import arrays
from tests.conftest import POSTGRES_URL

AWKWARD = [
    'say "hi"',
    "back\\slash\\",
    "NULL",
    "",
    " padded ",
    "{braces},commas",
    "550 5.1.1 <ada@example.org>: user unknown; ünïcödé ✉",
    "line\tbreak\nand more",
    None,
]


@pytest.fixture
def connection() -> Iterator[Connection]:
    if not POSTGRES_URL:
        pytest.skip("NEWSLETTER_TEST_POSTGRES_URL is not set")
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as opened:
            yield opened
    finally:
        engine.dispose()


def test_texts_keep_quotes_backslashes_and_nulls(connection: Connection) -> None:
    read = connection.scalar(text("SELECT CAST(:v AS text[])"), {"v": arrays.texts(AWKWARD)})
    assert read == AWKWARD


def test_times_keep_their_instant_whatever_their_offset(connection: Connection) -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    times = [
        datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=east),
        None,
        datetime(2030, 1, 1, tzinfo=UTC),
    ]
    read = connection.scalar(text("SELECT CAST(:v AS timestamptz[])"), {"v": arrays.texts(times)})
    assert read == times


def test_integers(connection: Connection) -> None:
    values = [0, -7, 2**31 - 1, 42]
    read = connection.scalar(text("SELECT CAST(:v AS integer[])"), {"v": arrays.integers(values)})
    assert read == values
    assert connection.scalar(text("SELECT CAST(:v AS integer[])"), {"v": arrays.integers([])}) == []


def test_a_nul_which_postgresql_text_cannot_hold_becomes_a_replacement_character(
    connection: Connection,
) -> None:
    read = connection.scalar(
        text("SELECT CAST(:v AS text[])"), {"v": arrays.texts(["550 bad\0reply", None])}
    )
    assert read == ["550 bad\ufffdreply", None]
