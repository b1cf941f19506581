"""Pushdown: the SQL run inside the warehouse makes the plan the local path makes.

The generated SQL runs on DuckDB and on a real PostgreSQL over the same dirty data, and its
members, adds, removes, refreshes and counts are compared with the local path's
(`syncd.read.scan.read_segment`, then `StateStore.diff` on the same held members). Value by value,
the SQL is compared with the reference rules (`normalize_column_reference`), exhaustively over
the characters whose case or whitespace handling differs, and on random emails.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import duckdb
import phonenumbers
import psycopg
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from support.targets import DATA_MANAGER_SETTINGS, META_SETTINGS, target_for

from syncd import members as local_members
from syncd.config.models import Consent, Segment, SegmentConsent
from syncd.destinations.base import Capabilities
from syncd.destinations.google.capabilities import CAPABILITIES as GOOGLE_CAPABILITIES
from syncd.destinations.meta.schema import CAPABILITIES as META_CAPABILITIES
from syncd.identity import GOOGLE, META, IdentifierKind, normalize_column_reference, sha256_hex
from syncd.identity import Dialect as IdentityDialect
from syncd.identity.rules import CONTROL_CHARACTERS
from syncd.members import IDENTIFIER_COLUMNS, MEMBER_SCHEMA, member_key
from syncd.pushdown import charsets, kinds
from syncd.pushdown.chain import GRANTED_VALUES, ConsentColumns
from syncd.pushdown.dialects import Dialect
from syncd.pushdown.kinds import is_pushdownable
from syncd.pushdown.queries import (
    NotPushdownable,
    PushdownQueries,
    SegmentStats,
    StateTable,
    build_queries,
)
from syncd.read.consent import GRANTED
from syncd.read.scan import read_segment
from syncd.read.segments import SegmentMembers
from syncd.sources.duckdb import DuckDBSource
from syncd.sources.postgres import PostgresSource
from syncd.state import AudienceRef, StateStore
from syncd.state.backends import PostgresBackend

K = IdentifierKind
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CAPABILITIES: dict[IdentityDialect, Capabilities] = {
    GOOGLE: GOOGLE_CAPABILITIES,
    META: META_CAPABILITIES,
}
#: Each test that takes `identity` runs for both networks' dialects.
BY_NETWORK = pytest.mark.parametrize("identity", [GOOGLE, META], ids=["google", "meta"])
AUDIENCES = {
    GOOGLE: AudienceRef("google_data_manager:1234567890", "9000001"),
    META: AudienceRef("meta:act_1000", "23850000000000001"),
}
OTHER_AUDIENCE = "other-audience"
MAPPING = {
    K.EMAIL: "email",
    K.PHONE: "phone",
    K.COUNTRY: "country",
    K.EXTERNAL_ID: "customer_no",
    K.MADID: "madid",
}
GOOGLE_CONSENT = Consent(ad_user_data="granted", ad_personalization="denied")


def mobile(region: str) -> str:
    """A valid, canonical E.164 number: what a column of E.164 phones holds."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


UUID = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
# email, phone, country, customer_no (bigint), madid, consent to data, to personalization
PEOPLE: list[tuple[object, ...]] = [
    (" Alice.Smith@Gmail.com ", mobile("US"), "us", 1001, None, "granted", "GRANTED"),
    ("ALICE.SMITH@GMAIL.COM", f" {mobile('US')} ", "US ", 1001, None, "yes", " Y"),
    ("alicesmith@gmail.com", mobile("US"), "US", 1001, None, "True", "1"),
    ("bob @example.com", None, "\u00df", None, None, None, "t"),
    ("\tCarol\u00a0@Example.ORG\n", mobile("GB"), "gb", 1003, UUID, "1", "yes"),
    ("not-an-email", mobile("FR"), "FR", None, "not-a-uuid", "granted", "granted"),
    ("", "   ", "  ", None, None, "granted", "granted"),
    (None, None, None, None, None, None, None),
    ("x@y", None, "XX", 1009, None, "granted", "yes"),
    ("x@y..z", mobile("DE"), None, None, None, "granted", "yes"),
    ("First.Last@GoogleMail.com", None, "de", None, None, "granted", "yes"),
    ("\u0130nci.\u00d6z@\u00d6rnek.com.tr", mobile("TR"), "TR", 1012, None, "granted", "yes"),
    ("\u00c9LODIE@EX\u00c4MPLE.FR", None, "fr", None, None, "granted", "yes"),
    ("x" * 600 + "@example.com", mobile("AU"), None, None, None, "granted", "yes"),
    ("dup@example.com", None, None, 1015, None, "granted", "yes"),
    ("DUP@example.com ", None, None, 1015, None, "granted", "yes"),
    (" stra\u00dfe@Beispiel.de", None, "DE", None, None, "granted", "yes"),
    ("Kelvin\u212a@example.com", None, "\ufb01", None, None, "granted", "yes"),
    ("a\u2003b@example.com", mobile("IT"), "it", None, None, "granted", "yes"),
    ("user@example.com\x1c", None, "\u0131t", None, None, "granted", "yes"),
    ("consent1@example.com", None, None, None, None, "no", "granted"),
    ("consent2@example.com", None, None, None, None, None, None),
    ("consent3@example.com", None, None, None, None, "denied", "yes"),
    (None, None, None, None, f" {UUID.lower()} ", "granted", "yes"),
    (None, None, "NU", 424242, None, "granted", "yes"),
    (None, mobile("NU"), None, None, None, "granted", "yes"),
]
PEOPLE_SCHEMA = pa.schema(
    [
        ("email", pa.string()),
        ("phone", pa.string()),
        ("country", pa.string()),
        ("customer_no", pa.int64()),
        ("madid", pa.string()),
        ("consent_data", pa.string()),
        ("consent_pers", pa.string()),
    ]
)
#: Members that left the segment, as the state holds them: a hash in the email column.
STALE = ["gone@example.com", "left@example.com", "went@example.com"]


def people_table(rows: Sequence[tuple[object, ...]] = PEOPLE) -> pa.Table:
    return pa.Table.from_pylist(
        [dict(zip(PEOPLE_SCHEMA.names, row, strict=True)) for row in rows], schema=PEOPLE_SCHEMA
    )


# --- engines: where the generated SQL runs --------------------------------------------------


class Engine(Protocol):
    dialect: Dialect

    def load(self, name: str, table: pa.Table) -> None: ...

    def rows(self, sql: str) -> list[tuple[object, ...]]: ...

    def record(self, sql: str) -> dict[str, object]: ...


class DuckDBEngine:
    dialect = Dialect.DUCKDB

    def __init__(self, db: duckdb.DuckDBPyConnection) -> None:
        self.db = db

    def load(self, name: str, table: pa.Table) -> None:
        self.db.register("incoming", table)
        self.db.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")
        self.db.unregister("incoming")

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        """Rows with member keys as text: DuckDB state holds them as UUIDs, PostgreSQL state
        (the one pushdown runs beside) as the same text."""
        return [
            tuple(str(v) if isinstance(v, uuid.UUID) else v for v in row)
            for row in self.db.execute(sql).fetchall()
        ]

    def record(self, sql: str) -> dict[str, object]:
        cursor = self.db.execute(sql)
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchall()[0], strict=True))


_PG_TYPES = {pa.string(): "text", pa.int64(): "bigint"}


class PostgresEngine:
    dialect = Dialect.POSTGRES

    def __init__(self, db: psycopg.Connection, schema: str) -> None:
        self.db = db
        self.schema = schema

    def load(self, name: str, table: pa.Table) -> None:
        columns = ", ".join(f"{field.name} {_PG_TYPES[field.type]}" for field in table.schema)
        self.db.execute(f"DROP TABLE IF EXISTS {self.schema}.{name}")
        self.db.execute(f"CREATE TABLE {self.schema}.{name} ({columns})")
        with self.db.cursor().copy(f"COPY {self.schema}.{name} FROM STDIN") as copy:
            for row in table.to_pylist():
                copy.write_row(list(row.values()))

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return self.db.execute(sql).fetchall()  # no parameters: the SQL is sent as is

    def record(self, sql: str) -> dict[str, object]:
        cursor = self.db.execute(sql)
        names = [column.name for column in cursor.description or ()]
        row = cursor.fetchone()
        assert row is not None
        return dict(zip(names, row, strict=True))


@pytest.fixture(scope="module")
def duckdb_engine() -> Iterator[DuckDBEngine]:
    with duckdb.connect() as db:
        yield DuckDBEngine(db)


@pytest.fixture(scope="module")
def postgres_engine(postgres_uri: str) -> Iterator[PostgresEngine]:
    schema = f"pushdown_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_uri, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
        yield PostgresEngine(db, schema)


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(f"{request.param}_engine")


# --- the whole plan: pushdown against the local path ----------------------------------------


def mapping_for(identity: IdentityDialect) -> dict[IdentifierKind, str]:
    """The kinds the destination carries, as read_segment limits them."""
    return {k: c for k, c in MAPPING.items() if k in CAPABILITIES[identity].identifier_kinds}


def segment_config(sql: str, identity: IdentityDialect) -> Segment:
    consent = (
        SegmentConsent(ad_user_data="consent_data", ad_personalization="consent_pers")
        if identity is GOOGLE
        else None
    )
    return Segment(sql=sql, identifiers=mapping_for(identity), consent=consent)


def consent_columns(identity: IdentityDialect) -> ConsentColumns | None:
    if identity is not GOOGLE:
        return None
    return ConsentColumns(
        "consent_data",
        "consent_pers",
        GOOGLE_CONSENT.ad_user_data,
        GOOGLE_CONSENT.ad_personalization,
    )


def stale_members() -> pa.Table:
    rows = []
    for email in STALE:
        values = (sha256_hex(email), None, None, None, None, None, None, None)
        rows.append({"member_key": member_key(values), "email": values[0]})
    return pa.Table.from_pylist(rows, schema=MEMBER_SCHEMA)


def hold(state: StateStore, ref: AudienceRef, segment: pa.Table) -> None:
    """What the audience holds before this pass: some of the segment present, one of it
    being added and one being removed when a process died, members that left the segment
    in each status, and another audience holding a segment member."""
    ordered = segment.sort_by("member_key")
    stale = stale_members()

    def commit(table: pa.Table, audience: AudienceRef = ref) -> None:
        batch = state.begin_batch("run", audience, "add", 1, table)
        state.acknowledge_batch(batch, audience, "add", table, "request")

    commit(ordered.slice(0, 4))
    commit(stale.slice(0, 2))
    state.begin_batch("run", ref, "add", 2, ordered.slice(4, 1))  # in flight, never acked
    state.begin_batch("run", ref, "add", 3, stale.slice(2, 1))
    state.begin_batch("run", ref, "remove", 4, ordered.slice(3, 1))
    state.begin_batch("run", ref, "remove", 5, stale.slice(1, 1))
    commit(ordered.slice(5, 2), AudienceRef(ref.destination, OTHER_AUDIENCE))
    # One present member was last sent long ago, another "in the future" (by a clock that
    # was ahead): both are due for a refresh.
    now = dt.datetime.now(dt.UTC)
    for row, synced_at in ((1, now - dt.timedelta(days=30)), (2, now + dt.timedelta(days=400))):
        state.backend.execute(
            "UPDATE members SET synced_at = ? WHERE destination = ? AND audience_id = ? "
            "AND member_key = ?",
            [synced_at, ref.destination, ref.audience_id, ordered["member_key"][row].as_py()],
        )


REFRESH_BEFORE = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)


def local_segment(
    source: DuckDBSource | PostgresSource, sql: str, identity: IdentityDialect
) -> SegmentMembers:
    segment = segment_config(sql, identity)
    destination = (
        {**DATA_MANAGER_SETTINGS, "consent": GOOGLE_CONSENT.model_dump()}
        if identity is GOOGLE
        else META_SETTINGS
    )
    try:
        return read_segment(source, target_for(segment, destination))
    finally:
        source.close()


def as_rows(table: pa.Table) -> list[tuple[object, ...]]:
    names = MEMBER_SCHEMA.names
    return list(zip(*(table[name].to_pylist() for name in names), strict=True))


def assert_same_plan(
    engine: Engine,
    queries: PushdownQueries,
    segment: SegmentMembers,
    diff_adds: pa.Table,
    diff_removes: pa.Table,
    refreshes: int,
) -> None:
    members = engine.rows(queries.members)
    assert len(members) == len(set(members)), "members are distinct"
    assert sorted(members) == sorted(as_rows(segment.members))
    assert engine.rows(queries.adds) == as_rows(diff_adds)
    assert engine.rows(queries.removes) == as_rows(diff_removes)
    changes = [("remove", *row) for row in as_rows(diff_removes)]
    changes += [("add", *row) for row in as_rows(diff_adds)]
    assert engine.rows(queries.changes) == changes
    assert queries.refreshes is not None
    assert engine.rows(queries.refreshes) == [(refreshes,)]
    stats = SegmentStats.from_row(engine.record(queries.stats))
    assert stats == SegmentStats(segment.rows, 0, segment.invalid_counts(), len(segment.members))


@BY_NETWORK
def test_duckdb_pushdown_plans_what_the_local_path_plans(
    identity: IdentityDialect, tmp_path: Path
) -> None:
    warehouse, state_path = tmp_path / "shop.duckdb", tmp_path / "state.duckdb"
    with duckdb.connect(str(warehouse)) as db:
        DuckDBEngine(db).load("people", people_table())
    sql = "select * from people -- the segment, as the user wrote it\n;"
    segment = local_segment(DuckDBSource(warehouse), sql, identity)
    ref = AUDIENCES[identity]
    with StateStore.at(state_path) as state:
        hold(state, ref, segment.members)
        diff = state.diff(ref, segment.members, REFRESH_BEFORE)

    queries = build_queries(
        sql,
        mapping_for(identity),
        identity,
        StateTable("state.members", ref.destination, ref.audience_id),
        Dialect.DUCKDB,
        trust_e164_phones=True,
        consent=consent_columns(identity),
        refresh_before=REFRESH_BEFORE,
    )
    with duckdb.connect() as db:  # the warehouse, with the state table beside the segment
        db.execute(f"ATTACH '{warehouse}' AS shop (READ_ONLY)")
        db.execute(f"ATTACH '{state_path}' AS state (READ_ONLY)")
        db.execute("USE shop")
        engine = DuckDBEngine(db)
        assert_same_plan(engine, queries, segment, diff.adds, diff.removes, diff.refreshes)
    assert len(diff.adds) and len(diff.removes) and diff.refreshes == 2  # the test has teeth


@BY_NETWORK
def test_postgres_pushdown_plans_what_the_local_path_plans(
    identity: IdentityDialect, postgres_uri: str
) -> None:
    schema = f"pushdown_plan_{uuid.uuid4().hex[:8]}"
    with StateStore(PostgresBackend(postgres_uri, schema)) as state:
        with psycopg.connect(postgres_uri, autocommit=True) as db:
            PostgresEngine(db, schema).load("people", people_table())
        sql = f"SELECT * FROM {schema}.people"
        segment = local_segment(PostgresSource(postgres_uri), sql, identity)
        ref = AUDIENCES[identity]
        hold(state, ref, segment.members)
        diff = state.diff(ref, segment.members, REFRESH_BEFORE)

        queries = build_queries(
            sql,
            mapping_for(identity),
            identity,
            StateTable(f"{schema}.members", ref.destination, ref.audience_id),
            Dialect.POSTGRES,
            trust_e164_phones=True,
            consent=consent_columns(identity),
            refresh_before=REFRESH_BEFORE,
        )
        with psycopg.connect(postgres_uri, autocommit=True) as db:
            engine = PostgresEngine(db, schema)
            assert_same_plan(engine, queries, segment, diff.adds, diff.removes, diff.refreshes)
    assert len(diff.adds) and len(diff.removes) and diff.refreshes == 2


# --- value by value: the SQL rules against the reference ------------------------------------

DUMMY_STATE = StateTable("state_members", "d", "a")
ROW_KEY = "row_key"


def row_key(index: int) -> str:
    return str(uuid.UUID(int=index + 1))


@functools.cache
def cases_queries(
    table: str,
    key_kind: IdentifierKind,
    kind: IdentifierKind,
    identity: IdentityDialect,
    dialect: Dialect,
    trust_e164_phones: bool = False,
) -> PushdownQueries:
    mapping = {key_kind: ROW_KEY, kind: "value"}
    return build_queries(
        f"select * from {table}",
        mapping,
        identity,
        DUMMY_STATE,
        dialect,
        trust_e164_phones=trust_e164_phones,
    )


def sent_by_sql(
    engine: Engine,
    identity: IdentityDialect,
    kind: IdentifierKind,
    values: Sequence[object],
    **options: bool,
) -> tuple[list[str | None], SegmentStats]:
    """What the SQL sends for each value, row by row. Each row also carries a distinct valid
    key (a mobile id, or an external id when mobile ids are tested), so every row is a
    member of its own and is found again by its key."""
    key_kind = K.EXTERNAL_ID if kind is K.MADID else K.MADID
    keys = [row_key(i) for i in range(len(values))]
    value_type = pa.int64() if any(isinstance(v, int) for v in values) else pa.string()
    table = pa.table({ROW_KEY: pa.array(keys, pa.string()), "value": pa.array(values, value_type)})
    engine.load("cases", table)
    table_name = f"{engine.schema}.cases" if isinstance(engine, PostgresEngine) else "cases"
    queries = cases_queries(table_name, key_kind, kind, identity, engine.dialect, **options)
    hashed = key_kind in identity.hashed
    row_of = {(sha256_hex(key) if hashed else key): i for i, key in enumerate(keys)}
    column = 1 + IDENTIFIER_COLUMNS.index(kind.value)
    key_column = 1 + IDENTIFIER_COLUMNS.index(key_kind.value)
    by_row = {row_of[row[key_column]]: row[column] for row in engine.rows(queries.members)}
    assert len(by_row) == len(values)
    stats = SegmentStats.from_row(engine.record(queries.stats))
    return [by_row[i] for i in range(len(values))], stats


def reference(
    identity: IdentityDialect, kind: IdentifierKind, values: Sequence[object]
) -> list[object]:
    value_type = pa.int64() if any(isinstance(v, int) for v in values) else pa.string()
    return normalize_column_reference(
        identity, kind, pa.array(values, value_type)
    ).values.to_pylist()


def assert_like_reference(
    engine: Engine,
    identity: IdentityDialect,
    kind: IdentifierKind,
    values: Sequence[object],
    undecidable: Callable[[object], bool] = lambda value: False,
    **options: bool,
) -> None:
    """Every value the SQL decides is sent exactly as the reference sends it; the values it
    leaves undecided are exactly the expected ones, counted, and not sent."""
    sent, stats = sent_by_sql(engine, identity, kind, values, **options)
    expected = reference(identity, kind, values)
    unsure = [
        value is not None
        and len(str(value)) <= 512
        and bool(str(value).strip())
        and undecidable(value)
        for value in values
    ]
    for value, got, want, skip in zip(values, sent, expected, unsure, strict=True):
        assert got == (None if skip else want), (identity, kind, value)
    assert stats.undecidable_rows == sum(unsure)
    assert stats.rows == len(values)


def has_capital_sigma(value: object) -> bool:
    return charsets.CONTEXTUAL_LOWER in str(value)


def every_special_character() -> list[str]:
    """Characters whose handling could differ: every one with a lowercase or an ASCII
    uppercase, Python's whitespace, look-alikes that are not whitespace, and a spread of
    others from every plane."""
    table = charsets.lower_table()
    upper = charsets.upper_to_ascii()
    chars = set(table.source) | set(table.expansions) | set(charsets.whitespace())
    chars |= set(upper.source) | set(upper.expansions) | {charsets.CONTEXTUAL_LOWER}
    chars |= {"\u200b", "\ufeff", "\x7f", "\u0307", "\u03c2", "\u03c3"}
    chars |= set(CONTROL_CHARACTERS) - {"\x00"}  # PostgreSQL text holds no NUL (tested apart)
    chars |= {chr(code) for code in range(0x21, 0x11_0000, 1999) if not 0xD800 <= code < 0xE000}
    return sorted(chars)


@BY_NETWORK
def test_emails_equal_reference_for_every_special_character(
    engine: Engine, identity: IdentityDialect
) -> None:
    values: list[object] = []
    for ch in every_special_character():
        values += [f"A{ch}b.C@GMail.com", f"{ch}x.Y@e{ch}.com{ch}", f" {ch}@{ch}.{ch} "]
        values += [f"a.B+{ch}@gmail.com", f"{ch}+x@googlemail.com", f"a+b{ch}c@example.com"]
    assert_like_reference(engine, identity, K.EMAIL, values, has_capital_sigma)


@BY_NETWORK
def test_gmail_tags_and_control_characters_are_decided_as_the_reference_does(
    engine: Engine, identity: IdentityDialect
) -> None:
    """The Data Manager guide's example, a local part the rule leaves empty, and controls
    (a NUL on DuckDB: PostgreSQL text cannot hold one): values and reasons alike."""
    values: list[object] = [
        "Cloudy.SanFrancisco+shopping@Gmail.com",
        "user.name+NYC@Example.com",
        "+shopping@gmail.com",
        ".+x@googlemail.com",
        "a+b+c@gmail.com",
        "ali\x1bce@example.com",
        "a+\x01@gmail.com",
    ]
    if isinstance(engine, DuckDBEngine):
        values.append("alice\x00@example.com")
    assert_like_reference(engine, identity, K.EMAIL, values)
    _, stats = sent_by_sql(engine, identity, K.EMAIL, values)
    reasons = normalize_column_reference(identity, K.EMAIL, pa.array(values)).reasons.to_pylist()
    expected = {f"email:{r}": reasons.count(r) for r in set(reasons) if r is not None}
    assert {k: v for k, v in stats.invalid.items() if k.startswith("email:")} == expected


@BY_NETWORK
def test_other_kinds_equal_reference_for_every_special_character(
    engine: Engine, identity: IdentityDialect
) -> None:
    chars = every_special_character()
    assert_like_reference(engine, identity, K.EXTERNAL_ID, [f"{c} id-{c}{c} " for c in chars])
    madids = [
        madid
        for c in chars
        for madid in (f"{c}{UUID}", f" {UUID}{c}", UUID.replace("F", c), UUID.replace("-", c))
    ]
    assert_like_reference(engine, identity, K.MADID, madids)
    if identity is META:  # Google sends a country only inside a complete address
        countries = [f"{c}s" for c in chars] + [f" {c}{c} " for c in chars] + chars
        assert_like_reference(engine, identity, K.COUNTRY, countries)


def test_every_country_spelling_equals_reference(engine: Engine) -> None:
    """Every one- and two-character string whose uppercase could be an ISO code."""
    preimages: dict[str, list[str]] = {letter: [letter] for letter in string.ascii_uppercase}
    upper = charsets.upper_to_ascii()
    for ch, letter in zip(upper.source, upper.target, strict=True):
        preimages[letter].append(ch)
    singles = [ch for group in preimages.values() for ch in group] + list(upper.expansions)
    pairs = [a + b for a in singles for b in singles]
    values = singles + pairs + [f"\u2003{v}\x1f" for v in pairs[:50]]
    assert_like_reference(engine, META, K.COUNTRY, values)


def test_integer_external_ids_read_as_the_local_path_reads_them(engine: Engine) -> None:
    for identity in (GOOGLE, META):
        assert_like_reference(engine, identity, K.EXTERNAL_ID, [0, 7, -12, 2**63 - 1, None])


def test_e164_phones_equal_reference_for_every_region(engine: Engine) -> None:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                numbers.append(f"\u00a0{e164} " if len(numbers) % 3 == 0 else e164)
    national = ["(201) 555-0123", "0044 7400 123456", "+1 201 555 0123", "+١٢٠١٥٥٥٠١٢٣"]
    national += ["+0123456789", "+123456", "+1234567890123456", "++12015550123"]
    values = [*numbers, *national, "", "  ", None, "+" + "1" * 600]
    for identity in (GOOGLE, META):
        assert_like_reference(
            engine,
            identity,
            K.PHONE,
            values,
            lambda value: not re.fullmatch(r"\+[1-9][0-9]{6,14}", str(value).strip()),
            trust_e164_phones=True,
        )


def test_trusted_phones_are_passed_through_unchecked(engine: Engine) -> None:
    """The documented limit of trust_e164_phones: an E.164-shaped number phonenumbers calls
    invalid, or writes otherwise (a trunk 0 after the country code), is sent as it is."""
    for shaped in ("+10000000000", "+4402079460958"):
        sent, _ = sent_by_sql(engine, GOOGLE, K.PHONE, [shaped], trust_e164_phones=True)
        assert sent == [sha256_hex(shaped)]
        assert reference(GOOGLE, K.PHONE, [shaped]) != sent


ALPHABET = [*"abcXYZ019._+-'!#@@@.", "\u00e9", "\u0130", "\u00df", "\u212a", "\u03a3", "\u03c3"]
ALPHABET += ["\u0412", "\uff21", "\U00010400", "\u0307", "\u00a0", "\u2003", "\x1c", "\x85"]
ALPHABET += [" ", "\t", "\n", "\u200b", "\ufb01", "\x00", "\x1b", "\x9f", "+"]
DOMAINS = ["gmail.com", "googlemail.com", "GMail.COM", "example.com", "b", "x..y", "\u00fc.de"]
random_emails = st.one_of(
    st.builds(
        lambda local, domain, upper: f"{local}@{domain}".upper() if upper else f"{local}@{domain}",
        st.text(alphabet=st.sampled_from(ALPHABET), max_size=14),
        st.one_of(
            st.sampled_from(DOMAINS), st.text(alphabet=st.sampled_from(ALPHABET), max_size=8)
        ),
        st.booleans(),
    ),
    st.text(max_size=25),
    st.emails().map(lambda email: f" {email.upper()} "),
    st.none(),
)


@FAST
@given(st.lists(random_emails, min_size=1, max_size=30))
def test_random_emails_equal_reference_on_duckdb(
    duckdb_engine: DuckDBEngine, values: list[str | None]
) -> None:
    """Unicode included: the SQL never calls LOWER(), it applies Python's own table."""
    for identity in (GOOGLE, META):
        assert_like_reference(duckdb_engine, identity, K.EMAIL, values, has_capital_sigma)


def test_a_capital_sigma_makes_the_segment_undecidable(duckdb_engine: DuckDBEngine) -> None:
    values = ["\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3@example.gr", "a@example.com"]
    sent, stats = sent_by_sql(duckdb_engine, META, K.EMAIL, values)
    assert stats.undecidable_rows == 1
    assert stats.invalid == {}
    assert sent == [None, sha256_hex("a@example.com")]


# --- what is pushed down, and the SQL of the other warehouses -------------------------------


def test_is_pushdownable_says_what_and_why() -> None:
    for identity in (GOOGLE, META):
        ok, _ = is_pushdownable([K.EMAIL, K.COUNTRY, K.EXTERNAL_ID, K.MADID], identity)
        assert ok
        ok, reason = is_pushdownable({K.EMAIL: "email", K.FIRST_NAME: "f"}, identity)
        assert not ok and "names" in reason
        ok, reason = is_pushdownable([K.ZIP], identity)
        assert not ok and "zip" in reason
        ok, reason = is_pushdownable([K.EMAIL, K.PHONE], identity)
        assert not ok and "trust_e164_phones" in reason
        assert is_pushdownable([K.EMAIL, K.PHONE], identity, trust_e164_phones=True)[0]
    with pytest.raises(NotPushdownable, match="names"):
        build_queries("select 1", {K.LAST_NAME: "ln"}, META, DUMMY_STATE, Dialect.DUCKDB)


@pytest.mark.parametrize("dialect", [Dialect.BIGQUERY, Dialect.SNOWFLAKE])
def test_bigquery_and_snowflake_sql_compiles(dialect: Dialect) -> None:
    """Not run (no warehouse here): parsed back by sqlglot, with every string literal (the
    character tables, the key separator) read back to exactly what was meant."""
    hashes = {Dialect.BIGQUERY: "TO_HEX(SHA256(", Dialect.SNOWFLAKE: "SHA2("}
    for identity in (GOOGLE, META):
        queries = build_queries(
            "SELECT * FROM `shop.people`"
            if dialect is Dialect.BIGQUERY
            else "SELECT * FROM people",
            mapping_for(identity),
            identity,
            StateTable("syncd_state.members", "d", "a"),
            dialect,
            trust_e164_phones=True,
            consent=consent_columns(identity),
            refresh_before=REFRESH_BEFORE,
        )
        for sql in (
            queries.members,
            queries.adds,
            queries.removes,
            queries.changes,
            queries.stats,
            queries.refreshes,
        ):
            assert sql is not None
            tree = sqlglot.parse_one(sql, read=dialect.value)
            literals = {node.this for node in tree.find_all(exp.Literal) if node.is_string}
            assert charsets.whitespace() in literals
            assert "\x1f" in literals
            assert {chunk.source for chunk in charsets.lower_chunks()} <= literals
            assert hashes[dialect] in sql
            assert "LOWER(" not in sql.upper().replace("_LOWER", "")


# --- guards against drift from what the local path does ------------------------------------


def test_the_restated_constants_are_the_local_paths() -> None:
    assert set(GRANTED_VALUES) == GRANTED
    assert kinds.PERSONAL_KINDS == local_members._PERSONAL
    assert kinds.ADDRESS_KINDS == local_members._ADDRESS


def test_python_lowercase_is_per_character_except_the_capital_sigma() -> None:
    table = charsets.lower_table()
    context_free = list(table.source) + list(table.expansions)
    for ch in context_free:
        for before, after in (("a", ""), ("", "a"), ("a", "a"), ("A", "A")):
            assert (before + ch + after).lower() == before.lower() + ch.lower() + after.lower()
    assert ("A" + charsets.CONTEXTUAL_LOWER).lower() != "a" + charsets.CONTEXTUAL_LOWER.lower()


def test_no_non_ascii_character_lowercases_into_what_ascii_rules_look_for() -> None:
    """madid and consent lowercase ASCII only: sound only if Python's lower() of any other
    character cannot make a hex digit, "-" or a letter of the consent words."""
    wanted = set("0123456789abcdef-") | set("".join(GRANTED_VALUES))
    table = charsets.lower_table()
    lowered = list(table.target) + list(table.expansions.values())
    for ch, low in zip(list(table.source) + list(table.expansions), lowered, strict=True):
        if not ch.isascii():
            assert not (set(low) & wanted), hex(ord(ch))
