"""From a segment and what the audience holds to a plan: what to add, what to remove, and
how many requests that takes. Building a plan sends nothing, so `syncd plan` is safe."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.config.models import Audience, Consent, Segment, SegmentConsent, SyncdConfig
from syncd.destinations import Capabilities, capabilities_of
from syncd.guardrails import Check, Verdict, check_plan
from syncd.members import MEMBER_SCHEMA, NO_USABLE_IDENTIFIER, QUARANTINE_SCHEMA, build_members
from syncd.sources import Source, SourceError
from syncd.state import AudienceRef, Diff, StateStore


@dataclass(frozen=True)
class SegmentMembers:
    """A segment read and turned into one network's members (distinct by member_key)."""

    rows: int
    members: pa.Table
    quarantine: pa.Table

    def invalid_counts(self) -> dict[str, int]:
        """Quarantined values by "kind:reason", e.g. {"phone:invalid_phone": 3}."""
        counts = Counter(
            f"{kind}:{reason}"
            for kind, reason in zip(
                self.quarantine["kind"].to_pylist(),
                self.quarantine["reason"].to_pylist(),
                strict=True,
            )
        )
        return dict(sorted(counts.items()))


@dataclass(frozen=True)
class AudiencePlan:
    audience: Audience
    ref: AudienceRef
    capabilities: Capabilities
    segment: SegmentMembers
    held: int
    diff: Diff
    batch_size: int
    checks: list[Check]

    @property
    def requests(self) -> dict[str, int]:
        """The fewest requests that carry the plan: ceil(changes / batch size) per operation."""
        return {
            "add": math.ceil(len(self.diff.adds) / self.batch_size),
            "remove": math.ceil(len(self.diff.removes) / self.batch_size),
        }

    @property
    def refusals(self) -> list[Check]:
        return [check for check in self.checks if check.verdict is Verdict.REFUSE]


def audience_ref(config: SyncdConfig, audience: Audience) -> AudienceRef:
    """State keys audiences by network account, so renaming a destination keeps its state."""
    destination = config.destinations[audience.destination]
    return AudienceRef(f"{destination.kind}:{destination.account}", audience.state_id)


def read_segment(
    source: Source,
    name: str,
    segment: Segment,
    capabilities: Capabilities,
    consent_defaults: Consent | None = None,
) -> SegmentMembers:
    """Stream the segment query through identity for one network. `consent_defaults` (for
    networks that need consent) fill in rows whose consent columns are NULL."""
    shape = segment.shape()
    carried = {k: c for k, c in shape.identifiers.items() if k in capabilities.identifier_kinds}
    shape = dataclasses.replace(shape, identifiers=carried)
    members: list[pa.Table] = []
    quarantine: list[pa.Table] = []
    rows = 0
    for batch in _checked_batches(source, name, segment):
        consented = (
            consent_mask(batch, segment.consent, consent_defaults)
            if capabilities.needs_consent and consent_defaults is not None
            else None
        )
        built = build_members(batch, shape, capabilities.network, rows, consented)
        members.append(built.members)
        quarantine.append(built.quarantine)
        rows += built.rows
    distinct = (
        pa.concat_tables(members, promote_options="none")
        .group_by(MEMBER_SCHEMA.names, use_threads=False)
        .aggregate([])
        .select(MEMBER_SCHEMA.names)
        .cast(MEMBER_SCHEMA)
        if members
        else MEMBER_SCHEMA.empty_table()
    )
    return SegmentMembers(
        rows,
        distinct,
        pa.concat_tables(quarantine) if quarantine else QUARANTINE_SCHEMA.empty_table(),
    )


_GRANTED = frozenset({"granted", "true", "yes", "y", "1", "t"})


def consent_mask(
    batch: pa.RecordBatch, columns: SegmentConsent | None, defaults: Consent
) -> pa.Array:
    """A flag per row: both consents granted, from the segment's columns or the defaults.
    A value that says neither yes nor no counts as no: consent is never assumed."""
    granted = [True] * len(batch)
    pairs = (
        (columns.ad_user_data if columns else None, defaults.ad_user_data),
        (columns.ad_personalization if columns else None, defaults.ad_personalization),
    )
    for column, default in pairs:
        values = batch.column(column).to_pylist() if column else [None] * len(batch)
        cache: dict[object, bool] = {}
        for index, value in enumerate(values):
            if value not in cache:
                cache[value] = _granted(value, default)
            granted[index] = granted[index] and cache[value]
    return pa.array(granted, pa.bool_())


def _granted(value: object, default: str) -> bool:
    if value is None:
        return default == "granted"
    return str(value).strip().lower() in _GRANTED


def _checked_batches(source: Source, name: str, segment: Segment) -> Iterator[pa.RecordBatch]:
    """The query's batches, after checking once that every mapped column is there."""
    try:
        for batch in source.read(segment.sql):
            wanted = {f"identifiers.{k.value}": c for k, c in segment.identifiers.items()}
            if segment.country_column:
                wanted["country_column"] = segment.country_column
            if segment.consent:
                wanted["consent.ad_user_data"] = segment.consent.ad_user_data
                wanted["consent.ad_personalization"] = segment.consent.ad_personalization
            missing = [f"{c!r} ({key})" for key, c in wanted.items() if c not in batch.schema.names]
            if missing:
                raise SourceError(
                    f"column {', '.join(missing)} not in the query result; it has: "
                    f"{', '.join(batch.schema.names)}; fix segments.{name}.sql or the mapping"
                )
            yield batch
    except SourceError as error:
        raise SourceError(f"segment {name}: {error}") from None


def plan_audience(
    config: SyncdConfig,
    audience: Audience,
    segment: SegmentMembers,
    state: StateStore,
    *,
    allow_mass_removal: bool = False,
) -> AudiencePlan:
    destination = config.destinations[audience.destination]
    capabilities = capabilities_of(destination)
    ref = audience_ref(config, audience)
    held = state.member_count(ref)
    refresh_days = getattr(destination, "refresh_after_days", None)
    refresh_before = (
        dt.datetime.now(dt.UTC) - dt.timedelta(days=refresh_days) if refresh_days else None
    )
    diff = state.diff(ref, segment.members, refresh_before)
    unusable = pc.sum(pc.equal(segment.quarantine["reason"], NO_USABLE_IDENTIFIER)).as_py()
    checks = check_plan(
        rows=segment.rows,
        unusable_rows=unusable or 0,
        members=len(segment.members),
        held=held,
        removes=len(diff.removes),
        min_serving_size=capabilities.min_serving_size,
        limits=config.guardrails,
        allow_mass_removal=allow_mass_removal,
    )
    limit = capabilities.max_members_per_request
    return AudiencePlan(
        audience=audience,
        ref=ref,
        capabilities=capabilities,
        segment=segment,
        held=held,
        diff=diff,
        batch_size=min(destination.batch_size or limit, limit),
        checks=checks,
    )
