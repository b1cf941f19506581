"""The `suppressions:` block: people who must never be in any audience (opt-outs, "do not
sell or share", erasures), read from the warehouse like a segment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncd.config.countries import IsoCountry
from syncd.identity import IdentifierKind
from syncd.lift.person import PERSON_KINDS
from syncd.members import SegmentShape


class Suppressions(BaseModel):
    # As syncd.config.models.StrictModel (not imported: that module imports this one).
    model_config = ConfigDict(extra="forbid", frozen=True)

    sql: str = Field(
        min_length=1,
        description="A query in the warehouse's SQL returning one row per suppressed person "
        "(or per identifier of one). Every audience on every network drops anyone sharing an "
        "email, phone, external_id or madid with a row, before the diff: never sent, and "
        "removed where syncd had sent them, whatever the segments, holdouts or modes say.",
    )
    identifiers: dict[IdentifierKind, str] = Field(
        min_length=1,
        description="Which result column holds each identifier, as in a segment, e.g. "
        "{email: email, phone: phone}: at least one of email, phone, external_id, madid.",
    )
    country_column: str | None = Field(
        default=None, description="Column with each row's ISO country, for national phones."
    )
    default_country: IsoCountry | None = Field(
        default=None, description="ISO country (e.g. US) for rows whose country is missing."
    )

    @field_validator("identifiers")
    @classmethod
    def _a_person_kind(cls, value: dict[IdentifierKind, str]) -> dict[IdentifierKind, str]:
        if not set(value) & set(PERSON_KINDS):
            kinds = ", ".join(kind.value for kind in PERSON_KINDS)
            raise ValueError(f"map at least one of {kinds}: people are suppressed by them")
        return value

    def shape(self) -> SegmentShape:
        return SegmentShape(self.identifiers, self.country_column, self.default_country)
