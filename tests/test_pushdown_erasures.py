"""Erasures with pushdown on: the warehouse leaves erased people out itself (it reads the
state's `erasure_values` beside its `members`), so an erasure never turns an audience into
a local read. An erased person is never sent and is removed where held, on both emulated
networks, by a hashed kind (email) and by a kind taken in clear (an external id, erased by
its SHA-256); the SQL is checked on DuckDB and PostgreSQL against the rule written out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import duckdb
import psycopg
import pytest
import sqlglot
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace, sha
from postgres_server import PostgresServer

from syncd.config import load_config
from syncd.identity import GOOGLE, META, IdentifierKind, sha256_hex
from syncd.identity import Dialect as IdentityDialect
from syncd.pipeline import sync_all
from syncd.pushdown.dialects import Dialect
from syncd.pushdown.erasures import ErasedValues
from syncd.pushdown.plan import PUSHED_DOWN
from syncd.pushdown.queries import PushdownQueries, SegmentStats, StateTable, build_queries
from syncd.read import per_pass
from syncd.sandbox.pair import Sandbox

PEOPLE = [(f"buyer{i}@example.com", f"crm-{i}") for i in range(12)]
NETWORKS = ("meta", "google_data_manager")
#: The audiences of customer ids (Google lists hold one key type: ids apart from emails).
META_IDS, GOOGLE_IDS = "23850000000000077", "9000077"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(
        meta_audiences=[META_AUDIENCE, META_IDS],
        google_user_lists=[GOOGLE_LIST, GOOGLE_IDS],
        meta_access_token=TOKEN,
        google_access_token=TOKEN,
    ) as running:
        yield running


def held(workspace: Workspace) -> dict[str, set[str]]:
    """Every value each network's two audiences hold (hashed emails, ids in clear)."""
    meta, google = workspace.sandbox.meta, workspace.sandbox.google
    return {
        name: {value for audience in audiences for member in audience for _, value in member}
        for name, audiences in (
            ("meta", (meta.members(META_AUDIENCE), meta.members(META_IDS))),
            ("google", (google.members(GOOGLE_LIST), google.members(GOOGLE_IDS))),
        )
    }


def values_of(people: list[tuple[str, str]]) -> set[str]:
    return {value for email, crm_id in people for value in (sha(email), crm_id)}


@pytest.fixture
def no_local_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pushdown pass read the segment locally")

    monkeypatch.setattr(per_pass, "spill_segments", refuse)


def test_erased_people_leave_pushed_down_audiences_and_are_never_sent(
    workspace: Workspace, postgres: PostgresServer, no_local_read: None
) -> None:
    schema = f"erase_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.uri, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
        db.execute(f"CREATE TABLE {schema}.buyers (email text, crm_id text)")
        db.cursor().executemany(f"INSERT INTO {schema}.buyers VALUES (%s, %s)", PEOPLE[:10])
    data = workspace.config_data()
    data["warehouse"] = {"kind": "postgres", "dsn": "${PG_DSN}", "pushdown": True}
    data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": f"{schema}_state"}
    sql = f"select email, crm_id from {schema}.buyers"
    data["segments"] = {
        "people": {"sql": sql, "identifiers": {"email": "email"}},
        "ids": {"sql": sql, "identifiers": {"external_id": "crm_id"}},
    }
    data["audiences"] += [
        {"segment": "ids", "destination": "meta", "audience_id": META_IDS},
        {"segment": "ids", "destination": "google", "audience_id": GOOGLE_IDS},
    ]
    config = load_config(
        workspace.write_config(data), environ={"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri}
    )
    first = sync_all(config)
    assert [(r.status, r.adds, r.notes) for r in first] == [("ok", 10, [PUSHED_DOWN])] * 4
    assert held(workspace) == {"meta": values_of(PEOPLE[:10])} | {"google": values_of(PEOPLE[:10])}

    # Erased: buyer 2 by email (as sent), buyer 7 by the SHA-256 of the id both networks
    # take in clear, buyer 11 (not in the segment yet) by email; and 500 strangers.
    erased = [("email", sha(PEOPLE[2][0]), False), ("external_id", sha(PEOPLE[7][1]), True)]
    erased += [("email", sha(PEOPLE[11][0]), False)]
    erased += [("email", sha(f"stranger{i}@example.com"), False) for i in range(500)]
    with psycopg.connect(postgres.uri, autocommit=True) as db:
        db.execute(
            f"INSERT INTO {schema}.buyers VALUES (%s, %s), (%s, %s)",
            [v for person in PEOPLE[10:] for v in person],
        )
        db.cursor().executemany(
            f"INSERT INTO {schema}_state.erasure_values VALUES ('e1', %s, %s, %s, %s)",
            [(network, *row) for network in NETWORKS for row in erased],
        )
    second = sync_all(config)
    # By email: buyer 10 added, 2 removed, 11 never sent. By id: 7 removed, 10 and 11 added
    # (an id audience knows nobody by email).
    assert [(r.status, r.adds, r.removes, r.suppressed, r.notes) for r in second] == [
        ("ok", 1, 1, 2, [PUSHED_DOWN])
    ] * 2 + [("ok", 2, 1, 1, [PUSHED_DOWN])] * 2
    emails = {sha(PEOPLE[i][0]) for i in (0, 1, 3, 4, 5, 6, 7, 8, 9, 10)}
    ids = {PEOPLE[i][1] for i in (0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11)}
    assert held(workspace) == {"meta": emails | ids, "google": emails | ids}

    again = sync_all(config)  # they stay out, and nothing else moves
    assert [(r.requests, r.suppressed) for r in again] == [(0, 2)] * 2 + [(0, 1)] * 2


# --- the SQL on its own, on both engines that run it here ------------------------------------

SEGMENT = [
    ("Ann@Example.com", "id-1"),  # erased by email
    ("bob@example.com", " id-2 "),  # erased by the id, after trimming
    ("carl@example.com", None),
    (None, "id-4"),
    ("dee@example.com", "id-5"),  # erased by email on another network only
    ("eve@example.com", "id-6"),
    (None, "id-1"),  # Ann's id alone: linked to her erased row, leaves with it
    ("BOB@example.com", None),  # Bob's email alone: linked by it
]


ERASURES = [
    ("e1", "this", "email", sha256_hex("ann@example.com"), False),
    ("e1", "this", "external_id", sha256_hex("id-2"), True),
    ("e1", "other", "email", sha256_hex("dee@example.com"), False),
    ("e2", "this", "email", sha256_hex("ann@example.com"), False),  # erased twice
]


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[tuple[Dialect, object, str]]:
    """(dialect, a DB-API connection holding `people` and `erasure_values`, schema prefix)."""
    if request.param == "duckdb":
        with duckdb.connect() as db:
            yield Dialect.DUCKDB, db, "main"
        return
    uri = request.getfixturevalue("postgres").uri
    schema = f"erasure_sql_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(uri, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
        yield Dialect.POSTGRES, db, schema


@pytest.mark.parametrize("identity", [META, GOOGLE], ids=["meta", "google"])
def test_erasure_sql_leaves_out_members_by_digest_and_by_rehashed_digest(
    engine: tuple[Dialect, object, str], identity: IdentityDialect
) -> None:
    dialect, db, schema = engine
    run = db.execute  # type: ignore[attr-defined]
    run(f"CREATE TABLE {schema}.people (email text, crm_id text)")
    run(
        f"CREATE TABLE {schema}.members (destination text, audience_id text, member_key text, "
        "email text, phone text, first_name text, last_name text, country text, zip text, "
        "madid text, external_id text, status text, synced_at timestamptz)"
    )
    run(
        f"CREATE TABLE {schema}.erasure_values (erasure_id text, network text, kind text, "
        "digest text, rehashed boolean)"
    )
    placeholder = "?" if dialect is Dialect.DUCKDB else "%s"
    for row in SEGMENT:
        run(f"INSERT INTO {schema}.people VALUES ({placeholder}, {placeholder})", list(row))
    for row in ERASURES:
        run(f"INSERT INTO {schema}.erasure_values VALUES ({', '.join([placeholder] * 5)})", row)

    def queries(erased: ErasedValues | None) -> PushdownQueries:
        return build_queries(
            f"select * from {schema}.people",
            {IdentifierKind.EMAIL: "email", IdentifierKind.EXTERNAL_ID: "crm_id"},
            identity,
            StateTable(f"{schema}.members", "d", "a"),
            dialect,
            erased=erased,
        )

    def rows(sql: str) -> list[tuple]:
        return [tuple(row) for row in run(sql).fetchall()]

    def stats(sql: str) -> SegmentStats:
        cursor = run(sql)
        names = [column[0] for column in cursor.description]
        return SegmentStats.from_row(dict(zip(names, cursor.fetchone(), strict=True)))

    kinds = frozenset({("email", False), ("external_id", True)})
    every = queries(None)
    erasing = queries(ErasedValues(f"{schema}.erasure_values", "this", kinds))
    members, kept = rows(every.members), rows(erasing.members)
    columns = ["member_key", "email", "phone", "first_name", "last_name", "country", "zip"]
    columns += ["madid", "external_id"]
    email, external_id = columns.index("email"), columns.index("external_id")

    def matched(member: tuple) -> bool:  # the rule, written out
        clear = member[external_id]
        by_id = clear is not None and sha256_hex(clear) == sha256_hex("id-2")
        return member[email] == sha256_hex("ann@example.com") or by_id

    # One linking round, as the local read: members sharing an email or id with a matched one.
    linked = {(c, m[c]) for m in members if matched(m) for c in (email, external_id) if m[c]}

    def erased(member: tuple) -> bool:
        return matched(member) or any((c, member[c]) in linked for c in (email, external_id))

    assert sorted(kept) == sorted(m for m in members if not erased(m))
    assert len(members) - len(kept) == 4  # the test has teeth: Ann and Bob, 2 rows each
    assert (stats(erasing.stats).members, stats(erasing.stats).erased) == (len(kept), 4)
    assert (stats(every.stats).members, stats(every.stats).erased) == (len(members), 0)
    # What the audience holds of them is removed: hold every member, erased ones included.
    for member in members:
        run(
            f"INSERT INTO {schema}.members VALUES ('d', 'a', {', '.join([placeholder] * 9)}, "
            "'present', now())",
            list(member),
        )
    assert rows(erasing.adds) == []
    assert sorted(row[1:] for row in rows(erasing.changes)) == sorted(
        m for m in members if erased(m)
    )


@pytest.mark.parametrize("dialect", [Dialect.BIGQUERY, Dialect.SNOWFLAKE])
def test_erasure_sql_compiles_for_bigquery_and_snowflake(dialect: Dialect) -> None:
    """Not run (no warehouse here): parsed back by sqlglot, hashing the id in clear the
    dialect's way before comparing it with the recorded digest."""
    kinds = frozenset({("email", False), ("external_id", True)})
    queries = build_queries(
        "SELECT * FROM people",
        {IdentifierKind.EXTERNAL_ID: "crm_id"},
        META,
        StateTable("syncd_state.members", "d", "a"),
        dialect,
        erased=ErasedValues("syncd_state.erasure_values", "meta", kinds),
    )
    hashes = {Dialect.BIGQUERY: "TO_HEX(SHA256(d.external_id))", Dialect.SNOWFLAKE: "SHA2("}
    for sql in (queries.members, queries.changes, queries.stats):
        sqlglot.parse_one(sql, read=dialect.value)
        assert "syncd_state.erasure_values" in sql and hashes[dialect] in sql
        assert "e0.kind = 'external_id'" in sql and "'email'" not in sql  # no email here
