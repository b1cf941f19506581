"""Scratch tables for one pass: a segment's members and their diff, in DuckDB, on disk past a
memory limit.

A 10M-member segment is gigabytes as Arrow tables, and so is its diff on a first sync. A
pass therefore never holds either: each source batch is normalized, hashed and appended to a
spill table, and dedup and diff are SQL over those tables. DuckDB keeps tables, hash joins
and aggregates under its memory limit and writes what does not fit to a temporary
directory, so the pass holds one source batch and one network batch at a time, whatever the
segment's size.

With the DuckDB state the spill lives in in-memory catalogs attached to the state's own
database instance, so the diff joins the segment with `members` where it lies. With
PostgreSQL state it is a DuckDB database of its own, and the held members are streamed into
it. Each table gets a catalog of its own: appends alternating between tables of one
in-memory catalog (two networks' members, batch by batch) run several times slower.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

#: DuckDB's memory limit for the state instance and the spill (tables, joins, aggregates);
#: past it they spill to disk. The rest of a pass comes on top, about 400 MB measured
#: whatever the segment's size: the interpreter and its libraries, a source batch going
#: through two networks' identity at once, allocator slack.
MEMORY_LIMIT = "256MB"

_SQL_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN"}


def sql_type(field: pa.Field) -> str:
    """The column type of `field` in a DuckDB table: its "sql" metadata (the member key's
    UUID), else the one its Arrow type maps to."""
    declared = (field.metadata or {}).get(b"sql")
    return declared.decode() if declared else _SQL_TYPES[field.type]


def memory_limit() -> str:
    """The limit in force (a module attribute, so a test or a benchmark can lower it)."""
    return MEMORY_LIMIT


def memory_settings() -> dict[str, str]:
    """DuckDB's memory settings for the state instance and the spill: the limit, and as
    much memory kept for the blocks of tables and spilled results. A kept block is reused;
    without it, a freed block went back to the system, and the next was faulted in page
    by page (a 2M-member first sync: 0.70-0.74M page faults with it, 0.88-0.92M without;
    10M: 101-108 CPU-seconds with it, 108-118 without, for 55-75 MB more peak RSS). The
    memory is taken as blocks are first used, and given back when the instance closes."""
    return {"memory_limit": memory_limit(), "block_allocator_memory": memory_limit()}


@dataclass(frozen=True)
class SpillTable:
    """A table in a spill, and how many rows it has."""

    spill: Spill
    name: str
    rows: int


class Spill:
    """Scratch tables of one pass. Names are qualified with their own catalogs, so SQL run
    on the state's connection can use them too (`local`). Threads may share a spill: each
    runs its statements on a connection of its own."""

    def __init__(
        self,
        db: duckdb.DuckDBPyConnection,
        *,
        state_catalog: str | None,
        cleanup: Callable[[], None],
    ) -> None:
        self._base = db
        self._local = threading.local()
        self._connections: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._prefix = f"syncd_spill_{uuid.uuid4().hex[:12]}"
        self._catalogs: set[str] = set()
        #: The state's catalog when the spill shares its database instance, else None.
        self.state_catalog = state_catalog
        self._cleanup = cleanup
        self._names = itertools.count(1)
        self._closed = False

    @classmethod
    def attached(cls, state: duckdb.DuckDBPyConnection) -> Spill:
        """In-memory catalogs attached to the state's DuckDB instance."""
        db = state.cursor()  # a connection of its own on the same instance
        # fetchall, not fetchone: a result left open holds its transaction open, and one
        # open transaction stops the state's checkpoints and slows every later commit.
        ((catalog,),) = db.execute("SELECT current_database()").fetchall()
        return cls(db, state_catalog=str(catalog), cleanup=db.close)

    @classmethod
    def standalone(cls) -> Spill:
        """A DuckDB database of its own, spilling to a temporary directory it removes."""
        directory = tempfile.mkdtemp(prefix="syncd-spill-")
        try:
            db = duckdb.connect(
                ":memory:",
                config={
                    **memory_settings(),
                    "temp_directory": directory,
                    "preserve_insertion_order": True,  # rows are read back by number
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                },
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

        def cleanup() -> None:
            db.close()
            shutil.rmtree(directory, ignore_errors=True)

        return cls(db, state_catalog=None, cleanup=cleanup)

    @property
    def _db(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection to the spill's database."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            with self._lock:
                connection = _quiet(self._base.cursor())
                self._connections.append(connection)
            self._local.connection = connection
        return connection

    @property
    def local(self) -> bool:
        """Whether the state's tables are visible to the spill's SQL (and the other way)."""
        return self.state_catalog is not None

    def name(self, prefix: str) -> str:
        """A new qualified table name, in a catalog of its own."""
        with self._lock:
            catalog = f"{self._prefix}_{next(self._names)}"
            self._catalogs.add(catalog)
        self._db.execute(f"ATTACH ':memory:' AS {catalog}")
        return f"{catalog}.{prefix}"

    def create(self, prefix: str, schema: pa.Schema) -> str:
        """An empty table with the columns of `schema`; returns its name."""
        name = self.name(prefix)
        columns = ", ".join(f"{field.name} {sql_type(field)}" for field in schema)
        self._db.execute(f"CREATE TABLE {name} ({columns})")
        return name

    def create_as(self, prefix: str, select: str, parameters: Sequence[object] = ()) -> SpillTable:
        """A table holding the result of `select`."""
        name = self.name(prefix)
        self._db.execute(f"CREATE TABLE {name} AS {select}", list(parameters))
        return SpillTable(self, name, self.count(name))

    def view(self, table: SpillTable, columns: str) -> SpillTable:
        """A view of `table` selecting `columns` (SQL) and its rowid, in the table's catalog,
        so dropping either drops both. Batches are cut by rowid, which the view keeps."""
        catalog = table.name.partition(".")[0]
        name = f"{catalog}.{table.name.partition('.')[2]}_view"
        self._db.execute(
            f"CREATE VIEW {name} AS SELECT rowid AS rowid, {columns} FROM {table.name}"
        )
        return SpillTable(self, name, table.rows)

    def append(self, name: str, table: pa.Table, columns: Mapping[str, str] | None = None) -> None:
        """Add the rows of an Arrow table to a spill table: `columns` maps each column
        written to SQL over the table's columns (by default, the table's own columns)."""
        if not len(table):
            return
        view = f"syncd_append_{uuid.uuid4().hex[:8]}"
        self._db.register(view, table)
        try:
            written = dict(columns or {name: name for name in table.column_names})
            self._db.execute(
                f"INSERT INTO {name} ({', '.join(written)}) "
                f"SELECT {', '.join(written.values())} FROM {view}"
            )
        finally:
            self._db.unregister(view)

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        return self._db.execute(sql, list(parameters)).fetchall()

    def arrow(self, select: str, parameters: Sequence[object] = ()) -> pa.Table:
        """The whole result in memory: for small results only."""
        return self._db.sql(select, params=list(parameters)).to_arrow_table()

    def count(self, name: str) -> int:
        return int(self.execute(f"SELECT count(*) FROM {name}")[0][0])

    def batches(self, select: str, parameters: Sequence[object], size: int) -> Iterator[pa.Table]:
        """The result of `select` in tables of exactly `size` rows (the last one fewer),
        streamed: only one of them is in memory at a time."""
        cursor = _quiet(self._db.cursor())
        try:
            reader = cursor.sql(select, params=list(parameters)).to_arrow_reader(size)
            yield from exact_chunks(reader, size)
        finally:
            cursor.close()

    def reader(self, select: str, parameters: Sequence[object] = ()) -> pa.RecordBatchReader:
        """The result of `select` as a stream of record batches, for another database to read
        once (the caller closes the spill only after it did)."""
        cursor = _quiet(self._db.cursor())
        return cursor.sql(select, params=list(parameters)).to_arrow_reader(100_000)

    def drop(self, *names: str) -> None:
        for name in names:
            catalog = name.partition(".")[0]
            with self._lock:
                if catalog not in self._catalogs:
                    continue
                self._catalogs.discard(catalog)
            self._db.execute(f"DETACH {catalog}")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                for catalog in sorted(self._catalogs):
                    self._base.execute(f"DETACH {catalog}")
            finally:
                self._catalogs.clear()
                for connection in self._connections:
                    connection.close()
                self._cleanup()

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _quiet(connection: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """No progress bar on syncd's output: a 10M-row diff takes seconds (the setting is a
    connection's own)."""
    connection.execute("SET enable_progress_bar = false")
    return connection


def exact_chunks(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    """Re-cut a stream of record batches into tables of exactly `size` rows (the last one
    fewer): a network batch is one request, and its journal entry names exactly its rows."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        while len(batch):
            take = min(size - held, len(batch))
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == size:
                yield pa.Table.from_batches(pending).combine_chunks()
                pending, held = [], 0
    if held:
        yield pa.Table.from_batches(pending).combine_chunks()


class RawRows:
    """A segment's source batches, as read, kept for one pass in memory, compressed (an
    Arrow IPC file with LZ4): rows are read back by number, a batch at a time, for the
    few that need identity after all (`syncd.fingerprints`). Never on disk, for they hold
    raw identifiers; and bounded, so a pass's memory does not grow with its segment: past
    `limit` bytes the rows are `full`, and the caller goes on without them."""

    def __init__(self, schema: pa.Schema, limit: int) -> None:
        self._sink = pa.BufferOutputStream()
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        self._writer = pa.ipc.new_file(self._sink, schema, options=options)
        self._limit = limit
        self._ends: list[int] = []
        self._buffer: pa.Buffer | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self._ends.append((self._ends[-1] if self._ends else 0) + len(batch))

    @property
    def full(self) -> bool:
        return self._sink.tell() > self._limit

    def batches(self) -> Iterator[tuple[pa.RecordBatch, int]]:
        """Every batch kept, with the number of its first row."""
        reader = self._reader()
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index), (self._ends[index - 1] if index else 0)

    def take(self, rows: Iterator[pa.Array]) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
        """The rows numbered in `rows` (ascending, in chunks, as a query streams them),
        batch by batch, each with the numbers of its rows."""
        pending = _Ascending(rows)
        reader = self._reader()
        start = 0
        for index, end in enumerate(self._ends):
            numbers = pending.below(end)
            if len(numbers):
                yield reader.get_batch(index).take(pc.subtract(numbers, start)), numbers
            start = end

    def _reader(self) -> pa.ipc.RecordBatchFileReader:
        if self._buffer is None:
            self._writer.close()
            self._buffer = self._sink.getvalue()
        return pa.ipc.open_file(self._buffer)


class _Ascending:
    """Ascending numbers arriving in chunks, handed out in runs below a bound."""

    def __init__(self, chunks: Iterator[pa.Array]) -> None:
        self._chunks = chunks
        self._head = pa.array([], pa.int64())

    def below(self, bound: int) -> pa.Array:
        runs = []
        while True:
            if not len(self._head):
                head = next(self._chunks, None)
                if head is None:
                    break
                self._head = head
            count = pc.sum(pc.less(self._head, bound)).as_py() or 0
            runs.append(self._head.slice(0, count))
            self._head = self._head.slice(count)
            if len(self._head):
                break
        return pa.concat_arrays(runs) if runs else pa.array([], pa.int64())
