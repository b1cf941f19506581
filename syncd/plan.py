"""From a segment and what the audience holds to a plan: what to add, what to remove, and
how many requests that takes. Building a plan sends nothing, so `syncd plan` is safe.

Nothing here holds a whole segment in memory: `read_segment` streams the query through
identity a batch at a time into the pass's spill, and the plan's changes stay there until
the push streams them out (see `syncd.state.spill`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.config.models import Audience, Consent, Segment, SegmentConsent, SyncdConfig
from syncd.destinations import Capabilities, capabilities_of
from syncd.guardrails import Check, Verdict, check_plan
from syncd.identity import IdentifierKind
from syncd.members import (
    IDENTIFIER_COLUMNS,
    MEMBER_SCHEMA,
    NO_USABLE_IDENTIFIER,
    QUARANTINE_SCHEMA,
    MemberBatch,
    build_members,
    member_key_sql,
)
from syncd.sources import Source, SourceError
from syncd.state import AudienceRef, Changes, Spill, SpillTable, StateStore

_MEMBER_COLUMNS = ", ".join(MEMBER_SCHEMA.names)


@dataclass(frozen=True)
class SegmentMembers:
    """A segment read and turned into one network's members (distinct by member_key), in
    memory: for small segments and tests. A pass uses `SpilledSegment`."""

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
class SpilledSegment:
    """A segment read and turned into one network's members, in the pass's spill:
    `members` with distinct member keys, `quarantine` the values and rows refused."""

    rows: int
    members: SpillTable
    quarantine: SpillTable
    #: Quarantined values by "kind:reason", e.g. {"phone:invalid_phone": 3}.
    invalid: dict[str, int]
    #: Rows with no usable identifier at all.
    unusable: int

    def invalid_counts(self) -> dict[str, int]:
        return dict(self.invalid)

    @property
    def member_count(self) -> int:
        return self.members.rows

    def batches(self, size: int) -> Iterator[pa.Table]:
        """Every member, in tables of `size` (MEMBER_SCHEMA), streamed from the spill."""
        select = f"SELECT {_MEMBER_COLUMNS} FROM {self.members.name}"
        for chunk in self.members.spill.batches(select, (), size):
            yield chunk.cast(MEMBER_SCHEMA)


@dataclass(frozen=True)
class PushedDownSegment:
    """A segment normalized, hashed and diffed inside the warehouse (`syncd.pushdown.plan`):
    only its counts left it, for the guardrails and the run record. Its members did not, so
    a plan on it sends changes only, never a full replace."""

    rows: int
    member_count: int
    #: Empty: rows are not numbered in SQL, so refusals are counted (`invalid`), not listed.
    quarantine: pa.Table
    invalid: dict[str, int]
    unusable: int

    def invalid_counts(self) -> dict[str, int]:
        return dict(self.invalid)


@dataclass(frozen=True)
class AudiencePlan:
    audience: Audience
    ref: AudienceRef
    capabilities: Capabilities
    segment: SpilledSegment | PushedDownSegment
    held: int
    changes: Changes
    batch_size: int
    checks: list[Check]

    @property
    def requests(self) -> dict[str, int]:
        """The fewest requests that carry the plan: ceil(changes / batch size) per operation."""
        return {
            "add": math.ceil(self.changes.adds.rows / self.batch_size),
            "remove": math.ceil(self.changes.removes.rows / self.batch_size),
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
    """`spill_segment`, with the members and quarantine read back into memory: for small
    segments and tests (a pass keeps them in its spill)."""
    with Spill.standalone() as spill:
        spilled = spill_segment(source, name, segment, capabilities, consent_defaults, spill)
        members = spill.arrow(f"SELECT {_MEMBER_COLUMNS} FROM {spilled.members.name}")
        quarantine = spill.arrow(
            f"SELECT {', '.join(QUARANTINE_SCHEMA.names)} FROM {spilled.quarantine.name} "
            "ORDER BY rowid"
        )
    return SegmentMembers(
        spilled.rows, members.cast(MEMBER_SCHEMA), quarantine.cast(QUARANTINE_SCHEMA)
    )


def spill_segment(
    source: Source,
    name: str,
    segment: Segment,
    capabilities: Capabilities,
    consent_defaults: Consent | None,
    spill: Spill,
) -> SpilledSegment:
    """Stream the segment query through identity for one network into `spill`, a source
    batch at a time. `consent_defaults` (for networks that need consent) fill in rows whose
    consent columns are NULL."""
    return spill_segments(source, name, segment, [(capabilities, consent_defaults)], spill)[0]


def spill_segments(
    source: Source,
    name: str,
    segment: Segment,
    networks: Sequence[tuple[Capabilities, Consent | None]],
    spill: Spill,
) -> list[SpilledSegment]:
    """`spill_segment` for several networks (capabilities and consent defaults) from one
    scan of the segment. Each source batch goes through every network's identity and into
    its spill table on a thread of its own, while the next batch is read (the work runs in
    Arrow and DuckDB, outside the GIL); one batch is in the works at a time, so memory
    stays at two source batches whatever the segment's size."""
    builders = [
        _Builder(segment, capabilities, consent, spill) for capabilities, consent in networks
    ]
    rows = 0
    try:
        with ThreadPoolExecutor(max_workers=len(builders)) as pool:
            working: list[Future[None]] = []
            for batch in _checked_batches(source, name, segment):
                for done in working:
                    done.result()
                working = [pool.submit(b.build_and_append, batch, rows) for b in builders]
                rows += len(batch)
            for done in working:
                done.result()
    except BaseException:
        for builder in builders:
            builder.drop()
        raise
    return [builder.finish(rows) for builder in builders]


class _Builder:
    """One network's members of a segment, appended to spill tables batch by batch."""

    def __init__(
        self,
        segment: Segment,
        capabilities: Capabilities,
        consent_defaults: Consent | None,
        spill: Spill,
    ) -> None:
        shape = segment.shape()
        carried = {k: c for k, c in shape.identifiers.items() if k in capabilities.identifier_kinds}
        self.shape = dataclasses.replace(shape, identifiers=carried)
        self.consent = segment.consent
        self.consent_defaults = consent_defaults if capabilities.needs_consent else None
        self.network = capabilities.network
        self.spill = spill
        # Only the identifiers this network carries are stored: the spill is a DuckDB
        # table, and appending the other, all-NULL columns made the append 4-5x slower.
        self.identifiers = [name for name in IDENTIFIER_COLUMNS if IdentifierKind(name) in carried]
        self.columns = ["member_key", *self.identifiers]
        self.key = member_key_sql(self.identifiers)
        self.members = spill.create(
            "segment", pa.schema(MEMBER_SCHEMA.field(name) for name in self.columns)
        )
        self.quarantine = spill.create("quarantine", QUARANTINE_SCHEMA)

    def build(self, batch: pa.RecordBatch, first_row: int) -> MemberBatch:
        consented = (
            consent_mask(batch, self.consent, self.consent_defaults)
            if self.consent_defaults is not None
            else None
        )
        return build_members(batch, self.shape, self.network, first_row, consented)

    def build_and_append(self, batch: pa.RecordBatch, first_row: int) -> None:
        built = self.build(batch, first_row)
        identifiers = built.members.select(self.identifiers)
        self.spill.append(self.members, identifiers, {"member_key": self.key})
        self.spill.append(self.quarantine, built.quarantine)

    def drop(self) -> None:
        self.spill.drop(self.members, self.quarantine)

    def finish(self, rows: int) -> SpilledSegment:
        counts = self.spill.execute(
            f"SELECT kind || ':' || reason, count(*), reason = ? FROM {self.quarantine} "
            "GROUP BY ALL",
            [NO_USABLE_IDENTIFIER],
        )
        distinct = _distinct(self.spill, self.members, ", ".join(self.columns))
        return SpilledSegment(
            rows,
            self.spill.view(distinct, _as_member_schema(self.columns)),
            SpillTable(self.spill, self.quarantine, sum(count for _, count, _ in counts)),
            dict(sorted((key, count) for key, count, _ in counts)),
            sum(count for _, count, unusable in counts if unusable),
        )


def _as_member_schema(columns: Sequence[str]) -> str:
    """SQL selecting MEMBER_SCHEMA's columns from a table that has only `columns`."""
    return ", ".join(
        name if name in columns else f"NULL::VARCHAR AS {name}" for name in MEMBER_SCHEMA.names
    )


def _distinct(spill: Spill, members: str, columns: str) -> SpillTable:
    """The members with distinct keys. Rows with one key are one member (the key hashes
    every value sent), so this is a DISTINCT; but keys whose 64-bit hash occurs once are
    certainly distinct, so only the rows whose hash repeats (a person listed twice, or a
    rare hash collision) go through it: one cheap pass over the segment, not a sort of it.
    The table is rewritten, not deleted from: batches are cut by rowid (`Changes.batches`),
    so the rowids must stay dense."""
    repeated = spill.create_as(
        "repeated", f"SELECT hash(member_key) AS h FROM {members} GROUP BY 1 HAVING count(*) > 1"
    )
    if not repeated.rows:
        spill.drop(repeated.name)
        return SpillTable(spill, members, spill.count(members))
    distinct = spill.create_as(
        "members",
        f"SELECT {columns} FROM {members} "
        f"WHERE hash(member_key) NOT IN (SELECT h FROM {repeated.name}) UNION ALL "
        f"SELECT DISTINCT {columns} FROM {members} "
        f"WHERE hash(member_key) IN (SELECT h FROM {repeated.name})",
    )
    spill.drop(members, repeated.name)
    return distinct


_GRANTED = frozenset({"granted", "true", "yes", "y", "1", "t"})


def consent_mask(
    batch: pa.RecordBatch, columns: SegmentConsent | None, defaults: Consent
) -> pa.Array:
    """A flag per row: both consents granted, from the segment's columns or the defaults.
    A value that says neither yes nor no counts as no: consent is never assumed. Decided
    once per distinct value, not per row."""
    granted = pa.repeat(pa.scalar(True), len(batch))
    pairs = (
        (columns.ad_user_data if columns else None, defaults.ad_user_data),
        (columns.ad_personalization if columns else None, defaults.ad_personalization),
    )
    for column, default in pairs:
        if column is None:
            flags = pa.repeat(pa.scalar(_granted(None, default)), len(batch))
        else:
            encoded = pc.dictionary_encode(batch.column(column))
            decided = [_granted(value, default) for value in encoded.dictionary.to_pylist()]
            flags = pc.fill_null(
                pc.take(pa.array(decided, pa.bool_()), encoded.indices), _granted(None, default)
            )
        granted = pc.and_(granted, flags)
    return granted


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
    segment: SpilledSegment,
    state: StateStore,
    *,
    allow_mass_removal: bool = False,
) -> AudiencePlan:
    """The plan of one audience; its changes live in the segment's spill until `drop`."""
    ref = audience_ref(config, audience)
    held = state.member_count(ref)
    refresh = refresh_before(config, audience)
    changes = state.changes(ref, segment.members, refresh)
    return build_plan(
        config, audience, segment, held, changes, allow_mass_removal=allow_mass_removal
    )


def refresh_before(config: SyncdConfig, audience: Audience) -> dt.datetime | None:
    """Members last sent before this are sent again (the destination's refresh_after_days)."""
    refresh_days = getattr(config.destinations[audience.destination], "refresh_after_days", None)
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=refresh_days) if refresh_days else None


def build_plan(
    config: SyncdConfig,
    audience: Audience,
    segment: SpilledSegment | PushedDownSegment,
    held: int,
    changes: Changes,
    *,
    allow_mass_removal: bool = False,
) -> AudiencePlan:
    """The plan of one audience from its segment and its changes, however they were made
    (here, or in the warehouse by `syncd.pushdown.plan`), with the guardrails' verdicts."""
    destination = config.destinations[audience.destination]
    capabilities = capabilities_of(destination)
    checks = check_plan(
        rows=segment.rows,
        unusable_rows=segment.unusable,
        members=segment.member_count,
        held=held,
        removes=changes.removes.rows,
        min_serving_size=capabilities.min_serving_size,
        limits=config.guardrails,
        allow_mass_removal=allow_mass_removal,
    )
    limit = capabilities.max_members_per_request
    return AudiencePlan(
        audience=audience,
        ref=audience_ref(config, audience),
        capabilities=capabilities,
        segment=segment,
        held=held,
        changes=changes,
        batch_size=min(destination.batch_size or limit, limit),
        checks=checks,
    )
