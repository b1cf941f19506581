"""PostgresSource against a real PostgreSQL server (the session's `postgres` fixture)."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from postgres_server import PostgresServer

from syncd.sources import SourceError
from syncd.sources.postgres import PostgresSource

DATABASE = "shop"
READER = "syncd_reader"
READER_PASSWORD = "reader-pw-4c1e"
WRONG_PASSWORD = "Wr0ng-Secret-9f2c"
EMAIL = "alice@example.com"
NO_WAITING = (0.0, 0.0)

TYPED_TABLE = """
create table typed (
    id int primary key, t text, v varchar(20), c char(3), i2 smallint, i8 bigint,
    n numeric(12, 2), free numeric, f4 real, f8 double precision, b boolean, d date,
    tm time, ts timestamp, tstz timestamptz, raw bytea, u uuid, j jsonb, arr int[],
    iv interval
);
insert into typed values
    (1, 'Zoë 🎉', 'varchar', 'ab', 32767, 9007199254740993, 1234567890.12,
     123456789012345678901234567890.123456789, 1.5, 0.1, true, '2024-02-29',
     '23:59:59.999999', '2024-03-01 12:34:56.789012', '2024-03-01 12:34:56.789012+02',
     '\\xff00fe', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1, "a": [true]}',
     '{1,NULL,3}', '1 mon 2 days 03:00:00'),
    (2, null, null, null, null, null, null, 0.0000001, null, null, null, null, null, null,
     null, null, null, null, null, null);
"""
#: A function that writes: a SELECT can call it, and READ ONLY must stop it.
TOUCH_FUNCTION = """
create function touch() returns int language sql
as $$ insert into people values ('x', 'y') returning 1 $$
"""


@pytest.fixture(scope="module")
def shop(postgres: PostgresServer) -> Iterator[str]:
    """A database with a `people` table, the typed table, a table the reader may not read,
    and a reader role that has SELECT on the rest; yields the reader's URI."""
    with psycopg.connect(postgres.uri, autocommit=True) as admin:
        admin.execute(f"drop database if exists {DATABASE}")
        admin.execute(f"create database {DATABASE}")
        admin.execute(f"drop role if exists {READER}")
        admin.execute(f"create role {READER} login password '{READER_PASSWORD}'")
    with psycopg.connect(postgres.uri_for(postgres.user, postgres.password, DATABASE)) as db:
        db.execute("create table people (email text, phone text)")
        db.execute(
            "insert into people values (%s, '+15550100'), ('bob@example.com', null)", [EMAIL]
        )
        db.execute(TYPED_TABLE)
        db.execute("create table restricted (email text)")
        db.execute(TOUCH_FUNCTION)
        db.execute(f"grant select on people, typed to {READER}")
    yield postgres.uri_for(READER, READER_PASSWORD, DATABASE)
    with psycopg.connect(postgres.uri, autocommit=True) as admin:
        admin.execute(f"drop database {DATABASE} with (force)")
        admin.execute(f"drop role {READER}")


@pytest.fixture
def source(shop: str) -> Iterator[PostgresSource]:
    reader = PostgresSource(shop, connect_retry_delays=NO_WAITING)
    yield reader
    reader.close()


def read_all(source: PostgresSource, sql: str) -> pa.Table:
    return pa.Table.from_batches(list(source.read(sql)))


def failure(source: PostgresSource, sql: str) -> str:
    with pytest.raises(SourceError) as caught:
        read_all(source, sql)
    return str(caught.value)


def test_types_arrive_as_their_arrow_types(source: PostgresSource) -> None:
    table = read_all(source, "select * from typed order by id")
    assert dict(zip(table.schema.names, map(str, table.schema.types), strict=True)) == {
        "id": "int32",
        "t": "string",
        "v": "string",
        "c": "string",
        "i2": "int16",
        "i8": "int64",
        "n": "decimal128(12, 2)",
        "free": "string",
        "f4": "float",
        "f8": "double",
        "b": "bool",
        "d": "date32[day]",
        "tm": "time64[us]",
        "ts": "timestamp[us]",
        "tstz": "timestamp[us, tz=UTC]",
        "raw": "binary",
        "u": "string",
        "j": "string",
        "arr": "string",
        "iv": "string",
    }
    full, empty = table.to_pylist()
    assert full == {
        "id": 1,
        "t": "Zoë 🎉",
        "v": "varchar",
        "c": "ab ",
        "i2": 32767,
        "i8": 9007199254740993,
        "n": Decimal("1234567890.12"),
        "free": "123456789012345678901234567890.123456789",
        "f4": 1.5,
        "f8": 0.1,
        "b": True,
        "d": dt.date(2024, 2, 29),
        "tm": dt.time(23, 59, 59, 999999),
        "ts": dt.datetime(2024, 3, 1, 12, 34, 56, 789012),
        "tstz": dt.datetime(2024, 3, 1, 10, 34, 56, 789012, tzinfo=dt.UTC),
        "raw": b"\xff\x00\xfe",
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "j": '{"a": [true], "b": 1}',
        "arr": "{1,NULL,3}",
        "iv": "1 mon 2 days 03:00:00",
    }
    assert empty == {name: None for name in table.schema.names} | {"id": 2, "free": "0.0000001"}


def test_batches_hold_at_most_batch_rows(shop: str) -> None:
    source = PostgresSource(shop, batch_rows=100_000)
    try:
        sql = "select i, 'user' || i || '@example.com' as email from generate_series(1, 250000) i"
        batches = list(source.read(sql))
    finally:
        source.close()
    assert [batch.num_rows for batch in batches] == [100_000, 100_000, 50_000]
    assert batches[-1].column("i")[-1].as_py() == 250_000


def test_fetches_are_joined_into_full_batches(shop: str) -> None:
    source = PostgresSource(shop, batch_rows=300, fetch_rows=70)
    try:
        batches = list(source.read("select i from generate_series(1, 1000) i;"))
    finally:
        source.close()
    assert [batch.num_rows for batch in batches] == [300, 300, 300, 100]
    assert pa.Table.from_batches(batches).column("i").to_pylist() == list(range(1, 1001))


def test_nulls_stay_nulls_in_every_type(source: PostgresSource) -> None:
    sql = "select null::text t, null::int i, null::numeric(5, 1) n, null::bytea b, null::uuid u"
    (row,) = read_all(source, sql).to_pylist()
    assert row == {"t": None, "i": None, "n": None, "b": None, "u": None}


def test_an_empty_result_still_names_its_columns(source: PostgresSource) -> None:
    batches = list(source.read("select email, phone from people where false"))
    assert [batch.num_rows for batch in batches] == [0]
    assert batches[0].schema.names == ["email", "phone"]


def test_percent_signs_and_a_final_semicolon_are_plain_sql(source: PostgresSource) -> None:
    table = read_all(source, "select email from people where email like '%@example.com' ;\n")
    assert sorted(table.column("email").to_pylist()) == [EMAIL, "bob@example.com"]


@pytest.mark.parametrize(
    "sql",
    [
        f"select nosuch from people where email = '{EMAIL}'",
        f"selec email from people where email = '{EMAIL}'",
        f"select email from people where email = '{EMAIL}' '{EMAIL}'",
    ],
)
def test_sql_errors_name_the_segment_fix_without_values(source: PostgresSource, sql: str) -> None:
    message = failure(source, sql)
    assert "fix the segment SQL" in message
    assert "alice" not in message


def test_a_bad_value_is_not_quoted_back(source: PostgresSource) -> None:
    message = failure(source, f"select '{EMAIL}'::int")
    assert "invalid input syntax for type integer" in message
    assert "fix the segment SQL" in message
    assert "alice" not in message


def test_a_missing_table_is_named(source: PostgresSource) -> None:
    message = failure(source, "select * from customers")
    assert 'relation "customers" does not exist' in message
    assert "fix the segment SQL" in message


def test_permission_denied_says_what_to_grant(source: PostgresSource) -> None:
    message = failure(source, "select * from restricted")
    assert "permission denied for table restricted" in message
    assert f"GRANT SELECT ON each table the segment reads TO {READER}" in message


def test_the_transaction_is_read_only(source: PostgresSource, postgres: PostgresServer) -> None:
    (row,) = read_all(source, "select current_setting('transaction_read_only') ro").to_pylist()
    assert row == {"ro": "on"}
    for sql in [
        "insert into people values ('x', 'y')",  # a cursor takes no INSERT: a syntax error
        "with x as (insert into people values ('x', 'y') returning 1) select * from x",
    ]:
        assert "fix the segment SQL (one SELECT query)" in failure(source, sql)
    message = failure(source, "select touch()")
    assert "cannot execute INSERT in a read-only transaction" in message
    assert "must only read" in message
    assert read_all(source, "select count(*) n from people").to_pylist() == [{"n": 2}]


def test_a_failed_query_leaves_the_source_usable(source: PostgresSource) -> None:
    failure(source, "select nosuch from people")
    assert read_all(source, "select count(*) n from people").to_pylist() == [{"n": 2}]


def test_a_new_read_ends_an_abandoned_one(shop: str) -> None:
    source = PostgresSource(shop, batch_rows=10)
    try:
        abandoned = source.read("select i from generate_series(1, 100) i")
        next(abandoned)
        assert read_all(source, "select 1 one").to_pylist() == [{"one": 1}]
        with pytest.raises(StopIteration):
            next(abandoned)
    finally:
        source.close()


def test_statement_timeout_cancels_and_says_so(shop: str) -> None:
    source = PostgresSource(shop, statement_timeout_seconds=1)
    try:
        message = failure(source, "select pg_sleep(3)")
    finally:
        source.close()
    assert "statement timeout (1s: segments.NAME.timeout_seconds" in message


def test_a_dropped_connection_fails_the_read_and_the_next_read_reconnects(
    shop: str, postgres: PostgresServer
) -> None:
    source = PostgresSource(shop, batch_rows=1000, connect_retry_delays=NO_WAITING)
    try:
        reading = source.read("select pg_backend_pid() pid from generate_series(1, 5000)")
        pid = next(reading).column("pid")[0].as_py()
        with psycopg.connect(postgres.uri, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", [pid])
        with pytest.raises(SourceError, match="next sync"):
            list(reading)
        assert read_all(source, "select 1 one").to_pylist() == [{"one": 1}]
    finally:
        source.close()


def test_a_wrong_password_is_refused_at_once_without_the_password(
    postgres: PostgresServer,
) -> None:
    waits: list[float] = []
    with pytest.raises(SourceError) as caught:
        PostgresSource(postgres.uri_for(READER, WRONG_PASSWORD, DATABASE), sleep=waits.append)
    message = str(caught.value)
    assert "check the user and password in warehouse.dsn" in message
    assert f'password authentication failed for user "{READER}"' in message
    assert WRONG_PASSWORD not in message
    assert waits == []


def test_the_password_is_blanked_even_where_the_server_quotes_it(postgres: PostgresServer) -> None:
    # The password pasted as the user name too: the server quotes the user back.
    with pytest.raises(SourceError) as caught:
        PostgresSource(postgres.uri_for(WRONG_PASSWORD, WRONG_PASSWORD, DATABASE))
    assert 'password authentication failed for user "…"' in str(caught.value)
    assert WRONG_PASSWORD not in str(caught.value)


def test_an_unreachable_server_is_retried_then_names_host_and_port() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    with pytest.raises(SourceError) as caught:
        PostgresSource(
            f"postgresql://{READER}:{WRONG_PASSWORD}@127.0.0.1:{port}/{DATABASE}",
            connect_retry_delays=(0.5, 1.5),
            sleep=waits.append,
        )
    message = str(caught.value)
    assert f"cannot connect to PostgreSQL at {READER}@127.0.0.1:{port}/{DATABASE}" in message
    assert "Connection refused" in message
    assert "check the host and port in warehouse.dsn" in message
    assert "(after 3 attempts)" in message
    assert WRONG_PASSWORD not in message
    assert waits == [0.5, 1.5]


@pytest.mark.parametrize(
    "dsn", [f"postgresql://u:{WRONG_PASSWORD} x@h/db", f"host=h password={WRONG_PASSWORD} x"]
)
def test_a_malformed_dsn_is_explained_without_the_password(dsn: str) -> None:
    with pytest.raises(SourceError, match="is not a libpq connection string") as caught:
        PostgresSource(dsn)
    assert "Wr0ng" not in str(caught.value)
