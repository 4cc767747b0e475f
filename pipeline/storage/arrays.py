"""PostgreSQL array literals, for statements that take a column of values as one array
(`CAST(:ids AS integer[])`, unpacked by `unnest`). psycopg adapts a list element by
element in Python, looking up a dumper and escaping each one: for the outbox's marks that
was a third of the writer's CPU, held under the GIL the connections need. A literal is one
string, which the driver passes as it is."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime


def integers(values: Iterable[int]) -> str:
    """`{1,2,3}`."""
    return "{" + ",".join(map(str, values)) + "}"


def texts(values: Iterable[object]) -> str:
    """Each value quoted as text (datetimes in ISO 8601, with their offset); None is NULL.
    PostgreSQL text cannot hold a NUL: one becomes U+FFFD, where it would have stopped
    the whole statement."""
    return "{" + ",".join(map(_element, values)) + "}"


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\0", "\ufffd") + '"'
