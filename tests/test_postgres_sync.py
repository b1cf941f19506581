"""End to end from a real PostgreSQL server (started by the tests) to both emulators, with
the state kept in that PostgreSQL too."""

from __future__ import annotations

import psycopg
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace
from postgres_server import PostgresServer
from support.people import PEOPLE, google_members, meta_members

from syncd.config import load_config
from syncd.pipeline import PassOptions, sync_all


def load_people(postgres: PostgresServer) -> None:
    """The `people` table of `PEOPLE` in the PostgreSQL warehouse, replacing any."""
    with psycopg.connect(postgres.uri, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS people")
        db.execute("CREATE TABLE people (email text, phone text, country text)")
        with db.cursor().copy("COPY people FROM STDIN") as copy:
            for (email, phone, country), _ in PEOPLE:
                copy.write_row((email, phone, country))


def test_segments_sync_from_postgres(workspace: Workspace, postgres: PostgresServer) -> None:
    load_people(postgres)
    data = workspace.config_data()
    data["warehouse"] = {"kind": "postgres", "dsn": "${PG_DSN}"}
    data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": "syncd_e2e"}
    config_path = workspace.write_config(data)

    config = load_config(config_path, environ={"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri})
    meta, _ = sync_all(config)

    assert (meta.status, meta.rows_read, meta.adds) == ("ok", 7, 5)
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(PEOPLE)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(PEOPLE)
    assert not (workspace.root / "state.duckdb").exists()
    with psycopg.connect(postgres.uri) as db:
        held = db.execute("SELECT count(*) FROM syncd_e2e.members WHERE status = 'present'")
        assert held.fetchone() == (10,)  # five members on each network

    again = sync_all(config)
    assert [(r.status, r.requests) for r in again] == [("ok", 0), ("ok", 0)]


def test_a_segment_from_postgres_that_empties_removes_everyone(
    workspace: Workspace, postgres: PostgresServer
) -> None:
    """With the state in DuckDB, a second pass matches row fingerprints; a PostgreSQL
    warehouse answers an empty result with one empty batch, which must change nothing but
    the membership: everyone held leaves."""
    load_people(postgres)
    data = workspace.config_data()
    data["warehouse"] = {"kind": "postgres", "dsn": "${PG_DSN}"}
    config = load_config(
        workspace.write_config(data), environ={"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri}
    )
    assert [r.status for r in sync_all(config)] == ["ok", "ok"]
    with psycopg.connect(postgres.uri, autocommit=True) as db:
        db.execute("DELETE FROM people")

    meta, google = sync_all(config, PassOptions(allow_mass_removal=True))

    assert (meta.status, meta.rows_read, meta.removes) == ("ok", 0, 5)
    assert (google.status, google.removes) == ("ok", 5)
    assert workspace.sandbox.meta.members(META_AUDIENCE) == set()
    assert workspace.sandbox.google.members(GOOGLE_LIST) == set()
