"""Spend per audience: pulled from the networks' reports into a table next to the segments."""

from __future__ import annotations

from syncd.config.models import SyncdConfig
from syncd.sources.postgres_config import PostgresWarehouse
from syncd.spend.store import SpendStore
from syncd.state import open_state
from syncd.state.backends import PostgresBackend


def open_spend_store(config: SyncdConfig) -> SpendStore:
    """The warehouse when syncd may write there (PostgreSQL), else the state store."""
    warehouse = config.warehouse
    if isinstance(warehouse, PostgresWarehouse):
        schema = warehouse.schema_name or "syncd"
        return SpendStore(PostgresBackend(warehouse.dsn.get_secret_value(), schema))
    return SpendStore(open_state(config.state).backend)
