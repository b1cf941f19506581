"""The state a pass talks to: what each network audience holds, as far as syncd knows, and
the journal that keeps it exact across crashes, behind one object.

The state is the memory that makes syncs incremental: the diff between it and the segment
is exactly what must be sent. It holds only what is sent to a network (hashes, and the few
identifiers a network takes in clear, like country codes), never a raw email or phone.

It is also the journal that makes syncs exact across crashes. Before a batch is sent, its
members are marked in flight (`adding` or `removing`) in the same transaction that records
the batch; when the network acknowledges it, they become `present` (or are forgotten) in
one transaction. A crash between the two leaves them in flight, and in-flight members are
treated as possibly either way: the next diff re-adds those still in the segment and
removes those that left it. Both operations are idempotent on the networks, so nothing is
lost and an acknowledged batch is never sent again.

It scales with the segment, not with memory: a pass diffs and journals through a spill of
DuckDB tables, so holding 10M members takes disk, not gigabytes of RAM.

`StateStore` is a facade: a pass, the claims and the CLI call its methods, and each part
lives in a module of its own, on a `Backend`: the tables and their upgrades in `schema`,
the batch journal and how it reaches `members` in `journal`, the diff in `diff` (through a
`spill`), leases in `leases`, runs and recovery of dead ones in `runs`, refused rows and
members in `quarantine`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from syncd.fingerprints import FIELD as FINGERPRINT
from syncd.members import MEMBER_SCHEMA
from syncd.state import (
    diff,
    experiments,
    folding,
    journal,
    leases,
    quarantine,
    replacement,
    runs,
    schema,
)
from syncd.state.backends import Backend, DuckDBBackend
from syncd.state.diff import Changes
from syncd.state.journal import ADDING, PRESENT, REMOVING
from syncd.state.runs import Recovery
from syncd.state.schema import StateFormatError
from syncd.state.spill import Spill, SpillTable

__all__ = [
    "ADDING",
    "PRESENT",
    "REMOVING",
    "AudienceRef",
    "Diff",
    "Recovery",
    "StateFormatError",
    "StateStore",
]

_MEMBER_COLUMNS = ", ".join(MEMBER_SCHEMA.names)


@dataclass(frozen=True)
class AudienceRef:
    """An audience as state knows it: by network account and id, not by config name,
    so renaming a destination in YAML does not forget what the audience holds."""

    destination: str
    audience_id: str


@dataclass(frozen=True)
class Diff:
    """Members to add and members to remove, both in MEMBER_SCHEMA, in memory: for small
    audiences and tests. A pass uses `StateStore.changes`, which stays in the spill."""

    adds: pa.Table
    removes: pa.Table
    #: How many of the adds are held members sent again before their membership expires.
    refreshes: int = 0


class StateStore:
    """syncd's memory, on a backend (a DuckDB file by default, or a PostgreSQL schema): the
    one object a pass talks to, each method handing its work to the module that owns it."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        try:
            with backend.setup():
                schema.create_or_upgrade(backend)
        except BaseException:
            backend.close()
            raise

    @classmethod
    def at(cls, path: Path) -> StateStore:
        """The embedded default: a DuckDB file."""
        return cls(DuckDBBackend(path))

    @property
    def backend(self) -> Backend:
        """The connection, for tables that live beside the state (the spend table)."""
        return self._backend

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def spill(self) -> Spill:
        """Scratch tables for a pass (segments, diffs), on this store's database when it is
        DuckDB; close it before the store."""
        return self._backend.spill()

    def member_count(self, audience: AudienceRef) -> int:
        """What the audience holds, once its journal is folded in: only for a process that
        holds the audience's lease (folding drops members staged for batches not yet in
        flight, which a live push is about to send)."""
        self.fold(audience)
        return self.held_count(audience)

    def held_count(self, audience: AudienceRef) -> int:
        """What the audience holds as the state shows it now, without folding: for readers
        beside a live pass (`syncd report`), counting members staged for a push too."""
        rows = self._backend.execute(
            "SELECT count(*) FROM members WHERE destination = ? AND audience_id = ?",
            [audience.destination, audience.audience_id],
        )
        return int(rows[0][0])

    def members(self, audience: AudienceRef) -> pa.Table:
        self.fold(audience)
        return self._backend.arrow(
            f"SELECT {_MEMBER_COLUMNS} FROM members WHERE destination = ? AND audience_id = ?"
            " ORDER BY member_key",
            [audience.destination, audience.audience_id],
        )

    def changes(
        self,
        audience: AudienceRef,
        segment: SpillTable,
        refresh_before: datetime | None = None,
    ) -> Changes:
        """What to send to make the audience equal `segment` (distinct member keys, in
        `segment.spill`), computed and kept in the spill. See `syncd.state.diff`."""
        held = self.member_count(audience)  # folds first
        return diff.changes(
            self._backend, segment.spill, _key(audience), segment, refresh_before, held
        )

    def fingerprint_changes(
        self,
        audience: AudienceRef,
        delta: SpillTable,
        unmatched: SpillTable,
        refresh_before: datetime | None = None,
    ) -> tuple[Changes, int]:
        """`changes` of a segment read with fingerprints, and its member count: see
        `syncd.state.diff.fingerprint_changes`."""
        held = self.member_count(audience)  # folds first
        return diff.fingerprint_changes(
            self._backend, delta.spill, _key(audience), delta, unmatched, refresh_before, held
        )

    def diff(
        self, audience: AudienceRef, segment: pa.Table, refresh_before: datetime | None = None
    ) -> Diff:
        """`changes` for a segment given as an Arrow table (distinct member keys), with the
        adds and removes read back into memory, ordered by member_key."""
        with self.spill() as spill:
            name = spill.create("segment", MEMBER_SCHEMA.append(FINGERPRINT))
            spill.append(name, segment.select(MEMBER_SCHEMA.names))
            found = self.changes(audience, SpillTable(spill, name, len(segment)), refresh_before)
            adds, removes = (
                spill.arrow(f"SELECT {_MEMBER_COLUMNS} FROM {t.name} ORDER BY member_key")
                for t in (found.adds, found.removes)
            )
        return Diff(adds.cast(MEMBER_SCHEMA), removes.cast(MEMBER_SCHEMA), found.refreshes)

    def stage(
        self,
        run_id: str,
        audience: AudienceRef,
        changes: Changes,
        operation: str,
        size: int,
        batches: range,
    ) -> None:
        """Journal the members of some batches of a push at once, before the first of them
        is sent; each then costs a row when it is sent and an update when it is settled
        (`staged_batches`). A push folds the audience before its first stage (`fold`): a
        member must not be left in an unfolded batch of a pass that died."""
        journal.stage(
            self._backend,
            changes.adds.spill,
            run_id,
            _key(audience),
            operation,
            changes.table(operation),
            size,
            batches,
            changes.held,
        )

    def staged_batches(
        self, run_id: str, operation: str, rows: int, size: int
    ) -> journal.StagedBatches:
        """The batch rows of one operation of a staged push of `rows` members in batches of
        `size`: in flight as they are sent, then settled (`journal.StagedBatches`)."""
        return journal.StagedBatches(self._backend, run_id, operation, rows, size)

    def begin_batch(
        self, run_id: str, audience: AudienceRef, operation: str, number: int, members: pa.Table
    ) -> str:
        """Journal a batch about to be sent and mark its members in flight, atomically."""
        batch_id = journal.begin_batch(
            self._backend, run_id, _key(audience), operation, number, members
        )
        folding.fold(self._backend, _key(audience), discard_unsent=False)  # members shows it
        return batch_id

    def acknowledge_batch(
        self,
        batch_id: str,
        audience: AudienceRef,
        operation: str,
        members: pa.Table,
        request_id: str | None,
    ) -> None:
        """The network took a batch begun with `begin_batch`: its members (those the network
        did not refuse, see `forget_in_flight`) are held (or gone) from now on."""
        journal.settle(self._backend, batch_id, journal.ACKNOWLEDGED, request_id)
        folding.fold(self._backend, _key(audience), discard_unsent=False)

    def fold(self, audience: AudienceRef) -> None:
        """Apply the audience's journal to its members (the end of a push, or of a pass that
        died). Not during a push: members of batches not sent yet would be dropped."""
        folding.fold(self._backend, _key(audience))

    def begin_replace(self, run_id: str, audience: AudienceRef, segment: SpillTable) -> str:
        """Journal a full replacement: every held member may go, every segment member may
        arrive, until the network says the session ended."""
        self.fold(audience)
        return replacement.begin_replace(
            self._backend, segment.spill, run_id, _key(audience), segment
        )

    def acknowledge_replace(
        self, batch_id: str, audience: AudienceRef, request_id: str | None
    ) -> None:
        """The replacement took: the audience holds exactly the segment."""
        replacement.acknowledge_replace(self._backend, batch_id, _key(audience), request_id)

    def forget_in_flight(self, audience: AudienceRef, operation: str, members: pa.Table) -> None:
        """Members the network refused outright: an add that never landed is not held; a
        refused removal leaves the member held (and the next pass tries again)."""
        journal.forget(self._backend, _key(audience), operation, members)

    def fail_batch(self, batch_id: str, error: str) -> None:
        """The batch was refused or its fate is unknown: its members stay in flight, so
        the next diff sends them again."""
        journal.settle(self._backend, batch_id, "failed", error=error)

    def pending_requests(self, audience: AudienceRef) -> list[journal.Pending]:
        """Requests of earlier passes the network had not finished processing; their
        members count as held until it says (`confirm_pending`, `revert_pending`)."""
        return journal.pending(self._backend, _key(audience))

    def mark_pending(self, batch_ids: Sequence[str]) -> None:
        """Acknowledged batches whose requests are still processing at the end of a pass:
        the next pass reads their statuses again (see `journal.mark_pending`)."""
        journal.mark_pending(self._backend, batch_ids)

    def confirm_pending(self, audience: AudienceRef, batch_ids: Sequence[str]) -> None:
        """Pending batches the network applied."""
        journal.confirm_pending(self._backend, _key(audience), batch_ids)

    def revert_pending(self, audience: AudienceRef, batch_ids: Sequence[str], why: str) -> None:
        """Pending batches the network did not apply: sent again next pass."""
        journal.revert_pending(self._backend, _key(audience), batch_ids, why)

    def recover(self, audience: AudienceRef) -> Recovery:
        """Close the books of the audience's passes that died, then fold its journal, before
        anything compares the audience with its segment. The caller holds the audience's
        lease (`syncd.state.leases`), so no pass of it is live: a run still `running` is
        dead, and its batches in flight are unacknowledged.

        Folding here, not only when the diff starts, matters: members staged for batches
        the dead pass never marked in flight would otherwise be matched by fingerprint
        first and dropped by the fold after, landing in neither side of the diff."""
        recovery = runs.close_dead(self._backend, _key(audience))
        self.fold(audience)
        return recovery

    def hold_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the lease on `name` for `seconds` (see `syncd.state.leases`)."""
        return leases.hold(self._backend, name, holder, seconds)

    def take_over_lease(self, name: str, dead: str, holder: str, seconds: float) -> bool:
        """Take the lease on `name` from `dead`, a holder known to have ended."""
        return leases.take_over(self._backend, name, dead, holder, seconds)

    def lease_holder(self, name: str) -> str | None:
        """Who holds the lease on `name` now, if anyone."""
        return leases.holder_of(self._backend, name)

    def release_leases(self, holder: str, names: list[str] | None = None) -> None:
        """Give up the leases of `holder` (`names` only, or all), so a peer can take over
        without waiting."""
        leases.release(self._backend, holder, names)

    def start_run(self, name: str, audience: AudienceRef, holder: str) -> str:
        """A pass of `audience` (`name` in the config) begins: its run's id (`runs.start`)."""
        return runs.start(self._backend, name, _key(audience), holder)

    def finish_run(
        self, run_id: str, status: str, summary: Mapping[str, object], error: str | None = None
    ) -> None:
        """The run ended with `status` (`runs.finish`)."""
        runs.finish(self._backend, run_id, status, summary, error)

    def record_quarantine(self, run_id: str, name: str, refused: pa.Table | SpillTable) -> None:
        """Keep where and why rows were refused (row number, kind, reason), not the values."""
        quarantine.record_rows(self._backend, run_id, name, refused)

    def quarantine_members(
        self, run_id: str, name: str, operation: str, members: pa.Table, reasons: list[str]
    ) -> None:
        """Members a network refused, by member key (a hash) and the network's reason."""
        quarantine.record_members(self._backend, run_id, name, operation, members, reasons)

    def record_groups(
        self,
        audience: AudienceRef,
        experiment: str,
        people: SpillTable,
        at: datetime,
        kept_since: datetime,
    ) -> None:
        """The audience's people by experiment group as of `at`; stays that ended before
        `kept_since` go (`experiments.record_groups`)."""
        experiments.record_groups(self._backend, _key(audience), experiment, people, at, kept_since)

    def group_history(self, audience: AudienceRef) -> pa.Table:
        """Every stay of the audience's people in a treated or held-out group."""
        return experiments.group_history(self._backend, _key(audience))

    def runs(self) -> list[dict[str, object]]:
        """Every run, oldest first (`runs.history`)."""
        return runs.history(self._backend)

    def batches(self, run_id: str) -> list[dict[str, object]]:
        """The batches a run sent, in order (`runs.batches_of`)."""
        return runs.batches_of(self._backend, run_id)


def _key(audience: AudienceRef) -> tuple[str, str]:
    return audience.destination, audience.audience_id
