"""Retention (`syncd.state.retention`) on a real state, DuckDB and PostgreSQL: old rows go,
recent ones stay, and the runs, journals and erasures the next pass needs are never lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import Workspace
from support.erasure_records import record
from support.people import PEOPLE, rows

from syncd.config.retention import Retention
from syncd.members import MEMBER_SCHEMA, member_key
from syncd.state import AudienceRef, StateStore, journal, retention
from syncd.state.backends import PostgresBackend
from syncd.state.erasures import AudienceKey
from syncd.state.retention import prune, prune_when_due
from syncd.targets import audience_ref

NOW = datetime(2025, 6, 1, tzinfo=UTC)
A = AudienceRef("meta:act_1", "a")
B = AudienceRef("meta:act_1", "b")
RETENTION = Retention(run_days=90, quarantine_days=30, removed_member_days=30, erasure_days=365)


@pytest.fixture(params=["duckdb", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StateStore]:
    if request.param == "duckdb":
        return lambda: StateStore.at(tmp_path / "state.duckdb")
    uri = request.getfixturevalue("postgres_uri")
    schema = f"retention_{uuid.uuid4().hex[:12]}"
    return lambda: StateStore(PostgresBackend(uri, schema))


def emails(*values: str) -> pa.Table:
    rows = [
        {"member_key": member_key((v, None, None, None, None, None, None, None)), "email": v}
        for v in values
    ]
    return pa.Table.from_pylist(rows, schema=MEMBER_SCHEMA)


def run(
    state: StateStore, audience: AudienceRef, days_ago: float, status: str, name: str = "seg"
) -> str:
    """A run of `audience` that started and finished `days_ago`, with one quarantine row."""
    run_id = state.start_run(name, audience, "tester")
    at = NOW - timedelta(days=days_ago)
    state.backend.execute(
        "UPDATE runs SET started_at = ?, finished_at = ?, status = ? WHERE run_id = ?",
        [at, None if status == "running" else at, status, run_id],
    )
    state.backend.execute(
        "INSERT INTO quarantine VALUES (?, ?, 7, 'email', 'invalid email', NULL)", [run_id, name]
    )
    return run_id


def batch(state: StateStore, run_id: str, days_ago: float, status: str) -> None:
    at = NOW - timedelta(days=days_ago)
    journal.insert_batches(state.backend, [(f"{run_id}:remove:1", run_id, "remove", 1, 1)])
    state.backend.execute(
        "UPDATE batches SET status = ?, sent_at = ?, settled_at = ? WHERE run_id = ?",
        [status, at, at, run_id],
    )


def ids(state: StateStore, sql: str) -> set[str]:
    return {str(row[0]) for row in state.backend.execute(sql)}


def test_old_runs_go_and_the_latest_running_and_unsettled_stay(
    make_store: Callable[[], StateStore],
) -> None:
    with make_store() as state:
        unsettled = run(state, A, 300, "failed")
        batch(state, unsettled, 300, journal.PENDING)
        old = run(state, A, 200, "ok")
        batch(state, old, 200, journal.ACKNOWLEDGED)
        old_failed = run(state, A, 150, "failed")
        last_ok = run(state, A, 120, "ok")
        latest = run(state, A, 100, "failed")
        dead = run(state, B, 200, "running")
        recent = run(state, B, 10, "ok")

        pruned = prune(state, RETENTION, "tester", NOW)

        kept = ids(state, "SELECT run_id FROM runs")
        assert kept == {unsettled, last_ok, latest, dead, recent}
        assert (pruned.runs, pruned.batches) == (2, 1)
        assert ids(state, "SELECT run_id FROM batches") == {unsettled}
        # Quarantine rows older than 30 days go, even those of runs kept.
        assert ids(state, "SELECT run_id FROM quarantine") == {dead, recent}
        assert old not in kept and old_failed not in kept


def test_a_run_is_latest_by_its_config_name_too(make_store: Callable[[], StateStore]) -> None:
    """An audience renamed in the config keeps the latest run under each name (the spend
    report reads the latest run per name)."""
    with make_store() as state:
        before = run(state, A, 200, "ok", name="old-name")
        run(state, A, 150, "ok", name="new-name")
        older = run(state, A, 220, "failed", name="old-name")
        prune(state, RETENTION, "tester", NOW)
        kept = ids(state, "SELECT run_id FROM runs")
        assert before in kept and older not in kept


def test_an_old_journal_is_applied_and_a_recent_one_kept(
    make_store: Callable[[], StateStore],
) -> None:
    """Members whose removal the network acknowledged, in the journal of an audience not run
    since, leave the state; those of an audience run recently wait for its next pass."""
    with make_store() as state:
        for audience, days_ago in ((A, 60), (B, 5)):
            run_id = run(state, audience, days_ago, "ok")
            held = state.begin_batch(run_id, audience, "add", 1, emails("x@a.com", "y@a.com"))
            state.acknowledge_batch(held, audience, "add", emails("x@a.com", "y@a.com"), "r1")
            removal = state.begin_batch(run_id, audience, "remove", 2, emails("x@a.com"))
            journal.settle(state.backend, removal, journal.ACKNOWLEDGED, "r2")  # not folded

        pruned = prune(state, RETENTION, "tester", NOW)

        assert pruned.journals_applied == 1
        left = state.backend.execute("SELECT destination, audience_id FROM batch_members")
        assert left == [(B.destination, B.audience_id)]
        held = "SELECT email FROM members WHERE audience_id = ?"  # as is, without a fold
        assert state.backend.execute(held, [A.audience_id]) == [("y@a.com",)]
        assert len(state.backend.execute(held, [B.audience_id])) == 2
        assert len(state.backend.execute("SELECT * FROM leases WHERE name LIKE 'meta:%'")) == 0


def test_an_old_journal_under_a_live_lease_is_left_alone(
    make_store: Callable[[], StateStore],
) -> None:
    with make_store() as state:
        run_id = run(state, A, 60, "ok")
        state.begin_batch(run_id, A, "remove", 1, emails("x@a.com"))
        assert state.hold_lease(f"{A.destination}/{A.audience_id}", "another", 300)
        assert prune(state, RETENTION, "tester", NOW).journals_applied == 0
        assert len(state.backend.execute("SELECT * FROM batch_members")) == 1


def test_only_erasures_done_long_ago_go(make_store: Callable[[], StateStore]) -> None:
    key = AudienceKey("seg", A.destination, A.audience_id, "meta")
    with make_store() as state:
        for erasure_id, days_ago, outcome in (
            ("old-done", 400, "done"),
            ("new-done", 100, "done"),
            ("old-pending", 400, "pending"),
            ("old-failed", 400, "failed"),
        ):
            at = NOW - timedelta(days=days_ago)
            record(state, erasure_id, key, ["x@a.com"], at, outcome, members=1, requests=1)

        assert prune(state, RETENTION, "tester", NOW).erasures == 1

        kept = {"new-done", "old-pending", "old-failed"}
        for table in ("erasures", "erasure_values", "erasure_outcomes"):
            assert ids(state, f"SELECT erasure_id FROM {table}") == kept


def test_a_state_is_pruned_once_a_day(make_store: Callable[[], StateStore]) -> None:
    """Replicas sharing a state prune it once a day between them, whoever comes first."""
    with make_store() as state:
        old = run(state, A, 200, "ok")
        run(state, A, 100, "ok")
        first = prune_when_due(state, RETENTION, "one", NOW)
        assert first is not None and first.runs == 1
        assert prune_when_due(state, RETENTION, "two", NOW) is None
        assert old not in ids(state, "SELECT run_id FROM runs")


def test_one_prune_deletes_a_bounded_number_of_batches(
    make_store: Callable[[], StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oldest expired runs go first, as many as keep their batches within the bound;
    the next prune takes the rest."""
    monkeypatch.setattr(retention, "BATCHES_PER_PRUNE", 2)
    with make_store() as state:
        expired = [run(state, A, days_ago, "failed") for days_ago in (300, 200, 150)]
        for run_id, days_ago in zip(expired, (300, 200, 150), strict=True):
            batch(state, run_id, days_ago, journal.ACKNOWLEDGED)
        run(state, A, 100, "ok")
        assert prune(state, RETENTION, "tester", NOW).batches == 2
        assert ids(state, "SELECT run_id FROM batches") == {expired[2]}
        assert prune(state, RETENTION, "tester", NOW).batches == 1


def test_a_pass_prunes_the_state_at_its_end(workspace: Workspace) -> None:
    """A pass that applies prunes once a day: the audience's old runs go, its own stays."""
    config = workspace.config()
    ref = audience_ref(config, config.audiences[0])
    name = config.audiences[0].name
    with StateStore.at(workspace.root / "state.duckdb") as state:
        old = run(state, ref, (datetime.now(UTC) - NOW).days + 200, "ok", name=name)
    workspace.write_people(rows(PEOPLE[:3]))
    assert all(result.status == "ok" for result in workspace.sync())
    with StateStore.at(workspace.root / "state.duckdb") as state:
        kept = [r for r in state.runs() if r["destination"] == ref.destination]
        assert old not in {r["run_id"] for r in kept} and len(kept) == 1
        assert state.backend.execute("SELECT holder FROM leases WHERE name = 'retention'")
