"""Prepared statements bind what SQLAlchemy would, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select, update

from pipeline.storage import Database
from pipeline.storage.prepared import prepared
from subscribers.timestamps import UTCDateTime

PROBES = Table(
    "prepared_probes",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("label", String(16)),
    Column("kind", String(16)),
    Column("at", UTCDateTime()),
)
ADD = insert(PROBES).values(
    id=bindparam("id"), label=bindparam("label"), kind="probe", at=bindparam("at")
)
RELABEL = (
    update(PROBES)
    .where(PROBES.c.id == bindparam("row"), PROBES.c.kind == "probe")
    .values(label=bindparam("label"), at=None)
    .returning(PROBES.c.id)
)


def test_rows_go_in_as_sqlalchemy_would_write_them(db: Database) -> None:
    """Values fixed in the statement (a literal, a NULL) are its own; an aware time in
    another zone is stored as UTC and read back as the same instant."""
    PROBES.create(db.engine)
    east = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=5)))
    with db.engine.begin() as connection:
        added = prepared(ADD, connection.dialect).execute(
            connection,
            [{"id": 1, "label": "one", "at": east}, {"id": 2, "label": "two", "at": None}],
        )
        relabelled = prepared(RELABEL, connection.dialect).scalars(
            connection, {"row": 1, "label": "uno"}
        )
    assert (added, relabelled) == (2, [1])
    with db.engine.connect() as connection:
        stored = connection.execute(select(PROBES).order_by(PROBES.c.id)).all()
    assert [tuple(row) for row in stored] == [(1, "uno", "probe", None), (2, "two", "probe", None)]
    with db.engine.begin() as connection:
        connection.execute(update(PROBES).where(PROBES.c.id == 2).values(at=east))
        prepared(ADD, connection.dialect).execute(
            connection, [{"id": 3, "label": "three", "at": east}]
        )
        times = connection.scalars(select(PROBES.c.at).where(PROBES.c.id > 1)).all()
    assert times == [east, east] and all(at.tzinfo == UTC for at in times)


def test_a_value_left_out_is_an_error_not_a_null(db: Database) -> None:
    PROBES.create(db.engine)
    with db.engine.begin() as connection, pytest.raises(KeyError, match="label"):
        prepared(ADD, connection.dialect).execute(connection, [{"id": 1, "at": None}])
    with db.engine.connect() as connection:
        assert connection.scalars(select(PROBES.c.id)).all() == []
