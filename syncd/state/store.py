"""What each network audience holds, as far as syncd knows, and the journal of its runs.

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
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from syncd.members import IDENTIFIER_COLUMNS, MEMBER_SCHEMA
from syncd.state.backends import Backend, DuckDBBackend

_IDENTIFIER_DDL = ", ".join(f"{name} VARCHAR" for name in IDENTIFIER_COLUMNS)
_MEMBER_COLUMNS = ", ".join(MEMBER_SCHEMA.names)

PRESENT, ADDING, REMOVING = "present", "adding", "removing"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS members (
    destination VARCHAR NOT NULL,
    audience_id VARCHAR NOT NULL,
    member_key VARCHAR NOT NULL,
    {_IDENTIFIER_DDL},
    status VARCHAR NOT NULL,
    synced_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (destination, audience_id, member_key)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    audience VARCHAR NOT NULL,
    destination VARCHAR NOT NULL,
    audience_id VARCHAR NOT NULL,
    holder VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    summary VARCHAR,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    operation VARCHAR NOT NULL,
    batch_number INTEGER NOT NULL,
    members INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    request_id VARCHAR,
    sent_at TIMESTAMPTZ NOT NULL,
    settled_at TIMESTAMPTZ,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS leases (
    name VARCHAR PRIMARY KEY,
    holder VARCHAR NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    run_id VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    row_number BIGINT,
    kind VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    member_key VARCHAR
);
"""


@dataclass(frozen=True)
class AudienceRef:
    """An audience as state knows it: by network account and id, not by config name,
    so renaming a destination in YAML does not forget what the audience holds."""

    destination: str
    audience_id: str


@dataclass(frozen=True)
class Diff:
    """Members to add and members to remove, both in MEMBER_SCHEMA."""

    adds: pa.Table
    removes: pa.Table
    #: How many of the adds are held members sent again before their membership expires.
    refreshes: int = 0


@dataclass(frozen=True)
class Recovery:
    """What a previous process left unfinished, found when a new pass starts."""

    interrupted_runs: int
    batches_in_flight: int


class StateStore:
    """syncd's memory, on a backend (a DuckDB file by default, or a PostgreSQL schema)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        for statement in filter(str.strip, _SCHEMA.split(";")):
            backend.execute(statement)

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

    def member_count(self, audience: AudienceRef) -> int:
        rows = self._backend.execute(
            "SELECT count(*) FROM members WHERE destination = ? AND audience_id = ?",
            [audience.destination, audience.audience_id],
        )
        return int(rows[0][0])

    def members(self, audience: AudienceRef) -> pa.Table:
        return self._backend.arrow(
            f"SELECT {_MEMBER_COLUMNS} FROM members WHERE destination = ? AND audience_id = ?"
            " ORDER BY member_key",
            [audience.destination, audience.audience_id],
        )

    def diff(
        self, audience: AudienceRef, segment: pa.Table, refresh_before: datetime | None = None
    ) -> Diff:
        """Anti-joins on member_key; `segment` must have distinct member keys. In-flight
        members count as possibly held and possibly not: see the module docstring. Members
        last sent before `refresh_before` are sent again (their membership would expire)."""
        params: list[object] = [audience.destination, audience.audience_id]
        fresh = ""
        if refresh_before is not None:
            fresh, params = " AND m.synced_at >= ?", [*params, refresh_before]
        held = "SELECT * FROM members WHERE destination = ? AND audience_id = ?"
        with self._backend.registered("segment_members", segment):
            adds = self._backend.arrow(
                f"SELECT {_MEMBER_COLUMNS} FROM segment_members s WHERE NOT EXISTS "
                f"(SELECT 1 FROM ({held}) m WHERE m.member_key = s.member_key "
                f"AND m.status = '{PRESENT}'{fresh}) ORDER BY member_key",
                params,
            )
            removes = self._backend.arrow(
                f"SELECT {_MEMBER_COLUMNS} FROM ({held}) m WHERE NOT EXISTS "
                "(SELECT 1 FROM segment_members s WHERE s.member_key = m.member_key)"
                " ORDER BY member_key",
                params[:2],
            )
            refreshes = 0
            if refresh_before is not None:
                refreshes = self._backend.execute(
                    f"SELECT count(*) FROM ({held}) m WHERE m.status = '{PRESENT}' "
                    "AND m.synced_at < ? AND EXISTS "
                    "(SELECT 1 FROM segment_members s WHERE s.member_key = m.member_key)",
                    params,
                )[0][0]
        return Diff(adds.cast(MEMBER_SCHEMA), removes.cast(MEMBER_SCHEMA), int(refreshes))

    def begin_batch(
        self, run_id: str, audience: AudienceRef, operation: str, number: int, members: pa.Table
    ) -> str:
        """Journal a batch about to be sent and mark its members in flight, atomically."""
        batch_id = uuid.uuid4().hex
        params = [audience.destination, audience.audience_id]
        with self._backend.transaction(), self._backend.registered("batch", members):
            if operation == "add":
                self._backend.execute(
                    f"INSERT INTO members SELECT ?, ?, {_MEMBER_COLUMNS}, '{ADDING}', now() "
                    "FROM batch ON CONFLICT (destination, audience_id, member_key) "
                    "DO UPDATE SET status = excluded.status, synced_at = excluded.synced_at",
                    params,
                )
            else:
                self._backend.execute(
                    f"UPDATE members SET status = '{REMOVING}' WHERE destination = ? "
                    "AND audience_id = ? AND member_key IN (SELECT member_key FROM batch)",
                    params,
                )
            self._backend.execute(
                "INSERT INTO batches (batch_id, run_id, operation, batch_number, members, "
                "status, sent_at) VALUES (?, ?, ?, ?, ?, 'sent', ?)",
                [batch_id, run_id, operation, number, len(members), _now()],
            )
        return batch_id

    def acknowledge_batch(
        self,
        batch_id: str,
        audience: AudienceRef,
        operation: str,
        members: pa.Table,
        request_id: str | None,
    ) -> None:
        """The network took the batch: its members are now held (or gone), atomically."""
        params = [audience.destination, audience.audience_id]
        keys = members.select(["member_key"])
        with self._backend.transaction(), self._backend.registered("batch", keys):
            if operation == "add":
                self._backend.execute(
                    f"UPDATE members SET status = '{PRESENT}', synced_at = now() "
                    "WHERE destination = ? AND audience_id = ? "
                    "AND member_key IN (SELECT member_key FROM batch)",
                    params,
                )
            else:
                self._backend.execute(
                    "DELETE FROM members WHERE destination = ? AND audience_id = ? "
                    "AND member_key IN (SELECT member_key FROM batch)",
                    params,
                )
            self._backend.execute(
                "UPDATE batches SET status = 'acknowledged', request_id = ?, settled_at = ? "
                "WHERE batch_id = ?",
                [request_id, _now(), batch_id],
            )

    def begin_replace(self, run_id: str, audience: AudienceRef, segment: pa.Table) -> str:
        """Journal a full replacement: every held member may go, every segment member may
        arrive, until the network says the session ended."""
        batch_id = uuid.uuid4().hex
        params = [audience.destination, audience.audience_id]
        with self._backend.transaction(), self._backend.registered("batch", segment):
            self._backend.execute(
                f"UPDATE members SET status = '{REMOVING}' "
                "WHERE destination = ? AND audience_id = ?",
                params,
            )
            self._backend.execute(
                f"INSERT INTO members SELECT ?, ?, {_MEMBER_COLUMNS}, '{ADDING}', now() "
                "FROM batch ON CONFLICT (destination, audience_id, member_key) "
                "DO UPDATE SET status = excluded.status, synced_at = excluded.synced_at",
                params,
            )
            self._backend.execute(
                "INSERT INTO batches (batch_id, run_id, operation, batch_number, members, "
                "status, sent_at) VALUES (?, ?, 'replace', 1, ?, 'sent', ?)",
                [batch_id, run_id, len(segment), _now()],
            )
        return batch_id

    def acknowledge_replace(
        self, batch_id: str, audience: AudienceRef, request_id: str | None
    ) -> None:
        """The replacement took: the audience holds exactly the segment."""
        params = [audience.destination, audience.audience_id]
        with self._backend.transaction():
            self._backend.execute(
                f"DELETE FROM members WHERE destination = ? AND audience_id = ? "
                f"AND status = '{REMOVING}'",
                params,
            )
            self._backend.execute(
                f"UPDATE members SET status = '{PRESENT}', synced_at = now() "
                "WHERE destination = ? AND audience_id = ?",
                params,
            )
            self._backend.execute(
                "UPDATE batches SET status = 'acknowledged', request_id = ?, settled_at = ? "
                "WHERE batch_id = ?",
                [request_id, _now(), batch_id],
            )

    def forget_in_flight(self, audience: AudienceRef, operation: str, members: pa.Table) -> None:
        """Members the network refused outright: an add that never landed is not held; a
        refused removal leaves the member held (and the next pass tries again)."""
        statement = (
            "DELETE FROM members"
            if operation == "add"
            else f"UPDATE members SET status = '{PRESENT}'"
        )
        with self._backend.registered("refused", members.select(["member_key"])):
            self._backend.execute(
                f"{statement} WHERE destination = ? AND audience_id = ? "
                "AND member_key IN (SELECT member_key FROM refused)",
                [audience.destination, audience.audience_id],
            )

    def fail_batch(self, batch_id: str, error: str) -> None:
        """The batch was refused or its fate is unknown: its members stay in flight, so
        the next diff sends them again."""
        self._backend.execute(
            "UPDATE batches SET status = 'failed', error = ?, settled_at = ? WHERE batch_id = ?",
            [error, _now(), batch_id],
        )

    def recover(self) -> Recovery:
        """Close the books of a process that died mid-pass. Its in-flight members need no
        repair: the diff already treats them as possibly either way."""
        with self._backend.transaction():
            runs = self._backend.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? "
                "WHERE status = 'running' RETURNING run_id",
                [_now()],
            )
            batches = self._backend.execute(
                "UPDATE batches SET status = 'unacknowledged', settled_at = ? "
                "WHERE status = 'sent' RETURNING batch_id",
                [_now()],
            )
        return Recovery(len(runs), len(batches))

    def hold_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the lease on `name` for `seconds`; False while another live holder
        has it. A holder that died stops renewing, and its lease expires to the next one."""
        now = _now()
        with self._backend.transaction():
            rows = self._backend.execute(
                "SELECT holder, expires_at FROM leases WHERE name = ?", [name]
            )
            if rows and rows[0][0] != holder and rows[0][1] > now:
                return False
            self._backend.execute(
                "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
                [name, holder, now + timedelta(seconds=seconds)],
            )
        return True

    def release_leases(self, holder: str) -> None:
        """Give up every lease of `holder`, so a peer can take over without waiting."""
        self._backend.execute("DELETE FROM leases WHERE holder = ?", [holder])

    def start_run(self, name: str, audience: AudienceRef, holder: str) -> str:
        run_id = uuid.uuid4().hex
        self._backend.execute(
            "INSERT INTO runs (run_id, audience, destination, audience_id, holder, started_at,"
            " status) VALUES (?, ?, ?, ?, ?, ?, 'running')",
            [run_id, name, audience.destination, audience.audience_id, holder, _now()],
        )
        return run_id

    def finish_run(
        self, run_id: str, status: str, summary: Mapping[str, object], error: str | None = None
    ) -> None:
        self._backend.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ?, error = ? WHERE run_id = ?",
            [_now(), status, json.dumps(summary, sort_keys=True), error, run_id],
        )

    def record_quarantine(self, run_id: str, name: str, quarantine: pa.Table) -> None:
        """Keep where and why rows were refused (row number, kind, reason), not the values."""
        with self._backend.registered("refused", quarantine):
            self._backend.execute(
                "INSERT INTO quarantine SELECT ?, ?, row_number, kind, reason, NULL FROM refused",
                [run_id, name],
            )

    def quarantine_members(
        self, run_id: str, name: str, operation: str, members: pa.Table, reasons: list[str]
    ) -> None:
        """Members a network refused, by member key (a hash) and the network's reason."""
        refused = pa.table(
            {
                "member_key": members["member_key"],
                "reason": pa.array(reasons, pa.string()),
            }
        )
        with self._backend.registered("refused", refused):
            self._backend.execute(
                "INSERT INTO quarantine SELECT ?, ?, NULL, ?, reason, member_key FROM refused",
                [run_id, name, f"network:{operation}"],
            )

    def runs(self) -> list[dict[str, object]]:
        return self._records("SELECT * FROM runs ORDER BY started_at")

    def batches(self, run_id: str) -> list[dict[str, object]]:
        return self._records(
            "SELECT * FROM batches WHERE run_id = ? ORDER BY sent_at, batch_number", [run_id]
        )

    def _records(self, sql: str, parameters: list[object] | None = None) -> list[dict[str, object]]:
        return self._backend.arrow(sql, parameters or []).to_pylist()


def _now() -> datetime:
    return datetime.now(UTC)
