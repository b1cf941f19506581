"""The `holdout:` block of a segment or an audience: a randomized share of the people who
are never sent, so that what an audience adds can be measured against them (`syncd.lift`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Holdout(BaseModel):
    # As syncd.config.models.StrictModel (not imported: that module imports this one).
    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float = Field(
        gt=0,
        lt=1,
        description="The share of the segment's people held out: never sent to the network, "
        "and removed from it if they were. Who falls in it is a stable function of the "
        "person and the experiment, the same on every pass, restart and warehouse; raising "
        "the fraction only moves people into the holdout. 0.1 is a common start.",
    )
    salt: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[^\x1f]+$",
        description="Changes who is held out (a fresh experiment) while keeping the name; "
        "unset, the experiment's name alone decides: the segment's for a segment's holdout "
        "(shared by all its audiences, on every network), the audience's for an audience's.",
    )
