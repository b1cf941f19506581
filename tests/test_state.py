"""State and diff on their own, with no network: DuckDB file, Arrow tables in and out."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from syncd.members import MEMBER_SCHEMA, member_key
from syncd.state import AudienceRef, StateStore

AUDIENCE = AudienceRef("meta:act_1", "42")
OTHER = AudienceRef("meta:act_1", "43")


def members(*emails: str) -> pa.Table:
    rows = []
    for email in emails:
        values = (email, None, None, None, None, None, None, None)
        rows.append({"member_key": member_key(values), "email": email})
    return pa.Table.from_pylist(rows, schema=MEMBER_SCHEMA)


def keys(table: pa.Table) -> set[str]:
    return set(table["email"].to_pylist())


def test_diff_of_an_empty_audience_adds_everything(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.duckdb") as state:
        diff = state.diff(AUDIENCE, members("a", "b"))
        assert keys(diff.adds) == {"a", "b"}
        assert len(diff.removes) == 0
        assert diff.adds.schema == MEMBER_SCHEMA


def commit(state: StateStore, audience: AudienceRef, operation: str, table: pa.Table) -> None:
    """Send-and-acknowledge, as the pipeline does around a successful request."""
    batch = state.begin_batch("run", audience, operation, 1, table)
    state.acknowledge_batch(batch, audience, operation, table, "request-1")


def test_diff_after_commits_is_only_the_change(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.duckdb") as state:
        commit(state, AUDIENCE, "add", members("a", "b", "c"))
        commit(state, OTHER, "add", members("z"))
        diff = state.diff(AUDIENCE, members("b", "c", "d"))
        assert keys(diff.adds) == {"d"}
        assert keys(diff.removes) == {"a"}


def test_acknowledged_removals_forget_only_that_audience(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    with StateStore(path) as state:
        commit(state, AUDIENCE, "add", members("a", "b"))
        commit(state, OTHER, "add", members("a"))
        commit(state, AUDIENCE, "remove", members("a"))
    with StateStore(path) as reopened:  # committed means durable
        assert keys(reopened.members(AUDIENCE)) == {"b"}
        assert keys(reopened.members(OTHER)) == {"a"}
        assert reopened.member_count(AUDIENCE) == 1


def test_adding_twice_is_idempotent(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.duckdb") as state:
        commit(state, AUDIENCE, "add", members("a"))
        commit(state, AUDIENCE, "add", members("a"))
        assert state.member_count(AUDIENCE) == 1


def test_an_unacknowledged_add_is_sent_again_or_removed(tmp_path: Path) -> None:
    """A crash after sending an add: the network may or may not hold those members."""
    path = tmp_path / "state.duckdb"
    with StateStore(path) as state:
        state.begin_batch("run-1", AUDIENCE, "add", 1, members("a", "b"))
    with StateStore(path) as restarted:
        assert restarted.recover().batches_in_flight == 1
        diff = restarted.diff(AUDIENCE, members("a"))  # "b" left the segment meanwhile
        assert keys(diff.adds) == {"a"}  # maybe never arrived: send again (idempotent)
        assert keys(diff.removes) == {"b"}  # maybe arrived: must go, or it is lost


def test_an_unacknowledged_removal_is_sent_again_or_undone(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    with StateStore(path) as state:
        commit(state, AUDIENCE, "add", members("a", "b"))
        state.begin_batch("run-1", AUDIENCE, "remove", 1, members("a", "b"))
    with StateStore(path) as restarted:
        diff = restarted.diff(AUDIENCE, members("b"))  # "b" came back to the segment
        assert keys(diff.removes) == {"a"}
        assert keys(diff.adds) == {"b"}  # its removal may have landed: add it again


def test_a_failed_batch_keeps_its_members_in_flight(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.duckdb") as state:
        batch = state.begin_batch("run-1", AUDIENCE, "add", 1, members("a"))
        state.fail_batch(batch, "HTTP 500")
        assert keys(state.diff(AUDIENCE, members("a")).adds) == {"a"}
        assert [b["status"] for b in state.batches("run-1")] == ["failed"]


def test_runs_are_journaled_with_their_summary(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.duckdb") as state:
        run_id = state.start_run("s->meta", AUDIENCE, "host:1")
        assert state.runs()[0]["status"] == "running"
        state.finish_run(run_id, "ok", {"adds": 3})
        (run,) = state.runs()
        assert (run["run_id"], run["status"], run["summary"]) == (run_id, "ok", '{"adds": 3}')
        assert run["finished_at"] >= run["started_at"]
