"""A change to the identity rules re-keys the members it touches, once, and the plan says why.

The first pass runs the rules as they were before version 2 (Google's dialect with gmail's
"+" tag kept, which every identity path reads), against the Data Manager emulator; the next
plan, with today's rules, must remove that member under its old key, add it under the new
one, and say that the rules changed.
"""

from __future__ import annotations

import dataclasses

import pytest
from conftest import GOOGLE_LIST, Workspace, sha

from syncd.destinations import registry
from syncd.destinations.google import DATA_MANAGER
from syncd.identity import versions
from syncd.pipeline import AudienceResult, PassOptions, sync_all

TAGGED = "Zoë.Adams+shop@Gmail.com"
PLAIN = "bob@example.com"
#: Version 1's Google rules, as far as this address goes: gmail's dots dropped, its tag kept.
GOOGLE_V1 = dataclasses.replace(
    DATA_MANAGER,
    capabilities=dataclasses.replace(
        DATA_MANAGER.capabilities,
        dialect=dataclasses.replace(
            DATA_MANAGER.capabilities.dialect, gmail_plus_tag_removed=False
        ),
    ),
)


def google_result(results: list[AudienceResult]) -> AudienceResult:
    (result,) = [r for r in results if r.network == "google"]
    return result


def rules_check(result: AudienceResult) -> str:
    (check,) = [c for c in result.checks if c.startswith(versions.CHECK_NAME)]
    return check


def test_a_rules_change_re_keys_tagged_gmail_members_once_and_says_why(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.write_people(
        [(TAGGED, None, "US", None, None, None), (PLAIN, None, "US", *[None] * 3)]
    )
    with monkeypatch.context() as old:
        old.setattr(versions, "RULES_VERSION", 1)
        old.setitem(registry._BY_KIND, DATA_MANAGER.kind, GOOGLE_V1)
        first = google_result(workspace.sync())
    assert rules_check(first) == f"{versions.CHECK_NAME}: ok (rules v1)"
    held = workspace.sandbox.google.members(GOOGLE_LIST)
    assert frozenset({("emailAddress", sha("zoëadams+shop@gmail.com"))}) in held

    planned = google_result(sync_all(workspace.config(), PassOptions(apply=False)))
    assert (planned.adds, planned.removes) == (1, 1)
    check = rules_check(planned)
    now = versions.RULES_VERSION
    assert check.startswith(f"{versions.CHECK_NAME}: warn (rules v{now}; identity rules changed")
    assert "since the last pass (v1)" in check and "+tag" in check
    assert "zoë" not in check.lower()  # counts and rules only: no address in the note

    second = google_result(workspace.sync())
    assert (second.status, second.adds, second.removes) == ("ok", 1, 1)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha("zoëadams@gmail.com"))}),
        frozenset({("emailAddress", sha(PLAIN))}),
    }
    again = google_result(sync_all(workspace.config(), PassOptions(apply=False)))
    assert (again.adds, again.removes) == (0, 0)
    assert rules_check(again) == f"{versions.CHECK_NAME}: ok (rules v{now})"
