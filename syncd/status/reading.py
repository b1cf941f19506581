"""The state opened to be read and never written, for `syncd status`.

`open_state` creates a missing DuckDB file (and its directory), upgrades an old one and
takes part in the leases; a look at the state must do none of it. Here a DuckDB file is
opened read-only and a PostgreSQL session is read-only, so a status cannot create a state
that does not exist, change its format, or hold up a pass for longer than its reads.

DuckDB lets one process open a file to write, and no other process open it at all while it
does: `syncd run` holds its state only during a pass, a lease renewal or a spend pull, so a
status read between them succeeds, and one during them waits up to `WAIT_SECONDS` and then
says the state is busy. A PostgreSQL state can be read at any time.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import duckdb

from syncd.config.models import DuckDBState, PostgresState
from syncd.state import errors
from syncd.state.backends import Backend, DuckDBBackend, PostgresBackend
from syncd.state.errors import StateUnavailable

__all__ = ["WAIT_SECONDS", "location", "open_reader", "tables"]

#: How long a status waits for a pass to let go of a DuckDB state before it says it is busy.
WAIT_SECONDS = 5.0


def open_reader(settings: DuckDBState | PostgresState) -> Backend | None:
    """The state, read-only, or None when there is none yet (no file, no schema). Raises
    StateUnavailable, whose message says where and what to do, when it cannot be read."""
    if isinstance(settings, PostgresState):
        return _ReadOnlyPostgres.opened(settings.dsn.get_secret_value(), settings.schema_name)
    if not settings.path.exists():
        return None
    return _ReadOnlyDuckDB(settings.path)


def tables(backend: Backend) -> frozenset[str]:
    """The tables the state has: those another part of syncd adds (alerts, erasures) may not
    be there yet, and a status reads a missing one as empty."""
    rows = backend.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    return frozenset(str(name) for (name,) in rows)


def location(settings: DuckDBState | PostgresState) -> str:
    """Where the state is, for people: the file, or the server and schema (no password)."""
    if isinstance(settings, PostgresState):
        where, _ = errors.where_and_why(settings.dsn.get_secret_value(), "")
        return f"{where or 'PostgreSQL'} schema {settings.schema_name}"
    return str(settings.path.absolute())


class _ReadOnlyDuckDB(DuckDBBackend):
    """The state file through DuckDB's read-only mode: the backend's reads, none of its
    set-up (no directory made, no file created, no settings of a shared instance)."""

    def __init__(self, path: Path) -> None:
        self._db = _connect_read_only(path)
        self._aside = None


def _connect_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    started = time.monotonic()
    while True:
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.Error as error:
            waited = time.monotonic() - started
            if not errors.is_locked(str(error)):
                raise errors.duckdb_unavailable(path, str(error), waited) from error
            if waited > WAIT_SECONDS:
                raise _busy(path, waited) from error
            time.sleep(random.uniform(0.05, 0.25))


def _busy(path: Path, waited: float) -> StateUnavailable:
    return StateUnavailable(
        f"the state file {path.absolute()} is busy: a pass of `syncd sync` or `syncd run` has "
        f"it open (waited {waited:.0f} s), and DuckDB lets no other process read a file one "
        "process writes; status reads it between passes, so try again in a moment (or keep "
        "the state in PostgreSQL, which status reads at any time)"
    )


class _ReadOnlyPostgres(PostgresBackend):
    """The state's schema through a read-only session: the backend's reads, with no schema
    created and nothing written."""

    def __init__(self, dsn: str, schema: str, connection: object) -> None:
        from psycopg import sql

        self._sql = sql
        self._dsn, self._schema = dsn, schema
        self._aside = None
        self._aside_lock = threading.Lock()
        self._db = connection

    @classmethod
    def opened(cls, dsn: str, schema: str) -> _ReadOnlyPostgres | None:
        """The schema's reader, or None when the schema does not exist."""
        import psycopg
        from psycopg import sql

        try:
            connection = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as error:
            raise errors.postgres_unavailable(dsn, schema, error) from None
        try:
            connection.execute("SET default_transaction_read_only = on")
            found = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]
            ).fetchall()
            if found:
                connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        except psycopg.Error as error:
            connection.close()
            raise errors.postgres_unavailable(dsn, schema, error) from None
        if not found:
            connection.close()
            return None
        return cls(dsn, schema, connection)
