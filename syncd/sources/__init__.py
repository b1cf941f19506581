"""Warehouse readers. Each streams a segment query as Arrow record batches."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from syncd.sources.bigquery_config import BigQueryWarehouse
from syncd.sources.postgres_config import PostgresWarehouse
from syncd.sources.snowflake_config import SnowflakeWarehouse

if TYPE_CHECKING:  # syncd.config.models imports this package's postgres_config
    from syncd.config.models import Warehouse

#: Rows per Arrow batch: large enough to amortize per-batch work, small enough to keep
#: memory flat whatever the segment's size.
BATCH_ROWS = 100_000

_QUOTED_LITERAL = re.compile(r"'[^']*'")


class SourceError(Exception):
    """The warehouse could not give the segment; the message names the segment and the fix."""


class Source(Protocol):
    def read(self, sql: str, timeout_seconds: int | None = None) -> Iterator[pa.RecordBatch]:
        """Run `sql` and stream its result; raises SourceError. With `timeout_seconds`, the
        warehouse stops the query past it where it can (`syncd.sources.watch` makes sure)."""
        ...

    def interrupt(self) -> None:
        """Stop the running read now, from another thread (a watcher: a timeout, SIGTERM);
        that read raises SourceError. Harmless when no read runs."""
        ...

    def close(self) -> None: ...


def open_source(warehouse: Warehouse) -> Source:
    """The reader for a warehouse config; heavy drivers are imported only when used."""
    if isinstance(warehouse, PostgresWarehouse):
        from syncd.sources.postgres import PostgresSource

        return PostgresSource(
            warehouse.dsn.get_secret_value(),
            statement_timeout_seconds=warehouse.statement_timeout_seconds,
        )
    if isinstance(warehouse, BigQueryWarehouse):
        from syncd.sources.bigquery import BigQuerySource

        return BigQuerySource(warehouse)
    if isinstance(warehouse, SnowflakeWarehouse):
        from syncd.sources.snowflake import SnowflakeSource

        return SnowflakeSource(warehouse)
    from syncd.sources.duckdb import DuckDBSource

    return DuckDBSource(warehouse.path)


def redact_literals(message: str) -> str:
    """Warehouse errors quote the values they choke on ("could not convert 'a@b.com'"):
    those may be identifiers, so every single-quoted literal is blanked out."""
    return _QUOTED_LITERAL.sub("'…'", message)
