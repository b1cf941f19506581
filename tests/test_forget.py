"""`syncd forget` (issue 25): people asked to be forgotten leave every audience that holds
them, through the ordinary push, with a record of hashes only, resumed until every audience
confirms it."""

from __future__ import annotations

import json

import duckdb
import pytest
from conftest import META_AUDIENCE, Workspace, sha
from support.erasure import PEOPLE, erasure_id, forget, removals, synced
from support.holdouts import google_emails, meta_emails
from support.people import emails

from syncd.destinations.meta import META
from syncd.erasure.digests import NetworkRules, digest
from syncd.erasure.people import read_people
from syncd.identity import IdentifierKind
from syncd.pipeline import sync_all


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


def test_a_refused_removal_fails_until_resumed(workspace: Workspace) -> None:
    synced(workspace)
    workspace.sandbox.meta.flag_audience(META_AUDIENCE)  # Meta refuses every edit of it
    workspace.sandbox.google.fail_processing()  # Google takes the removal, then fails it
    failed = forget(workspace, "--kind", "email", text="p5@example.com\n")
    assert failed.exit_code == 1, failed.output
    assert "people->meta (meta): failed: " in failed.stderr
    assert "people->google (google_data_manager): failed: " in failed.stderr
    assert "resume with `syncd forget " in failed.stderr
    assert sha("p5@example.com") in meta_emails(workspace)
    assert sha("p5@example.com") in google_emails(workspace)  # applied nowhere

    workspace.sandbox.meta.unflag_audience(META_AUDIENCE)
    resumed = forget(workspace)  # no input: only resumes
    assert resumed.exit_code == 0, resumed.output
    assert sha("p5@example.com") not in meta_emails(workspace) | google_emails(workspace)
    status = forget(workspace, "--status", erasure_id(failed))
    assert status.exit_code == 0, status.output
    assert status.stdout.count(" done ") == 2 and "failed" not in status.stdout
    assert erasure_id(resumed) == erasure_id(failed)


@pytest.mark.parametrize("settle_seconds", [0.2, 0])  # 0: passes never wait; erasures do
def test_a_removal_google_still_processes_is_pending_until_confirmed(
    workspace: Workspace, settle_seconds: float
) -> None:
    synced(workspace)
    data = workspace.config_data()
    data["destinations"]["google"]["settle_seconds"] = settle_seconds
    workspace.write_config(data)
    workspace.sandbox.google.processing_polls = 1_000
    pending = forget(workspace, "--kind", "email", text="p6@example.com\n")
    assert pending.exit_code == 1, pending.output
    assert "people->google (google_data_manager): pending: " in pending.stderr
    assert " pending " in forget(workspace, "--status", erasure_id(pending)).stdout

    workspace.sandbox.google.finish_processing()  # Google's hours pass
    confirmed = forget(workspace)
    assert confirmed.exit_code == 0, confirmed.output
    assert removals(workspace) == {"meta": [1], "google": [1]}  # confirmed, not sent again
    assert forget(workspace, "--status", erasure_id(pending)).exit_code == 0


def test_a_pass_applies_pending_erasures_before_anything_else(workspace: Workspace) -> None:
    synced(workspace)
    workspace.sandbox.meta.flag_audience(META_AUDIENCE)
    assert forget(workspace, "--kind", "email", text="p7@example.com\n").exit_code == 1
    workspace.sandbox.meta.unflag_audience(META_AUDIENCE)
    workspace.sandbox.meta.clear_requests()
    # The segment gains a person: the pass adds them, after the erasure's removal.
    workspace.write_people(emails(*[name for name in PEOPLE if name != "p7"], "newcomer"))
    results = sync_all(workspace.config())
    assert [(r.status, r.adds, r.removes) for r in results] == [("ok", 1, 0), ("ok", 1, 0)]
    sent = [r.operation for r in workspace.sandbox.meta.requests]
    assert [op for op in sent if op in ("add", "remove")] == ["remove", "add"]
    assert sha("p7@example.com") not in meta_emails(workspace)
    assert sha("newcomer@example.com") in meta_emails(workspace)
    assert forget(workspace).exit_code == 0  # the record says done: nothing left to resume


def test_lines_are_read_by_number_and_the_id_depends_on_the_people_only() -> None:
    kinds = [IdentifierKind.EMAIL, IdentifierKind.PHONE]
    meta = [NetworkRules("meta", META.capabilities.dialect)]
    lines = [b"a@example.com,(415) 555-0132\n", b"\n", b"b@example.com,\n", b"x,y,z\n"]
    lines += [b"\xff\xfe,1\n", b"c@@example.com,+1 415 555 0133\n", b",\n"]
    request = digest(read_people(lines, kinds), meta, "US")
    assert request.people == 3  # lines 1, 3 and 6 (its phone)
    assert request.invalid == {4: ["cells"], 5: ["not_utf8"], 6: ["email invalid_email"]}
    assert request.values.num_rows == 4  # two emails, two phones
    again = digest(read_people(reversed(lines[:3] + lines[5:6]), kinds), meta, "US")
    assert again.erasure_id == request.erasure_id


def test_erasure_runs_carry_the_erasure_id_and_ordinary_passes_null(
    workspace: Workspace,
) -> None:
    synced(workspace)
    result = forget(workspace, "--kind", "email", text="p8@example.com\n")
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(workspace.root / "state.duckdb")) as db:
        rows = db.execute("SELECT audience, summary FROM runs ORDER BY started_at").fetchall()
    marked = [(audience, json.loads(summary)["erasure"]) for audience, summary in rows]
    identifier = erasure_id(result)
    expected = [
        (audience, run)
        for audience in ("people->meta", "people->google")
        for run in (None, identifier)
    ]
    assert sorted(marked, key=str) == sorted(expected, key=str)
