"""What the read stage leaves for the plan: a segment's members for one network, in memory
(small segments and tests) or in the pass's spill, or what row fingerprints left to diff."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from syncd.members import IDENTIFIER_COLUMNS, SENT_SCHEMA
from syncd.state import SpillTable


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
class Groups:
    """An experiment's people in one read of its segment: how many are sent (treated) and
    held out, and `people`, one row a person (person_key, held_out), for their history."""

    treated: int
    held_out: int
    people: SpillTable


@dataclass(frozen=True)
class LeftOut:
    """Distinct members of one read that the pass's exclusions left out (never sent, removed
    where held): `suppressed` by the suppressions query alone, `erased` by an erasure
    (`syncd forget`), whether or not the query has them too. They are counted apart because
    only the query's share is guarded (`syncd.guardrails`): a single erasure always goes
    through."""

    suppressed: int = 0
    erased: int = 0
    #: Their keys (member_key, erased) in the pass's spill, when read locally: the plan
    #: counts the removals among them (`syncd.plan`); None when pushed down.
    keys: SpillTable | None = None

    @property
    def total(self) -> int:
        return self.suppressed + self.erased


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
    #: The experiment's groups when the audience has a holdout.
    groups: Groups | None = None
    #: Members left out by suppressions and erasures (not among `members`).
    left_out: LeftOut = LeftOut()

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


#: A segment as read for a network: its members, or what fingerprints left to diff.
ReadSegment = SpilledSegment | FingerprintedSegment
