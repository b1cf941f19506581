"""The `warehouse:` block for the embedded DuckDB file, beside the other warehouses' blocks:
it imports neither duckdb nor syncd.config, so syncd.config.models and `open_source` can
both import it without a cycle."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from syncd.sources.settings import WarehouseSettings


class DuckDBWarehouse(WarehouseSettings):
    kind: Literal["duckdb"] = Field(description="The embedded warehouse: a DuckDB file.")
    path: Path = Field(
        description="DuckDB database file, relative to the config file's folder. "
        "It is opened read-only."
    )
