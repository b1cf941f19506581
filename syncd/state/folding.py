"""Folding: the batch journal applied to `members` in bulk.

An acknowledged add makes its members `present`, an acknowledged removal forgets them, and a
batch in flight leaves its members `adding` or `removing`, which the diff counts as possibly
either way (`syncd.state.journal` says how batches are journaled). A push folds when it is
over, and a diff folds first, so a pass that died is folded by the next one. None of it
needs an index on `members`, which is what keeps a 10M-member audience within a DuckDB file
and a bounded memory.
"""

from __future__ import annotations

from syncd.members import MEMBER_SCHEMA
from syncd.state.backends import Backend
from syncd.state.journal import (
    ACKNOWLEDGED,
    ADDING,
    MEMBER_COLUMNS,
    PENDING,
    PRESENT,
    REMOVING,
    SENT,
    STAGED,
)

__all__ = ["fold"]

_APPLIED = f"('{ACKNOWLEDGED}', '{PENDING}')"


def fold(backend: Backend, audience: tuple[str, str], *, discard_unsent: bool = True) -> None:
    """Apply the audience's journal to `members` (see the module docstring). Settled
    batches leave the journal; so does everything else with `discard_unsent`, which a push
    asks for when it is over (members staged for batches never sent mean nothing)."""
    where = "destination = ? AND audience_id = ?"
    pending = backend.execute(f"SELECT count(*) FROM batch_members WHERE {where}", audience)
    staged = backend.execute(
        f"SELECT count(*) FROM members WHERE {where} AND status = '{STAGED}'", audience
    )
    if not pending[0][0] and not staged[0][0]:
        return
    with backend.transaction():
        if staged[0][0]:
            _resolve_staged(backend, audience, discard_unsent)
        if pending[0][0]:
            _fold_journal(backend, audience, discard_unsent)


def _resolve_staged(backend: Backend, audience: tuple[str, str], discard_unsent: bool) -> None:
    """Members staged in `members` take their batch's outcome; those of batches never sent
    are dropped (with `discard_unsent`), those of batches in flight stay staged without."""
    where = f"destination = ? AND audience_id = ? AND status = '{STAGED}'"
    if discard_unsent:
        backend.execute(
            f"DELETE FROM members WHERE {where} AND batch_id NOT IN (SELECT batch_id FROM batches)",
            list(audience),
        )
    settled = "" if discard_unsent else f" AND b.status <> '{SENT}'"
    backend.execute(
        f"UPDATE members SET status = CASE WHEN b.status IN {_APPLIED} THEN '{PRESENT}' "
        f"ELSE '{ADDING}' END, synced_at = CASE WHEN b.status IN {_APPLIED} "
        "THEN b.settled_at ELSE b.sent_at END, "
        f"batch_id = CASE WHEN b.status = '{PENDING}' THEN b.batch_id END FROM batches b "
        "WHERE members.batch_id = b.batch_id AND members.destination = ? "
        f"AND members.audience_id = ? AND members.status = '{STAGED}'{settled}",
        list(audience),
    )


def _fold_journal(backend: Backend, audience: tuple[str, str], discard_unsent: bool) -> None:
    backend.execute("DROP TABLE IF EXISTS syncd_folding")
    backend.execute(
        f"CREATE TEMP TABLE syncd_folding AS SELECT j.batch_id, j.destination, "
        f"j.audience_id, {', '.join(f'j.{c}' for c in MEMBER_SCHEMA.names)}, b.operation, "
        f"b.status IN {_APPLIED} AS settled, b.status = '{PENDING}' AS pending, "
        f"b.status <> '{SENT}' AS done, "
        f"CASE WHEN b.status IN {_APPLIED} THEN b.settled_at ELSE b.sent_at END "
        "AS changed_at "
        "FROM batch_members j JOIN batches b ON b.batch_id = j.batch_id "
        "WHERE j.destination = ? AND j.audience_id = ?",
        list(audience),
    )
    counts = dict(
        backend.execute(
            "SELECT operation || ':' || CAST(settled AS VARCHAR), count(*) "
            "FROM syncd_folding GROUP BY 1"
        )
    )
    held = backend.execute(
        "SELECT count(*) FROM members WHERE destination = ? AND audience_id = ?",
        list(audience),
    )[0][0]
    _apply(backend, audience, counts, held > 0)
    backend.execute(  # kept until the network says how they went (`revert_pending`)
        f"INSERT INTO pending_removals SELECT batch_id, destination, audience_id, {MEMBER_COLUMNS} "
        "FROM syncd_folding WHERE operation = 'remove' AND pending"
    )
    where = "destination = ? AND audience_id = ?"
    if not discard_unsent:
        where += " AND batch_id IN (SELECT batch_id FROM syncd_folding WHERE done)"
    backend.execute(f"DELETE FROM batch_members WHERE {where}", list(audience))
    backend.execute("DROP TABLE syncd_folding")


def _apply(backend: Backend, audience: tuple[str, str], counts: dict[str, int], held: bool) -> None:
    """The journal's statuses onto `members`: adds (re)written, settled removals deleted,
    removals in flight marked. Statements with nothing to do are skipped: on a first sync
    the audience holds nothing and only the insert runs."""
    where = "destination = ? AND audience_id = ? AND member_key IN "
    in_flight_removals = counts.get("remove:false", 0)
    if held and len(counts) > (1 if in_flight_removals else 0):
        backend.execute(
            f"DELETE FROM members WHERE {where}"
            "(SELECT member_key FROM syncd_folding WHERE operation = 'add' OR settled)",
            list(audience),
        )
    if held and in_flight_removals:
        backend.execute(
            f"UPDATE members SET status = '{REMOVING}' WHERE {where}"
            "(SELECT member_key FROM syncd_folding WHERE operation = 'remove' AND NOT settled)",
            list(audience),
        )
    if counts.get("add:true", 0) or counts.get("add:false", 0):
        backend.execute(
            f"INSERT INTO members SELECT destination, audience_id, {MEMBER_COLUMNS}, "
            f"CASE WHEN settled THEN '{PRESENT}' ELSE '{ADDING}' END, changed_at, "
            "CASE WHEN pending THEN batch_id END, NULL FROM syncd_folding WHERE operation = 'add'"
        )
