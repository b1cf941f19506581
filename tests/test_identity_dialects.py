"""A network's rules are data: a Dialect mixing Google's and Meta's rules is applied alike by
the per-value rules, the Arrow kernels and the pushdown SQL (run on DuckDB).

No network has these dialects, so no path can be right about them by knowing a network's
name: each must read the fields. Every tricky value below is compared value by value (what
is sent, or why not) across the three paths; the SQL may leave a value undecided only where
it leaves it for every dialect (a phone not written in E.164).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from syncd.identity import (
    GOOGLE,
    META,
    Dialect,
    IdentifierKind,
    InvalidIdentifier,
    emails,
    normalize_column,
    phones,
    rule_of,
    send_value,
)
from syncd.members import IDENTIFIER_COLUMNS
from syncd.pushdown.dialects import Dialect as SqlDialect
from syncd.pushdown.queries import SegmentStats, StateTable, build_queries

K = IdentifierKind

MIXED = {
    # Google's gmail handling on Meta's rules: emails only trimmed, phones without "+".
    "gmail-rules-on-meta": dataclasses.replace(
        META, gmail_plus_tag_removed=True, gmail_dots_removed=True
    ),
    # Google's emails with Meta's phone form and Meta's country (lowercase, hashed).
    "meta-phones-on-google": dataclasses.replace(
        GOOGLE,
        phone_plus=False,
        country_lowercase=True,
        hashed=GOOGLE.hashed | {K.COUNTRY},
        address_all_or_nothing=False,
    ),
    # One gmail rule without the other.
    "gmail-tag-only": dataclasses.replace(GOOGLE, gmail_dots_removed=False),
    "gmail-dots-only": dataclasses.replace(META, gmail_dots_removed=True),
}

EMAILS = [
    "Cloudy.SanFrancisco+shopping@Gmail.com",
    " Jane.Doe@GoogleMail.com ",
    "a.b+c+d@googlemail.com",
    "a..b@gmail.com",
    "+shopping@gmail.com",
    "...@googlemail.com",
    ".+x@gmail.com",
    "ab+x y@gmail.com",
    "A.B+\t@GMAIL.COM",
    "a b@gmail.com",
    "bo b@example.com",
    "user.name+NYC@Example.com",
    "a.b@gmail.com.au",
    "x.y@mail.gmail.com",
    "Zoë.Adams+shop@Gmail.com",
    "a.b@gmail.com\u2003",
    "a\u00a0.b+c@gmail.com",
    "ali\x1bce@gmail.com",
    "not-an-email",
    "a@b",
    "",
    "   ",
    None,
]
PHONES = [
    "+14155550132",
    " +442079460958 ",
    "\u00a0+4930123456",
    "+33612345678",
    "+5511912345678",
    "+44 20 7946 0958",
    "0044 20 7946 0958",
    "12",
    "",
    None,
]
COUNTRIES = [" us ", "Gb", "de", "\u0131t", "XX", "U S", "\uff35\uff33", "", None]
VALUES = {K.EMAIL: EMAILS, K.PHONE: PHONES, K.COUNTRY: COUNTRIES}
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@pytest.fixture(autouse=True)
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handful of phones of one calling code take the Arrow path too."""
    monkeypatch.setattr(phones, "MIN_GROUP_ROWS", 1)


Outcome = tuple[str | None, str | None]  # (what is sent, or None) and (the reason, or None)


def by_value(dialect: Dialect, kind: IdentifierKind, value: str | None) -> Outcome:
    if value is None or not value.strip():
        return None, None
    try:
        return send_value(dialect, kind, value, None), None
    except InvalidIdentifier as invalid:
        return None, invalid.reason


def normalized(dialect: Dialect, kind: IdentifierKind, value: str) -> str | None:
    try:
        return rule_of(dialect, kind).normalize(value, None)
    except InvalidIdentifier:
        return None


def undecided_in_sql(kind: IdentifierKind, value: str | None) -> bool:
    """SQL passes phones through only when written as E.164, and leaves the others undecided."""
    text = (value or "").strip()
    return kind is K.PHONE and text != "" and not E164.fullmatch(text)


def by_arrow(dialect: Dialect, kind: IdentifierKind, values: list[str | None]) -> list[Outcome]:
    column = normalize_column(dialect, kind, pa.array(values, pa.string()))
    return list(zip(column.values.to_pylist(), column.reasons.to_pylist(), strict=True))


def by_sql(
    dialect: Dialect, kind: IdentifierKind, values: list[str | None]
) -> tuple[list[str | None], SegmentStats]:
    """What the pushdown SQL sends for each value, and its counts. Each row carries its own
    external id, so that every row is a member and is found again by it."""
    keys = [f"row-{index}" for index in range(len(values))]
    queries = build_queries(
        "select * from cases",
        {K.EXTERNAL_ID: "row_key", kind: "value"},
        dialect,
        StateTable("held", "d", "a"),
        SqlDialect.DUCKDB,
        trust_e164_phones=True,
    )
    cases = pa.table({"row_key": keys, "value": pa.array(values, pa.string())})
    with duckdb.connect() as db:
        db.register("cases", cases)
        members = db.execute(queries.members).fetchall()
        cursor = db.execute(queries.stats)
        names = [column[0] for column in cursor.description]
        stats = SegmentStats.from_row(dict(zip(names, cursor.fetchone(), strict=True)))
    row_of = {send_value(dialect, K.EXTERNAL_ID, key, None): i for i, key in enumerate(keys)}
    key_at = 1 + IDENTIFIER_COLUMNS.index(K.EXTERNAL_ID.value)
    value_at = 1 + IDENTIFIER_COLUMNS.index(kind.value)
    sent = {row_of[row[key_at]]: row[value_at] for row in members}
    assert sorted(sent) == list(range(len(values)))
    return [sent[index] for index in range(len(values))], stats


@pytest.mark.parametrize("dialect", MIXED.values(), ids=MIXED.keys())
@pytest.mark.parametrize("kind", list(VALUES))
def test_a_mixed_dialect_is_applied_alike_by_every_path(
    dialect: Dialect, kind: IdentifierKind
) -> None:
    values = VALUES[kind]
    expected = [by_value(dialect, kind, value) for value in values]
    assert by_arrow(dialect, kind, values) == expected

    if kind is K.COUNTRY and dialect.address_all_or_nothing:
        return  # sent only inside a whole address, whose names are never pushed down
    sent, stats = by_sql(dialect, kind, values)
    undecided = [undecided_in_sql(kind, value) for value in values]
    for value, got, (want, _), skip in zip(values, sent, expected, undecided, strict=True):
        assert got == (None if skip else want), value
    assert stats.undecidable_rows == sum(undecided)
    reasons = Counter(
        f"{kind.value}:{reason}"
        for (_, reason), skip in zip(expected, undecided, strict=True)
        if reason is not None and not skip
    )
    assert {k: v for k, v in stats.invalid.items() if k.startswith(f"{kind.value}:")} == reasons


@pytest.mark.parametrize("dialect", MIXED.values(), ids=MIXED.keys())
def test_the_arrow_kernels_decide_the_ascii_rows_themselves(dialect: Dialect) -> None:
    """The comparison above is not the reference compared with itself: the kernels take
    every ASCII email and E.164 phone, and hand only the others to the reference."""
    column = emails.normalize_emails(dialect, pa.array(EMAILS, pa.string()), None)
    assert column.fallback.to_pylist() == [v is not None and not v.isascii() for v in EMAILS]
    ascii_rows = [(row, v) for row, v in enumerate(EMAILS) if v is not None and v.isascii()]
    assert [column.values[row].as_py() for row, _ in ascii_rows] == [
        normalized(dialect, K.EMAIL, value) for _, value in ascii_rows
    ]
    e164 = ["+14155550132", " +442079460958 ", "+33612345678", "+5511912345678"]
    column = phones.normalize_phones(dialect, pa.array(e164), None)
    assert not pc.any(column.fallback).as_py()
    assert column.values.to_pylist() == [normalized(dialect, K.PHONE, value) for value in e164]


def test_a_dialect_must_hash_a_persons_own_identifiers() -> None:
    for kind in (K.EMAIL, K.PHONE, K.FIRST_NAME, K.LAST_NAME):
        with pytest.raises(ValueError, match=kind.value):
            dataclasses.replace(META, hashed=META.hashed - {kind})
