"""The `receipts:` section: a row per audience per pass in a table next to the team's data
(`syncd.receipts`), so sync history is queried with the same tools as everything else."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Receipts(BaseModel):
    # As syncd.config.models.StrictModel (not imported: that module imports this one).
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(
        default="syncd_receipts",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The table each pass appends its receipts to (created when missing): in "
        "a PostgreSQL warehouse's schema; with a DuckDB warehouse (opened read-only, and "
        "replaced whole by exports) or any other, in the state's database, as the spend table.",
    )
