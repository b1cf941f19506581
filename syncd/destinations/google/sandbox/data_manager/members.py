"""Audience members of an ingest or remove request: parsed, checked, and kept as values.

A member is ``userData`` (hashed email, phone, address: ``CONTACT_ID`` lists) or, since v1.5,
``userIdData`` (a user ID in clear: ``USER_ID`` lists), optionally wrapped in
``compositeData``. A request carries one data type only (``MULTIPLE_DATA_TYPES_NOT_ALLOWED``).
Each member may carry its own ``consent``, which overrides the request's.

Every member is checked before any is applied, and every bad member is reported -- one field
violation each, its path starting ``audience_members.audience_members[i]`` as Google writes it
-- so a client learns all the rows to quarantine from one refusal. The two refusals of a hash
are copied from the "Send audience members" quickstart
(https://developers.google.com/data-manager/api/get-started/quickstart/send-audience-members):

    {"field": "audience_members.audience_members[0].user_data.user_identifiers",
     "description": "Email is not hex encoded.", "reason": "INVALID_HEX_ENCODING"}
    {"field": "audience_members.audience_members[0]", "reason": "INVALID_SHA256_FORMAT"}

The first for a value that is not hex at all, the second for hex that is not a SHA-256 digest
("an email_address that isn't hashed and is only hex encoded"). The page shows an email;
other hashed identifiers are reported the same way, with their own noun.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from syncd.destinations.google.sandbox.data_manager.errors import (
    ApiError,
    Violation,
    check_enum,
    require,
    snake,
)

__all__ = [
    "CONSENT_VALUES",
    "MAX_IDENTIFIERS",
    "Address",
    "Decoder",
    "Member",
    "Parsed",
    "check_consent",
    "denied_consent",
    "parse_members",
]

MAX_IDENTIFIERS = 10
#: Longest user ID accepted (Google Ads' third-party user ids share the limit).
MAX_USER_ID_CHARS = 512

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_REGION = re.compile(r"[A-Z]{2}")
CONSENT_VALUES = frozenset({"CONSENT_STATUS_UNSPECIFIED", "CONSENT_GRANTED", "CONSENT_DENIED"})

#: Where a member's refusals point: Google repeats the request field before the index.
MEMBER_FIELD = "audience_members.audience_members[{}]"
#: The message of a refusal of members, copied from the quickstart's bodies.
PROBLEM = "There was a problem with the request."

#: An address identifier's value: (givenName, familyName, regionCode, postalCode).
Address = tuple[str, str, str, str]
#: One audience member: its (identifier name, value) pairs.
Member = frozenset[tuple[str, str | Address]]

#: The member data type -> the list upload key type that takes it.
KEY_TYPES = {"userData": "CONTACT_ID", "userIdData": "USER_ID"}


@dataclass(frozen=True, slots=True)
class Parsed:
    """One valid member: its values, its data type, its identifier count and its consent."""

    member: Member
    data_type: str
    identifiers: int
    consent: dict[str, str]


def check_consent(consent: Any, field: str) -> dict[str, str]:
    consent = require(consent, dict, field)
    for name in ("adUserData", "adPersonalization"):
        if name in consent:
            check_enum(consent[name], CONSENT_VALUES, f"{field}.{snake(name)}")
    return {k: v for k, v in consent.items() if k in ("adUserData", "adPersonalization")}


def denied_consent(member: dict[str, str], request: dict[str, str]) -> bool:
    """Customer Match uses a member only with both consents; the member's own ones win."""
    for name in ("adUserData", "adPersonalization"):
        value = member.get(name, "CONSENT_STATUS_UNSPECIFIED")
        if value == "CONSENT_STATUS_UNSPECIFIED":
            value = request.get(name, "CONSENT_STATUS_UNSPECIFIED")
        if value == "CONSENT_DENIED":
            return True
    return False


class Decoder:
    """Checks one hashed value in the request's ``encoding`` and returns it as lowercase hex.

    A value the encoding cannot read is refused at the member's identifiers; one that reads
    but is not 32 bytes (not a SHA-256 digest) at the member itself: both as the quickstart
    shows (see the module docstring).
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding

    def __call__(self, value: Any, noun: str, identifiers: str, member: str) -> str:
        value = require(value, str, identifiers)
        raw = self._bytes(value)
        if raw is None:
            hex_encoded = self.encoding == "HEX"
            raise ApiError(
                f"{noun} is not {'hex' if hex_encoded else 'base64'} encoded.",
                reason="INVALID_HEX_ENCODING" if hex_encoded else "INVALID_BASE64_ENCODING",
                field=identifiers,
            )
        if len(raw) != 32:
            raise ApiError("", reason="INVALID_SHA256_FORMAT", field=member)
        return raw.hex()

    def _bytes(self, value: str) -> bytes | None:
        if self.encoding == "HEX":
            return bytes.fromhex(value) if _HEX.fullmatch(value) else None
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None


_NOUNS = {"emailAddress": "Email", "phoneNumber": "Phone number"}


def _identifier(
    identifier: Any, decode: Decoder, field: str, identifiers: str, member: str
) -> tuple[str, str | Address]:
    identifier = require(identifier, dict, field)
    kinds = [k for k in ("emailAddress", "phoneNumber", "address") if k in identifier]
    if len(kinds) != 1 or len(identifier) != 1:
        raise ApiError(
            "A user identifier holds exactly one of email_address, phone_number, address.",
            reason="INVALID_FORMAT",
            field=field,
        )
    kind = kinds[0]
    path = f"{field}.{snake(kind)}"
    if kind != "address":
        return kind, decode(identifier[kind], _NOUNS[kind], identifiers, member)
    address = require(identifier[kind], dict, path)
    given = decode(address.get("givenName"), "Given name", identifiers, member)
    family = decode(address.get("familyName"), "Family name", identifiers, member)
    region = require(address.get("regionCode"), str, f"{path}.region_code")
    if not _REGION.fullmatch(region):
        raise ApiError(
            "Country code is not valid: expected 2 uppercase letters (ISO 3166-1 alpha-2).",
            reason="INVALID_COUNTRY_CODE",
            field=f"{path}.region_code",
        )
    postal = require(address.get("postalCode"), str, f"{path}.postal_code")
    if len(postal) > 32:
        raise ApiError(
            "Postal code is not valid.", reason="INVALID_POSTAL_CODE", field=f"{path}.postal_code"
        )
    return kind, (given, family, region, postal)


def _user_data(data: Any, decode: Decoder, base: str, member: str) -> tuple[Member, int]:
    user_data = require(data, dict, f"{base}.user_data")
    ids_field = f"{base}.user_data.user_identifiers"
    identifiers = require(user_data.get("userIdentifiers"), list, ids_field)
    if len(identifiers) > MAX_IDENTIFIERS:
        raise ApiError(
            f"Maximum number of user identifiers allowed per audience member is "
            f"{MAX_IDENTIFIERS}; got {len(identifiers)}.",
            reason="TOO_MANY_USER_IDENTIFIERS",
            field=ids_field,
        )
    parsed = frozenset(
        _identifier(identifier, decode, f"{ids_field}[{index}]", ids_field, member)
        for index, identifier in enumerate(identifiers)
    )
    return parsed, len(identifiers)


def _user_id_data(data: Any, base: str) -> tuple[Member, int]:
    user_id_data = require(data, dict, f"{base}.user_id_data")
    field = f"{base}.user_id_data.user_id"
    user_id = require(user_id_data.get("userId"), str, field)
    if len(user_id) > MAX_USER_ID_CHARS or user_id != user_id.strip():
        raise ApiError(
            f"The user ID is not valid: at most {MAX_USER_ID_CHARS} characters, trimmed.",
            reason="INVALID_FORMAT",
            field=field,
        )
    return frozenset({("userId", user_id)}), 1


def _member(member: Any, decode: Decoder, field: str) -> Parsed:
    member = require(member, dict, field)
    consent = check_consent(member["consent"], f"{field}.consent") if "consent" in member else {}
    base = field
    if "compositeData" in member:
        member = require(member["compositeData"], dict, f"{field}.composite_data")
        base = f"{field}.composite_data"
    types = [name for name in KEY_TYPES if name in member]
    if len(types) != 1:
        raise ApiError(
            "This audience member is not valid: the sandbox supports one of user_data or "
            "user_id_data per member.",
            reason="INVALID_AUDIENCE_MEMBER",
            field=base,
        )
    if types[0] == "userData":
        values, count = _user_data(member["userData"], decode, base, field)
    else:
        values, count = _user_id_data(member["userIdData"], base)
    return Parsed(values, types[0], count, consent)


_PLAIN_KINDS = frozenset({"emailAddress", "phoneNumber"})


def _plain_member(member: Any) -> Parsed | None:
    """The common member -- ``{"userData": {"userIdentifiers": [...]}}`` with hex-encoded
    emails and phones only, no consent -- parsed without building a field path per value.
    None for anything else (or any problem): `_member` then decides, and names the fault.
    For the members it accepts, both give the same result."""
    if type(member) is not dict or len(member) != 1:
        return None
    user_data = member.get("userData")
    if type(user_data) is not dict or len(user_data) != 1:
        return None
    identifiers = user_data.get("userIdentifiers")
    if type(identifiers) is not list or not 0 < len(identifiers) <= MAX_IDENTIFIERS:
        return None
    pairs = []
    for identifier in identifiers:
        if type(identifier) is not dict or len(identifier) != 1:
            return None
        ((kind, value),) = identifier.items()
        if kind not in _PLAIN_KINDS or type(value) is not str or not _HEX64.fullmatch(value):
            return None
        pairs.append((kind, value))
    return Parsed(frozenset(pairs), "userData", len(identifiers), {})


def parse_members(members: Sequence[Any], decode: Decoder) -> list[Parsed]:
    """Parse every member; raise one error listing every bad member, or a mix of types."""
    parsed: list[Parsed] = []
    violations: list[Violation] = []
    hex_encoded = decode.encoding == "HEX"
    for index, member in enumerate(members):
        plain = _plain_member(member) if hex_encoded else None
        if plain is not None:
            parsed.append(plain)
            continue
        try:
            parsed.append(_member(member, decode, MEMBER_FIELD.format(index)))
        except ApiError as error:
            violations.extend(error.violations)
    if violations:
        raise ApiError(PROBLEM, reason=violations[0].reason, violations=violations)
    if len({p.data_type for p in parsed}) > 1:
        raise ApiError(
            "Multiple data types are not allowed in one request: send user_data and "
            "user_id_data members in separate requests.",
            reason="MULTIPLE_DATA_TYPES_NOT_ALLOWED",
            field="audience_members",
        )
    return parsed
