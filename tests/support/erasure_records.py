"""Erasure records written as `syncd forget` writes them (`syncd.state.erasures`), then
moved into the past, for the tests of what reads them back (retention, audit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa

from syncd.identity import sha256_hex
from syncd.state import StateStore
from syncd.state import erasures as erasure_tables
from syncd.state.erasures import AudienceKey


def record(
    state: StateStore,
    erasure_id: str,
    key: AudienceKey,
    emails: Sequence[str],
    at: dt.datetime,
    outcome: str = erasure_tables.PENDING,
    members: int = 0,
    requests: int = 0,
    reason: str | None = None,
) -> None:
    """A request for `emails` on `key`'s audience with its one outcome (none yet while
    pending), requested, finished and updated at `at`."""
    values = pa.table(
        {
            "network": [key.network] * len(emails),
            "kind": ["email"] * len(emails),
            "digest": [sha256_hex(email) for email in emails],
            "rehashed": [False] * len(emails),
        }
    )
    backend = state.backend
    assert erasure_tables.record_request(
        backend, erasure_id, people=len(emails), invalid_lines=0, values=values, audiences=[key]
    )
    if outcome != erasure_tables.PENDING:
        erasure_tables.record_outcome(
            backend, erasure_id, key, outcome, members=members, requests=requests, reason=reason
        )
    backend.execute(
        "UPDATE erasures SET requested_at = ?, finished_at = CASE WHEN finished_at IS NULL "
        "THEN NULL ELSE CAST(? AS TIMESTAMPTZ) END WHERE erasure_id = ?",
        [at, at, erasure_id],
    )
    backend.execute(
        "UPDATE erasure_outcomes SET updated_at = ? WHERE erasure_id = ?", [at, erasure_id]
    )
