"""User IDs on Google: a Customer Match list holds one key type, so `syncd validate` refuses a
mapping that would send user IDs to a contact list, and a segment of user IDs syncs whole into
a USER_ID list."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import TOKEN, Workspace

from syncd.cli import main


def user_id_config(workspace: Workspace, **google_audience: str) -> dict:
    data = workspace.config_data()
    data["segments"]["people"]["identifiers"] = {"external_id": "email"}
    data["audiences"] = [{"segment": "people", "destination": "google", **google_audience}]
    return data


def validate(workspace: Workspace, data: dict) -> tuple[int, str]:
    path = workspace.write_config(data)
    result = CliRunner().invoke(main, ["validate", str(path)], env={"TEST_TOKEN": TOKEN})
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("identifiers", "audience", "said"),
    [
        (
            {"email": "email", "external_id": "phone"},
            {"audience_id": "9000001"},
            "audiences[0].segment",
        ),
        ({"external_id": "email"}, {"audience_name": "CRM ids"}, "audiences[0].audience_name"),
    ],
)
def test_validate_refuses_user_ids_that_would_reach_a_contact_list(
    workspace: Workspace, identifiers: dict, audience: dict, said: str
) -> None:
    data = user_id_config(workspace, **audience)
    data["segments"]["people"]["identifiers"] = identifiers
    code, output = validate(workspace, data)
    assert code != 0 and said in output and "USER_ID" in output


def test_a_segment_of_user_ids_syncs_into_a_user_id_list(workspace: Workspace) -> None:
    workspace.sandbox.google.add_user_list("7700001", upload_key_types=["USER_ID"])
    data = user_id_config(workspace, audience_id="7700001")
    assert validate(workspace, data)[0] == 0
    workspace.write_people([(f"crm-{i}", None, "US", None, None, None) for i in range(3)])

    (google,) = workspace.sync(data)

    assert google.status == "ok"
    assert workspace.sandbox.google.members("7700001") == {
        frozenset({("userId", f"crm-{i}")}) for i in range(3)
    }
