"""Run receipts (`receipts:`): one row per audience per pass, appended where syncd writes its
report tables: the state's database beside a DuckDB warehouse, a PostgreSQL warehouse's
schema otherwise. A receipt that cannot be written is a note, never a failed pass."""

from __future__ import annotations

import json

import duckdb
import psycopg
import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace, sha
from postgres_server import PostgresServer
from support.people import PEOPLE, meta_members, rows

from syncd import __version__
from syncd.config import SyncdConfig, load_config
from syncd.pipeline import AudienceResult, PassOptions, sync_all
from syncd.receipts import RECEIPT_COLUMNS
from syncd.state import open_state

MISSING_AUDIENCE = "23850000000000999"  # not in the sandbox: Meta refuses it


def receipts_config(workspace: Workspace) -> dict:
    """Both sandbox audiences, and a third on a Meta audience that does not exist (it fails)."""
    data = workspace.config_data()
    data["segments"]["again"] = dict(data["segments"]["people"])
    data["audiences"].append(
        {"segment": "again", "destination": "meta", "audience_id": MISSING_AUDIENCE}
    )
    data["receipts"] = {"table": "sync_receipts"}
    return data


def postgres_warehouse_config(
    workspace: Workspace, postgres: PostgresServer, schema: str
) -> SyncdConfig:
    """The sandbox config reading its people from a PostgreSQL warehouse's `schema` (made
    anew), with receipts on."""
    data = workspace.config_data()
    data["warehouse"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": schema}
    data["segments"]["people"]["sql"] = f"select * from {schema}.people"
    data["receipts"] = {"table": "sync_receipts"}
    with psycopg.connect(postgres.uri, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        db.execute(f"CREATE SCHEMA {schema}")
        db.execute(f"CREATE TABLE {schema}.people (email text, phone text, country text)")
        with db.cursor().copy(f"COPY {schema}.people FROM STDIN") as copy:
            for person, _ in PEOPLE:
                copy.write_row(person)
    return load_config(
        workspace.write_config(data), environ={"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri}
    )


def read_receipts(database: duckdb.DuckDBPyConnection | psycopg.Connection, table: str) -> list:
    cursor = database.execute(f"SELECT * FROM {table} ORDER BY finished_at, audience")
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def check_against(receipt: dict, result: AudienceResult, pass_id: str) -> None:
    assert receipt["pass_id"] == pass_id
    assert receipt["status"] == result.status
    assert receipt["run_id"] == result.run_id
    assert receipt["network"] == result.network
    for count in ("rows_read", "members", "adds", "removes", "requests", "refused_members"):
        assert receipt[count] == getattr(result, count), count
    assert receipt["invalid"] == sum(result.invalid.values())
    assert json.loads(receipt["invalid_reasons"]) == result.invalid
    assert receipt["duration_seconds"] == pytest.approx(result.seconds)
    assert receipt["finished_at"] >= receipt["started_at"]
    assert receipt["syncd_version"] == __version__


def test_receipts_beside_a_duckdb_warehouse_one_row_per_audience_per_pass(
    workspace: Workspace,
) -> None:
    workspace.write_people(rows(PEOPLE))
    config = workspace.config(receipts_config(workspace))
    first = sync_all(config)
    second = sync_all(config)
    assert [r.status for r in first] == ["ok", "ok", "failed"]
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(PEOPLE)

    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as db:
        receipts = read_receipts(db, "sync_receipts")
        runs = {run_id for (run_id,) in db.execute("SELECT run_id FROM runs").fetchall()}
    assert list(receipts[0]) == list(RECEIPT_COLUMNS)
    assert len(receipts) == 6  # three audiences, two passes
    passes = [r["pass_id"] for r in receipts]
    assert len(set(passes[:3])) == 1 and len(set(passes[3:])) == 1 and passes[0] != passes[3]
    by_pass = {passes[0]: first, passes[3]: second}
    for pass_id, results in by_pass.items():
        written = {r["audience"]: r for r in receipts if r["pass_id"] == pass_id}
        for result in results:
            check_against(written[result.audience], result, pass_id)
    assert {r["run_id"] for r in receipts} <= runs

    meta, google = (written["people->meta"], written["people->google"])  # the second pass
    assert (meta["segment"], meta["destination"], meta["audience_id"]) == (
        "people",
        "meta",
        META_AUDIENCE,
    )
    assert (meta["adds"], meta["invalid"] > 0, google["audience_id"]) == (0, True, GOOGLE_LIST)
    assert written["again->meta"]["status"] == "failed"
    assert "does not exist" in written["again->meta"]["error"]
    assert written["again->meta"]["run_id"] is not None

    # Counts and reasons only: not one of the warehouse's raw values is in a receipt.
    text = json.dumps(receipts, default=str).lower()
    for (email, phone, _country), expected in PEOPLE:
        for value in (email, phone, *(expected or ())):
            if value is not None and len(value.strip()) > 4:  # "12" is in any timestamp
                assert value.strip().lower() not in text, value
                assert sha(value.strip().lower()) not in text, value


def test_receipts_go_to_a_postgres_warehouses_schema(
    workspace: Workspace, postgres: PostgresServer
) -> None:
    config = postgres_warehouse_config(workspace, postgres, "receipts_wh")
    results = sync_all(config, PassOptions(apply=False))  # a plan is not a sync: no receipt
    results = sync_all(config)
    assert [r.status for r in results] == ["ok", "ok"]

    with psycopg.connect(postgres.uri) as db:
        receipts = read_receipts(db, "receipts_wh.sync_receipts")
    assert sorted(r["audience"] for r in receipts) == ["people->google", "people->meta"]
    written = {r["audience"]: r for r in receipts}
    for result in results:
        check_against(written[result.audience], result, receipts[0]["pass_id"])
    assert written["people->meta"]["adds"] == 5
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        tables = state.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    assert ("sync_receipts",) not in tables


def test_a_locked_receipts_table_does_not_hold_the_pass(
    workspace: Workspace, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An analyst's open transaction holds a lock on the receipts table: the write gives up
    after its lock timeout and the pass ends ok, with a note, instead of waiting for them."""
    monkeypatch.setattr("syncd.report_tables.LOCK_TIMEOUT_SECONDS", 0.5)
    config = postgres_warehouse_config(workspace, postgres, "locked_wh")
    sync_all(config)  # creates the table
    with psycopg.connect(postgres.uri) as analyst:
        analyst.execute("LOCK TABLE locked_wh.sync_receipts IN ACCESS EXCLUSIVE MODE")
        workspace.write_people(rows(PEOPLE))
        results = sync_all(config)
        assert [r.status for r in results] == ["ok", "ok"]
        for result in results:
            (note,) = [n for n in result.notes if "receipt" in n]
            assert "lock timeout" in note
        analyst.rollback()


def test_a_receipt_that_cannot_be_written_is_a_note_not_a_failure(
    workspace: Workspace,
) -> None:
    """A table of that name in another shape refuses the insert: the pass syncs all the same."""
    workspace.write_people(rows(PEOPLE))
    data = workspace.config_data()
    data["receipts"] = {"table": "sync_receipts"}
    config = workspace.config(data)
    with open_state(config.state) as state:
        state.backend.execute("CREATE TABLE sync_receipts (audience INTEGER NOT NULL)")

    results = sync_all(config)

    assert [r.status for r in results] == ["ok", "ok"]
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(PEOPLE)
    for result in results:
        (note,) = [n for n in result.notes if "receipt" in n]
        assert note.startswith("could not write the run receipt to sync_receipts: ")
    assert [r.requests for r in sync_all(config)] == [0, 0]  # and the state is whole
