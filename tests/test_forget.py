"""`syncd forget` (issue 25): people asked to be forgotten leave every audience that holds
them, through the ordinary push, with a record of hashes only, resumed until every audience
confirms it."""

from __future__ import annotations

import json

import duckdb
from click.testing import CliRunner, Result
from conftest import TOKEN, Workspace, sha
from support.holdouts import google_emails, meta_emails
from support.people import emails

from syncd.cli import main
from syncd.pipeline import sync_all

PEOPLE = [f"p{i}" for i in range(12)]


def forget(workspace: Workspace, *args: str, text: str | None = None) -> Result:
    path = workspace.root / "syncd.yaml"
    return CliRunner().invoke(
        main, ["forget", str(path), *args], input=text, env={"TEST_TOKEN": TOKEN}
    )


def synced(workspace: Workspace, names: list[str] = PEOPLE) -> None:
    workspace.write_people(emails(*names))
    workspace.write_config()
    results = sync_all(workspace.config())
    assert [r.status for r in results] == ["ok", "ok"]


def removals(workspace: Workspace) -> dict[str, list[int]]:
    """Members per removal request each emulator applied."""
    meta = [r.count for r in workspace.sandbox.meta.requests if r.operation == "remove"]
    google = [r.count for r in workspace.sandbox.google.requests if r.operation == "remove"]
    return {"meta": meta, "google": google}


def erasure_id(result: Result) -> str:
    first = result.stdout.splitlines()[0]
    assert first.startswith("erasure er-"), result.stdout
    return first.split()[1].rstrip(":")


def test_forgotten_people_leave_both_networks_in_one_request_each(workspace: Workspace) -> None:
    synced(workspace)
    result = forget(workspace, "--kind", "email", text=" P1@Example.com\np2@example.com\n")
    assert result.exit_code == 0, result.output
    kept = {sha(f"{name}@example.com") for name in PEOPLE if name not in ("p1", "p2")}
    assert meta_emails(workspace) == google_emails(workspace) == kept
    assert removals(workspace) == {"meta": [2], "google": [2]}
    identifier = erasure_id(result)
    status = forget(workspace, "--status", identifier, "--json")
    assert status.exit_code == 0, status.output
    (record,) = json.loads(status.stdout)
    assert record["status"] == "done" and record["people"] == 2
    outcomes = {
        o["network"]: (o["outcome"], o["members"], o["requests"]) for o in record["outcomes"]
    }
    assert outcomes == {"meta": ("done", 2, 1), "google_data_manager": ("done", 2, 1)}


def test_people_no_audience_holds_are_not_held_and_nothing_is_sent(workspace: Workspace) -> None:
    synced(workspace)
    result = forget(workspace, "--kind", "email", text="stranger@example.com\n")
    assert result.exit_code == 0, result.output
    assert removals(workspace) == {"meta": [], "google": []}
    assert result.stdout.count(" not_held ") == 2


def test_the_same_people_again_resume_the_same_record(workspace: Workspace) -> None:
    synced(workspace)
    first = forget(workspace, "--kind", "email", text="p3@example.com\np4@example.com\n")
    again = forget(workspace, "--kind", "email", text="P4@EXAMPLE.COM\n\np3@example.com\n")
    assert first.exit_code == again.exit_code == 0, again.output
    assert erasure_id(first) == erasure_id(again)
    assert removals(workspace) == {"meta": [2], "google": [2]}  # nothing sent twice
    with duckdb.connect(str(workspace.root / "state.duckdb")) as db:
        assert db.execute("SELECT count(*) FROM erasures").fetchone() == (1,)
