"""Where the state lives: a DuckDB file (the embedded default) or a PostgreSQL schema.

The store's SQL is written once, in the dialect both engines share (ON CONFLICT, RETURNING,
NOT EXISTS, `?` placeholders); a backend only knows how to run it, how to show Arrow data to
it under a name, how to stream a result out, how to hold a transaction, and where a pass
keeps its scratch tables (`spill`). PostgreSQL is for teams whose replicas share state
across pods, where a file lock cannot reach.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from syncd.fingerprints import SQL_TYPE
from syncd.state import errors
from syncd.state import spill as spill_module
from syncd.state.spill import Spill

#: Arrow data a backend can show to SQL under a name: a table, or a stream of batches that
#: the statement reads once (what a pass moves in and out of its spill).
ArrowData = pa.Table | pa.RecordBatchReader

#: Threads of one process (a pass's workers, the lease renewal) share one database; DuckDB
#: aborts concurrent writers with a conflict, and neither a DuckDB nor a psycopg connection
#: takes two statements at once, so a process runs one statement at a time on it.
WRITES = threading.RLock()

#: Stores of a DuckDB file opened at once in one process (the daemon's jobs) share its
#: instance, so they create and upgrade its tables in turn: one that looked before another's
#: upgrade committed would do it again. (Processes cannot share a DuckDB file.)
_DUCKDB_SETUP = threading.Lock()

#: Lease statements (`execute_aside`) on a DuckDB file, one at a time in the process: DuckDB
#: has no row locks, so two at once on one lease (the daemon's renewal beside a pass's claim)
#: fail instead of one waiting for the other ("Duplicate key", "Conflict on tuple
#: deletion"). One process alone can open the file, so this lock serializes them all.
_DUCKDB_LEASES = threading.Lock()

#: How long opening a DuckDB file waits while another process holds it before it gives up.
LOCK_WAIT_SECONDS = 30.0

#: PostgreSQL advisory lock key under which processes create and upgrade a state schema in
#: turn ("syncd" in ASCII).
SETUP_LOCK = 0x73796E6364


class Backend(Protocol):
    #: Whether `members` has a primary key. PostgreSQL's B-tree is cheap; DuckDB's ART index
    #: over tens of millions of keys costs gigabytes and slows every insert, and the store
    #: keeps members unique without it (see `syncd.state.journal`).
    keyed_members: bool
    #: The SQL type of member keys in state tables: DuckDB's UUID (see `syncd.members`);
    #: text in PostgreSQL, whose temp tables of Arrow data hold text and compare with it.
    member_key_type: str
    #: The dialect of its SQL, as `syncd.pushdown.dialects.Dialect` names it.
    sql_dialect: str
    #: The SQL type of `members.fingerprint` (`syncd.fingerprints`), which only a state
    #: sharing its database with the pass's spill fills in: PostgreSQL's stays NULL.
    fingerprint_type: str
    #: What follows the type of a column of hashes (`syncd.members.HASHED_COLUMNS`) in DDL.
    hash_storage: str
    #: Whether `members.status` is an ENUM of the journal's statuses rather than text.
    status_enum: bool

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]: ...

    def arrow(self, sql: str, parameters: Sequence[object] = ()) -> pa.Table: ...

    def stream(
        self, sql: str, parameters: Sequence[object] = (), rows: int = 100_000
    ) -> Iterator[pa.Table]:
        """The result in tables of at most `rows` rows, never all of it in memory."""
        ...

    def append(self, sql: str, parameters: Sequence[object] = ()) -> None:
        """An INSERT into a table without keys (the journal's bulk staging), which a
        backend may run beside the process's other statements."""
        ...

    def execute_aside(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        """A short statement on a connection of its own, outside WRITES: a lease renewal
        must not wait behind a fold of ten million members, or the lease runs out while
        its pass still works and another process takes the audience."""
        ...

    def registered(self, name: str, data: ArrowData) -> AbstractContextManager[None]: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def setup(self) -> AbstractContextManager[None]:
        """Where the state's tables are created and upgraded: by one process (and one thread)
        at a time, so that stores opened at once find them made instead of racing to."""
        ...

    def spill(self) -> Spill:
        """Scratch tables for one pass, in DuckDB under a memory limit (see `spill`)."""
        ...

    def close(self) -> None: ...


class DuckDBBackend:
    """The state file. A pass's spill is attached to the same database instance, so the diff
    joins the segment with `members` in place, and the instance runs under the spill's
    memory limit (spilling to `<state file>.tmp` beyond it)."""

    keyed_members = False
    member_key_type = "UUID"
    sql_dialect = "duckdb"
    fingerprint_type = SQL_TYPE
    # Hashes are stored as they are: SHA-256 hex compresses to half at best, and
    # compressing it was most of the CPU of writing members (2M with an email, a third
    # with a phone: 2.06 CPU-seconds, 0.60 uncompressed), which a first sync does for
    # every member. The file is larger for it: 443 MB against 263 MB after a 2M-member
    # first sync to two networks.
    hash_storage = " USING COMPRESSION uncompressed"
    # A status is a byte, not a word: a first sync writes every member's, then sets it again
    # when its batch is acknowledged (4M members staged and folded: 3.3-3.5 CPU-seconds,
    # against 4.3-4.5 as text).
    status_enum = True

    def __init__(self, path: Path) -> None:
        _writable_directory(path.parent)
        self._db = _connect(path)
        memory = spill_module.memory_settings()
        self._db.execute(f"SET memory_limit = '{memory['memory_limit']}'")
        # What an instance keeps never shrinks, and the stores of a file in one process
        # share its instance: one opened with a lower limit leaves it as it is.
        with suppress(duckdb.InvalidInputException):
            self._db.execute(f"SET block_allocator_memory = '{memory['block_allocator_memory']}'")
        self._db.execute("SET enable_progress_bar = false")  # a connection's own setting
        # DuckDB's default, stated: spill tables keep their rows in the order inserted, which
        # row numbers (fingerprints) and batches (the journal) are read back by.
        self._db.execute("SET preserve_insertion_order = true")
        self._aside: duckdb.DuckDBPyConnection | None = None  # `execute_aside`'s

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        with WRITES:
            return self._db.execute(sql, list(parameters)).fetchall()

    def arrow(self, sql: str, parameters: Sequence[object] = ()) -> pa.Table:
        with WRITES:
            return self._db.sql(sql, params=list(parameters)).to_arrow_table()

    def stream(
        self, sql: str, parameters: Sequence[object] = (), rows: int = 100_000
    ) -> Iterator[pa.Table]:
        cursor = self._db.cursor()  # its own connection: the store may write meanwhile
        cursor.execute("SET enable_progress_bar = false")
        try:
            reader = cursor.sql(sql, params=list(parameters)).to_arrow_reader(rows)
            for batch in reader:
                yield pa.Table.from_batches([batch])
        finally:
            cursor.close()

    def execute_aside(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        """DuckDB runs it beside the other connection's transaction: only lease statements
        come here, and no other statement touches the leases' rows. They take turns with
        those of every store of the process (`_DUCKDB_LEASES`)."""
        with _DUCKDB_LEASES:
            if self._aside is None:
                self._aside = self._db.cursor()
                self._aside.execute("SET enable_progress_bar = false")
            return self._aside.execute(sql, list(parameters)).fetchall()

    def append(self, sql: str, parameters: Sequence[object] = ()) -> None:
        """On a connection of its own, outside WRITES: DuckDB runs appends beside other
        transactions without conflict (they touch no row another one can), so a push's
        commits do not wait a second for a million members being staged."""
        cursor = self._db.cursor()
        try:
            cursor.execute("SET enable_progress_bar = false")
            cursor.execute(sql, list(parameters))
        finally:
            cursor.close()

    @contextmanager
    def registered(self, name: str, data: ArrowData) -> Iterator[None]:
        """Expose Arrow data to SQL by name, without copying it."""
        with WRITES:
            self._db.register(name, data)
            try:
                yield
            finally:
                self._db.unregister(name)

    def spill(self) -> Spill:
        return Spill.attached(self._db)

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

    @contextmanager
    def setup(self) -> Iterator[None]:
        """Threads take turns; the upgrade steps hold their own transactions, as DuckDB
        nests none."""
        with _DUCKDB_SETUP:
            yield

    def close(self) -> None:
        with _DUCKDB_LEASES:
            if self._aside is not None:
                self._aside.close()
        self._db.close()


def _writable_directory(directory: Path) -> None:
    """Make the state's directory if missing, and prove it writable: DuckDB opens a file in a
    read-only directory, and fails only at its first commit, mid-pass, creating the WAL."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise errors.directory_unwritable(directory, error) from error


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting while another process holds it: replicas sharing one state
    file take turns, each holding it only for a pass or a lease renewal."""
    started = time.monotonic()
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.Error as error:
            waited = time.monotonic() - started
            if not errors.is_locked(str(error)) or waited > LOCK_WAIT_SECONDS:
                raise errors.duckdb_unavailable(path, str(error), waited) from error
            time.sleep(random.uniform(0.05, 0.25))


_POSTGRES_TYPES = {pa.string(): "text", pa.int64(): "bigint", pa.bool_(): "boolean"}


class PostgresBackend:
    """State tables in a schema of a PostgreSQL database (created if missing). A pass's spill
    is a DuckDB database of its own; what it needs from the state is streamed in and out."""

    keyed_members = True
    member_key_type = "VARCHAR"
    sql_dialect = "postgres"
    fingerprint_type = "VARCHAR"
    hash_storage = ""
    status_enum = False

    def __init__(self, dsn: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self._sql = sql
        self._dsn, self._schema = dsn, schema
        self._aside: Any = None  # `execute_aside`'s connection
        self._aside_lock = threading.Lock()
        try:
            self._db = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as error:
            # From None: libpq's own message may quote the DSN, password and all.
            raise errors.postgres_unavailable(dsn, schema, error) from None
        schema_name = sql.Identifier(schema)
        try:
            with self.setup():  # two first starts would both create it: one would fail
                self._db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema_name))
                # Unqualified names in the store's SQL then mean this schema (temp tables
                # first), for the session: a SET outlives the transaction it commits with.
                self._db.execute(sql.SQL("SET search_path TO {}").format(schema_name))
        except BaseException:
            self._db.close()
            raise

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        with WRITES:
            cursor = self._db.execute(_pyformat(sql), list(parameters))
            return cursor.fetchall() if cursor.description else []

    def arrow(self, sql: str, parameters: Sequence[object] = ()) -> pa.Table:
        with WRITES:
            cursor = self._db.execute(_pyformat(sql), list(parameters))
            names = [column.name for column in cursor.description or ()]
            rows = cursor.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        return pa.table({name: list(values) for name, values in zip(names, columns, strict=True)})

    def stream(
        self, sql: str, parameters: Sequence[object] = (), rows: int = 100_000
    ) -> Iterator[pa.Table]:
        """A server-side cursor, so the result never sits whole in this process (the
        connection is this thread's until the stream is drained)."""
        with WRITES, self._db.transaction(), self._db.cursor(name="syncd_stream") as cursor:
            cursor.execute(_pyformat(sql), list(parameters))
            names = [column.name for column in cursor.description or ()]
            while chunk := cursor.fetchmany(rows):
                columns = list(zip(*chunk, strict=True))
                yield pa.table({n: list(v) for n, v in zip(names, columns, strict=True)})

    def append(self, sql: str, parameters: Sequence[object] = ()) -> None:
        self.execute(sql, parameters)  # one connection: a statement at a time

    def execute_aside(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        """On a second connection, opened when first needed, in the same schema."""
        with self._aside_lock:
            if self._aside is None:
                self._aside = self._connect()
            cursor = self._aside.execute(_pyformat(sql), list(parameters))
            return cursor.fetchall() if cursor.description else []

    def _connect(self) -> Any:
        import psycopg

        try:
            connection = psycopg.connect(self._dsn, autocommit=True)
            connection.execute(
                self._sql.SQL("SET search_path TO {}").format(self._sql.Identifier(self._schema))
            )
        except psycopg.Error as error:
            raise errors.postgres_unavailable(self._dsn, self._schema, error) from None
        return connection

    @contextmanager
    def registered(self, name: str, data: ArrowData) -> Iterator[None]:
        """Copy Arrow data into a temporary table of that name (with COPY, a batch at a
        time), for the statements run inside the block."""
        columns = self._sql.SQL(", ").join(
            self._sql.SQL("{} {}").format(
                self._sql.Identifier(field.name), self._sql.SQL(_postgres_type(field.type))
            )
            for field in data.schema
        )
        identifier = self._sql.Identifier(name)
        with WRITES:
            create = self._sql.SQL("CREATE TEMP TABLE {} ({})").format(identifier, columns)
            self._db.execute(create)
            try:
                with self._db.cursor().copy(
                    self._sql.SQL("COPY {} FROM STDIN").format(identifier)
                ) as copy:
                    for batch in _batches(data):
                        for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                            copy.write_row(row)
                yield
            finally:  # in a failed transaction, its rollback drops the table (and a DROP
                # would raise over the error that failed it)
                if self._db.info.transaction_status.name != "INERROR":
                    self._db.execute(self._sql.SQL("DROP TABLE IF EXISTS {}").format(identifier))

    def spill(self) -> Spill:
        return Spill.standalone()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with WRITES, self._db.transaction():
            yield

    @contextmanager
    def setup(self) -> Iterator[None]:
        """One transaction holding `SETUP_LOCK`: replicas starting at once take turns, and
        `CREATE ... IF NOT EXISTS` of a later one sees what an earlier one made (PostgreSQL's
        catalog refuses a second schema or table of one name with UniqueViolation). Read
        committed, so each statement after the wait sees the earlier one's commit."""
        import psycopg

        try:
            with WRITES, self._db.transaction():
                self._db.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])
                yield
        except psycopg.Error as error:
            raise errors.postgres_unavailable(self._dsn, self._schema, error) from None

    def close(self) -> None:
        with self._aside_lock:
            if self._aside is not None:
                self._aside.close()
        self._db.close()


def _postgres_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz"
    return _POSTGRES_TYPES[arrow_type]


def _batches(data: ArrowData) -> Iterable[pa.RecordBatch]:
    return data.to_batches() if isinstance(data, pa.Table) else data


def _pyformat(sql: str) -> str:
    """The store writes `?` placeholders; psycopg takes `%s` (and a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")
