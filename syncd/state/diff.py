"""The diff of a segment against what an audience holds, in the spill: adds and removes
become spill tables that the push reads a network batch at a time, exactly the rows the
journal staged for that batch.

In-flight members (`adding`, `removing`) count as possibly held and possibly not: one still
in the segment is added again, one that left it is removed. Both are idempotent on the
networks, so nothing is lost and nothing acknowledged is sent twice.

The diff is one full outer join on member keys alone (16-byte UUIDs: carrying the
identifiers through a join of two 10M-row sides would multiply what it spills), then the
identifiers of the few changed members are fetched by key. An audience that holds nothing
(a first sync) takes the segment as it is.

Diffs run one at a time, though destinations are planned side by side, and never beside a
statement on the state (they hold its statement lock, `backends.WRITES`): two joins at once
share DuckDB's memory limit and both spill to disk (two 10M-member diffs took 20.8 s side by
side and 10.8 s one after the other), and a join beside another network's fold or journal
staging could run the instance out of memory: a 10M churn under the 256 MB limit did once;
at 2M under a 32 MB limit a diff ran out in 2 passes of 3 before this lock and in none of 5
after (a fold alone still runs out there: that limit is far below what such a pass needs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from syncd.members import IDENTIFIER_COLUMNS, MEMBER_SCHEMA, SENT_SCHEMA
from syncd.state.backends import WRITES, Backend
from syncd.state.spill import Spill, SpillTable, sql_type

_COLUMNS = ", ".join(MEMBER_SCHEMA.names)
_SENT = ", ".join(IDENTIFIER_COLUMNS)
_PRESENT = "present"
#: Network batches read from the spill per query: a query costs a few milliseconds however
#: few rows it returns, and ten batches are about 15 MB.
_BATCHES_PER_READ = 10


@dataclass(frozen=True)
class Changes:
    """What one audience needs: members to add and to remove (spill tables of members with
    distinct keys), and how many of the adds are held members sent again before their
    membership expires. `held` is the SQL saying, per add, whether the audience holds the
    member in some state (a column of the adds, or false when it holds nothing)."""

    adds: SpillTable
    removes: SpillTable
    refreshes: int = 0
    held: str = "held"
    #: The spill tables this diff made (a first sync's adds are the segment's own members).
    owned: tuple[str, ...] = field(default=())

    def table(self, operation: str) -> SpillTable:
        return self.adds if operation == "add" else self.removes

    def batches(self, operation: str, size: int) -> Iterator[pa.Table]:
        """The members of `operation` ("add" or "remove") in batches of `size` (SENT_SCHEMA):
        batch n is rows (n - 1) * size to n * size - 1, as `journal.stage` numbered them.
        They are read `_BATCHES_PER_READ` at a time, each read a query of its own, so no
        result stays open while the journal commits (and a query's fixed cost is not paid
        per batch)."""
        table = self.table(operation)
        step = size * _BATCHES_PER_READ
        for first in range(0, table.rows, step):
            rows = table.spill.arrow(
                f"SELECT rowid, {_SENT} FROM {table.name} WHERE rowid >= ? AND rowid < ?",
                [first, first + step],
            )
            if len(rows) != min(step, table.rows - first):
                raise RuntimeError(f"{table.name}: rows from {first} are not whole")
            rows = _in_rowid_order(rows).drop_columns(["rowid"])
            for start in range(0, len(rows), size):
                yield rows.slice(start, size).cast(SENT_SCHEMA)

    def member_keys(self, operation: str, rows: Sequence[int]) -> pa.Array:
        """The keys of `operation`'s members at `rows` (ascending row numbers, as
        `batches` numbers them): for the few a network refuses, which the state names by
        key."""
        table = self.table(operation)
        keys = table.spill.arrow(
            f"SELECT member_key FROM {table.name} WHERE rowid IN (SELECT unnest(?)) ORDER BY rowid",
            [list(rows)],
        )
        if len(keys) != len(rows):
            raise RuntimeError(f"{table.name}: not every row of {list(rows)} is there")
        return keys.column(0).combine_chunks().cast(pa.string())

    def drop(self) -> None:
        self.adds.spill.drop(*self.owned)


def _in_rowid_order(rows: pa.Table) -> pa.Table:
    """`rows` (a range of rowids, each once) by rowid. DuckDB returns a table's rows in
    their order when the query does not sort (its `preserve_insertion_order`), so this is
    a check, and a sort only if that ever fails: an ORDER BY cost 2.5 s per 10M rows read."""
    rowids = rows.column("rowid").combine_chunks()
    if len(rowids) < 2 or pc.min_max(pc.pairwise_diff(rowids)[1:]).as_py() == {"min": 1, "max": 1}:
        return rows
    return rows.sort_by("rowid")


def changes(
    backend: Backend,
    spill: Spill,
    audience: tuple[str, str],
    segment: SpillTable,
    refresh_before: datetime | None,
    held_members: int,
) -> Changes:
    """Adds and removes of one audience, which holds `held_members` (in any state);
    `segment` must have distinct member keys. Members last sent before `refresh_before`
    are sent again (their membership would expire)."""
    if not held_members:
        removes = spill.create_as("removes", f"SELECT {_COLUMNS} FROM {segment.name} LIMIT 0")
        return Changes(segment, removes, held="false", owned=(removes.name,))
    with WRITES:
        return _joined(backend, spill, audience, segment, refresh_before)


def _joined(
    backend: Backend,
    spill: Spill,
    audience: tuple[str, str],
    segment: SpillTable,
    refresh_before: datetime | None,
) -> Changes:
    held, parameters = _held(backend, spill, audience)
    stale, due = _stale(refresh_before)
    delta = spill.create_as(
        "delta",
        "SELECT coalesce(s.member_key, m.member_key) AS member_key, "
        "s.member_key IS NULL AS removal, m.member_key IS NOT NULL AS held, "
        f"coalesce(m.status = '{_PRESENT}', false) AS refresh "
        f"FROM (SELECT member_key FROM {segment.name}) s FULL OUTER JOIN "
        f"(SELECT member_key, status, synced_at FROM {held}) m ON m.member_key = s.member_key "
        f"WHERE s.member_key IS NULL OR m.member_key IS NULL OR m.status <> '{_PRESENT}'{stale}",
        [*parameters, *due],
    )
    adds = spill.create_as(
        "adds",
        f"SELECT {_qualified('s')}, s.fingerprint, d.held, d.refresh "
        f"FROM {segment.name} s JOIN {delta.name} d ON d.member_key = s.member_key "
        "WHERE NOT d.removal",
    )
    removes = spill.create_as(
        "removes",
        f"SELECT {_qualified('m')} FROM {held} m "
        f"JOIN {delta.name} d ON d.member_key = m.member_key WHERE d.removal",
        parameters,
    )
    refreshes = spill.execute(f"SELECT count(*) FROM {adds.name} WHERE refresh")[0][0]
    spill.drop(delta.name, *([] if spill.local else [held]))
    return Changes(adds, removes, int(refreshes), owned=(adds.name, removes.name))


def _held(backend: Backend, spill: Spill, audience: tuple[str, str]) -> tuple[str, list[object]]:
    """What the audience holds, as a relation the spill's SQL can read: the state's own
    table when the spill shares its database, else a copy streamed into the spill."""
    columns = f"{_COLUMNS}, status, synced_at"
    where = "WHERE destination = ? AND audience_id = ?"
    if spill.local:
        return f"(SELECT {columns} FROM {state_members(spill)} {where})", list(audience)
    name = spill.name("held")
    identifiers = ", ".join(f"{f.name} {sql_type(f)}" for f in MEMBER_SCHEMA)
    spill.execute(f"CREATE TABLE {name} ({identifiers}, status VARCHAR, synced_at TIMESTAMPTZ)")
    for chunk in backend.stream(f"SELECT {columns} FROM members {where}", list(audience)):
        spill.append(name, chunk)
    return name, []


def fingerprint_delta(
    spill: Spill,
    audience: tuple[str, str],
    rows: str,
    fingerprint: str,
    refresh_before: datetime | None,
) -> SpillTable:
    """The rows and held members that fingerprints do not settle (`syncd.fingerprints`):
    one full outer join of the segment rows' fingerprints (`fingerprint`, SQL over `rows`,
    a table with a row per segment row, in order) with the held members'. Its rows are a
    segment row no held member matches (`member_key` NULL: identity must say what it is),
    a held member no row matches (`row` NULL: it may have left), or a matched member to
    send again (in flight, or its membership about to expire). Only with the state in the
    spill's database.

    The join holds a hash table of every held member, so each is narrowed to its key, its
    fingerprint and whether it is settled: with the status and the time in it, the joins
    of two 10M audiences spilled 1.33 GB to disk instead of 0.98 GB."""
    stale, due = _stale(refresh_before)
    with WRITES:
        return spill.create_as(
            "fingerprint_delta",
            "SELECT r.row, m.member_key "
            f"FROM (SELECT rowid AS row, {fingerprint} AS fingerprint FROM {rows}) r "
            "FULL OUTER JOIN "
            f"(SELECT member_key, fingerprint, NOT (m.status <> '{_PRESENT}'{stale}) AS settled "
            f"FROM {state_members(spill)} m WHERE destination = ? AND audience_id = ?) m "
            "ON m.fingerprint = r.fingerprint "
            "WHERE r.row IS NULL OR m.member_key IS NULL OR NOT m.settled",
            [*due, *audience],
        )


def fingerprint_changes(
    backend: Backend,
    spill: Spill,
    audience: tuple[str, str],
    delta: SpillTable,
    unmatched: SpillTable,
    refresh_before: datetime | None,
    held_members: int,
) -> tuple[Changes, int]:
    """`changes`, and the segment's member count, from a `fingerprint_delta` and the
    members of the rows it left unmatched (`unmatched`, distinct keys, after identity).
    The segment is the matched held members plus `unmatched`, so: an unmatched member is
    added unless held and settled; a matched one only as `fingerprint_delta` says; a held
    member leaves when no row matched it and no unmatched row is it.

    Held members an unmatched row turned out to be (a new spelling, or a fingerprint from
    older rules) take that row's fingerprint, so the next pass matches them directly."""
    state = state_members(spill)
    where = "destination = ? AND audience_id = ?"
    held_by_m = "m.destination = ? AND m.audience_id = ?"
    unclaimed = f"(SELECT member_key FROM {delta.name} WHERE row IS NULL)"
    stale, due = _stale(refresh_before)
    with WRITES:
        adds = spill.create_as(
            "adds",
            f"SELECT {_qualified('u')}, u.fingerprint, m.member_key IS NOT NULL AS held, "
            f"coalesce(m.status = '{_PRESENT}', false) AS refresh FROM {unmatched.name} u "
            f"LEFT JOIN (SELECT member_key, status, synced_at FROM {state} WHERE {where}) m "
            f"ON m.member_key = u.member_key WHERE m.member_key IS NULL "
            f"OR m.status <> '{_PRESENT}'{stale} "
            f"UNION ALL SELECT {_qualified('m')}, m.fingerprint, true, m.status = '{_PRESENT}' "
            f"FROM {state} m WHERE {held_by_m} AND m.member_key IN "
            f"(SELECT member_key FROM {delta.name} WHERE row IS NOT NULL "
            "AND member_key IS NOT NULL) "
            f"AND m.member_key NOT IN (SELECT member_key FROM {unmatched.name})",
            [*audience, *due, *audience],
        )
        removes = spill.create_as(
            "removes",
            f"SELECT {_qualified('m')} FROM {state} m "
            f"WHERE {held_by_m} AND m.member_key IN {unclaimed} "
            f"AND m.member_key NOT IN (SELECT member_key FROM {unmatched.name})",
            audience,
        )
        ((unheld, reclaimed),) = spill.execute(
            "SELECT count(*) FILTER (WHERE m.member_key IS NULL), "
            f"count(*) FILTER (WHERE m.member_key IN {unclaimed}) FROM {unmatched.name} u "
            f"LEFT JOIN (SELECT member_key FROM {state} WHERE {where}) m "
            "ON m.member_key = u.member_key",
            audience,
        )
        backend.execute(
            f"UPDATE members SET fingerprint = u.fingerprint FROM {unmatched.name} u "
            "WHERE members.destination = ? AND members.audience_id = ? "
            "AND members.member_key = u.member_key AND u.fingerprint IS NOT NULL "
            f"AND members.member_key IN {unclaimed}",
            audience,
        )
    refreshes = spill.execute(f"SELECT count(*) FROM {adds.name} WHERE refresh")[0][0]
    left = spill.execute(f"SELECT count(*) FROM {delta.name} WHERE row IS NULL")[0][0]
    members = held_members - left + unheld + reclaimed
    changes = Changes(adds, removes, int(refreshes), owned=(adds.name, removes.name))
    return changes, members


def state_members(spill: Spill) -> str:
    """The state's `members`, as the spill's SQL names it (the spill shares its database)."""
    if spill.state_catalog is None:
        raise RuntimeError("fingerprints need the state in the spill's database")
    catalog = spill.state_catalog.replace('"', '""')
    return f'"{catalog}".main.members'


def _qualified(alias: str) -> str:
    return ", ".join(f"{alias}.{name}" for name in MEMBER_SCHEMA.names)


def _stale(refresh_before: datetime | None) -> tuple[str, list[object]]:
    """The SQL condition (on held members `m`) and parameters of a membership due to be
    sent again; nothing when the destination's memberships do not expire. A membership
    sent "in the future" (the clock was ahead then) is due too: trusting it would hold
    back its refresh past the network's expiry."""
    if refresh_before is None:
        return "", []
    return " OR m.synced_at < ? OR m.synced_at > ?", [refresh_before, fresh_until()]


#: How far ahead of this clock a membership's send time may be before it counts as stale
#: rather than fresh: a clock stepped back a little (NTP) must not refresh a whole audience.
CLOCK_SKEW = timedelta(hours=1)


def fresh_until() -> datetime:
    """The latest send time that counts as fresh now."""
    return datetime.now(UTC) + CLOCK_SKEW
