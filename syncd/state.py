"""What each network audience holds, as syncd last saw it acknowledged, and the run journal.

The state is the memory that makes syncs incremental: the diff between it and the segment
is exactly what must be sent. It holds only what was already sent to a network (hashes, and
the few identifiers a network takes in clear, like country codes), never a raw email or
phone. A batch is written here only after the network acknowledged it, one transaction per
batch, so a crash loses at most the batch in flight, which the next sync sends again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from syncd.members import IDENTIFIER_COLUMNS, MEMBER_SCHEMA

_IDENTIFIER_DDL = ", ".join(f"{name} VARCHAR" for name in IDENTIFIER_COLUMNS)
_MEMBER_COLUMNS = ", ".join(MEMBER_SCHEMA.names)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS members (
    destination VARCHAR NOT NULL,
    audience_id VARCHAR NOT NULL,
    member_key VARCHAR NOT NULL,
    {_IDENTIFIER_DDL},
    synced_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (destination, audience_id, member_key)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    audience VARCHAR NOT NULL,
    destination VARCHAR NOT NULL,
    audience_id VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    summary JSON,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS quarantine (
    run_id VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    reason VARCHAR NOT NULL
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


class StateStore:
    """The DuckDB file behind syncd's memory. One process writes it at a time."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = duckdb.connect(str(path))
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def member_count(self, audience: AudienceRef) -> int:
        rows = self._db.execute(
            "SELECT count(*) FROM members WHERE destination = ? AND audience_id = ?",
            [audience.destination, audience.audience_id],
        ).fetchall()
        return int(rows[0][0])

    def members(self, audience: AudienceRef) -> pa.Table:
        return self._arrow(
            f"SELECT {_MEMBER_COLUMNS} FROM members WHERE destination = ? AND audience_id = ?"
            " ORDER BY member_key",
            [audience.destination, audience.audience_id],
        )

    def diff(self, audience: AudienceRef, segment: pa.Table) -> Diff:
        """Anti-joins both ways on member_key; `segment` must have distinct member keys."""
        with self._registered("segment_members", segment):
            params = [audience.destination, audience.audience_id]
            held = "SELECT * FROM members WHERE destination = ? AND audience_id = ?"
            adds = self._arrow(
                f"SELECT {_MEMBER_COLUMNS} FROM segment_members s "
                f"WHERE NOT EXISTS (SELECT 1 FROM ({held}) m WHERE m.member_key = s.member_key)"
                " ORDER BY member_key",
                params,
            )
            removes = self._arrow(
                f"SELECT {_MEMBER_COLUMNS} FROM ({held}) m WHERE NOT EXISTS "
                "(SELECT 1 FROM segment_members s WHERE s.member_key = m.member_key)"
                " ORDER BY member_key",
                params,
            )
        return Diff(adds.cast(MEMBER_SCHEMA), removes.cast(MEMBER_SCHEMA))

    def record_added(self, audience: AudienceRef, members: pa.Table) -> None:
        """Commit members the network acknowledged as added."""
        with self._registered("acknowledged", members):
            self._write(
                f"INSERT OR REPLACE INTO members SELECT ?, ?, {_MEMBER_COLUMNS}, now() "
                "FROM acknowledged",
                [audience.destination, audience.audience_id],
            )

    def record_removed(self, audience: AudienceRef, members: pa.Table) -> None:
        """Forget members the network acknowledged as removed."""
        with self._registered("acknowledged", members.select(["member_key"])):
            self._write(
                "DELETE FROM members WHERE destination = ? AND audience_id = ? "
                "AND member_key IN (SELECT member_key FROM acknowledged)",
                [audience.destination, audience.audience_id],
            )

    def start_run(self, name: str, audience: AudienceRef) -> str:
        run_id = uuid.uuid4().hex
        self._write(
            "INSERT INTO runs (run_id, audience, destination, audience_id, started_at, status)"
            " VALUES (?, ?, ?, ?, ?, 'running')",
            [run_id, name, audience.destination, audience.audience_id, _now()],
        )
        return run_id

    def finish_run(
        self, run_id: str, status: str, summary: Mapping[str, object], error: str | None = None
    ) -> None:
        self._write(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ?, error = ? WHERE run_id = ?",
            [_now(), status, json.dumps(summary, sort_keys=True), error, run_id],
        )

    def record_quarantine(self, run_id: str, name: str, quarantine: pa.Table) -> None:
        """Keep where and why rows were refused (row number, kind, reason), not the values."""
        with self._registered("refused", quarantine):
            self._write(
                "INSERT INTO quarantine SELECT ?, ?, row_number, kind, reason FROM refused",
                [run_id, name],
            )

    def _arrow(self, sql: str, parameters: list[object]) -> pa.Table:
        return self._db.sql(sql, params=parameters).to_arrow_table()

    def _write(self, sql: str, parameters: list[object]) -> None:
        """Run a statement to completion: DuckDB refuses new work on a connection while
        a result (even an INSERT's row count) is left unread."""
        self._db.execute(sql, parameters).fetchall()

    @contextmanager
    def _registered(self, name: str, table: pa.Table) -> Iterator[None]:
        """Expose an Arrow table to SQL by name for one statement, without copying it."""
        self._db.register(name, table)
        try:
            yield
        finally:
            self._db.unregister(name)

    def runs(self) -> list[dict[str, object]]:
        cursor = self._db.execute("SELECT * FROM runs ORDER BY started_at")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _now() -> datetime:
    return datetime.now(UTC)
