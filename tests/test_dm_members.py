"""Data Manager members are assembled as JSON text with Arrow kernels: each member must parse
to exactly the object the API documents, whatever the values hold (quotes, backslashes,
control characters, non-ASCII), with the data types, consent and skips per row."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.destinations.google.dm_members import members_json, prepare
from syncd.members import MEMBER_SCHEMA

COLUMNS = ("email", "phone", "first_name", "last_name", "country", "zip", "external_id")


def table(rows: list[dict[str, str | None]], consent: bool = False) -> pa.Table:
    data: dict[str, list[str | None]] = {"member_key": [f"k{i}" for i in range(len(rows))]}
    for name in MEMBER_SCHEMA.names[1:]:
        data[name] = [row.get(name) for row in rows]
    if consent:
        for name in ("consent_ad_user_data", "consent_ad_personalization"):
            data[name] = [row.get(name) for row in rows]
    return pa.table(data)


def expected(row: dict[str, str | None], consent: dict[str, str] | None) -> dict[str, Any] | None:
    """The API's member object for one row, by the documented rules."""
    identifiers: list[dict[str, Any]] = []
    if row.get("email"):
        identifiers.append({"emailAddress": row["email"]})
    if row.get("phone"):
        identifiers.append({"phoneNumber": row["phone"]})
    parts = [row.get(c) for c in ("first_name", "last_name", "country", "zip")]
    if all(parts):
        names = ("givenName", "familyName", "regionCode", "postalCode")
        identifiers.append({"address": dict(zip(names, parts, strict=True))})
    member: dict[str, Any]
    if identifiers:
        member = {"userData": {"userIdentifiers": identifiers}}
    elif row.get("external_id"):
        member = {"userIdData": {"userId": row["external_id"]}}
    else:
        return None
    if consent is not None:
        member["consent"] = consent
    return member


def sent(rows: list[dict[str, str | None]], consent: bool = False) -> list[dict[str, Any]]:
    prepared = prepare(table(rows, consent), ("granted", "granted") if consent else None)
    return [
        member for group in prepared.groups() for member in json.loads(members_json(group.members))
    ]


TRICKY = ['a"b', "back\\slash", "tab\there", "line\nbreak", "\x00nul", "Zoë", "日本", "", None]


def test_every_tricky_value_round_trips_through_the_json_text() -> None:
    rows = [
        {"external_id": value, "zip": value, "first_name": "f", "last_name": "l", "country": "FR"}
        for value in TRICKY
    ]
    got = sent(rows)
    want = [m for m in (expected(row, None) for row in rows) if m is not None]
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, want))


def test_data_types_are_grouped_and_rows_without_identifiers_are_unusable() -> None:
    rows: list[dict[str, str | None]] = [
        {"email": "e1"},
        {"external_id": "u1"},
        {"email": "e2", "external_id": "u2"},  # contact data wins over the user ID
        {"first_name": "f", "last_name": "l", "country": "US"},  # no zip: no address
        {},
    ]
    prepared = prepare(table(rows), None)
    assert [group.rows.to_pylist() for group in prepared.groups()] == [[0, 2], [1]]
    assert prepared.unusable == 2


def test_consent_per_row_skips_rows_without_both_and_carries_each_rows_own() -> None:
    rows: list[dict[str, str | None]] = [
        {"email": "e1", "consent_ad_user_data": "granted", "consent_ad_personalization": None},
        {"email": "e2", "consent_ad_user_data": "DENIED", "consent_ad_personalization": None},
        {"external_id": "u3"},
    ]
    prepared = prepare(table(rows, consent=True), ("granted", "granted"))
    assert prepared.skipped_no_consent == 1
    granted = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
    assert sent(rows, consent=True) == [expected(rows[0], granted), expected(rows[2], granted)]


identifier = st.one_of(st.none(), st.text(max_size=12))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries({c: identifier for c in COLUMNS}), max_size=20))
def test_any_rows_give_the_documented_members(rows: list[dict[str, str | None]]) -> None:
    want = [m for m in (expected(row, None) for row in rows) if m is not None]
    assert sorted(map(json.dumps, sent(rows))) == sorted(map(json.dumps, want))
