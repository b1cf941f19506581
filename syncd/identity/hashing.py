"""SHA-256 hex of whole Arrow columns, on every core; and the MD5 UUID of member keys.

Chosen by measurement on the 2-core machine (`python benchmarks/identity.py` prints them):

- hashlib, one call per value from Python: about 1.8 M/s on one core. A thread pool does not
  help: hashlib keeps the GIL for inputs under 2 KiB, and every identifier is shorter.
- DuckDB's vectorized `sha256()` over an Arrow array: about 4 M/s per thread, and it runs the
  scan on all cores without the GIL (7 to 8 M/s on 2 cores). The ceiling of SHA-256 itself
  on short strings is about 7 M/s per core, so this is within a factor of two of it.

So columns go through DuckDB, in an in-memory database of our own that never touches disk or
network; a few values (tests, tiny batches) go through hashlib, where a query would cost more
than it saves. Both hash the UTF-8 bytes and give lowercase hex, checked equal by the tests.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid

import duckdb
import pyarrow as pa

#: Below this many values hashlib is faster than starting a query.
SMALL_COLUMN = 4096

_lock = threading.Lock()
_connection: duckdb.DuckDBPyConnection | None = None
_fork_safe = True
_abandoned: list[duckdb.DuckDBPyConnection] = []


def sha256_hex_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Lowercase hex SHA-256 of each string's UTF-8 bytes; null stays null."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    if len(values) - values.null_count <= SMALL_COLUMN or not _fork_safe:
        digests = [
            None if v is None else hashlib.sha256(v.encode()).hexdigest()
            for v in values.to_pylist()
        ]
        return pa.array(digests, pa.string())
    cursor = _cursor()
    try:
        table = pa.table({"v": values})
        hashed = cursor.from_arrow(table).select("sha256(v) AS h").to_arrow_table()
    finally:
        cursor.close()
    return hashed.column("h").combine_chunks().cast(pa.string())


def md5_uuid(value: str) -> str:
    """The MD5 of a string's UTF-8 bytes, written as a UUID (8-4-4-4-12 lowercase hex), as
    DuckDB's CAST(md5(value) AS UUID) writes it."""
    digest = hashlib.md5(value.encode(), usedforsecurity=False).digest()  # FIPS builds allow it
    return str(uuid.UUID(bytes=digest))


def _forget_connection() -> None:
    """A forked child must not touch DuckDB once the parent has run it (it crashes: its
    threads are gone); such a child hashes with hashlib."""
    global _connection, _lock, _fork_safe
    if _connection is not None:
        _fork_safe = False
        _abandoned.append(_connection)  # never closed here: closing it in the child crashes
    _connection, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_connection)


def _cursor() -> duckdb.DuckDBPyConnection:
    """A cursor of our private in-memory database; one per call, so threads never share."""
    global _connection
    with _lock:
        if _connection is None:
            _connection = duckdb.connect(
                ":memory:",
                config={
                    "threads": os.cpu_count() or 1,
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                },
            )
        return _connection.cursor()
