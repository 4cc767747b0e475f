"""A statement compiled once per dialect and run with its values bound as the driver takes
them, for hot small writes: SQLAlchemy's per-execution work (cache lookup, parameter
processing per row, result setup) cost as much as a one-row UPDATE itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler

Convert = Callable[[Any], Any]
Value = Callable[[Mapping[str, Any]], Any]  # a row's values -> one bind's, as the driver takes it


class Prepared:
    """`statement` for `dialect`. Each row's values are a mapping by bind name of those
    the statement leaves open (a missing one is a KeyError, as in SQLAlchemy, not a NULL);
    values fixed in the statement are its own. All are converted by their columns' types
    as SQLAlchemy would."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        names = compiled.positiontup if compiled.positional else list(compiled.params)
        self._values = tuple((name, _value(compiled, name, dialect)) for name in names or ())
        self._positional = compiled.positional

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run it once per row (one executemany); how many rows it changed."""
        bound = [self.bound(row) for row in rows]
        return connection.exec_driver_sql(self.sql, bound).rowcount

    def scalars(self, connection: Connection, values: Mapping[str, Any]) -> list[Any]:
        """Run it once; the first column of what it returns."""
        return list(connection.exec_driver_sql(self.sql, self.bound(values)).scalars())

    def changed(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run it once; how many rows it changed."""
        return connection.exec_driver_sql(self.sql, self.bound(values)).rowcount

    def changed_alone(self, driver: Any, values: Mapping[str, Any]) -> int:
        """`changed` on a driver connection, as `scalars_alone`."""
        cursor = driver.cursor()
        try:
            cursor.execute(self.sql, self.bound(values))
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def scalars_alone(self, driver: Any, values: Mapping[str, Any]) -> list[Any]:
        """`scalars` on a driver connection of the same dialect, with no SQLAlchemy in
        between (see `pipeline.storage.db.HeldConnection.alone`)."""
        cursor = driver.cursor()
        try:
            cursor.execute(self.sql, self.bound(values))
            return [row[0] for row in cursor.fetchall()]
        finally:
            cursor.close()

    def bound(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """`values` as the driver takes them for this statement."""
        if self._positional:
            return tuple([value(values) for _, value in self._values])
        return {name: value(values) for name, value in self._values}


def _value(compiled: SQLCompiler, name: str, dialect: Dialect) -> Value:
    """How to get bind `name`'s value, as the driver takes it, from a row's values: the
    row's own if the statement leaves it open, else the statement's, converted once."""
    bind = compiled.binds[name]
    convert: Convert | None = bind.type.dialect_impl(dialect).bind_processor(dialect)
    if not bind.required:
        fixed = compiled.params[name]
        fixed = fixed if convert is None else convert(fixed)
        return lambda _values: fixed
    if convert is None:
        return itemgetter(name)
    return lambda values: convert(values[name])


_PREPARED: dict[tuple[ClauseElement, str], Prepared] = {}


def prepared(statement: ClauseElement, dialect: Dialect) -> Prepared:
    """`statement` compiled for `dialect`, once per process."""
    key = (statement, dialect.name)
    if key not in _PREPARED:
        _PREPARED[key] = Prepared(statement, dialect)
    return _PREPARED[key]
