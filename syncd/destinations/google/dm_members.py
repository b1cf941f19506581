"""Members (MEMBER_SCHEMA rows) -> Data Manager audience members, with consent per row.

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

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CONSENT_COLUMNS",
    "Prepared",
    "consent_status",
    "consented_rows",
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
        return pa.array([default] * len(members), pa.string())
    values = pc.utf8_lower(
        pc.utf8_trim_whitespace(members[column].combine_chunks().cast(pa.string()))
    )
    return pc.fill_null(values, default)


def consented_rows(members: pa.Table, ad_user_data: str, ad_personalization: str) -> pa.Array:
    """A boolean per row: may this row be added? (both consents granted, after defaults)."""
    ok = pa.array([True] * len(members), pa.bool_())
    for column, default in zip(CONSENT_COLUMNS, (ad_user_data, ad_personalization), strict=True):
        ok = pc.and_(ok, pc.equal(_effective(members, column, default), "granted"))
    return ok


@dataclass
class Prepared:
    """A batch as request members: (batch row, member JSON) per data type, and what was left."""

    user_data: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    user_ids: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    skipped_no_consent: int = 0
    unusable: int = 0

    def groups(self) -> list[list[tuple[int, dict[str, Any]]]]:
        """The non-empty groups, one request (or more) each."""
        return [group for group in (self.user_data, self.user_ids) if group]


def _identifiers(row: dict[str, str | None]) -> list[dict[str, Any]]:
    identifiers: list[dict[str, Any]] = []
    if row.get("email"):
        identifiers.append({"emailAddress": row["email"]})
    if row.get("phone"):
        identifiers.append({"phoneNumber": row["phone"]})
    address = [row.get(k) for k in ("first_name", "last_name", "country", "zip")]
    if all(address):  # Google takes names only as a whole address
        given, family, region, postal = address
        identifiers.append(
            {
                "address": {
                    "givenName": given,
                    "familyName": family,
                    "regionCode": region,
                    "postalCode": postal,
                }
            }
        )
    return identifiers


def prepare(members: pa.Table, consent_defaults: tuple[str, str] | None) -> Prepared:
    """Group a batch's rows into members by data type.

    ``consent_defaults`` (ad user data, ad personalization) for an add: rows without both
    consents are skipped, and when the table has consent columns each member carries its
    own consent. ``None`` for a removal: every row is sent, without consent.
    """
    prepared = Prepared()
    allowed: list[bool] = [True] * len(members)
    per_row: list[dict[str, str]] | None = None
    if consent_defaults is not None:
        allowed = consented_rows(members, *consent_defaults).to_pylist()
        prepared.skipped_no_consent = allowed.count(False)
        if any(column in members.column_names for column in CONSENT_COLUMNS):
            columns = [
                _effective(members, column, default).to_pylist()
                for column, default in zip(CONSENT_COLUMNS, consent_defaults, strict=True)
            ]
            per_row = [
                {
                    name: consent_status(value)
                    for name, value in zip(_API_NAMES, values, strict=True)
                }
                for values in zip(*columns, strict=True)
            ]
    for index, row in enumerate(members.to_pylist()):
        if not allowed[index]:
            continue
        identifiers = _identifiers(row)
        member: dict[str, Any]
        if identifiers:
            member = {"userData": {"userIdentifiers": identifiers}}
            target = prepared.user_data
        elif row.get("external_id"):
            member = {"userIdData": {"userId": row["external_id"]}}
            target = prepared.user_ids
        else:
            prepared.unusable += 1
            continue
        if per_row is not None:
            member["consent"] = per_row[index]
        target.append((index, member))
    return prepared
