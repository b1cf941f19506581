"""`syncd plan --validate`: the planned requests reach Google with validateOnly, nothing is
applied anywhere (network or state), Meta is not sent anything, and a request Google would
refuse fails the command with a reason that names the batch."""

from __future__ import annotations

import duckdb
from click.testing import CliRunner
from conftest import GOOGLE_LIST, TOKEN, Workspace
from support.people import emails

from syncd.cli import main

BAD_KEY = "00000000-0000-0000-0000-00000000000b"  # a member key with a corrupt hash


def plan(workspace: Workspace, data: dict, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["plan", str(workspace.write_config(data)), "--validate", *extra],
        env={"TEST_TOKEN": TOKEN},
    )
    return result.exit_code, result.output


def held(workspace: Workspace) -> int:
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        ((count,),) = state.execute("SELECT count(*) FROM members").fetchall()
    return count


def test_validate_sends_the_planned_batches_with_validate_only_and_applies_nothing(
    workspace: Workspace,
) -> None:
    workspace.write_people(emails("a", "b", "c"))
    workspace.sync()  # a, b, c held on both networks
    workspace.write_people(emails("b", "c", "d", "e", "f"))  # a leaves; d, e, f join
    data = workspace.config_data()
    data["destinations"]["google"]["batch_size"] = 2
    workspace.sandbox.google.clear_requests()
    workspace.sandbox.meta.clear_requests()

    code, output = plan(workspace, data)

    assert code == 0, output
    sent = [(r.operation, r.count) for r in workspace.sandbox.google.requests]
    assert sent == [("remove-validate", 1), ("ingest-validate", 2), ("ingest-validate", 1)]
    assert "validated by Google: 3 requests accepted, nothing applied" in output
    assert "no validate-only mode (nothing sent)" in output
    assert workspace.sandbox.meta.requests == []
    assert len(workspace.sandbox.google.members(GOOGLE_LIST)) == 3  # still a, b, c
    assert held(workspace) == 6  # the state still holds a, b, c for each network

    meta, google = workspace.sync(data)  # the validated plan is still the plan
    assert (google.adds, google.removes, google.requests) == (3, 1, 3)
    assert (meta.adds, meta.removes) == (3, 1)


def test_a_request_google_would_refuse_fails_the_command_and_names_the_batch(
    workspace: Workspace,
) -> None:
    workspace.write_people(emails("a"))
    data = workspace.config_data()
    data["audiences"][1]["audience_id"] = "424242"  # no such user list

    code, output = plan(workspace, data, "--audience", "people")

    assert code == 1
    assert "INVALID: people" in output and "add batch 1 (validate only)" in output
    assert "product_destination_id" in output
    assert workspace.sandbox.google.members(GOOGLE_LIST) == set()


def test_a_list_named_but_not_created_yet_is_reported_not_created(
    workspace: Workspace,
) -> None:
    named = "Prospects"
    workspace.write_people(emails("a"))
    data = workspace.config_data()
    del data["audiences"][1]["audience_id"]
    data["audiences"][1]["audience_name"] = named
    before = dict(workspace.sandbox.google.user_lists())

    code, output = plan(workspace, data)

    assert code == 0, output
    assert f"there is no user list named '{named}' yet" in output
    assert workspace.sandbox.google.user_lists() == before  # looked up, never created


def test_members_google_would_refuse_are_counted_by_reason_never_shown(
    workspace: Workspace,
) -> None:
    workspace.write_people(emails("a"))
    workspace.sync()
    with duckdb.connect(str(workspace.root / "state.duckdb")) as state:  # a corrupt held hash
        state.execute(
            "INSERT INTO members (destination, audience_id, member_key, email, status, synced_at)"
            " VALUES ('google_data_manager:1234567890', ?, ?, 'not-hex', 'present', now())",
            [GOOGLE_LIST, BAD_KEY],
        )

    code, output = plan(workspace, workspace.config_data())

    assert code == 1
    assert "remove batch 1 (validate only): Google would refuse 1 members (" in output
    assert "not-hex" not in output
    assert held(workspace) == 3  # a on both networks, and the corrupt one: nothing changed
