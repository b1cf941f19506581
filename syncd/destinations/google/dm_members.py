"""Members (SENT_SCHEMA rows) -> Data Manager audience members, with consent per row.

One row is one person, and becomes one member of one data type: ``userData`` with every
contact identifier it has (hashed email, hashed phone, an address of hashed names, region and
postal code in clear), or, when the row has nothing but a user ID (``external_id``, in clear),
``userIdData``. The API refuses requests that mix data types, so rows are grouped by type.

Consent is decided per row. When the table has ``consent_ad_user_data`` /
``consent_ad_personalization`` columns ("granted", "denied" or null), a row's own value wins
and null falls back to the destination's configured default; without the columns the
defaults apply to every row. Customer Match uses a person only with both consents granted,
so an add never sends a row lacking either: it is counted as skipped instead. Removals need
no consent and send every row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.destinations.arrow_text import joined, plain
from syncd.identity.vector import trues

__all__ = [
    "CONSENT_COLUMNS",
    "MemberGroup",
    "Prepared",
    "consent_status",
    "consented_rows",
    "members_json",
    "prepare",
]

#: Optional member-table columns with each row's consent: "granted", "denied" or null.
CONSENT_COLUMNS = ("consent_ad_user_data", "consent_ad_personalization")
_API_NAMES = ("adUserData", "adPersonalization")


def consent_status(value: str) -> str:
    """ "granted"/"denied" -> the API's ``ConsentStatus``."""
    return {"granted": "CONSENT_GRANTED", "denied": "CONSENT_DENIED"}.get(
        value.lower(), "CONSENT_STATUS_UNSPECIFIED"
    )


def _effective(members: pa.Table, column: str, default: str) -> pa.Array:
    if column not in members.column_names:
        return pa.repeat(pa.scalar(default, pa.string()), len(members))
    values = pc.utf8_lower(
        pc.utf8_trim_whitespace(members[column].combine_chunks().cast(pa.string()))
    )
    return pc.fill_null(values, default)


def consented_rows(members: pa.Table, ad_user_data: str, ad_personalization: str) -> pa.Array:
    """A boolean per row: may this row be added? (both consents granted, after defaults)."""
    ok = trues(len(members))
    for column, default in zip(CONSENT_COLUMNS, (ad_user_data, ad_personalization), strict=True):
        ok = pc.and_(ok, pc.equal(_effective(members, column, default), "granted"))
    return ok


@dataclass
class MemberGroup:
    """Members of one data type: each one's batch row, and its JSON object as text (Arrow
    arrays, which a request body is joined from without a Python string per member)."""

    rows: pa.Array
    members: pa.Array


@dataclass
class Prepared:
    """A batch as request members, grouped by data type, and what was left out."""

    user_data: MemberGroup
    user_ids: MemberGroup
    skipped_no_consent: int = 0
    unusable: int = 0

    def groups(self) -> list[MemberGroup]:
        """The non-empty groups, one request (or more) each."""
        return [group for group in (self.user_data, self.user_ids) if len(group.rows)]


def members_json(members: pa.Array) -> bytes:
    """The ``audienceMembers`` array of a request body, UTF-8."""
    return b"".join((b"[", joined(members, ","), b"]"))


def prepare(members: pa.Table, consent_defaults: tuple[str, str] | None) -> Prepared:
    """Group a batch's rows into members by data type, as JSON text.

    ``consent_defaults`` (ad user data, ad personalization) for an add: rows without both
    consents are skipped, and when the table has consent columns each member carries its
    own consent. ``None`` for a removal: every row is sent, without consent.

    The JSON is assembled column by column with Arrow string kernels: building a dict per
    member and serializing it took longer than hashing the member in the first place.
    """
    skipped = 0
    allowed = trues(len(members))
    consent = pa.repeat(pa.scalar("", pa.string()), len(members))
    if consent_defaults is not None:
        allowed = consented_rows(members, *consent_defaults)
        skipped = len(members) - pc.sum(allowed).as_py() if len(members) else 0
        if any(column in members.column_names for column in CONSENT_COLUMNS):
            consent = _consent_json(members, consent_defaults)
    identifiers = _joined(
        [
            _object("emailAddress", _string(members, "email")),
            _object("phoneNumber", _string(members, "phone")),
            _address(members),
        ]
    )
    user_data = pc.binary_join_element_wise(
        '{"userData":{"userIdentifiers":[', identifiers, "]}", consent, "}", ""
    )
    user_id = pc.binary_join_element_wise(
        '{"userIdData":{"userId":', _string(members, "external_id"), "}", consent, "}", ""
    )
    has_identifiers = pc.not_equal(identifiers, "")
    is_user_data = pc.and_(allowed, has_identifiers)
    is_user_id = pc.and_(pc.and_(allowed, pc.invert(has_identifiers)), pc.is_valid(user_id))
    usable = pc.sum(pc.or_(is_user_data, is_user_id)).as_py() or 0
    return Prepared(
        user_data=_group(user_data, is_user_data),
        user_ids=_group(user_id, is_user_id),
        skipped_no_consent=skipped,
        unusable=len(members) - skipped - usable,
    )


def _group(members: pa.Array, selected: pa.Array) -> MemberGroup:
    rows = pc.indices_nonzero(selected)
    return MemberGroup(rows, pc.take(members, rows))


def _string(members: pa.Table, column: str) -> pa.Array:
    """A column's values as JSON string literals; null where absent or empty."""
    if column not in members.column_names or members[column].null_count == len(members):
        return pa.nulls(len(members), pa.string())  # most batches carry one or two kinds
    values = members[column].combine_chunks().cast(pa.string())
    values = pc.if_else(pc.equal(values, ""), None, values)
    if not plain(values) and pc.any(pc.match_substring_regex(values, r'[\x00-\x1f"\\]')).as_py():
        # Quotes, backslashes and control characters (never in a hash) are rare enough to
        # leave to the json module.
        return pa.array([None if v is None else json.dumps(v) for v in values.to_pylist()])
    return pc.binary_join_element_wise('"', values, '"', "")


def _joined(objects: list[pa.Array]) -> pa.Array:
    """The non-null objects of each row, comma-separated ("" when none). Each gets its comma
    and the last is trimmed: ``null_handling="skip"`` of binary_join_element_wise drops
    rows whose values are all null, in the pyarrow this runs on. Objects no row has are
    left out first: most batches carry one kind, which then needs no comma at all."""
    rows = len(objects[0])
    objects = [o for o in objects if o.null_count < rows]
    if len(objects) <= 1:
        return pc.fill_null(objects[0], "") if objects else pa.repeat(pa.scalar(""), rows)
    with_commas = [pc.fill_null(pc.binary_join_element_wise(o, ",", ""), "") for o in objects]
    return pc.utf8_rtrim(pc.binary_join_element_wise(*with_commas, ""), characters=",")


def _object(name: str, value: pa.Array) -> pa.Array:
    """``{"name":value}``, null where the value is."""
    return pc.binary_join_element_wise(f'{{"{name}":', value, "}", "")


def _address(members: pa.Table) -> pa.Array:
    """Google takes names only as a whole address: null unless all four parts are there."""
    parts = [f'"{name}":' for name in ("givenName", "familyName", "regionCode", "postalCode")]
    values = []
    for column in ("first_name", "last_name", "country", "zip"):
        values.append(_string(members, column))
        if values[-1].null_count == len(members):  # most batches: no names, so no quoting
            return pa.nulls(len(members), pa.string())
    fields = [
        pc.binary_join_element_wise(label, value, "")
        for label, value in zip(parts, values, strict=True)
    ]
    address = pc.binary_join_element_wise(*fields, ",")
    return pc.binary_join_element_wise('{"address":{', address, "}}", "")


def _consent_json(members: pa.Table, defaults: tuple[str, str]) -> pa.Array:
    """``,"consent":{...}`` per row, from each row's own consent (defaults for nulls)."""
    fields = []
    for name, column, default in zip(_API_NAMES, CONSENT_COLUMNS, defaults, strict=True):
        value = _effective(members, column, default)
        status = pc.if_else(
            pc.equal(value, "granted"),
            "CONSENT_GRANTED",
            pc.if_else(pc.equal(value, "denied"), "CONSENT_DENIED", "CONSENT_STATUS_UNSPECIFIED"),
        )
        fields.append(pc.binary_join_element_wise(f'"{name}":"', status, '"', ""))
    return pc.binary_join_element_wise(',"consent":{', fields[0], ",", fields[1], "}", "")
