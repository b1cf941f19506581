"""One network's members of a segment, built a source batch at a time into spill tables:
identity on the rows (`syncd.members.build_members`), or, for an audience whose held
members carry row fingerprints, the rows' digests first and identity only for the rows no
fingerprint matched (`syncd.fingerprints`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.fingerprints import DIGEST, Fingerprints
from syncd.fingerprints import FIELD as FINGERPRINT
from syncd.identity import IdentifierKind
from syncd.identity.vector import trues
from syncd.lift.person import PERSON_KINDS, person_keys
from syncd.members import (
    IDENTIFIER_COLUMNS,
    MEMBER_SCHEMA,
    NO_USABLE_IDENTIFIER,
    QUARANTINE_SCHEMA,
    MemberBatch,
    build_members,
    member_key_sql,
)
from syncd.read.consent import consent_mask
from syncd.read.distinct import distinct
from syncd.read.exclusions import Excluded
from syncd.read.segments import FingerprintedSegment, Groups, LeftOut, SpilledSegment
from syncd.state import AudienceRef, Spill, SpillTable
from syncd.state.diff import fingerprint_delta, state_members
from syncd.state.spill import RawRows
from syncd.targets import Target

#: Who of a segment's rows an experiment holds out, as the builder keeps them to count.
PEOPLE_SCHEMA = pa.schema(
    [pa.field("person_key", pa.string(), nullable=False), pa.field("held_out", pa.bool_())]
)

#: Fingerprints stand in for identity when at least this share of the held members has one:
#: below it, most rows would take identity after all, and reading them twice costs more.
FINGERPRINTED_SHARE = 0.5


class Digests:
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


class MemberBuilder:
    """One network's members of a segment, appended to spill tables batch by batch, for
    `target`'s network and consent; with `by_fingerprint`, the target's held members'
    fingerprints may stand in for identity (its audience is the only one reading them). No
    member sharing a person's identifier with `exclusions` (the pass's suppressed and erased
    people of the network) is kept."""

    def __init__(
        self,
        target: Target,
        spill: Spill,
        digests: Digests,
        by_fingerprint: bool = False,
        exclusions: Excluded | None = None,
    ) -> None:
        segment, capabilities = target.segment, target.capabilities
        self.shape = segment.shape().carried(capabilities.identifier_kinds)
        carried = self.shape.identifiers
        self.target = target
        self.dialect = capabilities.dialect
        self.spill = spill
        # Only the identifiers this network carries are stored: the spill is a DuckDB
        # table, and appending the other, all-NULL columns made the append 4-5x slower.
        self.identifiers = [name for name in IDENTIFIER_COLUMNS if IdentifierKind(name) in carried]
        self.columns = ["member_key", *self.identifiers, "fingerprint"]
        self.key = member_key_sql(self.identifiers)
        # Fingerprints live beside members in the state, so only a state in the spill's
        # database keeps them.
        # Nor does an audience in a holdout, or with people suppressed or erased, take them:
        # who is held out or excluded depends on more than a row's own columns, so every row
        # takes identity each pass.
        self.exclusions = exclusions
        excluding = target.experiment is not None or exclusions is not None
        self.fingerprints = (
            Fingerprints.of(segment, self.dialect, list(carried), target.consent)
            if spill.local and not excluding
            else None
        )
        self.people = (
            spill.create("people", PEOPLE_SCHEMA) if target.experiment is not None else None
        )
        #: The identifiers that tell a person (email, phone, ids; not names, countries or
        #: zips, which many share) of the held-out rows, and of the suppressed and erased
        #: people: no member sharing one is sent.
        self.personal = [name for name in self.identifiers if IdentifierKind(name) in PERSON_KINDS]
        self.excluded = (
            spill.create("excluded", pa.schema([MEMBER_SCHEMA.field(n) for n in self.personal]))
            if target.experiment is not None
            else None
        )
        self.members = spill.create(
            "segment",
            pa.schema([*(MEMBER_SCHEMA.field(name) for name in self.columns[:-1]), FINGERPRINT]),
        )
        self.quarantine = spill.create("quarantine", QUARANTINE_SCHEMA)
        self.matching = (
            Matching(self.fingerprints, digests.table(self.fingerprints))
            if by_fingerprint and self.fingerprints and _fingerprinted(spill, target.ref)
            else None
        )

    def build(self, batch: pa.RecordBatch, first_row: int) -> MemberBatch:
        consent = self.target.consent
        consented = (
            consent_mask(batch, self.target.segment.consent, consent)
            if consent is not None
            else None
        )
        built = build_members(batch, self.shape, self.dialect, first_row, consented)
        if self.people is None:
            return built
        treated = self._treated(batch)
        sent = treated.filter(built.kept)  # per member: its row's group
        self._exclude(built.members.filter(pc.invert(sent)))
        members = built.members.filter(sent)
        return dataclasses.replace(built, members=members, kept=pc.and_(built.kept, treated))

    def _exclude(self, members: pa.Table) -> None:
        assert self.excluded is not None
        self.spill.append(self.excluded, members.select(self.personal))

    def _treated(self, batch: pa.RecordBatch) -> pa.Array:
        """Per row, whether the experiment sends it; the rows' people and groups are kept
        (`self.people`) to count them."""
        assert self.people is not None and self.target.experiment is not None
        keys = person_keys(batch, self.target.segment.shape())
        held = self.target.experiment.held_out(keys)
        people = pa.table({"person_key": keys, "held_out": held}).filter(pc.is_valid(keys))
        self.spill.append(self.people, people)
        return pc.invert(held)

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
        extra = [table for table in (self.people, self.excluded) if table]
        self.spill.drop(self.members, self.quarantine, *extra)

    def finish(self, rows: int, raw: RawRows | None) -> SpilledSegment | FingerprintedSegment:
        """The segment's members; with fingerprints, those of the rows they did not match,
        which take identity now (read back from `raw`)."""
        delta = None
        if self.matching is not None and raw is not None:
            ref = self.target.ref
            delta = fingerprint_delta(
                self.spill,
                (ref.destination, ref.audience_id),
                self.matching.digests,
                self.matching.fingerprints.salted("digest"),
                self.target.refresh_before,
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
        left_out = LeftOut()
        if self.excluded is not None or self.exclusions is not None:
            left_out = self._drop_excluded_members()
        kept = distinct(self.spill, self.members, self.columns)
        quarantine = SpillTable(self.spill, self.quarantine, sum(count for _, count, _ in counts))
        invalid = dict(sorted((key, count) for key, count, _ in counts))
        unusable = sum(count for _, count, unusable in counts if unusable)
        members = self.spill.view(kept, _as_member_schema(self.columns))
        if delta is not None:
            return FingerprintedSegment(rows, members, delta, quarantine, invalid, unusable)
        groups = self._groups()
        return SpilledSegment(rows, members, quarantine, invalid, unusable, groups, left_out)

    def _drop_excluded_members(self) -> LeftOut:
        """No member sharing an email, phone or id with an excluded one is sent: held-out
        ones, and suppressed and erased people (`_left_out`). A person's group follows their
        row's first identifier, so one person on two rows (an email and a phone on one, the
        phone alone on another) may fall in both groups; this keeps nobody held out from
        being reached. The table is written anew, in order, for `distinct`'s dense rowids.
        Such a person still counts in the group their key gave (`_groups`). Returns how many
        distinct members suppressions and erasures left out, and their keys."""
        held_out = _sharing(self.excluded, self.personal) if self.excluded else "false"
        left_out, left = LeftOut(), None
        if self.exclusions is not None:
            left = self._left_out(self.exclusions)
            ((either, by_erasure),) = self.spill.execute(
                f"SELECT count(*), count(*) FILTER (WHERE erased) FROM {left}"
            )
            keys = SpillTable(self.spill, left, either)
            left_out = LeftOut(suppressed=either - by_erasure, erased=by_erasure, keys=keys)
        not_left = f"member_key NOT IN (SELECT member_key FROM {left})" if left else "true"
        kept = self.spill.create_as(
            "segment",
            f"SELECT * FROM {self.members} WHERE NOT ({held_out}) AND {not_left} ORDER BY rowid",
        )
        self.spill.drop(self.members, *([self.excluded] if self.excluded else []))
        self.members, self.excluded = kept.name, None
        return left_out

    def _left_out(self, exclusions: Excluded) -> str:
        """A spill table of the distinct keys of the members suppressions and erasures leave
        out, each with whether an erasure did (member_key, erased): the members matching
        them, and then, in one linking round, every member sharing an email, phone or id
        with one of those, so a person's phone-only row leaves with the row that had their
        suppressed email and that phone. The link is the one the holdout follows
        (`_sharing`).

        One round only: a chain of shared values beyond one hop (the phone of a row linked
        by its email, then the email of another row with that phone) is not followed. Each
        hop trusts a shared value to mean the same person; a household phone or a shared
        work address already makes one hop leave a second person out, and a chain would
        spread that to whole households and their contacts, at the cost of a round per hop
        over every member. One hop covers one person's rows carrying different subsets of
        their identifiers, as long as one row ties them together."""
        suppressed, erased = exclusions.predicates(self.personal)
        matched = self.spill.create_as(
            "matched",
            f"SELECT * FROM (SELECT {', '.join(['member_key', *self.personal])}, "
            f"{suppressed} AS suppressed, "
            f"{erased} AS erased FROM {self.members}) WHERE suppressed OR erased",
        )
        by_suppression = _sharing(matched.name, self.personal, "suppressed")
        by_erasure = _sharing(matched.name, self.personal, "erased")
        left = self.spill.create_as(
            "left_out",
            f"SELECT member_key, bool_or(erased) AS erased FROM (SELECT member_key, "
            f"{by_suppression} AS suppressed, {by_erasure} AS erased FROM {self.members}) "
            "WHERE suppressed OR erased GROUP BY member_key",
        )
        self.spill.drop(matched.name)
        return left.name

    def _groups(self) -> Groups | None:
        """The experiment's people by person key and group."""
        if self.people is None:
            return None
        people = self.spill.create_as(
            "groups",
            f"SELECT person_key, bool_or(held_out) AS held_out FROM {self.people} GROUP BY 1",
        )
        ((held,),) = self.spill.execute(f"SELECT count(*) FROM {people.name} WHERE held_out")
        return Groups(treated=people.rows - held, held_out=held, people=people)


@dataclass(frozen=True)
class Matching:
    """A network's rows of a segment matched by fingerprint with its audience's members."""

    fingerprints: Fingerprints
    #: The spill table of the rows' digests, one per row, in order (`Digests`).
    digests: str


def _fingerprinted(spill: Spill, audience: AudienceRef) -> bool:
    """Whether enough of what the audience holds carries fingerprints (FINGERPRINTED_SHARE)."""
    ((fingerprinted, held),) = spill.execute(
        f"SELECT count(fingerprint), count(*) FROM {state_members(spill)} "
        "WHERE destination = ? AND audience_id = ?",
        [audience.destination, audience.audience_id],
    )
    return held > 0 and fingerprinted >= held * FINGERPRINTED_SHARE


def _sharing(table: str, columns: Sequence[str], where: str = "true") -> str:
    """SQL over a members table: whether a member shares a value of one of `columns` with a
    row of `table` (that has them) meeting `where`."""
    return (
        " OR ".join(
            f"coalesce({c} IN (SELECT {c} FROM {table} WHERE {c} IS NOT NULL AND {where}), false)"
            for c in columns
        )
        or "false"
    )


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
