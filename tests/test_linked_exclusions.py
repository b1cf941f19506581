"""Suppressions and erasures reach every row of a person, not only the rows with the value
the opt-out or the erasure names: one linking round over the members' emails, phones and ids
(`syncd.read.builder`, `syncd.state.erasures.matching`)."""

from __future__ import annotations

import uuid

import duckdb
import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace
from support.erasure import forget, removals

from syncd.config import load_config
from syncd.pipeline import sync_all

EMAILS = [f"buyer{i}@example.com" for i in range(30)]
PHONE = "+14155550123"


def linked_people() -> list[tuple]:
    """Thirty people by email; buyer5 has a phone too, and a second row with the phone alone."""
    people = [(email, None, "US", None, None, None) for email in EMAILS]
    people[5] = (EMAILS[5], PHONE, "US", None, None, None)
    return [*people, (None, PHONE, "US", None, None, None)]


def held(workspace: Workspace) -> list[set]:
    return [
        workspace.sandbox.meta.members(META_AUDIENCE),
        workspace.sandbox.google.members(GOOGLE_LIST),
    ]


def test_a_suppressed_person_s_phone_only_row_leaves_with_the_row_that_links_it(
    workspace: Workspace,
) -> None:
    workspace.write_people(linked_people())
    sync_all(workspace.config())
    assert [len(members) for members in held(workspace)] == [len(EMAILS) + 1] * 2

    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute("CREATE TABLE opt_outs AS SELECT ' Buyer5@example.com' AS email")
    data = workspace.config_data()
    data["suppressions"] = {"sql": "select * from opt_outs", "identifiers": {"email": "email"}}
    results = sync_all(workspace.config(data))
    assert [(r.status, r.removes, r.suppressed) for r in results] == [("ok", 2, 2)] * 2
    for members in held(workspace):
        assert len(members) == len(EMAILS) - 1
        assert all(len(member) == 1 for member in members)  # no member with the phone left


@pytest.mark.parametrize("state", ["duckdb", "postgres"])
def test_forgetting_an_email_removes_the_person_s_phone_only_member_too(
    workspace: Workspace, state: str, request: pytest.FixtureRequest
) -> None:
    data, env = workspace.config_data(), {"TEST_TOKEN": TOKEN}
    if state == "postgres":
        env["PG_DSN"] = request.getfixturevalue("postgres").uri
        schema = f"linked_{uuid.uuid4().hex[:8]}"
        data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": schema}
    workspace.write_people(linked_people())
    config = load_config(workspace.write_config(data), environ=env)
    assert [r.status for r in sync_all(config)] == ["ok", "ok"]

    result = forget(workspace, "--kind", "email", text="buyer5@example.com\n", env=env)
    assert result.exit_code == 0, result.output
    assert removals(workspace) == {"meta": [2], "google": [2]}
    for members in held(workspace):
        assert len(members) == len(EMAILS) - 1
        assert all(len(member) == 1 for member in members)
    # The next pass leaves both rows out too (the read stage links them the same way).
    assert [(r.status, r.adds, r.suppressed) for r in sync_all(config)] == [("ok", 0, 2)] * 2
    # The CRM deletes the person's email row; their phone-only row stays. The phone was
    # recorded with the erasure when its member was removed, so it is still left out.
    people = linked_people()
    workspace.write_people([*people[:5], *people[6:]])
    assert [(r.status, r.adds, r.suppressed) for r in sync_all(config)] == [("ok", 0, 1)] * 2
    for members in held(workspace):
        assert len(members) == len(EMAILS) - 1
