"""Runs: one row per pass over an audience, saying which process ran it, when, and how it
ended, with the batches it sent.

They are what an operator and the next plan read back (the last good summary), and what
the next pass closes when a process died: a run still `running` when its audience's lease
is taken again is dead, and its batches in flight were never acknowledged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from syncd.state import journal
from syncd.state.backends import Backend

#: SQL true for a run that is a pass over its segment, not an erasure's (`syncd forget`:
#: its summary's "erasure" is a string, it read no segment); a run still going has no
#: summary yet. `finish` writes `"erasure": "..."`; compact JSON is matched too.
NOT_ERASURE = (
    """(summary IS NULL OR (summary NOT LIKE '%"erasure": "%'"""
    """ AND summary NOT LIKE '%"erasure":"%'))"""
)


@dataclass(frozen=True)
class Recovery:
    """What a previous process left unfinished, found when a new pass starts."""

    interrupted_runs: int
    batches_in_flight: int


def start(backend: Backend, name: str, audience: tuple[str, str], holder: str) -> str:
    """A pass of the audience (`name` in the config) by `holder` begins: its run's id."""
    run_id = uuid.uuid4().hex
    backend.execute(
        "INSERT INTO runs (run_id, audience, destination, audience_id, holder, started_at,"
        " status) VALUES (?, ?, ?, ?, ?, ?, 'running')",
        [run_id, name, *audience, holder, journal.now()],
    )
    return run_id


def finish(
    backend: Backend,
    run_id: str,
    status: str,
    summary: Mapping[str, object],
    error: str | None = None,
) -> None:
    """The run ended with `status`; its summary is kept as JSON for the next plan to read."""
    backend.execute(
        "UPDATE runs SET finished_at = ?, status = ?, summary = ?, error = ? WHERE run_id = ?",
        [journal.now(), status, json.dumps(summary, sort_keys=True), error, run_id],
    )


def close_dead(backend: Backend, audience: tuple[str, str]) -> Recovery:
    """The audience's runs still `running` become `interrupted`, and the batches they left
    in flight `unacknowledged`, in one transaction. Only for the holder of the audience's
    lease: a live pass would have its run closed under it."""
    where = "status = 'running' AND destination = ? AND audience_id = ?"
    with backend.transaction():
        batches = backend.execute(  # first: they are found by their runs
            "UPDATE batches SET status = 'unacknowledged', settled_at = ? "
            f"WHERE status = 'sent' AND run_id IN (SELECT run_id FROM runs WHERE {where}) "
            "RETURNING batch_id",
            [journal.now(), *audience],
        )
        runs = backend.execute(
            f"UPDATE runs SET status = 'interrupted', finished_at = ? WHERE {where} "
            "RETURNING run_id",
            [journal.now(), *audience],
        )
    return Recovery(len(runs), len(batches))


def history(backend: Backend) -> list[dict[str, object]]:
    """Every run, oldest first."""
    return _records(backend, "SELECT * FROM runs ORDER BY started_at")


def batches_of(backend: Backend, run_id: str) -> list[dict[str, object]]:
    """The batches a run sent, in the order it sent them."""
    return _records(
        backend,
        "SELECT * FROM batches WHERE run_id = ? ORDER BY sent_at, batch_number",
        [run_id],
    )


def _records(
    backend: Backend, sql: str, parameters: list[object] | None = None
) -> list[dict[str, object]]:
    return backend.arrow(sql, parameters or []).to_pylist()
