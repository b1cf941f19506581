"""When each person entered and left an audience's treated or held-out group: the history an
experiment's estimate is read from (`syncd.lift`). Person keys are hashes (`syncd.lift.person`)
and experiments are named by their salts, so nothing here can be turned back into an
identifier or a segment's SQL.

A row is one stay in one group: open (`left_at` NULL) while the person is in that group, and
closed by the first pass that finds them elsewhere or gone. A pass that ends ok records its
groups; a pass that fails records nothing, and the next one catches up.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from syncd.state.backends import Backend
from syncd.state.spill import SpillTable

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS group_history (
    destination VARCHAR NOT NULL,
    audience_id VARCHAR NOT NULL,
    experiment VARCHAR NOT NULL,
    person_key VARCHAR NOT NULL,
    held_out BOOLEAN NOT NULL,
    entered_at TIMESTAMPTZ NOT NULL,
    left_at TIMESTAMPTZ
)
"""

_OPEN = "destination = ? AND audience_id = ? AND experiment = ? AND left_at IS NULL"


def record_groups(
    backend: Backend,
    audience: tuple[str, str],
    experiment: str,
    people: SpillTable,
    at: dt.datetime,
    kept_since: dt.datetime,
) -> None:
    """Bring the open stays of the audience (destination, audience id) in line with `people`
    (person_key, held_out; one row a person): stays no longer true close at `at`, new ones
    open at `at`; stays of the audience's earlier experiments (another salt: the holdout was
    re-drawn or renamed) close too, and stays that ended before `kept_since` go.
    `people` is read where it lies: in the state's own database, or copied from the pass's
    spill (PostgreSQL state) for the statements."""
    if people.spill.local:
        _record(backend, people.name, [*audience, experiment], at, kept_since)
        return
    reader = people.spill.reader(f"SELECT person_key, held_out FROM {people.name}")
    with backend.registered("current_groups", reader):
        _record(backend, "current_groups", [*audience, experiment], at, kept_since)


def _record(
    backend: Backend, current: str, key: list[str], at: dt.datetime, kept_since: dt.datetime
) -> None:
    with backend.transaction():
        backend.execute(
            "UPDATE group_history SET left_at = ? WHERE destination = ? AND audience_id = ? "
            "AND experiment <> ? AND left_at IS NULL",
            [at, *key],
        )
        backend.execute(
            "DELETE FROM group_history WHERE destination = ? AND audience_id = ? AND left_at < ?",
            [*key[:2], kept_since],
        )
        backend.execute(
            f"UPDATE group_history SET left_at = ? WHERE {_OPEN} AND NOT EXISTS ("
            f"SELECT 1 FROM {current} c WHERE c.person_key = group_history.person_key "
            "AND c.held_out = group_history.held_out)",
            [at, *key],
        )
        backend.execute(
            "INSERT INTO group_history (destination, audience_id, experiment, person_key, "
            f"held_out, entered_at) SELECT ?, ?, ?, c.person_key, c.held_out, ? FROM {current} c "
            "WHERE NOT EXISTS (SELECT 1 FROM group_history h WHERE h.destination = ? AND "
            "h.audience_id = ? AND h.experiment = ? AND h.left_at IS NULL "
            "AND h.person_key = c.person_key AND h.held_out = c.held_out)",
            [*key, at, *key],
        )


def group_history(backend: Backend, audience: tuple[str, str]) -> pa.Table:
    """Every stay of the audience's people in its experiments' groups, oldest first."""
    return backend.arrow(
        "SELECT experiment, person_key, held_out, entered_at, left_at FROM group_history "
        "WHERE destination = ? AND audience_id = ? ORDER BY entered_at, person_key",
        list(audience),
    )
