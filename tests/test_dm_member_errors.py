"""Members the Data Manager API refuses, in Google's own words: the quickstart's error bodies
are read as refusals of those members, and a whole pass quarantines them and syncs the rest."""

from __future__ import annotations

import duckdb
import httpx
import pytest
from conftest import GOOGLE_LIST, Workspace, sha
from support.dm_quickstart import QUICKSTART_NOT_HEX, QUICKSTART_NOT_SHA256

from syncd.destinations.base import ErrorClass, MemberErrors
from syncd.destinations.google.dm_errors import classify


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (QUICKSTART_NOT_HEX, "INVALID_HEX_ENCODING"),
        (QUICKSTART_NOT_SHA256, "INVALID_SHA256_FORMAT"),
    ],
)
def test_the_quickstarts_refusals_name_the_member_to_quarantine(body: str, reason: str) -> None:
    response = httpx.Response(400, content=body.encode())
    error = classify(response, "Google user list 1", member_rows=[7, 8])
    assert isinstance(error, MemberErrors)
    assert error.reasons == {7: reason} and error.error_class is ErrorClass.FAIL_AUDIENCE


def test_members_google_refuses_are_quarantined_and_the_rest_of_the_audience_syncs(
    workspace: Workspace,
) -> None:
    """Two held members whose hashes are not SHA-256 digests (hex too short, and not hex at
    all) must be removed: Google refuses both, by index; they are quarantined with Google's
    reason and every other change of the pass is applied."""
    people = [(f"{n}@example.com", None, "US", None, None, None) for n in ("a", "b", "c")]
    workspace.write_people(people)
    workspace.sync()
    corrupt = {
        "00000000-0000-0000-0000-0000000000a1": sha("x")[:40],  # hex, not a SHA-256
        "00000000-0000-0000-0000-0000000000a2": "not-hex",
    }
    with duckdb.connect(str(workspace.root / "state.duckdb")) as state:
        for key, value in corrupt.items():
            state.execute(
                "INSERT INTO members (destination, audience_id, member_key, email, status, "
                "synced_at) VALUES ('google_data_manager:1234567890', ?, ?, ?, 'present', now())",
                [GOOGLE_LIST, key, value],
            )
    workspace.write_people([*people[1:], ("d@example.com", None, "US", None, None, None)])

    _, google = workspace.sync()

    assert google.status == "ok" and google.refused_members == 2
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(f"{n}@example.com"))}) for n in ("b", "c", "d")
    }
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        quarantined = state.execute(
            "SELECT member_key, reason FROM quarantine WHERE kind = 'network:remove' "
            "ORDER BY member_key"
        ).fetchall()
    assert [(str(key), reason) for key, reason in quarantined] == [
        ("00000000-0000-0000-0000-0000000000a1", "INVALID_SHA256_FORMAT"),
        ("00000000-0000-0000-0000-0000000000a2", "INVALID_HEX_ENCODING"),
    ]
