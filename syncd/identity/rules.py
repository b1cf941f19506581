"""The identifier rules, one small function per value: the reference path.

A network matches a hashed identifier only when we normalized it exactly as it does, so
every rule here is a network's documented rule, not our taste. These per-value functions
*define* what syncd sends; the vectorized paths beside them (`emails`, `phones`) must give
bit-identical results and hand anything they are unsure of back to these functions.
An invalid value never raises out of the package: it becomes a null plus a reason.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

#: Longer values are refused before any regex runs on them: no real identifier is this long,
#: and a megabyte string must not cost a megabyte of work per row.
MAX_VALUE_CHARS = 512

_EMAIL = re.compile(r"^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_MADID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS)


class IdentifierKind(StrEnum):
    """What a segment column holds; the config maps each kind to a column."""

    EMAIL = "email"
    PHONE = "phone"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    COUNTRY = "country"
    ZIP = "zip"
    MADID = "madid"
    EXTERNAL_ID = "external_id"


class Network(StrEnum):
    """The normalization dialect: Google and Meta disagree on emails, phones and names."""

    GOOGLE = "google"
    META = "meta"


class InvalidIdentifier(ValueError):
    """A value the network would not match; `reason` is a short, value-free label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sha256_hex(value: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes, the encoding both networks accept."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalize_country(value: str) -> str:
    """ISO 3166-1 alpha-2, upper case; both networks want the two-letter code."""
    code = value.strip().upper()
    if code not in _COUNTRIES:
        raise InvalidIdentifier("invalid_country")
    return code


def _email_google(value: str, country: str | None) -> str:
    # Google: drop all whitespace (leading, trailing and inner), lowercase, and for
    # gmail.com / googlemail.com drop the dots of the local part.
    email = "".join(value.split()).lower()
    if not _EMAIL.match(email):
        raise InvalidIdentifier("invalid_email")
    local, domain = email.rsplit("@", 1)
    if domain in _GMAIL_DOMAINS:
        email = local.replace(".", "") + "@" + domain
    return email


def _email_meta(value: str, country: str | None) -> str:
    # Meta: trim and lowercase only; gmail dots are kept.
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidIdentifier("invalid_email")
    return email


def _parse_phone(value: str, country: str | None) -> phonenumbers.PhoneNumber:
    """A valid number read as national to `country` first, then as international without
    its '+': Meta's own form ("442079460958") must read back as itself."""
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        return _valid_number(text, None)
    if country is None:
        raise InvalidIdentifier("phone_needs_country")
    try:
        return _valid_number(text, country)
    except InvalidIdentifier:
        return _valid_number("+" + text, None)


def _valid_number(text: str, country: str | None) -> phonenumbers.PhoneNumber:
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier("invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("invalid_phone")
    return number


def _phone_google(value: str, country: str | None) -> str:
    # Google: E.164, with the leading '+'.
    number = _parse_phone(value, country)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_meta(value: str, country: str | None) -> str:
    # Meta: digits only, country code first, no '+' and no leading zeros.
    return _phone_google(value, country).lstrip("+")


def _name_google(value: str, country: str | None) -> str:
    # Google: lowercase, no punctuation, no leading or trailing whitespace.
    kept = "".join(ch for ch in value.lower() if not unicodedata.category(ch).startswith("P"))
    name = " ".join(kept.split())
    if not name:
        raise InvalidIdentifier("invalid_name")
    return name


def _name_meta(value: str, country: str | None) -> str:
    # Meta: a-z only. Accents are folded first so "José" matches "jose" as Meta expects.
    folded = unicodedata.normalize("NFKD", value.lower())
    name = "".join(ch for ch in folded if "a" <= ch <= "z")
    if not name:
        raise InvalidIdentifier("invalid_name")
    return name


def _country_google(value: str, country: str | None) -> str:
    return normalize_country(value)


def _country_meta(value: str, country: str | None) -> str:
    return normalize_country(value).lower()


def _zip_google(value: str, country: str | None) -> str:
    # Google sends postal codes in clear, as written in the country, without outer spaces.
    code = value.strip().upper()
    if not code:
        raise InvalidIdentifier("invalid_zip")
    return code


def _zip_meta(value: str, country: str | None) -> str:
    # Meta: lowercase, no spaces or dashes; for the US the first five digits only.
    code = "".join(ch for ch in value.lower() if ch not in " -")
    if country == "US":
        code = code[:5]
        if len(code) != 5 or not code.isdigit():
            raise InvalidIdentifier("invalid_zip")
    if not code:
        raise InvalidIdentifier("invalid_zip")
    return code


def _madid(value: str, country: str | None) -> str:
    # Mobile advertiser ids (IDFA/AAID) are UUIDs, lowercase with hyphens on both networks.
    madid = value.strip().lower()
    if not _MADID.match(madid):
        raise InvalidIdentifier("invalid_madid")
    return madid


def _external_id(value: str, country: str | None) -> str:
    # The advertiser's own id: matched byte for byte, so only outer whitespace goes.
    external_id = value.strip()
    if not external_id:
        raise InvalidIdentifier("invalid_external_id")
    return external_id


@dataclass(frozen=True)
class IdentifierRule:
    """How one network wants one kind of identifier: normalized, then hashed or sent as is."""

    normalize: Callable[[str, str | None], str]
    hashed: bool

    def apply(self, value: str, country: str | None) -> str:
        normalized = self.normalize(value, country)
        return sha256_hex(normalized) if self.hashed else normalized


# Meta asks for MADID unhashed; Google sends country and postal code in clear beside the
# hashed names of an address. Everything else is SHA-256.
RULES: dict[Network, dict[IdentifierKind, IdentifierRule]] = {
    Network.GOOGLE: {
        IdentifierKind.EMAIL: IdentifierRule(_email_google, hashed=True),
        IdentifierKind.PHONE: IdentifierRule(_phone_google, hashed=True),
        IdentifierKind.FIRST_NAME: IdentifierRule(_name_google, hashed=True),
        IdentifierKind.LAST_NAME: IdentifierRule(_name_google, hashed=True),
        IdentifierKind.COUNTRY: IdentifierRule(_country_google, hashed=False),
        IdentifierKind.ZIP: IdentifierRule(_zip_google, hashed=False),
        IdentifierKind.MADID: IdentifierRule(_madid, hashed=False),
        IdentifierKind.EXTERNAL_ID: IdentifierRule(_external_id, hashed=False),
    },
    Network.META: {
        IdentifierKind.EMAIL: IdentifierRule(_email_meta, hashed=True),
        IdentifierKind.PHONE: IdentifierRule(_phone_meta, hashed=True),
        IdentifierKind.FIRST_NAME: IdentifierRule(_name_meta, hashed=True),
        IdentifierKind.LAST_NAME: IdentifierRule(_name_meta, hashed=True),
        IdentifierKind.COUNTRY: IdentifierRule(_country_meta, hashed=True),
        IdentifierKind.ZIP: IdentifierRule(_zip_meta, hashed=True),
        IdentifierKind.MADID: IdentifierRule(_madid, hashed=False),
        IdentifierKind.EXTERNAL_ID: IdentifierRule(_external_id, hashed=True),
    },
}


def as_text(value: object) -> str:
    """The text of a warehouse value: numbers become digits, bytes must be UTF-8."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidIdentifier("not_utf8") from exc
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidIdentifier("too_long")
    return text


def send_value(network: Network, kind: IdentifierKind, value: object, country: str | None) -> str:
    """What syncd sends for one raw value; raises InvalidIdentifier with the reason."""
    return RULES[network][kind].apply(as_text(value), country)
