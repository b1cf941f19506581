"""Warehouse readers. Each streams a segment query as Arrow record batches."""

from __future__ import annotations

from syncd.sources.base import Source, SourceError, redact_literals
from syncd.sources.bigquery_config import BigQueryWarehouse
from syncd.sources.duckdb_config import DuckDBWarehouse
from syncd.sources.postgres_config import PostgresWarehouse
from syncd.sources.snowflake_config import SnowflakeWarehouse

__all__ = ["Source", "SourceError", "open_source", "redact_literals"]


def open_source(
    warehouse: DuckDBWarehouse | PostgresWarehouse | BigQueryWarehouse | SnowflakeWarehouse,
) -> Source:
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
