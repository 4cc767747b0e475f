"""What SQLite and PostgreSQL spell differently, in one place: clash-aware inserts and
locks held across processes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# Advisory lock ids (PostgreSQL): one per thing that one process at a time may do.
MIGRATE_LOCK = 0x6E6C6574
INGEST_LOCK = 0x6E6C6575


def clash_aware_insert(session: Session, model: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `model`'s table that can say what to do on a clash (ON CONFLICT):
    both dialects spell it alike; SQLAlchemy's generic insert has no such clause."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def hold_advisory_lock(connection: Connection, lock_id: int) -> None:
    """On PostgreSQL, wait for `lock_id` and hold it until the transaction ends. SQLite has
    no such lock: there the first write of a transaction takes the whole file's."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
