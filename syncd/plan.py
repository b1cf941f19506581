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
from syncd.destinations import Capabilities
from syncd.destinations.registry import capabilities_of
from syncd.fingerprints import DIGEST, Fingerprints
from syncd.fingerprints import FIELD as FINGERPRINT
from syncd.guardrails import Check, Verdict, check_plan
from syncd.identity import IdentifierKind, versions
from syncd.identity.vector import trues
from syncd.members import (
    IDENTIFIER_COLUMNS,
    MEMBER_SCHEMA,
    NO_USABLE_IDENTIFIER,
    QUARANTINE_SCHEMA,
    SENT_SCHEMA,
    MemberBatch,
    build_members,
    member_key_sql,
)
from syncd.sources import Source, SourceError
from syncd.state import AudienceRef, Changes, Spill, SpillTable, StateStore
from syncd.state.diff import fingerprint_delta, state_members
from syncd.state.spill import RawRows

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
        """Every member, in tables of `size` (SENT_SCHEMA), streamed from the spill."""
        select = f"SELECT {', '.join(IDENTIFIER_COLUMNS)} FROM {self.members.name}"
        for chunk in self.members.spill.batches(select, (), size):
            yield chunk.cast(SENT_SCHEMA)


@dataclass(frozen=True)
class FingerprintedSegment:
    """A segment read for the one audience of its network whose held members carry row
    fingerprints (`syncd.fingerprints`): `unmatched` holds the members of the rows no held
    fingerprint matched (distinct keys), `delta` what fingerprints left open
    (`syncd.state.diff.fingerprint_delta`). Its plan counts its members."""

    rows: int
    unmatched: SpillTable
    delta: SpillTable
    quarantine: SpillTable
    invalid: dict[str, int]
    unusable: int
    held: HeldBy


@dataclass(frozen=True)
class CountedSegment:
    """A segment diffed without a table of its members: inside the warehouse
    (`syncd.pushdown.plan`), or by fingerprints (`FingerprintedSegment`). Only its counts
    are here, for the guardrails and the run record, so a plan on it sends changes only,
    never a full replace."""

    rows: int
    member_count: int
    #: Empty when pushed down: rows are not numbered in SQL, so refusals are counted
    #: (`invalid`), not listed.
    quarantine: pa.Table | SpillTable
    invalid: dict[str, int]
    unusable: int

    def invalid_counts(self) -> dict[str, int]:
        return dict(self.invalid)


@dataclass(frozen=True)
class AudiencePlan:
    audience: Audience
    ref: AudienceRef
    capabilities: Capabilities
    segment: SpilledSegment | CountedSegment
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
    spilled = spill_segments(source, name, segment, [(capabilities, consent_defaults, None)], spill)
    assert isinstance(spilled[0], SpilledSegment)  # no audience, no fingerprints
    return spilled[0]


@dataclass(frozen=True)
class HeldBy:
    """The one audience a network's members of a segment are read for: its held members'
    fingerprints may stand in for identity (`syncd.fingerprints`)."""

    audience: AudienceRef
    refresh_before: dt.datetime | None


#: The most memory the rows kept for fingerprints may take (compressed; about 150 MB for
#: 10M rows of emails and countries): past it, a pass takes identity for every row.
RAW_ROWS_LIMIT = 384 * 1024 * 1024

#: Fingerprints stand in for identity when at least this share of the held members has one:
#: below it, most rows would take identity after all, and reading them twice costs more.
FINGERPRINTED_SHARE = 0.5


def spill_segments(
    source: Source,
    name: str,
    segment: Segment,
    networks: Sequence[tuple[Capabilities, Consent | None, HeldBy | None]],
    spill: Spill,
) -> list[SpilledSegment | FingerprintedSegment]:
    """`spill_segment` for several networks (capabilities, consent defaults, and the
    audience when it is the only one) from one scan of the segment. Each source batch goes
    through every network's identity and into its spill table on a thread of its own,
    while the next batch is read (the work runs in Arrow and DuckDB, outside the GIL); one
    batch is in the works at a time, so memory stays at two source batches whatever the
    segment's size. A network whose audience holds fingerprinted members takes only the
    rows' digests at first (`_Digests`); the rows are kept, compressed in memory
    (`RawRows`), for the few that identity must see after all (`_Builder.finish`)."""
    digests = _Digests(spill)
    builders: list[_Builder] = []
    raw: RawRows | None = None
    rows = 0
    try:
        for capabilities, consent, held in networks:
            builders.append(_Builder(segment, capabilities, consent, spill, digests, held))
        kept = sorted({column for columns in digests.columns() for column in columns})
        with ThreadPoolExecutor(max_workers=len(builders)) as pool:
            working: list[Future[None]] = []
            for batch in _checked_batches(source, name, segment):
                if kept:  # while the previous batch is in the works
                    columns = batch.select(kept)
                    raw = raw or RawRows(columns.schema, RAW_ROWS_LIMIT)
                    raw.write(columns)
                for done in working:
                    done.result()
                working = []
                if raw is not None and raw.full:  # identity for every row, from now on too
                    for builder in builders:
                        if builder.matching:
                            builder.unmatch(raw)  # this batch included
                        else:
                            builder.build_and_append(batch, rows)
                    digests.drop()
                    raw, kept = None, []
                    rows += len(batch)
                    continue
                working = [
                    pool.submit(b.build_and_append, batch, rows) for b in builders if not b.matching
                ]
                working += [pool.submit(digests.append, batch)] if kept else []
                rows += len(batch)
            for done in working:
                done.result()
        return [builder.finish(rows, raw) for builder in builders]
    except BaseException:
        for builder in builders:
            builder.drop()
        raise
    finally:
        digests.drop()


class _Digests:
    """The digests of a segment's rows (`Fingerprints.digest_sql`), one spill table per set
    of columns read: networks that fingerprint the same columns share a table, so a row's
    MD5 is computed once however many networks salt it, each its own way."""

    def __init__(self, spill: Spill) -> None:
        self.spill = spill
        self._tables: dict[tuple[str, ...], tuple[Fingerprints, str]] = {}

    def table(self, fingerprints: Fingerprints) -> str:
        """The table of the digests of `fingerprints`' columns, one per row, in order."""
        if fingerprints.columns not in self._tables:
            table = self.spill.create("digests", pa.schema([DIGEST]))
            self._tables[fingerprints.columns] = (fingerprints, table)
        return self._tables[fingerprints.columns][1]

    def columns(self) -> list[tuple[str, ...]]:
        return list(self._tables)

    def append(self, batch: pa.RecordBatch) -> None:
        """A source batch's digests, in two chunks so that DuckDB hashes them on two
        cores (and keeps their order). A batch may be empty: some sources send one to
        give the schema of an empty result."""
        if not len(batch):
            return
        for fingerprints, table in self._tables.values():
            raw = fingerprints.raw(batch)
            if raw is None:  # not text: no fingerprints, identity decides every row
                raw, digest = pa.table({"none": pa.nulls(len(batch), pa.int8())}), "NULL"
            else:
                digest = fingerprints.digest_sql()
            halves = pa.Table.from_batches(raw.to_batches(max_chunksize=-(-len(raw) // 2)))
            self.spill.append(table, halves, {"digest": digest})

    def drop(self) -> None:
        self.spill.drop(*(table for _, table in self._tables.values()))
        self._tables.clear()


class _Builder:
    """One network's members of a segment, appended to spill tables batch by batch."""

    def __init__(
        self,
        segment: Segment,
        capabilities: Capabilities,
        consent_defaults: Consent | None,
        spill: Spill,
        digests: _Digests,
        held: HeldBy | None = None,
    ) -> None:
        shape = segment.shape()
        carried = {k: c for k, c in shape.identifiers.items() if k in capabilities.identifier_kinds}
        self.shape = dataclasses.replace(shape, identifiers=carried)
        self.consent = segment.consent
        self.consent_defaults = consent_defaults if capabilities.needs_consent else None
        self.dialect = capabilities.dialect
        self.spill = spill
        # Only the identifiers this network carries are stored: the spill is a DuckDB
        # table, and appending the other, all-NULL columns made the append 4-5x slower.
        self.identifiers = [name for name in IDENTIFIER_COLUMNS if IdentifierKind(name) in carried]
        self.columns = ["member_key", *self.identifiers, "fingerprint"]
        self.key = member_key_sql(self.identifiers)
        # Fingerprints live beside members in the state, so only a state in the spill's
        # database keeps them.
        self.fingerprints = (
            Fingerprints.of(segment, self.dialect, list(carried), self.consent_defaults)
            if spill.local
            else None
        )
        self.members = spill.create(
            "segment",
            pa.schema([*(MEMBER_SCHEMA.field(name) for name in self.columns[:-1]), FINGERPRINT]),
        )
        self.quarantine = spill.create("quarantine", QUARANTINE_SCHEMA)
        self.matching = (
            _Matching(held, self.fingerprints, digests.table(self.fingerprints))
            if held and self.fingerprints and _fingerprinted(spill, held.audience)
            else None
        )

    def build(self, batch: pa.RecordBatch, first_row: int) -> MemberBatch:
        consented = (
            consent_mask(batch, self.consent, self.consent_defaults)
            if self.consent_defaults is not None
            else None
        )
        return build_members(batch, self.shape, self.dialect, first_row, consented)

    def build_and_append(
        self, batch: pa.RecordBatch, first_row: int, numbers: pa.Array | None = None
    ) -> None:
        """Identity on a batch of rows numbered from `first_row` (or numbered `numbers`),
        and its members stored with their rows' fingerprints."""
        built = self.build(batch, first_row)
        members = built.members.select(self.identifiers)
        written = {"member_key": self.key, **{name: name for name in self.identifiers}}
        raw = self.fingerprints.raw(batch) if self.fingerprints else None
        if raw is not None and self.fingerprints is not None:
            clean = _unquarantined(built.quarantine, first_row, len(batch))
            raw = raw.append_column("clean", clean).filter(built.kept)
            for column in raw.column_names:
                members = members.append_column(column, raw.column(column))
            written["fingerprint"] = f"CASE WHEN clean THEN {self.fingerprints.sql()} END"
        self.spill.append(self.members, members, written)
        quarantine = built.quarantine
        if numbers is not None:
            quarantine = quarantine.set_column(
                0, "row_number", pc.take(numbers, quarantine.column("row_number"))
            )
        self.spill.append(self.quarantine, quarantine)

    def unmatch(self, raw: RawRows) -> None:
        """Give up fingerprints (the rows kept for them outgrew their memory): identity for
        every row kept, and for every row to come."""
        self.matching = None
        for batch, first_row in raw.batches():
            self.build_and_append(batch, first_row)

    def drop(self) -> None:
        self.spill.drop(self.members, self.quarantine)

    def finish(self, rows: int, raw: RawRows | None) -> SpilledSegment | FingerprintedSegment:
        """The segment's members; with fingerprints, those of the rows they did not match,
        which take identity now (read back from `raw`)."""
        delta = None
        if self.matching is not None and raw is not None:
            held = self.matching.held
            delta = fingerprint_delta(
                self.spill,
                (held.audience.destination, held.audience.audience_id),
                self.matching.digests,
                self.matching.fingerprints.salted("digest"),
                held.refresh_before,
            )
            unmatched = self.spill.reader(
                f"SELECT row FROM {delta.name} WHERE member_key IS NULL ORDER BY row"
            )
            for batch, numbers in raw.take(chunk.column(0) for chunk in unmatched):
                self.build_and_append(batch, 0, numbers)
        counts = self.spill.execute(
            f"SELECT kind || ':' || reason, count(*), reason = ? FROM {self.quarantine} "
            "GROUP BY ALL",
            [NO_USABLE_IDENTIFIER],
        )
        distinct = _distinct(self.spill, self.members, self.columns)
        quarantine = SpillTable(self.spill, self.quarantine, sum(count for _, count, _ in counts))
        invalid = dict(sorted((key, count) for key, count, _ in counts))
        unusable = sum(count for _, count, unusable in counts if unusable)
        members = self.spill.view(distinct, _as_member_schema(self.columns))
        if self.matching is not None and delta is not None:
            return FingerprintedSegment(
                rows, members, delta, quarantine, invalid, unusable, self.matching.held
            )
        return SpilledSegment(rows, members, quarantine, invalid, unusable)


@dataclass(frozen=True)
class _Matching:
    """A network's rows of a segment matched by fingerprint with its audience's members."""

    held: HeldBy
    fingerprints: Fingerprints
    #: The spill table of the rows' digests, one per row, in order (`_Digests`).
    digests: str


def _fingerprinted(spill: Spill, audience: AudienceRef) -> bool:
    """Whether enough of what the audience holds carries fingerprints (FINGERPRINTED_SHARE)."""
    ((fingerprinted, held),) = spill.execute(
        f"SELECT count(fingerprint), count(*) FROM {state_members(spill)} "
        "WHERE destination = ? AND audience_id = ?",
        [audience.destination, audience.audience_id],
    )
    return held > 0 and fingerprinted >= held * FINGERPRINTED_SHARE


def _unquarantined(quarantine: pa.Table, first_row: int, rows: int) -> pa.Array:
    """Per row of a batch, whether none of its values was quarantined: only those rows are
    fingerprinted, so every pass counts the others' refusals again."""
    if not len(quarantine):
        return trues(rows)
    refused = pc.subtract(quarantine.column("row_number").combine_chunks(), first_row)
    # 0 .. rows - 1 built in C: from a Python range it cost 4.7 ms a batch of 61,440 rows.
    positions = pc.indices_nonzero(trues(rows))
    return pc.invert(pc.is_in(positions, value_set=refused.cast(pa.uint64())))


def _as_member_schema(columns: Sequence[str]) -> str:
    """SQL selecting MEMBER_SCHEMA's columns (and the fingerprint) from a table that has
    only `columns`."""
    selected = (
        name if name in columns else f"NULL::VARCHAR AS {name}" for name in MEMBER_SCHEMA.names
    )
    return ", ".join([*selected, "fingerprint"])


def _distinct(spill: Spill, members: str, columns: Sequence[str]) -> SpillTable:
    """`members` (a table with `columns`, only appended to), left with distinct keys. Rows
    with one key are one member (the key hashes every value sent; their rows' fingerprints
    may differ, and any one will do), so every row of a key but its first goes; but keys
    whose 64-bit hash occurs once are certainly distinct, so only the rows whose hash
    repeats (a person listed twice, or a rare hash collision) are looked at: one cheap pass
    over the segment, not a sort of it.

    Batches are cut by rowid (`Changes.batches`), so the rowids must stay dense: the rows
    kept past the new end move into the places of the rows dropped before it, and then the
    end is cut off. Only a tail is ever deleted, so no kept row's rowid can change, however
    DuckDB treats deleted rows later. With 10M members and 10,000 repeats this takes 2.0-2.2
    CPU-seconds (finding the repeated hashes is most of it), against 4.7-4.8 for rewriting
    the table without the repeats."""
    repeated = spill.create_as(
        "repeated", f"SELECT hash(member_key) AS h FROM {members} GROUP BY 1 HAVING count(*) > 1"
    )
    rows = spill.count(members)
    if not repeated.rows:
        spill.drop(repeated.name)
        return SpillTable(spill, members, rows)
    dropped = spill.create_as(
        "dropped",
        f"SELECT rowid AS r FROM {members} WHERE hash(member_key) IN "
        f"(SELECT h FROM {repeated.name}) "
        "QUALIFY row_number() OVER (PARTITION BY member_key ORDER BY rowid) > 1",
    )
    end = rows - dropped.rows
    holes = f"SELECT r, row_number() OVER (ORDER BY r) AS n FROM {dropped.name} WHERE r < {end}"
    movers = (
        f"SELECT {', '.join(columns)}, row_number() OVER (ORDER BY rowid) AS n FROM {members} "
        f"WHERE rowid >= {end} AND rowid NOT IN (SELECT r FROM {dropped.name})"
    )
    spill.execute(
        f"UPDATE {members} AS t SET {', '.join(f'{name} = m.{name}' for name in columns)} "
        f"FROM ({holes}) h JOIN ({movers}) m USING (n) WHERE t.rowid = h.r"
    )
    spill.execute(f"DELETE FROM {members} WHERE rowid >= {end}")
    spill.drop(repeated.name, dropped.name)
    return SpillTable(spill, members, end)


_GRANTED = frozenset({"granted", "true", "yes", "y", "1", "t"})


def consent_mask(
    batch: pa.RecordBatch, columns: SegmentConsent | None, defaults: Consent
) -> pa.Array:
    """A flag per row: both consents granted, from the segment's columns or the defaults.
    A value that says neither yes nor no counts as no: consent is never assumed. Decided
    once per distinct value, not per row."""
    granted = trues(len(batch))
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
    segment: SpilledSegment | FingerprintedSegment,
    state: StateStore,
    *,
    allow_mass_removal: bool = False,
) -> AudiencePlan:
    """The plan of one audience; its changes live in the segment's spill until `drop`."""
    ref = audience_ref(config, audience)
    held = state.member_count(ref)
    before = rules_before(state, ref)
    if isinstance(segment, FingerprintedSegment):
        changes, members = state.fingerprint_changes(
            ref, segment.delta, segment.unmatched, segment.held.refresh_before
        )
        counted = CountedSegment(
            segment.rows, members, segment.quarantine, segment.invalid, segment.unusable
        )
        return build_plan(
            config,
            audience,
            counted,
            held,
            changes,
            allow_mass_removal=allow_mass_removal,
            rules_before=before,
        )
    changes = state.changes(ref, segment.members, refresh_before(config, audience))
    return build_plan(
        config,
        audience,
        segment,
        held,
        changes,
        allow_mass_removal=allow_mass_removal,
        rules_before=before,
    )


def rules_before(state: StateStore, ref: AudienceRef) -> int | None:
    """The identity rules version of the audience's last complete pass, from its run record
    (`syncd.identity.versions`); None before its first."""
    found = state.backend.execute(
        "SELECT summary FROM runs WHERE destination = ? AND audience_id = ? AND status = 'ok' "
        "ORDER BY started_at DESC LIMIT 1",
        [ref.destination, ref.audience_id],
    )
    return versions.version_of_summary(found[0][0]) if found else None


def refresh_before(config: SyncdConfig, audience: Audience) -> dt.datetime | None:
    """Members last sent before this are sent again (the destination's refresh_after_days)."""
    refresh_days = config.destinations[audience.destination].refresh_days()
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=refresh_days) if refresh_days else None


def build_plan(
    config: SyncdConfig,
    audience: Audience,
    segment: SpilledSegment | CountedSegment,
    held: int,
    changes: Changes,
    *,
    allow_mass_removal: bool = False,
    rules_before: int | None = None,
) -> AudiencePlan:
    """The plan of one audience from its segment and its changes, however they were made
    (here, or in the warehouse by `syncd.pushdown.plan`), with the guardrails' verdicts and
    the identity rules' (`rules_before`: the version of the audience's last complete pass)."""
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
    checks.append(_identity_rules(capabilities, held, rules_before))
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


def _identity_rules(capabilities: Capabilities, held: int, before: int | None) -> Check:
    """The rules version this plan runs; a warning, saying what changed, when the audience
    holds members made by other rules: those whose identifiers change are re-keyed once."""
    now = f"rules v{versions.RULES_VERSION}"
    if not held or before is None or before == versions.RULES_VERSION:
        return Check(versions.CHECK_NAME, Verdict.OK, now)
    changes = "; ".join(versions.changes_since(capabilities.network, before)) or "other rules"
    return Check(
        versions.CHECK_NAME,
        Verdict.WARN,
        f"{now}; identity rules changed since the last pass (v{before}): {changes}; members "
        "whose identifiers change are removed under their old key and added under the new one",
    )
