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


def test_diff_after_commits_is_only_the_change(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.duckdb") as state:
        state.record_added(AUDIENCE, members("a", "b", "c"))
        state.record_added(OTHER, members("z"))
        diff = state.diff(AUDIENCE, members("b", "c", "d"))
        assert keys(diff.adds) == {"d"}
        assert keys(diff.removes) == {"a"}


def test_removal_commits_forget_only_that_audience(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    with StateStore(path) as state:
        state.record_added(AUDIENCE, members("a", "b"))
        state.record_added(OTHER, members("a"))
        state.record_removed(AUDIENCE, members("a"))
    with StateStore(path) as reopened:  # committed means durable
        assert keys(reopened.members(AUDIENCE)) == {"b"}
        assert keys(reopened.members(OTHER)) == {"a"}
        assert reopened.member_count(AUDIENCE) == 1


def test_adding_twice_is_idempotent(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.duckdb") as state:
        state.record_added(AUDIENCE, members("a"))
        state.record_added(AUDIENCE, members("a"))
        assert state.member_count(AUDIENCE) == 1


def test_runs_are_journaled_with_their_summary(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.duckdb") as state:
        run_id = state.start_run("s->meta", AUDIENCE)
        assert state.runs()[0]["status"] == "running"
        state.finish_run(run_id, "ok", {"adds": 3})
        (run,) = state.runs()
        assert (run["run_id"], run["status"], run["summary"]) == (run_id, "ok", '{"adds": 3}')
        assert run["finished_at"] >= run["started_at"]
