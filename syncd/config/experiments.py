"""The `holdout:` block of a segment or an audience: a randomized share of the people who
are never sent, so that what an audience adds can be measured against them (`syncd.lift`);
and the `outcomes:` block, the conversions it is measured by."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncd.config.countries import IsoCountry
from syncd.identity import IdentifierKind
from syncd.lift.person import PERSON_KINDS
from syncd.members import SegmentShape


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


class Outcomes(BaseModel):
    """The `outcomes:` block: where the conversions an audience may cause are read from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sql: str = Field(
        min_length=1,
        description="A query in the warehouse's SQL returning one row per conversion event "
        "(an order, a sign-up), with the person's identifier columns, the event's time and "
        "optionally its revenue. Read by `syncd report` only; its raw identifiers are hashed "
        "into person keys as they are read and never stored or logged.",
    )
    identifiers: dict[IdentifierKind, str] | None = Field(
        default=None,
        min_length=1,
        description="Which result column holds each identifier, as in a segment, e.g. "
        "{email: email}. A person is matched by the first valid of email, phone, external_id "
        "and madid, the same key the holdout uses. Required in the top-level block; in a "
        "segment's block it defaults to the segment's own mapping.",
    )
    occurred_at: str = Field(
        min_length=1,
        description="Column with the event's time (a timestamp, or a date: midnight UTC; a "
        "timestamp without a zone is read as UTC). Rows where it is NULL are counted and "
        "left out.",
    )
    value: str | None = Field(
        default=None,
        min_length=1,
        description="Column with the event's revenue, in the spend's currency. Without it "
        "revenue is 0: only conversions are estimated, with no incremental revenue or iROAS. "
        "Rows where it is NULL or not a number are counted and left out.",
    )
    country_column: str | None = Field(
        default=None,
        description="Column with each row's ISO country, for national phone numbers; in a "
        "segment's block it defaults to the segment's.",
    )
    default_country: IsoCountry | None = Field(
        default=None,
        description="ISO country (e.g. US) for rows whose country is missing; in a segment's "
        "block it defaults to the segment's.",
    )

    @field_validator("identifiers")
    @classmethod
    def _a_person_kind(
        cls, value: dict[IdentifierKind, str] | None
    ) -> dict[IdentifierKind, str] | None:
        if value is not None and not set(value) & set(PERSON_KINDS):
            kinds = ", ".join(kind.value for kind in PERSON_KINDS)
            raise ValueError(f"map at least one of {kinds}: outcomes are matched to people by them")
        return value

    def shape(self, segment: SegmentShape | None) -> SegmentShape:
        """How rows of the outcomes query are read into person keys: this block's mapping
        and countries. A block without its own mapping reads the segment's columns, country
        column included; one with its own mapping never needs the segment's country
        column (another query's), only its default country."""
        if self.identifiers is None:
            if segment is None:  # DefaultOutcomes requires them; a segment always has some
                raise ValueError("outcomes without identifiers need a segment's mapping")
            identifiers, country = segment.identifiers, segment.country_source
        else:
            identifiers, country = self.identifiers, None
        return SegmentShape(
            identifiers,
            self.country_column or country,
            self.default_country or (segment.default_country if segment else None),
        )


class DefaultOutcomes(Outcomes):
    """The top-level `outcomes:` block, used by every segment without one of its own."""

    identifiers: dict[IdentifierKind, str] = Field(  # type: ignore[assignment]
        min_length=1,
        description="Which result column holds each identifier, e.g. {email: email}. A "
        "person is matched by the first valid of email, phone, external_id and madid, the "
        "same key the holdout uses.",
    )
