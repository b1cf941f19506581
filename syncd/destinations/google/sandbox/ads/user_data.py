"""``UserData`` of an offline user data job operation -> one member, or the API's errors.

One ``UserData`` is one person: its identifiers become one member, the same frozenset of
``(kind, value)`` pairs the Data Manager emulator stores (``emailAddress``, ``phoneNumber``,
``address`` as ``(given, family, region, postal)``; ``mobileId`` and ``thirdPartyUserId`` for
lists keyed on those). Hashes must be SHA-256 as 64 lowercase hex characters, an operation
holds 1 to 20 identifiers, and each identifier must fit the list's upload key type.
"""

from __future__ import annotations

import re
from typing import Any

from syncd.destinations.google.sandbox.ads.errors import ErrorDetail
from syncd.destinations.google.sandbox.ads.state import Address, Member

__all__ = [
    "MAX_IDENTIFIERS_PER_OPERATION",
    "MAX_IDENTIFIERS_PER_REQUEST",
    "job_error",
    "parse_member",
    "too_many_identifiers",
]

#: ``TOO_MANY_USER_IDENTIFIERS``: "per request is 100,000 and per operation is 20".
MAX_IDENTIFIERS_PER_REQUEST = 100_000
MAX_IDENTIFIERS_PER_OPERATION = 20

_HEX64 = re.compile(r"[0-9a-f]{64}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_KEY_FOR_IDENTIFIER = {
    "hashed_email": "CONTACT_INFO",
    "hashed_phone_number": "CONTACT_INFO",
    "address_info": "CONTACT_INFO",
    "mobile_id": "MOBILE_ADVERTISING_ID",
    "third_party_user_id": "CRM_ID",
}
_MEMBER_KEY = {
    "hashed_email": "emailAddress",
    "hashed_phone_number": "phoneNumber",
    "mobile_id": "mobileId",
    "third_party_user_id": "thirdPartyUserId",
}

Loc = tuple[str, int | None]


def job_error(code: str, message: str, *location: Loc) -> ErrorDetail:
    """An ``OfflineUserDataJobError``."""
    return ErrorDetail("offline_user_data_job_error", code, message, location)


def too_many_identifiers(*location: Loc) -> ErrorDetail:
    """The error of a request or an operation over the identifier limits."""
    return job_error(
        "TOO_MANY_USER_IDENTIFIERS",
        f"Maximum number of user identifiers allowed per request is "
        f"{MAX_IDENTIFIERS_PER_REQUEST:,} and per operation is {MAX_IDENTIFIERS_PER_OPERATION}.",
        *location,
    )


def _hash(value: str, *location: Loc) -> list[ErrorDetail]:
    if _HEX64.fullmatch(value):
        return []
    return [job_error("INVALID_SHA256_FORMAT", "The SHA256 encoded value is malformed.", *location)]


def _identifier(
    identifier: Any, key_type: str
) -> tuple[tuple[str, str | Address] | None, list[ErrorDetail]]:
    kind = identifier.WhichOneof("identifier")
    if kind is None:
        return None, [job_error("MISSING_USER_IDENTIFIER", "A user identifier is empty.")]
    if _KEY_FOR_IDENTIFIER[kind] != key_type:
        return None, [
            job_error(
                "INCOMPATIBLE_UPLOAD_KEY_TYPE",
                f"The identifier does not fit the list's upload key type {key_type}.",
                (kind, None),
            )
        ]
    if kind != "address_info":
        value = getattr(identifier, kind)
        hashed = kind.startswith("hashed_")
        return (_MEMBER_KEY[kind], value), _hash(value, (kind, None)) if hashed else []
    address = identifier.address_info
    errors = _hash(address.hashed_first_name, (kind, None), ("hashed_first_name", None))
    errors += _hash(address.hashed_last_name, (kind, None), ("hashed_last_name", None))
    if not _COUNTRY.fullmatch(address.country_code):
        errors.append(
            job_error(
                "INVALID_COUNTRY_CODE",
                "The country code is not a valid ISO 3166-1 alpha-2 code.",
                (kind, None),
                ("country_code", None),
            )
        )
    if not address.postal_code:
        errors.append(
            ErrorDetail(
                "field_error",
                "REQUIRED",
                "The postal code is required.",
                ((kind, None), ("postal_code", None)),
            )
        )
    value = (
        address.hashed_first_name,
        address.hashed_last_name,
        address.country_code,
        address.postal_code,
    )
    return ("address", value), errors


def parse_member(user_data: Any, key_type: str) -> tuple[Member, list[ErrorDetail]]:
    identifiers = user_data.user_identifiers
    if not identifiers:
        return frozenset(), [
            job_error(
                "MISSING_USER_IDENTIFIER",
                "The operation has no user identifier.",
                ("user_identifiers", None),
            )
        ]
    if len(identifiers) > MAX_IDENTIFIERS_PER_OPERATION:
        return frozenset(), [too_many_identifiers(("user_identifiers", None))]
    pairs = []
    errors: list[ErrorDetail] = []
    for index, identifier in enumerate(identifiers):
        pair, found = _identifier(identifier, key_type)
        errors.extend(error.at(("user_identifiers", index)) for error in found)
        if pair is not None:
            pairs.append(pair)
    return frozenset(pairs), errors
