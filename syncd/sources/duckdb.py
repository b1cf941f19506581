"""The embedded default warehouse: a DuckDB file, opened read-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from syncd.sources.base import BATCH_ROWS, SourceError, redact_literals


class DuckDBSource:
    """Streams query results as Arrow batches straight from DuckDB, without Python rows."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise SourceError(
                f"warehouse file {path} does not exist; check warehouse.path "
                "(relative to the config file), or run `syncd demo` to build the demo shop"
            )
        try:
            self._db = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise SourceError(
                f"cannot open warehouse {path}: {redact_literals(str(exc))}"
            ) from None

    def read(self, sql: str, timeout_seconds: int | None = None) -> Iterator[pa.RecordBatch]:
        """DuckDB has no statement timeout: `timeout_seconds` is left to the caller's watcher
        (`syncd.sources.watch`), which calls `interrupt`."""
        try:
            relation = self._db.sql(sql)
            if relation is None:
                raise SourceError("the segment SQL ran but returned no result; it must be a query")
            yield from relation.to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            raise SourceError(f"the query failed: {redact_literals(str(exc))}") from None

    def interrupt(self) -> None:
        self._db.interrupt()

    def close(self) -> None:
        self._db.close()
