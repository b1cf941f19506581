"""What every `warehouse:` block shares. Like postgres_config, it imports neither a driver nor
syncd.config, so each warehouse's config and syncd.config.models can build on it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: A segment read that takes longer blocks every other audience of `syncd run` (one pass
#: worker) for as long: 15 minutes is far beyond a healthy segment query, and a large
#: segment raises its own `timeout_seconds`.
DEFAULT_TIMEOUT_SECONDS = 900


class WarehouseSettings(BaseModel):
    # As syncd.config.models.StrictModel (not imported: that module imports this one).
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    statement_timeout_seconds: int = Field(
        default=DEFAULT_TIMEOUT_SECONDS,
        gt=0,
        description="How long reading one segment may take, from the query's start to its "
        "last row, unless the segment sets its own timeout_seconds. Past it syncd stops the "
        "query (PostgreSQL statement_timeout and a cancel, Snowflake "
        "STATEMENT_TIMEOUT_IN_SECONDS, a BigQuery job timeout and cancel, a DuckDB "
        "interrupt): that audience fails with the reason, and the others still sync.",
    )
