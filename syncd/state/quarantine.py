"""Quarantine: which input rows and which members were refused in a run, and why.

An operator finds a refused row by its row number and a refused member by its member key,
with the reason, in the state beside the run. The refused value itself is never kept: the
state holds what is sent to a network, never a raw email or phone.
"""

from __future__ import annotations

import pyarrow as pa

from syncd.state.backends import Backend
from syncd.state.spill import SpillTable


def record_rows(backend: Backend, run_id: str, name: str, refused: pa.Table | SpillTable) -> None:
    """Rows of the audience `name`'s segment refused before the diff (row number, kind,
    reason), read from memory or from the spill, where they may lie in another database."""
    insert = "INSERT INTO quarantine SELECT ?, ?, row_number, kind, reason, NULL FROM "
    if isinstance(refused, pa.Table):
        with backend.registered("refused", refused):
            backend.execute(insert + "refused", [run_id, name])
    elif refused.spill.local:
        backend.execute(insert + refused.name, [run_id, name])
    elif refused.rows:
        select = f"SELECT row_number, kind, reason FROM {refused.name}"
        with backend.registered("refused", refused.spill.reader(select)):
            backend.execute(insert + "refused", [run_id, name])


def record_members(
    backend: Backend,
    run_id: str,
    name: str,
    operation: str,
    members: pa.Table,
    reasons: list[str],
) -> None:
    """Members a network refused in an `operation`, by member key, each with the network's
    reason."""
    refused = pa.table(
        {
            "member_key": members["member_key"],
            "reason": pa.array(reasons, pa.string()),
        }
    )
    with backend.registered("refused", refused):
        backend.execute(
            "INSERT INTO quarantine SELECT ?, ?, NULL, ?, reason, member_key FROM refused",
            [run_id, name, f"network:{operation}"],
        )
