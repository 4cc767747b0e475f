"""New subscribers and consent records written set-based on PostgreSQL.

The ORM writes a batch of new rows as one INSERT with a placeholder per value (7,000 for
500 subscribers), which psycopg rewrites value by value on every batch: on PostgreSQL an
import spent more time there than in everything else. Here a whole batch goes as one
JSON parameter that the server unpacks (`jsonb_to_recordset`), whatever its size. Other
databases keep the ORM's own flush, which is fast there.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Integer, String, Table, bindparam, text
from sqlalchemy.orm import Session, make_transient_to_detached

from subscribers.models import Consent, Subscriber
from subscribers.timestamps import UTCDateTime


def write_new(session: Session) -> None:
    """Insert the session's new subscribers and consents (added, not flushed yet) in two
    statements, leaving the subscribers in the session as if the ORM had written them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    people = [item for item in session.new if isinstance(item, Subscriber)]
    consents = [item for item in session.new if isinstance(item, Consent)]
    if not people and not consents:
        return
    for item in (*people, *consents):
        session.expunge(item)
    if people:
        returned = _insert(session, Subscriber.__table__, people, returning="id, email_key")
        ids = dict((key, number) for number, key in returned)
        for subscriber in people:
            subscriber.id = ids[subscriber.email_key]
            make_transient_to_detached(subscriber)
            session.add(subscriber)
    for consent in consents:
        consent.subscriber_id = consent.subscriber.id
    if consents:
        _insert(session, Consent.__table__, consents)


def _insert(
    session: Session, table: Table, items: list[Any], returning: str = ""
) -> list[tuple[Any, ...]]:
    """One INSERT … SELECT FROM jsonb_to_recordset(:rows) of `items` (ids left to the
    sequence); the RETURNING rows, if asked for."""
    columns = [column for column in table.columns if not column.primary_key]
    rows = [
        {column.name: _value(getattr(item, column.key)) for column in columns} for item in items
    ]
    names = ", ".join(column.name for column in columns)
    shape = ", ".join(f"{column.name} {_pg_type(column)}" for column in columns)
    statement = text(
        f"INSERT INTO {table.name} ({names}) SELECT {names} "
        f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({shape})"
        + (f" RETURNING {returning}" if returning else "")
    ).bindparams(bindparam("rows", type_=String))
    result = session.execute(statement, {"rows": json.dumps(rows)})
    return [tuple(row) for row in result] if returning else []


def _value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _pg_type(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, Integer):
        return "integer"
    return "text"
