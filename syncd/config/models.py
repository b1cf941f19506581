"""The shape of a syncd YAML file, with each field documented where it is declared.

Field descriptions are not decoration: `syncd validate` prints them as the hint beside an
error, and `syncd schema` exports them as JSON schema for editors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self, Union

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from syncd.config.alerts import Alerts
from syncd.config.countries import IsoCountry
from syncd.config.experiments import DefaultOutcomes, Holdout, Outcomes
from syncd.config.receipts import Receipts
from syncd.config.retention import Retention
from syncd.config.schedule import Schedule, checked_duration, duration_seconds
from syncd.config.suppressions import Suppressions
from syncd.destinations.google.settings import (
    GoogleAdsConnection,
    GoogleAdsDestination,
    GoogleDataManagerDestination,
)
from syncd.destinations.meta.settings import MetaDestination
from syncd.destinations.registry import NETWORKS
from syncd.destinations.settings import (
    ConfigRuleError,
    Consent,
    DestinationSettings,
    StrictModel,
)
from syncd.identity import IdentifierKind
from syncd.members import SegmentShape
from syncd.sources.bigquery_config import BigQueryWarehouse
from syncd.sources.duckdb_config import DuckDBWarehouse
from syncd.sources.postgres_config import PostgresWarehouse
from syncd.sources.snowflake_config import SnowflakeWarehouse

__all__ = [
    "ConfigRuleError",
    "Consent",
    "DestinationSettings",
    "GoogleAdsConnection",
    "GoogleAdsDestination",
    "GoogleDataManagerDestination",
    "MetaDestination",
    "StrictModel",
]


Warehouse = Annotated[
    DuckDBWarehouse | PostgresWarehouse | BigQueryWarehouse | SnowflakeWarehouse,
    Field(discriminator="kind"),
]


class SegmentConsent(StrictModel):
    ad_user_data: str = Field(
        description="Column saying whether the person agreed to their data being used for "
        "ads (granted/denied, true/false, yes/no, 1/0; NULL: the destination's default)."
    )
    ad_personalization: str = Field(
        description="Column saying whether the person agreed to personalized ads (same values)."
    )


class Segment(StrictModel):
    sql: str = Field(
        min_length=1, description="A query returning one row per person, in the warehouse's SQL."
    )
    identifiers: dict[IdentifierKind, str] = Field(
        min_length=1,
        description="Which result column holds each identifier, e.g. {email: email, phone: "
        "phone}. Kinds: " + ", ".join(kind.value for kind in IdentifierKind) + ".",
    )
    country_column: str | None = Field(
        default=None,
        description="Column with each row's ISO country, used to read national phone numbers "
        "and US zips. Defaults to the `country` identifier's column when one is mapped.",
    )
    default_country: IsoCountry | None = Field(
        default=None,
        description="ISO country (e.g. US) for rows whose country is missing.",
    )
    description: str = Field(default="", description="What the segment is for, for people.")
    consent: SegmentConsent | None = Field(
        default=None,
        description="Per-row EU consent columns; Google never receives a row without both "
        "consents (it is counted as no_consent).",
    )
    timeout_seconds: int | None = Field(
        default=None,
        gt=0,
        description="How long reading this segment may take, from the query's start to its "
        "last row; unset, warehouse.statement_timeout_seconds (15 minutes by default). Past "
        "it the query is stopped and this segment's audiences fail, the others still sync.",
    )
    holdout: Holdout | None = Field(
        default=None,
        description="Hold a random share of this segment's people out of all its audiences "
        "on every network, to measure what the audiences add (`syncd report`). An "
        "audience's own holdout replaces it for that audience.",
    )
    outcomes: Outcomes | None = Field(
        default=None,
        description="The conversions this segment's audiences are measured by (`syncd "
        "report`'s P&L); replaces the top-level `outcomes` for this segment.",
    )
    trust_e164_phones: bool = Field(
        default=False,
        description="For warehouse.pushdown only: the phone column holds E.164 numbers "
        "(+ and digits), which SQL then sends as they are. SQL cannot check a number against "
        "phone metadata as the local path does, so an E.164-shaped number that is not a real "
        "one is sent where the local path would refuse it; a phone that is not E.164 makes "
        "the whole segment go through the local path. Without it, a segment that maps a "
        "phone is always read locally.",
    )

    def shape(self) -> SegmentShape:
        return SegmentShape(self.identifiers, self.country_column, self.default_country)


#: A destination's settings, of whichever network its `kind` names (`NETWORKS`).
Destination = Annotated[
    Union[tuple(network.settings for network in NETWORKS)],  # noqa: UP007
    Field(discriminator="kind"),
]


class Audience(StrictModel):
    segment: str = Field(description="A key of `segments`.")
    destination: str = Field(description="A key of `destinations`.")
    audience_id: str | None = Field(
        default=None,
        pattern=r"^\d+$",
        description="The network's id: Meta custom audience id, or Google user list id.",
    )
    audience_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Or a name: syncd finds the customer list of that name, or creates it.",
    )
    description: str = Field(
        default="",
        description="Description of a list syncd creates (avoid health or "
        "financial-status wording: Meta blocks such audiences).",
    )
    mode: Literal["incremental", "replace"] = Field(
        default="incremental",
        description="incremental sends only changes; replace re-sends the whole segment as a "
        "full replacement (Meta usersreplace), falling back to incremental where refused.",
    )
    schedule: Schedule | None = Field(
        default=None, description="When `syncd run` syncs this audience; defaults to `schedule`."
    )
    holdout: Holdout | None = Field(
        default=None,
        description="Hold a random share of the segment's people out of this audience only "
        "(an experiment of its own, named after the audience); replaces the segment's.",
    )

    @model_validator(mode="after")
    def _id_or_name(self) -> Audience:
        if (self.audience_id is None) == (self.audience_name is None):
            raise ValueError("give exactly one of audience_id or audience_name")
        return self

    @property
    def name(self) -> str:
        """How logs, metrics and summaries name this audience: it says what goes where."""
        return f"{self.segment}->{self.destination}"

    @property
    def state_id(self) -> str:
        """The audience as state keys it: its id, or its name until the network gives one."""
        return self.audience_id or f"name:{self.audience_name}"


class Guardrails(StrictModel):
    max_removal_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Refuse a sync that would remove more than this share of an audience "
        "(audiences of 100+ members); `--allow-mass-removal` overrides it once.",
    )
    max_invalid_fraction: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Refuse a segment whose share of rows with no usable identifier is "
        "higher: a broken column should stop the sync, not shrink the audience.",
    )
    max_suppressed_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Hold an audience (of 100+ members) when the suppressions query leaves "
        "out more than this share of its segment's members: opt-outs are a few percent of a "
        "list, so most of one suppressed at once is more likely a broken query; "
        "`--allow-mass-suppression` overrides it once. Erasures never count.",
    )


class Daemon(StrictModel):
    lease_seconds: float = Field(
        default=300,
        ge=1,
        description="How long an audience stays claimed by a `syncd run` process that stops "
        "renewing it (a crashed replica); another replica takes over after this.",
    )
    unready_after_failures: int = Field(
        default=3,
        ge=1,
        description="/readyz turns unready when every audience's last this-many passes failed.",
    )


class SpendSettings(StrictModel):
    """How `syncd spend` and `syncd run` pull spend per audience from the networks."""

    lookback_days: int = Field(
        default=3,
        ge=0,
        le=90,
        description="Networks restate recent days (late clicks, invalid-traffic refunds): "
        "each pull reads this many days before today again and overwrites them.",
    )
    every: str = Field(
        default="6h",
        description="How often `syncd run` pulls spend: a number and a unit, e.g. 6h or 1d.",
    )
    first_pull_days: int = Field(
        default=30,
        ge=1,
        le=1095,
        description="How many days back the first pull of a destination goes; a pull after "
        "a gap also reaches back to where the previous one stopped, at most this far.",
    )

    @field_validator("every")
    @classmethod
    def _duration(cls, value: str) -> str:
        checked = checked_duration(value)
        assert checked is not None
        return checked

    @property
    def interval_seconds(self) -> float:
        return duration_seconds(self.every)


class DuckDBState(StrictModel):
    kind: Literal["duckdb"] = Field(default="duckdb", description="A DuckDB file (default).")
    path: Path = Field(
        default=Path(".syncd/state.duckdb"),
        description="DuckDB file holding member hashes and run records, relative to the "
        "config file's folder. It never holds a raw identifier.",
    )


class PostgresState(StrictModel):
    kind: Literal["postgres"] = Field(
        description="A PostgreSQL schema: for replicas that share state across pods."
    )
    dsn: SecretStr = Field(
        description="libpq URI or key=value string with write access, e.g. ${SYNCD_STATE_DSN}."
    )
    schema_name: str = Field(
        default="syncd",
        alias="schema",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Schema for syncd's tables (created if missing).",
    )


def _state_kind_defaults_to_duckdb(value: object) -> object:
    if isinstance(value, dict) and "kind" not in value:
        return {**value, "kind": "duckdb"}
    return value


State = Annotated[
    DuckDBState | PostgresState,
    BeforeValidator(_state_kind_defaults_to_duckdb),
    Field(discriminator="kind"),
]


class SyncdConfig(BaseSettings):
    """A whole syncd configuration. SYNCD_* environment variables override scalar keys
    (SYNCD_STATE__PATH=/data/state.duckdb), which is how a container adapts a shared file."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,
        hide_input_in_errors=True,
        env_prefix="SYNCD_",
        env_nested_delimiter="__",
    )

    warehouse: Warehouse = Field(description="Where segments are read from.")
    segments: dict[str, Segment] = Field(min_length=1, description="Named segment queries.")
    destinations: dict[str, Destination] = Field(
        min_length=1, description="Named ad accounts on a network."
    )
    audiences: list[Audience] = Field(
        min_length=1, description="Which segment is kept equal to which network audience."
    )
    state: State = Field(default_factory=DuckDBState, description="Where syncd keeps its state.")
    guardrails: Guardrails = Field(
        default_factory=Guardrails, description="Limits that stop a damaging sync."
    )
    schedule: Schedule = Field(
        default_factory=lambda: Schedule(every="1h"),
        description="When `syncd run` syncs each audience, unless the audience says otherwise.",
    )
    daemon: Daemon = Field(default_factory=Daemon, description="Settings of `syncd run`.")
    spend: SpendSettings = Field(
        default_factory=SpendSettings,
        description="Pulling spend per audience back from the networks (`syncd spend`).",
    )
    suppressions: Suppressions | None = Field(
        default=None,
        description="People no audience may hold, on any network (opt-outs, erasures).",
    )
    retention: Retention = Field(
        default_factory=Retention, description="How long the state keeps history."
    )
    receipts: Receipts | None = Field(
        default=None,
        description="A row per audience per pass in a table beside your data (`receipts: "
        "{table: syncd_receipts}`); none are written without it.",
    )
    alerts: Alerts = Field(
        default_factory=Alerts,
        description="Webhooks told when an audience's sync breaks, and the rules' thresholds.",
    )
    outcomes: DefaultOutcomes | None = Field(
        default=None,
        description="The conversions audiences with a holdout are measured by (`syncd "
        "report`'s P&L), for every segment without `outcomes` of its own.",
    )

    def read_timeout(self, segment: str) -> int:
        """How long reading `segment` may take: its own timeout, else the warehouse's."""
        return self.segments[segment].timeout_seconds or self.warehouse.statement_timeout_seconds

    @model_validator(mode="after")
    def _pushdown_next_to_state(self) -> Self:
        """Pushdown diffs the segment against the audience's held members in one query, so
        the state's `members` table must be in the warehouse's own database. The same DSN is
        the rule: it is the one syncd can check without connecting."""
        warehouse = self.warehouse
        if not isinstance(warehouse, PostgresWarehouse) or not warehouse.pushdown:
            return self
        fix = (
            "keep the state in the warehouse's database: state: {kind: postgres, dsn: <the "
            "warehouse's dsn>, schema: syncd}; or set warehouse.pushdown: false"
        )
        if not isinstance(self.state, PostgresState):
            raise ConfigRuleError(
                "warehouse.pushdown",
                "needs the state in the warehouse's PostgreSQL database (state.kind is "
                f"{self.state.kind}): the diff joins the segment with the state's members "
                "table, so both must be reachable by one query",
                fix,
            )
        if self.state.dsn.get_secret_value().strip() != warehouse.dsn.get_secret_value().strip():
            raise ConfigRuleError(
                "warehouse.pushdown",
                "needs state.dsn to be the warehouse's dsn (they differ): the diff joins the "
                "segment with the state's members table, so both must be reachable by one "
                "query, in one database",
                fix,
            )
        return self

    @model_validator(mode="after")
    def _networks_rules(self) -> Self:
        """Each network's own rules on its audiences (`DestinationSettings.check_audience`),
        e.g. Google's one key type per Customer Match list. Audiences naming a segment or
        destination that is not there are the loader's to report."""
        for index, audience in enumerate(self.audiences):
            destination = self.destinations.get(audience.destination)
            segment = self.segments.get(audience.segment)
            if destination is not None and segment is not None:
                destination.check_audience(segment, audience, f"audiences[{index}]")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings
