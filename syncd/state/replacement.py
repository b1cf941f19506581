"""The journal of a full replacement (a network that swaps an audience's members for a
segment in one session, as Meta's usersreplace does).

While the session runs, every held member may go and every segment member may arrive: the
held ones are marked `removing`, the segment's `adding`, under one batch. When the network
says the session took, the audience holds exactly the segment.
"""

from __future__ import annotations

from syncd.state.backends import Backend
from syncd.state.journal import (
    ACKNOWLEDGED,
    ADDING,
    MEMBER_COLUMNS,
    PRESENT,
    REMOVING,
    batch_id,
    insert_batches,
    insert_selected,
    now,
    settle,
)
from syncd.state.spill import Spill, SpillTable

__all__ = ["acknowledge_replace", "begin_replace"]


def begin_replace(
    backend: Backend, spill: Spill, run_id: str, audience: tuple[str, str], segment: SpillTable
) -> str:
    """Journal a full replacement: every held member may go, every segment member may
    arrive, until the network says the session ended."""
    identifier = batch_id(run_id, "replace", 1)
    insert_selected(
        backend,
        spill,
        "batch_members",
        f"SELECT ? AS batch_id, ? AS destination, ? AS audience_id, {MEMBER_COLUMNS} "
        f"FROM {segment.name}",
        [identifier, *audience],
    )
    with backend.transaction():
        backend.execute(
            f"UPDATE members SET status = '{REMOVING}' WHERE destination = ? AND audience_id = ?",
            list(audience),
        )
        backend.execute(
            "DELETE FROM members WHERE destination = ? AND audience_id = ? AND member_key IN "
            "(SELECT member_key FROM batch_members WHERE batch_id = ?)",
            [*audience, identifier],
        )
        backend.execute(
            f"INSERT INTO members SELECT destination, audience_id, {MEMBER_COLUMNS}, "
            f"'{ADDING}', ?, NULL, NULL FROM batch_members WHERE batch_id = ?",
            [now(), identifier],
        )
        backend.execute("DELETE FROM batch_members WHERE batch_id = ?", [identifier])
        insert_batches(backend, [(identifier, run_id, "replace", 1, segment.rows)])
    return identifier


def acknowledge_replace(
    backend: Backend, identifier: str, audience: tuple[str, str], request_id: str | None
) -> None:
    """The replacement took: the audience holds exactly the segment."""
    with backend.transaction():
        backend.execute(
            f"DELETE FROM members WHERE destination = ? AND audience_id = ? "
            f"AND status = '{REMOVING}'",
            list(audience),
        )
        backend.execute(
            f"UPDATE members SET status = '{PRESENT}', synced_at = ? "
            "WHERE destination = ? AND audience_id = ?",
            [now(), *audience],
        )
        settle(backend, identifier, ACKNOWLEDGED, request_id)
