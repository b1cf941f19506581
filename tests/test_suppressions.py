"""Suppressions (issue 25, first part): a person in the `suppressions:` query is absent from
every audience on every network after one pass: never sent, and removed where syncd had
sent them, even while a segment still returns them."""

from __future__ import annotations

import duckdb
import pytest
from conftest import Workspace, sha
from support.holdouts import google_emails, meta_emails

from syncd.config import ConfigError
from syncd.pipeline import sync_all

EMAILS = [f"buyer{i}@example.com" for i in range(30)]
PHONE = "+14155550123"


def suppressing(workspace: Workspace, sql: str, identifiers: dict) -> dict:
    data = workspace.config_data()
    data["suppressions"] = {"sql": sql, "identifiers": identifiers, "default_country": "US"}
    return data


def test_suppressed_people_leave_every_audience_and_are_never_sent(workspace: Workspace) -> None:
    people = [(email, None, "US", None, None, None) for email in EMAILS]
    people[3] = (EMAILS[3], PHONE, "US", None, None, None)
    workspace.write_people(people)
    sync_all(workspace.config())
    assert meta_emails(workspace) == google_emails(workspace) == {sha(e) for e in EMAILS}

    # Opt-outs as a CRM writes them: other case, spaces, a national phone number.
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute("CREATE TABLE opt_outs (mail VARCHAR, tel VARCHAR)")
        db.execute(
            "INSERT INTO opt_outs VALUES (' BUYER1@Example.com ', NULL), (?, NULL), "
            "(NULL, '(415) 555-0123'), ('nobody@example.com', NULL)",
            [EMAILS[2]],
        )
    data = suppressing(workspace, "select * from opt_outs", {"email": "mail", "phone": "tel"})
    results = sync_all(workspace.config(data))

    gone = {EMAILS[1], EMAILS[2], EMAILS[3]}  # EMAILS[3] by the phone on its row
    kept = {sha(e) for e in EMAILS if e not in gone}
    assert meta_emails(workspace) == google_emails(workspace) == kept
    assert [(r.status, r.adds, r.removes) for r in results] == [("ok", 0, 3)] * 2

    # A later pass sends nothing: the suppressed stay out, and nobody comes back.
    again = sync_all(workspace.config(data))
    assert [r.requests for r in again] == [0, 0]


def test_suppressions_win_over_a_first_sync(workspace: Workspace) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in EMAILS])
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute("CREATE TABLE opt_outs AS SELECT 'buyer7@example.com' AS email")
    sync_all(workspace.config(suppressing(workspace, "select * from opt_outs", {"email": "email"})))
    assert sha(EMAILS[7]) not in meta_emails(workspace) | google_emails(workspace)
    assert len(meta_emails(workspace)) == len(EMAILS) - 1


def test_a_broken_suppressions_query_fails_the_pass_with_the_place_to_fix(
    workspace: Workspace,
) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in EMAILS])
    data = suppressing(workspace, "select 1 as x", {"email": "email"})
    results = sync_all(workspace.config(data))
    assert {r.status for r in results} == {"failed"}
    assert all("suppressions" in (r.error or "") and "'email'" in (r.error or "") for r in results)
    assert not meta_emails(workspace)  # nothing was sent without knowing whom to leave out


def test_suppressions_need_an_identifier_that_tells_a_person(workspace: Workspace) -> None:
    with pytest.raises(ConfigError) as refused:
        workspace.config(suppressing(workspace, "select 1", {"first_name": "first"}))
    assert "suppressions.identifiers" in str(refused.value)
