"""A statement compiled once per dialect and run with its values bound as the driver takes
them, for hot small writes: SQLAlchemy's per-execution work (cache lookup, parameter
processing per row, result setup) cost as much as a one-row UPDATE itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler

Convert = Callable[[Any], Any]


class Prepared:
    """`statement` for `dialect`. Each row's values are a mapping by bind name of those
    the statement leaves open (a missing one is a KeyError, as in SQLAlchemy, not a NULL);
    values fixed in the statement are its own. All are converted by their columns' types
    as SQLAlchemy would."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        names = compiled.positiontup if compiled.positional else list(compiled.params)
        # (name, whether each row gives it, its type's conversion, the fixed value)
        self._fields: tuple[tuple[str, bool, Convert | None, Any], ...] = tuple(
            (
                name,
                compiled.binds[name].required,
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                compiled.params[name],
            )
            for name in names or ()
        )
        self._positional = compiled.positional

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run it once per row (one executemany); how many rows it changed."""
        bound = [self._bound(row) for row in rows]
        return connection.exec_driver_sql(self.sql, bound).rowcount

    def scalars(self, connection: Connection, values: Mapping[str, Any]) -> list[Any]:
        """Run it once; the first column of what it returns."""
        return list(connection.exec_driver_sql(self.sql, self._bound(values)).scalars())

    def _bound(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        converted = []
        for name, given, convert, fixed in self._fields:
            value = values[name] if given else fixed
            converted.append((name, value if convert is None else convert(value)))
        if self._positional:
            return tuple(value for _, value in converted)
        return dict(converted)


_PREPARED: dict[tuple[ClauseElement, str], Prepared] = {}


def prepared(statement: ClauseElement, dialect: Dialect) -> Prepared:
    """`statement` compiled for `dialect`, once per process."""
    key = (statement, dialect.name)
    if key not in _PREPARED:
        _PREPARED[key] = Prepared(statement, dialect)
    return _PREPARED[key]
