"""The batch journal: which members each batch carries, and what becomes of them.

Each batch is a row of `batches` whose status says what the network did with it: `sent` (in
flight), `acknowledged`, `failed` or `unacknowledged` (the process died). A member is
committed as held only when its batch is acknowledged. The members a batch carries are
written before it is sent, in one of two places:

- a member the audience does not hold yet (every add of a first sync) goes straight into
  `members`, with status `staged` and its batch's id: it is written once, where it will
  stay, and becomes `adding` or `present` with its batch;
- any other member (a removal, a member sent again) is a row of `batch_members`.

A push writes the members of its batches a hundred batches at a time, a group ahead of the
batch it sends, on a thread of its own (`stage`, `syncd.push`): one bulk insert instead of a
transaction per batch journaling ten thousand members, and the first request leaves after
a million members are staged, not the whole audience. Then a batch costs one row when it
is sent and one update when it is settled, however large the audience, and a commit
carries those of ten batches (`StagedBatches`). Members staged for a batch that was never
sent mean nothing: they were planned, not sent.

`syncd.state.folding` applies the journal to `members`; `syncd.state.replacement` journals a
full replacement. Batches given member by member (`begin_batch`, `acknowledge_batch`: small
audiences, tests) are folded at once by the store, so `members` always shows them.

A member is in at most one unfolded batch of an audience: a push folds before it stages,
one diff's adds and removes are distinct and disjoint, and `begin_batch` lets a batch
replace a member's older entry still in flight (the newest batch decides, as before).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from syncd.members import MEMBER_SCHEMA
from syncd.state.backends import Backend
from syncd.state.spill import Spill, SpillTable

MEMBER_COLUMNS = ", ".join(MEMBER_SCHEMA.names)

log = logging.getLogger("syncd")

PRESENT, ADDING, REMOVING, STAGED = "present", "adding", "removing", "staged"
MEMBER_STATUSES = (PRESENT, ADDING, REMOVING, STAGED)
#: A batch's statuses: `pending` is acknowledged by a network that applies requests later
#: (Data Manager) and had not said how it went when the pass ended.
SENT, ACKNOWLEDGED, PENDING, FAILED = "sent", "acknowledged", "pending", "failed"


def batch_id(run_id: str, operation: str, number: int) -> str:
    """The id of a staged batch: its run, operation and number say which rows it carries."""
    return f"{run_id}:{operation}:{number}"


def stage(
    backend: Backend,
    spill: Spill,
    run_id: str,
    audience: tuple[str, str],
    operation: str,
    members: SpillTable,
    size: int,
    batches: range,
    held: str = "held",
) -> None:
    """Journal the members of `batches` (numbers) of one operation at once: row r of
    `members` goes in batch r // size + 1, as `Changes.batches` cuts them. Adds the
    audience does not hold (`held`, a column or SQL expression over `members`, is false)
    are staged in `members` itself, the rest in `batch_members`."""
    first, end = (batches.start - 1) * size, min((batches.stop - 1) * size, members.rows)
    if first >= end:
        return
    rows = f"rowid >= {int(first)} AND rowid < {int(end)}"
    number = f"? || CAST(rowid // {int(size)} + 1 AS VARCHAR)"
    prefix = f"{run_id}:{operation}:"
    journal = (
        f"SELECT {number} AS batch_id, ? AS destination, ? AS audience_id, {MEMBER_COLUMNS} "
        f"FROM {members.name} WHERE {rows}"
    )
    if operation != "add":
        insert_selected(backend, spill, "batch_members", journal, [prefix, *audience])
        return
    # A member joins the state with the fingerprint of its row (`syncd.fingerprints`),
    # which only a state sharing its database with the spill keeps.
    fingerprint = "fingerprint" if spill.local else "CAST(NULL AS VARCHAR)"
    staged = (
        f"SELECT ? AS destination, ? AS audience_id, {MEMBER_COLUMNS}, '{STAGED}' AS status, "
        f"CAST(? AS TIMESTAMPTZ) AS synced_at, {number} AS batch_id, {fingerprint} "
        f"FROM {members.name} WHERE {rows} AND NOT ({held})"
    )
    insert_selected(backend, spill, "members", staged, [*audience, now(), prefix])
    if held != "false":
        insert_selected(
            backend, spill, "batch_members", f"{journal} AND ({held})", [prefix, *audience]
        )


def insert_selected(
    backend: Backend, spill: Spill, table: str, select: str, parameters: Sequence[object]
) -> None:
    """INSERT INTO `table` the rows of a SELECT over spill tables: in place when the spill
    shares the state's database, else streamed across."""
    if spill.local:
        backend.append(f"INSERT INTO {table} {select}", parameters)
        return
    with backend.registered("staged", spill.reader(select, parameters)):
        backend.append(f"INSERT INTO {table} SELECT * FROM staged")


#: How many staged batches one commit marks in flight. A commit costs milliseconds (the
#: state's log reaches the disk before it returns), which at one or two per batch was
#: most of a first sync's journal time: 1,000 batches a network at 10M members.
BATCHES_PER_COMMIT = 10


class StagedBatches:
    """The batch rows of one operation of a staged push (`stage`), written with one commit
    per BATCHES_PER_COMMIT batches rather than two per batch.

    A batch must be in flight in the state before its request leaves, or a crash could
    hide a change the network made. So each commit marks the next group of batches in
    flight ahead of sending them, and carries the acknowledgments of the batches sent
    since the last one. A crash can therefore leave in flight some batches that were never
    sent, or that were acknowledged: in flight means possibly either way, so the next pass
    sends their members again, which is exact and costs at most a group's requests.
    `close` writes the acknowledgments left and withdraws the batches marked but never
    sent, so a push that ends, stops or fails leaves the journal as exact as before. A
    batch's `sent_at` is when its group was marked, up to nine requests early."""

    def __init__(self, backend: Backend, run_id: str, operation: str, rows: int, size: int) -> None:
        self._backend = backend
        self._run_id = run_id
        self._operation = operation
        self._rows = rows
        self._size = size
        self._marked: list[str] = []  # in flight in the state, not sent yet, in order
        self._acknowledged: list[tuple[str, str | None, datetime]] = []

    def __enter__(self) -> StagedBatches:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc_info: object) -> None:
        if kind is None:
            self.close()
            return
        try:  # the push failed already: that error, not the journal's, says why
            self.close()
        except Exception:
            log.exception("could not close the journal of a failed push; the next pass will")

    def begin(self, number: int) -> str:
        """Batch `number` is about to be sent: it is in flight in the state on return."""
        identifier = batch_id(self._run_id, self._operation, number)
        if identifier not in self._marked:
            last = min(number + BATCHES_PER_COMMIT, -(-self._rows // self._size) + 1)
            ahead = range(number, last)
            marked = [batch_id(self._run_id, self._operation, n) for n in ahead]
            sizes = [min(self._size, self._rows - (n - 1) * self._size) for n in ahead]
            with self._backend.transaction():
                self._write_acknowledged()
                self._withdraw_marked()
                insert_batches(
                    self._backend,
                    [
                        (marking, self._run_id, self._operation, n, size)
                        for marking, n, size in zip(marked, ahead, sizes, strict=True)
                    ],
                )
            self._acknowledged, self._marked = [], marked
        self._marked.remove(identifier)
        return identifier

    def acknowledge(self, identifier: str, request_id: str | None) -> None:
        """The network took the batch; written with the next commit."""
        self._acknowledged.append((identifier, request_id, now()))

    def fail(self, identifier: str, error: str) -> None:
        """The batch was refused or its fate is unknown: its members stay in flight."""
        with self._backend.transaction():
            self._write_acknowledged()
            settle(self._backend, identifier, "failed", error=error)
        self._acknowledged = []

    def close(self) -> None:
        """Write the acknowledgments left; withdraw the batches marked but never sent."""
        with self._backend.transaction():
            self._write_acknowledged()
            self._withdraw_marked()
        self._acknowledged, self._marked = [], []

    def _write_acknowledged(self) -> None:
        """One statement for all of them: an UPDATE a batch cost a millisecond each."""
        if not self._acknowledged:
            return
        row = "(CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS TIMESTAMPTZ))"
        values = ", ".join([row] * len(self._acknowledged))
        self._backend.execute(
            f"UPDATE batches SET status = '{ACKNOWLEDGED}', request_id = v.request_id, "
            f"error = NULL, settled_at = v.settled_at FROM (VALUES {values}) "
            "AS v(batch_id, request_id, settled_at) WHERE batches.batch_id = v.batch_id",
            [value for acknowledged in self._acknowledged for value in acknowledged],
        )

    def _withdraw_marked(self) -> None:
        """Batches marked in flight that will not be sent (the push moved past them or
        ended) were never sent: without their rows, their members mean nothing again."""
        for identifier in self._marked:
            self._backend.execute("DELETE FROM batches WHERE batch_id = ?", [identifier])


def begin_batch(
    backend: Backend,
    run_id: str,
    audience: tuple[str, str],
    operation: str,
    number: int,
    members: pa.Table,
) -> str:
    """Journal a batch of members given directly, and mark them in flight, atomically."""
    identifier = uuid.uuid4().hex
    with backend.transaction(), backend.registered("batch", members.select(MEMBER_SCHEMA.names)):
        backend.execute(  # the newest batch decides the fate of a member still in flight
            "DELETE FROM batch_members WHERE destination = ? AND audience_id = ? "
            f"AND member_key IN (SELECT {_key(backend)} FROM batch)",
            list(audience),
        )
        backend.execute(
            f"INSERT INTO batch_members SELECT ?, ?, ?, {MEMBER_COLUMNS} FROM batch",
            [identifier, *audience],
        )
        insert_batches(backend, [(identifier, run_id, operation, number, len(members))])
    return identifier


def settle(
    backend: Backend,
    identifier: str,
    status: str,
    request_id: str | None = None,
    error: str | None = None,
) -> None:
    """Record what the network did with a batch; its members follow at the next fold."""
    backend.execute(
        "UPDATE batches SET status = ?, request_id = ?, error = ?, settled_at = ? "
        "WHERE batch_id = ?",
        [status, request_id, error, now(), identifier],
    )


@dataclass(frozen=True)
class Pending:
    """A batch acknowledged by a network still processing its request at the end of the
    pass that sent it."""

    request_id: str
    batch_id: str
    members: int
    sent_at: datetime


def pending(backend: Backend, audience: tuple[str, str]) -> list[Pending]:
    """The audience's pending batches."""
    rows = backend.execute(
        "SELECT b.request_id, b.batch_id, b.members, b.sent_at FROM batches b JOIN runs r "
        f"ON r.run_id = b.run_id WHERE b.status = '{PENDING}' AND b.request_id IS NOT NULL "
        "AND r.destination = ? AND r.audience_id = ?",
        list(audience),
    )
    return [Pending(str(r), str(b), int(members), sent) for r, b, members, sent in rows]


def mark_pending(backend: Backend, batch_ids: Sequence[str]) -> None:
    """Acknowledged batches whose requests the network is still processing: they are folded
    as applied, but keep what they carried until `confirm_pending` or `revert_pending`."""
    if batch_ids:
        backend.execute(
            f"UPDATE batches SET status = '{PENDING}' WHERE status = '{ACKNOWLEDGED}' "
            f"AND batch_id IN ({', '.join('?' * len(batch_ids))})",
            list(batch_ids),
        )


def _of_batches(batch_ids: Sequence[str]) -> tuple[str, str]:
    """The SQL list of `batch_ids`' placeholders, and the condition on an audience's rows
    of those batches (parameters: the audience, then the ids)."""
    ids = f"({', '.join('?' * len(batch_ids))})"
    return ids, f"destination = ? AND audience_id = ? AND batch_id IN {ids}"


def confirm_pending(backend: Backend, audience: tuple[str, str], batch_ids: Sequence[str]) -> None:
    """The network applied these pending batches: what they carried is no longer needed."""
    if not batch_ids:
        return
    ids, where = _of_batches(batch_ids)
    with backend.transaction():
        backend.execute(
            f"UPDATE members SET batch_id = NULL WHERE {where}", [*audience, *batch_ids]
        )
        backend.execute(f"DELETE FROM pending_removals WHERE {where}", [*audience, *batch_ids])
        backend.execute(
            f"UPDATE batches SET status = '{ACKNOWLEDGED}' WHERE batch_id IN {ids}", list(batch_ids)
        )


def revert_pending(
    backend: Backend, audience: tuple[str, str], batch_ids: Sequence[str], error: str
) -> None:
    """The network did not apply these pending batches: their members go back in flight
    (`adding`, `removing`), so the next diff sends them again. A member a later batch
    changed since is left as that batch made it: the newest batch decides."""
    if not batch_ids:
        return
    ids, where = _of_batches(batch_ids)
    with backend.transaction():
        backend.execute(
            f"UPDATE members SET status = '{ADDING}', batch_id = NULL WHERE {where}",
            [*audience, *batch_ids],
        )
        backend.execute(
            f"INSERT INTO members SELECT destination, audience_id, {MEMBER_COLUMNS}, '{REMOVING}', "
            f"?, NULL, NULL FROM pending_removals p WHERE {where} AND NOT EXISTS "
            "(SELECT 1 FROM members m WHERE m.destination = p.destination "
            "AND m.audience_id = p.audience_id AND m.member_key = p.member_key)",
            [now(), *audience, *batch_ids],
        )
        backend.execute(f"DELETE FROM pending_removals WHERE {where}", [*audience, *batch_ids])
        backend.execute(
            f"UPDATE batches SET status = '{FAILED}', error = ? WHERE batch_id IN {ids}",
            [error, *batch_ids],
        )


def forget(backend: Backend, audience: tuple[str, str], operation: str, keys: pa.Table) -> None:
    """Members the network refused outright: an add that never landed is not held; a
    refused removal leaves the member as it was (and the next pass tries again)."""
    with backend.transaction(), backend.registered("refused", keys.select(["member_key"])):
        statements = ["DELETE FROM batch_members"] + (
            ["DELETE FROM members"] if operation == "add" else []
        )
        for statement in statements:
            backend.execute(
                f"{statement} WHERE destination = ? AND audience_id = ? "
                f"AND member_key IN (SELECT {_key(backend)} FROM refused)",
                list(audience),
            )


def insert_batches(backend: Backend, rows: Sequence[tuple[str, str, str, int, int]]) -> None:
    """Batches in flight from now, in one statement: (id, run, operation, number, members)."""
    row = f"(?, ?, ?, ?, ?, '{SENT}', ?)"
    sent_at = now()
    backend.execute(
        "INSERT INTO batches (batch_id, run_id, operation, batch_number, members, status, "
        f"sent_at) VALUES {', '.join([row] * len(rows))}",
        [value for batch in rows for value in (*batch, sent_at)],
    )


def _key(backend: Backend) -> str:
    """The member_key of Arrow data shown to SQL (text), as the state's tables type it."""
    return f"CAST(member_key AS {backend.member_key_type})"


def now() -> datetime:
    return datetime.now(UTC)
