"""Where the state lives: a DuckDB file (the embedded default) or a PostgreSQL schema.

The store's SQL is written once, in the dialect both engines share (ON CONFLICT, RETURNING,
NOT EXISTS, `?` placeholders); a backend only knows how to run it, how to show an Arrow
table to it under a name, and how to hold a transaction. PostgreSQL is for teams whose
replicas share state across pods, where a file lock cannot reach.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa

#: Threads of one process (a pass, the lease renewal) share one database; DuckDB aborts
#: concurrent writers with a conflict, so a process writes one statement at a time.
WRITES = threading.RLock()


class Backend(Protocol):
    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]: ...

    def arrow(self, sql: str, parameters: Sequence[object] = ()) -> pa.Table: ...

    def registered(self, name: str, table: pa.Table) -> AbstractContextManager[None]: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


class DuckDBBackend:
    def __init__(self, path: Path, lock_timeout: float = 30.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = _connect(path, lock_timeout)

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        with WRITES:
            return self._db.execute(sql, list(parameters)).fetchall()

    def arrow(self, sql: str, parameters: Sequence[object] = ()) -> pa.Table:
        return self._db.sql(sql, params=list(parameters)).to_arrow_table()

    @contextmanager
    def registered(self, name: str, table: pa.Table) -> Iterator[None]:
        """Expose an Arrow table to SQL by name, without copying it."""
        self._db.register(name, table)
        try:
            yield
        finally:
            self._db.unregister(name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with WRITES:
            self._db.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def _connect(path: Path, lock_timeout: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting while another process holds it: replicas sharing one state
    file take turns, each holding it only for a pass or a lease renewal."""
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.05, 0.25))


_POSTGRES_TYPES = {pa.string(): "text", pa.int64(): "bigint"}


class PostgresBackend:
    """State tables in a schema of a PostgreSQL database (created if missing)."""

    def __init__(self, dsn: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self._sql = sql
        self._db = psycopg.connect(dsn, autocommit=True)
        schema_name = sql.Identifier(schema)
        self._db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema_name))
        # Unqualified names in the store's SQL then mean this schema (temp tables first).
        self._db.execute(sql.SQL("SET search_path TO {}").format(schema_name))

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        with WRITES:
            cursor = self._db.execute(_pyformat(sql), list(parameters))
            return cursor.fetchall() if cursor.description else []

    def arrow(self, sql: str, parameters: Sequence[object] = ()) -> pa.Table:
        cursor = self._db.execute(_pyformat(sql), list(parameters))
        names = [column.name for column in cursor.description or ()]
        rows = cursor.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        return pa.table({name: list(values) for name, values in zip(names, columns, strict=True)})

    @contextmanager
    def registered(self, name: str, table: pa.Table) -> Iterator[None]:
        """Copy an Arrow table into a temporary table of that name, for one statement."""
        columns = self._sql.SQL(", ").join(
            self._sql.SQL("{} {}").format(
                self._sql.Identifier(field.name), self._sql.SQL(_POSTGRES_TYPES[field.type])
            )
            for field in table.schema
        )
        identifier = self._sql.Identifier(name)
        self._db.execute(self._sql.SQL("CREATE TEMP TABLE {} ({})").format(identifier, columns))
        try:
            with self._db.cursor().copy(
                self._sql.SQL("COPY {} FROM STDIN").format(identifier)
            ) as copy:
                for row in zip(*(column.to_pylist() for column in table.columns), strict=True):
                    copy.write_row(row)
            yield
        finally:
            self._db.execute(self._sql.SQL("DROP TABLE IF EXISTS {}").format(identifier))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with WRITES, self._db.transaction():
            yield

    def close(self) -> None:
        self._db.close()


def _pyformat(sql: str) -> str:
    """The store writes `?` placeholders; psycopg takes `%s` (and a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")
