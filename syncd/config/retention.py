"""The `retention:` section: how long the state keeps records that only history needs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Retention(BaseModel):
    # As syncd.config.models.StrictModel (not imported: that module imports this one).
    model_config = ConfigDict(extra="forbid", frozen=True)

    group_history_days: int = Field(
        default=730,
        ge=1,
        description="Days a person's finished stay in a holdout's treated or held-out group "
        "is kept (`syncd report`'s P&L reads them; stays still open are always kept). Two "
        "years covers a year-on-year comparison; a P&L window older than this loses people.",
    )
