"""The identifier rules, one small function per value: the reference path.

A network matches a hashed identifier only when we normalized it exactly as it does, so
every rule here is a network's documented rule, not our taste; where networks differ, the
rule reads the network's `Dialect`. These per-value functions *define* what syncd sends; the
vectorized paths beside them (`emails`, `phones`) must give bit-identical results for any
dialect and hand anything they are unsure of back to these functions.
An invalid value never raises out of the package: it becomes a null plus a reason.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

import phonenumbers

from syncd.identity.dialects import Dialect, NameForm, ZipForm
from syncd.identity.kinds import IdentifierKind

#: Longer values are refused before any regex runs on them: no real identifier is this long,
#: and a megabyte string must not cost a megabyte of work per row.
MAX_VALUE_CHARS = 512

_EMAIL = re.compile(r"^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
#: Control characters (Unicode category Cc) that are not whitespace: a NUL or an escape in an
#: address is a loading accident, never part of a mailbox (RFC 5322 atext has none), and its
#: hash could never match. Whitespace controls (tab, newline, \x1c-\x1f, \x85) are trimmed
#: or joined by the whitespace rules instead.
CONTROL_CHARACTERS = "".join(
    ch for ch in map(chr, range(0x110000)) if unicodedata.category(ch) == "Cc" and not ch.isspace()
)
_CONTROL = re.compile(f"[{re.escape(CONTROL_CHARACTERS)}]")
_MADID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS)


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


def _email(dialect: Dialect, value: str, country: str | None) -> str:
    # Google, Data Manager "Format user data" (developers.google.com/data-manager/api/
    # devguides/concepts/formatting): lowercase; trim leading, trailing and intermediate
    # whitespace; for gmail.com / googlemail.com remove the "+" and everything after it in
    # the local part, and every "." before the "@" (cloudy.sanfrancisco+shopping@gmail.com ->
    # cloudysanfrancisco@gmail.com); other domains keep their dots and "+".
    # Meta customer-file "Hashing and normalizing data" (developers.facebook.com/docs/
    # marketing-api/audiences/guides/custom-audiences): trim leading and trailing whitespace,
    # lowercase; no gmail rule.
    email = "".join(value.split()) if dialect.email_inner_whitespace_removed else value.strip()
    email = email.lower()
    _refuse_controls(email)
    if not _EMAIL.match(email):
        raise InvalidIdentifier("invalid_email")
    local, domain = email.rsplit("@", 1)
    if domain in _GMAIL_DOMAINS:
        # google-ads-datamanager-util Formatter.format_email_address: split at the first "+",
        # then drop the dots; an empty local part left over is refused, as it refuses it.
        if dialect.gmail_plus_tag_removed:
            local = local.split("+", 1)[0]
        if dialect.gmail_dots_removed:
            local = local.replace(".", "")
        if not local:
            raise InvalidIdentifier("invalid_email")
        email = local + "@" + domain
    return email


def _refuse_controls(email: str) -> None:
    if _CONTROL.search(email):
        raise InvalidIdentifier("control_character")


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


def _phone(dialect: Dialect, value: str, country: str | None) -> str:
    # Google: E.164, with the leading '+'. Meta: digits only, country code first, no '+'
    # and no leading zeros.
    number = _parse_phone(value, country)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if dialect.phone_plus else e164.lstrip("+")


#: Data Manager "Format user data": given_name "Don't include prefixes such as Mrs.",
#: family_name "Don't include suffixes such as Jr.". Only a title or a generation that comes
#: with a name beside it goes: a person may be called "Miss" or "Ii".
_NAME_PREFIXES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof"})
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


def _name_words(dialect: Dialect, value: str) -> list[str]:
    """A name's words in `dialect.name_form`, none empty: kept apart so that a title or a
    generation can be dropped whichever way the form joins them."""
    if dialect.name_form is NameForm.LETTERS:
        # Meta customer-file docs, FN and LN: "Use a-z only. Lowercase only, no punctuation.
        # Special characters in UTF-8 format." So letters only (no spaces, digits or
        # punctuation), and a letter such as "é" is kept and sent as UTF-8 (the SDK's
        # normalize_key drops it: see docs/normalization.md). NFC, so "é" typed as "e" and a
        # combining accent hashes as the precomposed letter does.
        folded = unicodedata.normalize("NFC", value.lower()).split()
        words = [
            "".join(ch for ch in word if unicodedata.category(ch)[0] in "LM") for word in folded
        ]
        return [word for word in words if word]
    # AddressInfo.given_name / family_name (google.ads.datamanager.v1, the API reference):
    # "all lowercase, with no punctuation, no leading or trailing whitespace"; Google Ads API
    # OfflineUserAddressInfo.hashed_first_name: "Remove any extra spaces before, after, and
    # in between". Letters such as "é" stay, as Google's Formatter keeps them.
    kept = "".join(ch for ch in value.lower() if not unicodedata.category(ch).startswith("P"))
    return kept.split()


def _given_name(dialect: Dialect, value: str, country: str | None) -> str:
    words = _name_words(dialect, value)
    if dialect.name_affixes_dropped and len(words) > 1 and words[0] in _NAME_PREFIXES:
        words = words[1:]
    return _name(dialect, words)


def _family_name(dialect: Dialect, value: str, country: str | None) -> str:
    words = _name_words(dialect, value)
    if dialect.name_affixes_dropped and len(words) > 1 and words[-1] in _NAME_SUFFIXES:
        words = words[:-1]
    return _name(dialect, words)


def _name(dialect: Dialect, words: list[str]) -> str:
    name = (" " if dialect.name_form is NameForm.WORDS else "").join(words)
    if not name:
        raise InvalidIdentifier("invalid_name")
    return name


def _country(dialect: Dialect, value: str, country: str | None) -> str:
    code = normalize_country(value)
    return code.lower() if dialect.country_lowercase else code


def _zip(dialect: Dialect, value: str, country: str | None) -> str:
    if dialect.zip_form is ZipForm.AS_WRITTEN:
        # Google sends postal codes in clear, as written in the country, without outer spaces.
        code = value.strip().upper()
    else:
        # Meta: lowercase, no spaces or dashes; for the US the first five digits only.
        code = "".join(ch for ch in value.lower() if ch not in " -")
        if country == "US":
            code = code[:5]
            if len(code) != 5 or not code.isdigit():
                raise InvalidIdentifier("invalid_zip")
    if not code:
        raise InvalidIdentifier("invalid_zip")
    return code


def _madid(dialect: Dialect, value: str, country: str | None) -> str:
    # Mobile advertiser ids (IDFA/AAID) are UUIDs, lowercase with hyphens on both networks.
    madid = value.strip().lower()
    if not _MADID.match(madid):
        raise InvalidIdentifier("invalid_madid")
    return madid


def _external_id(dialect: Dialect, value: str, country: str | None) -> str:
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


_NORMALIZE: dict[IdentifierKind, Callable[[Dialect, str, str | None], str]] = {
    IdentifierKind.EMAIL: _email,
    IdentifierKind.PHONE: _phone,
    IdentifierKind.FIRST_NAME: _given_name,
    IdentifierKind.LAST_NAME: _family_name,
    IdentifierKind.COUNTRY: _country,
    IdentifierKind.ZIP: _zip,
    IdentifierKind.MADID: _madid,
    IdentifierKind.EXTERNAL_ID: _external_id,
}


def rule_of(dialect: Dialect, kind: IdentifierKind) -> IdentifierRule:
    """`kind`'s rule in `dialect`: the reference the vectorized paths and SQL are held to."""
    return IdentifierRule(partial(_NORMALIZE[kind], dialect), hashed=kind in dialect.hashed)


def as_text(value: object) -> str:
    """The text of a warehouse value: numbers become digits, bytes must be UTF-8. A float
    or decimal that is a whole number is that integer (a phone column stored as DOUBLE reads
    4155550102.0, which is the number 4155550102); any other is refused: no identifier has
    a fraction, and its digits would name someone else."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidIdentifier("not_utf8") from exc
    elif isinstance(value, float | Decimal):
        if not math.isfinite(value) or value != int(value):
            raise InvalidIdentifier("not_an_integer")
        value = int(value)
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidIdentifier("too_long")
    return text


def send_value(dialect: Dialect, kind: IdentifierKind, value: object, country: str | None) -> str:
    """What syncd sends for one raw value; raises InvalidIdentifier with the reason."""
    return rule_of(dialect, kind).apply(as_text(value), country)
