"""Spend per audience: pulled from the networks' reports into a table next to the segments."""

from __future__ import annotations

from syncd.config.models import PostgresState, SyncdConfig
from syncd.sources.postgres_config import PostgresWarehouse
from syncd.spend.store import SpendStore
from syncd.state.backends import Backend, DuckDBBackend, PostgresBackend


def open_spend_store(config: SyncdConfig) -> SpendStore:
    """The warehouse when syncd may write there (PostgreSQL), else beside the state.

    Only the spend tables are touched: the state store's own set-up never runs here, so a
    spend pull in the daemon cannot get in the way of a pass writing the state meanwhile.
    """
    return SpendStore(report_backend(config))


def report_backend(config: SyncdConfig) -> Backend:
    """Where syncd writes the tables it reports (spend, the P&L): a PostgreSQL warehouse's
    schema, else the state's database. A DuckDB warehouse is opened read-only, and a shop
    replaces its file whole on each export, which would drop a table syncd wrote there."""
    warehouse = config.warehouse
    if isinstance(warehouse, PostgresWarehouse):
        schema = warehouse.schema_name or "syncd"
        return PostgresBackend(warehouse.dsn.get_secret_value(), schema)
    state = config.state
    if isinstance(state, PostgresState):
        return PostgresBackend(state.dsn.get_secret_value(), state.schema_name)
    return DuckDBBackend(state.path)
