"""Statements of the queue's hot path, executed on the database driver's cursor.

A story run of the reference workload executes about 25 statements (its events, jobs, releases
and byte counts). Through ``Connection.execute`` each costs SQLAlchemy's own work on top of the
database's (a cache key, an execution context, a result object): about 12 us of CPU on SQLite
against 17 us for the statement itself (bench/README.md). A ``Hot`` statement is compiled by
SQLAlchemy once per dialect, its parameters go through the column types' own bind processors
(JSON as the engine writes it), and it runs on the cursor of the connection's transaction, so it
commits and rolls back with everything else. A driver error is raised as SQLAlchemy raises it
(``orig`` holds the driver's, so ``is_transient`` and the messages see what they always saw).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class _Compiled:
    """The statement's SQL for one dialect, and how to turn values into its parameters."""

    __slots__ = ("fixed", "keys", "named", "processors", "sql")

    def __init__(self, statement: sa.Insert | sa.Update | sa.Delete, keys: Sequence[str], dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        self.sql = compiled.string
        self.named = dialect.paramstyle in ("named", "pyformat")
        self.keys: tuple[str, ...] = tuple(compiled.binds) if self.named else tuple(compiled.positiontup or ())
        # Values the statement itself holds (``status == "running"``, ``lease_until=None``).
        self.fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if name not in keys}
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.bind_processor(dialect)
            if processor is not None:
                self.processors[name] = processor

    def parameters(self, values: Mapping[str, Any]) -> Any:
        processors, fixed = self.processors, self.fixed
        out = []
        for key in self.keys:
            value = fixed[key] if key in fixed else values[key]
            out.append(processors[key](value) if key in processors else value)
        return dict(zip(self.keys, out, strict=True)) if self.named else tuple(out)


class Hot:
    """A statement built once (``keys`` are the parameters every execution passes) and run on the cursor."""

    __slots__ = ("_by_dialect", "_keys", "_statement")

    def __init__(self, statement: sa.Insert | sa.Update | sa.Delete, keys: Sequence[str]) -> None:
        self._statement = statement
        self._keys = tuple(keys)
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _Compiled(self._statement, self._keys, dialect)
        return compiled

    def run(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """Run it with ``values``; the rows it changed."""
        with self._cursor(conn) as (cursor, compiled):
            parameters = compiled.parameters(values)
            _execute(conn, cursor.execute, compiled.sql, parameters)
            return int(cursor.rowcount)

    def one(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """Run it with ``values``; the first column of the first row it returns (None for none)."""
        with self._cursor(conn) as (cursor, compiled):
            parameters = compiled.parameters(values)
            _execute(conn, cursor.execute, compiled.sql, parameters)
            row = cursor.fetchone()
            return None if row is None else row[0]

    def many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per row of values."""
        with self._cursor(conn) as (cursor, compiled):
            _execute(conn, cursor.executemany, compiled.sql, [compiled.parameters(row) for row in rows])

    @contextlib.contextmanager
    def _cursor(self, conn: Connection) -> Iterator[tuple[Any, _Compiled]]:
        compiled = self._compiled(conn)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            yield cursor, compiled
        finally:
            cursor.close()


def _execute(conn: Connection, method: Callable[[str, Any], Any], sql: str, parameters: Any) -> None:
    try:
        method(sql, parameters)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(conn, sql, parameters, exc) from exc


def _wrapped(conn: Connection, sql: str, parameters: Any, exc: Exception) -> BaseException:
    return sa.exc.DBAPIError.instance(
        sql, parameters, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True, dialect=conn.dialect,
    )
