"""A statement compiled once per dialect and run with its values bound as the driver takes
them, for hot small writes: SQLAlchemy's per-execution work (cache lookup, parameter
processing per row, result setup) cost as much as a one-row UPDATE itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler


class Prepared:
    """`statement` for `dialect`: each row's values as a mapping of bind names (those
    with a fixed value in the statement may be left out), converted by the bound
    columns' types as SQLAlchemy would."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        self._fixed = {name: value for name, value in compiled.params.items() if value is not None}
        names = compiled.positiontup if compiled.positional else list(compiled.params)
        self._fields: tuple[tuple[str, Callable[[Any], Any] | None], ...] = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names or ()
        )
        self._positional = compiled.positional

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run it once per row (one executemany); how many rows it changed."""
        bound = [self._bound({**self._fixed, **row}) for row in rows]
        return connection.exec_driver_sql(self.sql, bound).rowcount

    def scalars(self, connection: Connection, values: Mapping[str, Any]) -> list[Any]:
        """Run it once; the first column of what it returns."""
        bound = self._bound({**self._fixed, **values})
        return list(connection.exec_driver_sql(self.sql, bound).scalars())

    def _bound(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        converted = (
            (name, values.get(name) if convert is None else convert(values.get(name)))
            for name, convert in self._fields
        )
        if self._positional:
            return tuple(value for _, value in converted)
        return dict(converted)
