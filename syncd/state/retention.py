"""Retention: the state forgets what only history needed, after the periods of the config's
`retention:` section (`syncd.config.retention.Retention`), at most once a day.

What goes, and what is always kept:

- an audience's batch journal (`batch_members`: members being removed or sent again) when no
  pass has run the audience for `removed_member_days`: syncd applies it under the audience's
  lease, as a pass's claim would (`StateStore.recover`), so members whose removal the network
  acknowledged leave the state instead of lingering as held;
- runs finished more than `run_days` ago, with their batches, except an audience's latest
  run and latest successful one (the next plan reads its summary) and runs whose requests
  the network has not settled (`pending` batches are found through their run);
- quarantine rows of runs finished more than `quarantine_days` ago;
- erasure records done more than `erasure_days` ago, never one still pending or failed.

Each step deletes at most a bounded number of rows' worth of runs or audiences, so a state
that has never been pruned catches up over a few days instead of slowing one pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from syncd.config.retention import Retention
from syncd.state import StateStore, leases, runs
from syncd.state.backends import Backend
from syncd.state.folding import fold
from syncd.state.journal import PENDING, SENT

log = logging.getLogger("syncd")

#: The lease row that says when the state was last pruned: taken for a day, so replicas
#: sharing a state prune it once a day between them.
DUE = "retention"
_EVERY = timedelta(days=1)
#: Runs, and their batches, deleted by one prune at most; the next day's prune deletes the
#: rest. A DuckDB state deletes a batch in about 40 µs (its primary key's index), so these
#: keep a prune within a second or so (benchmarks/retention.py).
RUNS_PER_PRUNE = 5_000
BATCHES_PER_PRUNE = 10_000
#: Audiences whose old journal one prune applies (each costs a fold of its journal).
AUDIENCES_PER_PRUNE = 2
#: How long the lease on an audience is held while its old journal is applied.
_LEASE_SECONDS = 600.0

_TAKE_DUE = (
    "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, now() + ? * INTERVAL '1 second') "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
    "WHERE leases.expires_at <= now() RETURNING holder"
)


@dataclass(frozen=True)
class Pruned:
    """What one prune deleted."""

    journals_applied: int
    runs: int
    batches: int
    quarantine: int
    erasures: int


def prune_when_due(
    state: StateStore, retention: Retention, holder: str, now: datetime
) -> Pruned | None:
    """Prune (`prune`) unless the state was pruned in the last day; None when it was. A
    failure is logged, never raised: retention must not fail the pass it follows."""
    try:
        if not state.backend.execute_aside(_TAKE_DUE, [DUE, DUE, _EVERY.total_seconds()]):
            return None
        pruned = prune(state, retention, holder, now)
    except Exception as error:
        log.error("could not prune the state (tried again in a day): %s", error)
        return None
    log.info(
        "retention: %d old journals applied; %d runs, %d batches, %d quarantine rows and "
        "%d erasure records deleted",
        pruned.journals_applied,
        pruned.runs,
        pruned.batches,
        pruned.quarantine,
        pruned.erasures,
    )
    return pruned


def prune(state: StateStore, retention: Retention, holder: str, now: datetime) -> Pruned:
    """Delete what the periods of `retention` have run out on, as of `now` (see the module
    docstring); `holder` takes the leases of audiences whose journal is applied."""
    backend = state.backend
    journals = _apply_old_journals(
        backend, holder, now - timedelta(days=retention.removed_member_days)
    )
    quarantine = _delete_counted(
        backend,
        "quarantine",
        "run_id IN (SELECT run_id FROM runs WHERE finished_at < ?)",
        [now - timedelta(days=retention.quarantine_days)],
    )
    expired_runs, batches, orphans = _delete_runs(backend, now - timedelta(days=retention.run_days))
    erasures = _delete_erasures(backend, now - timedelta(days=retention.erasure_days))
    return Pruned(journals, expired_runs, batches, quarantine + orphans, erasures)


def _apply_old_journals(backend: Backend, holder: str, before: datetime) -> int:
    """Apply the journal of audiences not run since `before`, each under its lease (skipped
    while another process holds it); how many were applied."""
    found = backend.execute(
        "SELECT s.destination, s.audience_id FROM (SELECT destination, audience_id FROM runs "
        "GROUP BY destination, audience_id HAVING max(started_at) < ?) s WHERE EXISTS ("
        "SELECT 1 FROM batch_members j WHERE j.destination = s.destination "
        "AND j.audience_id = s.audience_id) ORDER BY 1, 2 LIMIT ?",
        [before, AUDIENCES_PER_PRUNE],
    )
    applied = 0
    for destination, audience_id in found:
        name = f"{destination}/{audience_id}"  # as `syncd.claims.lease_name` names it
        if not leases.hold(backend, name, holder, _LEASE_SECONDS):
            continue
        try:
            runs.close_dead(backend, (destination, audience_id))
            fold(backend, (destination, audience_id))
            applied += 1
        finally:
            leases.release(backend, holder, [name])
    return applied


#: Runs past their period that may go: not running, not an audience's latest run nor its
#: latest successful one (by its state key or its config name), no request left unsettled;
#: the oldest first, as many as keep their batches within BATCHES_PER_PRUNE (at least one).
_EXPIRED_RUNS = f"""
WITH by_audience AS (
    SELECT destination, audience_id, max(started_at) AS latest,
        max(CASE WHEN status = 'ok' THEN started_at END) AS latest_ok
    FROM runs GROUP BY destination, audience_id
), by_name AS (
    SELECT audience, max(started_at) AS latest,
        max(CASE WHEN status = 'ok' THEN started_at END) AS latest_ok
    FROM runs GROUP BY audience
), candidates AS (
    SELECT r.run_id, r.finished_at FROM runs r
    JOIN by_audience a ON a.destination = r.destination AND a.audience_id = r.audience_id
    JOIN by_name n ON n.audience = r.audience
    WHERE r.finished_at < ? AND r.status <> 'running'
        AND r.started_at < a.latest AND r.started_at < n.latest
        AND NOT (r.status = 'ok' AND (r.started_at = a.latest_ok OR r.started_at = n.latest_ok))
), counted AS (
    SELECT run_id, count(*) AS batches,
        sum(CASE WHEN status IN ('{SENT}', '{PENDING}') THEN 1 ELSE 0 END) AS unsettled
    FROM batches WHERE run_id IN (SELECT run_id FROM candidates) GROUP BY run_id
)
SELECT run_id FROM (
    SELECT c.run_id, sum(coalesce(b.batches, 0)) OVER (ORDER BY c.finished_at, c.run_id
        ROWS UNBOUNDED PRECEDING) - coalesce(b.batches, 0) AS batches_before
    FROM candidates c LEFT JOIN counted b ON b.run_id = c.run_id
    WHERE coalesce(b.unsettled, 0) = 0
) expired
WHERE batches_before < ?
ORDER BY batches_before LIMIT ?
"""


def _delete_runs(backend: Backend, before: datetime) -> tuple[int, int, int]:
    """Delete the runs that finished before `before` and may go (`_EXPIRED_RUNS`), with
    their batches and their quarantine rows, in one transaction: (runs, batches, quarantine
    rows)."""
    with backend.transaction():
        backend.execute("DROP TABLE IF EXISTS syncd_expired_runs")
        backend.execute(
            f"CREATE TEMP TABLE syncd_expired_runs AS {_EXPIRED_RUNS}",
            [before, BATCHES_PER_PRUNE, RUNS_PER_PRUNE],
        )
        # No journal rows to delete: those of an audience's earlier runs were applied when
        # its latest run claimed it (`StateStore.recover`), and latest runs are kept.
        expired = "run_id IN (SELECT run_id FROM syncd_expired_runs)"
        batches = _delete_counted(backend, "batches", expired)
        quarantine = _delete_counted(backend, "quarantine", expired)
        deleted = _delete_counted(backend, "runs", expired)
        backend.execute("DROP TABLE syncd_expired_runs")
    return deleted, batches, quarantine


def _delete_erasures(backend: Backend, before: datetime) -> int:
    """Delete the erasure records done before `before`, with their values and outcomes (the
    tables may not exist in a state no `syncd forget` has written)."""
    if not _exists(backend, "erasures"):
        return 0
    done = (
        "erasure_id IN (SELECT erasure_id FROM erasures WHERE status = 'done' AND finished_at < ?)"
    )
    with backend.transaction():
        for table in ("erasure_values", "erasure_outcomes"):
            if _exists(backend, table):
                backend.execute(f"DELETE FROM {table} WHERE {done}", [before])
        return _delete_counted(backend, "erasures", "status = 'done' AND finished_at < ?", [before])


def _delete_counted(
    backend: Backend, table: str, where: str, parameters: list[object] | None = None
) -> int:
    """DELETE the rows of `table` matching `where`; how many went."""
    return len(backend.execute(f"DELETE FROM {table} WHERE {where} RETURNING 1", parameters or []))


def _exists(backend: Backend, table: str) -> bool:
    """Whether the state has `table` (in its own schema and database)."""
    found = backend.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = current_schema() AND table_catalog = current_database()",
        [table],
    )
    return bool(found[0][0])
