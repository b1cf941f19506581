"""Suppressions (issue 25, first part): a person in the `suppressions:` query is absent from
every audience on every network after one pass: never sent, and removed where syncd had
sent them, even while a segment still returns them."""

from __future__ import annotations

import duckdb
import psycopg
import pytest
from conftest import TOKEN, Workspace, sha
from postgres_server import PostgresServer
from support.holdouts import google_emails, meta_emails

from syncd.config import ConfigError, load_config
from syncd.pipeline import PassOptions, sync_all
from syncd.pushdown.plan import PUSHED_DOWN
from syncd.read import exclusions
from syncd.summary import format_results

EMAILS = [f"buyer{i}@example.com" for i in range(30)]
PHONE = "+14155550123"
NETWORKS = ("meta", "google_data_manager")


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


def erase(workspace: Workspace, rows: list[tuple[str, str, str, bool]]) -> None:
    """Erasure values as `syncd forget` records them: (network, kind, digest, rehashed). The
    table is made here as the shared interface gives it, if the state does not have it."""
    with duckdb.connect(str(workspace.root / "state.duckdb")) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS erasure_values (erasure_id VARCHAR NOT NULL, "
            "network VARCHAR NOT NULL, kind VARCHAR NOT NULL, digest VARCHAR NOT NULL, "
            "rehashed BOOLEAN NOT NULL)"
        )
        db.executemany("INSERT INTO erasure_values VALUES ('e1', ?, ?, ?, ?)", rows)


def with_ids(workspace: Workspace, emails: list[str]) -> dict:
    """A warehouse of people with an email and a customer id each, and a config reading
    both (Meta takes the id in clear, as EXTERN_ID; Google only the email)."""
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute("CREATE OR REPLACE TABLE customers (email VARCHAR, id VARCHAR)")
        db.executemany(
            "INSERT INTO customers VALUES (?, ?)", [(e, f"C-{i}") for i, e in enumerate(emails)]
        )
    data = workspace.config_data()
    data["segments"] = {
        "people": {"sql": "select * from customers", "identifiers": {"email": "email"}},
        "ids": {
            "sql": "select * from customers",
            "identifiers": {"email": "email", "external_id": "id"},
        },
    }
    data["audiences"][0]["segment"] = "ids"  # Google lists hold one key type: emails here
    return data


def test_erased_people_stay_out_of_every_audience(workspace: Workspace) -> None:
    data = with_ids(workspace, EMAILS)
    sync_all(workspace.config(data))
    assert meta_emails(workspace) == google_emails(workspace) == {sha(e) for e in EMAILS}

    # Meta holds the id in clear: its erasure value is the id's SHA-256 (rehashed); it and
    # Google hold emails hashed: their values are the hashes themselves.
    erase(
        workspace,
        [
            ("meta", "external_id", sha("C-4"), True),
            ("google_data_manager", "email", sha(EMAILS[4]), False),
            ("meta", "email", sha(EMAILS[9]), False),
            ("google_data_manager", "email", sha(EMAILS[9]), False),
        ],
    )
    results = sync_all(workspace.config(data))
    kept = {sha(e) for e in EMAILS} - {sha(EMAILS[4]), sha(EMAILS[9])}
    assert meta_emails(workspace) == google_emails(workspace) == kept
    assert [(r.status, r.removes, r.suppressed) for r in results] == [("ok", 2, 2)] * 2
    assert all(r.summary()["suppressed"] == 2 for r in results)
    shown = format_results(results)
    assert "people->google: suppressed: 2 members left out" in shown
    assert [r.requests for r in sync_all(workspace.config(data))] == [0, 0]


def test_suppressions_are_read_once_per_pass(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in EMAILS])
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute("CREATE TABLE opt_outs AS SELECT 'buyer7@example.com' AS email")
    data = suppressing(workspace, "select * from opt_outs", {"email": "email"})
    # Two segments, each on both networks: four audiences, two segment reads, one list.
    data["segments"]["more"] = dict(data["segments"]["people"], sql="select * from people")
    data["audiences"] += [
        {"segment": "more", "destination": "meta", "audience_name": "more"},
        {"segment": "more", "destination": "google", "audience_name": "more"},
    ]
    reads = []
    read = exclusions._read
    monkeypatch.setattr(exclusions, "_read", lambda *args: reads.append(1) or read(*args))
    results = sync_all(workspace.config(data))
    assert len(reads) == 1
    assert [(r.status, r.suppressed) for r in results] == [("ok", 1)] * 4


def many(count: int) -> list[str]:
    return [f"person{i}@example.com" for i in range(count)]


def test_a_suppressions_list_covering_most_of_an_audience_holds_it(workspace: Workspace) -> None:
    people = many(120)
    workspace.write_people([(email, None, "US", None, None, None) for email in people])
    sync_all(workspace.config())
    with duckdb.connect(str(workspace.warehouse)) as db:  # a join gone wrong: 70 of 120
        db.execute("CREATE TABLE opt_outs AS SELECT email FROM people LIMIT 70")
    data = suppressing(workspace, "select * from opt_outs", {"email": "email"})
    held = sync_all(workspace.config(data))
    assert {r.status for r in held} == {"refused"}
    assert all("70 of 120 members suppressed (58.3%; limit 50%)" in (r.error or "") for r in held)
    assert all("--allow-mass-suppression" in (r.error or "") for r in held)
    assert len(meta_emails(workspace)) == len(google_emails(workspace)) == 120  # untouched

    allowed = sync_all(workspace.config(data), PassOptions(allow_mass_suppression=True))
    assert [(r.status, r.removes, r.suppressed) for r in allowed] == [("ok", 70, 70)] * 2
    assert len(meta_emails(workspace)) == len(google_emails(workspace)) == 50


def test_erasures_never_hold_an_audience(workspace: Workspace) -> None:
    people = many(120)
    workspace.write_people([(email, None, "US", None, None, None) for email in people])
    sync_all(workspace.config())
    erase(workspace, [(net, "email", sha(e), False) for e in people[:90] for net in NETWORKS])
    results = sync_all(workspace.config())
    assert [(r.status, r.removes, r.suppressed) for r in results] == [("ok", 90, 90)] * 2
    assert meta_emails(workspace) == google_emails(workspace) == {sha(e) for e in people[90:]}


def test_erasures_on_postgres_state_are_left_out_by_pushdown(
    workspace: Workspace, postgres: PostgresServer
) -> None:
    """With the state in PostgreSQL and pushdown on, an audience whose network has erasures
    is still planned in the warehouse, which leaves the erased people out and removes them
    (the SQL reads the state's erasure_values beside its members)."""
    with psycopg.connect(postgres.uri, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS buyers")
        db.execute("CREATE TABLE buyers (email text)")
        db.execute("INSERT INTO buyers SELECT unnest(%s::text[])", [EMAILS])
    data = workspace.config_data()
    data["warehouse"] = {"kind": "postgres", "dsn": "${PG_DSN}", "pushdown": True}
    data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": "syncd_erasures"}
    data["segments"]["people"] = {
        "sql": "select email from buyers",
        "identifiers": {"email": "email"},
    }
    config = load_config(
        workspace.write_config(data), environ={"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri}
    )
    first = sync_all(config)
    assert [r.notes for r in first] == [[PUSHED_DOWN]] * 2
    assert meta_emails(workspace) == google_emails(workspace) == {sha(e) for e in EMAILS}

    with psycopg.connect(postgres.uri, autocommit=True) as db:
        for network in NETWORKS:
            db.execute(
                "INSERT INTO syncd_erasures.erasure_values VALUES ('e1', %s, 'email', %s, false)",
                [network, sha(EMAILS[5])],
            )
    second = sync_all(config)
    assert [(r.status, r.removes, r.suppressed, r.notes) for r in second] == [
        ("ok", 1, 1, [PUSHED_DOWN])
    ] * 2
    assert (
        meta_emails(workspace)
        == google_emails(workspace)
        == {sha(e) for e in EMAILS} - {sha(EMAILS[5])}
    )
