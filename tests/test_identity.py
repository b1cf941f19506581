"""Identity: tricky raw values normalize by each network's published rules, then hash.

Expected values are written out as the normalized strings the networks document; the test
hashes them itself with hashlib, so a wrong rule or a wrong hash both fail here.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.identity import (
    GOOGLE,
    META,
    Dialect,
    IdentifierKind,
    InvalidIdentifier,
    normalize_column,
    rule_of,
    send_value,
)

G, M = GOOGLE, META
DIALECTS = [GOOGLE, META]
K = IdentifierKind


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# (dialect, kind, raw, country, normalized value the network expects, hashed?)
CASES = [
    (G, K.EMAIL, "  Alice.Smith@Example.COM ", None, "alice.smith@example.com", True),
    (G, K.EMAIL, "Alice.Smith@Gmail.com", None, "alicesmith@gmail.com", True),
    (G, K.EMAIL, "j.o.h.n@googlemail.com", None, "john@googlemail.com", True),
    (G, K.EMAIL, "a.b@gmail.com.au", None, "a.b@gmail.com.au", True),
    (G, K.EMAIL, "bo b@example.com", None, "bob@example.com", True),
    # Data Manager "Format user data": gmail drops the "+" tag, then every dot; others keep both.
    (
        G,
        K.EMAIL,
        "Cloudy.SanFrancisco+shopping@Gmail.com",
        None,
        "cloudysanfrancisco@gmail.com",
        True,
    ),
    (
        G,
        K.EMAIL,
        "cloudy.sanfrancisco+shopping@gmail.com",
        None,
        "cloudysanfrancisco@gmail.com",
        True,
    ),
    (G, K.EMAIL, "user.name+NYC@Example.com", None, "user.name+nyc@example.com", True),
    (G, K.EMAIL, "a.b+c+d@googlemail.com", None, "ab@googlemail.com", True),
    (M, K.EMAIL, "user.name+NYC@Gmail.com", None, "user.name+nyc@gmail.com", True),
    (M, K.EMAIL, "  Alice.Smith@Gmail.com ", None, "alice.smith@gmail.com", True),
    (M, K.EMAIL, "ZOË@Example.org", None, "zoë@example.org", True),
    (G, K.PHONE, "(415) 555-0132", "US", "+14155550132", True),
    (G, K.PHONE, "+44 20 7946 0958", None, "+442079460958", True),
    (G, K.PHONE, "0049 30 1234567", None, "+49301234567", True),
    (G, K.PHONE, "030 123456", "DE", "+4930123456", True),
    (M, K.PHONE, "(415) 555-0132", "US", "14155550132", True),
    (M, K.PHONE, "06 12 34 56 78", "FR", "33612345678", True),
    (M, K.PHONE, "+55 11 91234-5678", "US", "5511912345678", True),
    (M, K.PHONE, 14155550132, "US", "14155550132", True),
    (G, K.FIRST_NAME, "  Mary-Jane ", None, "maryjane", True),
    (G, K.LAST_NAME, "O'Brien", None, "obrien", True),
    (G, K.FIRST_NAME, "Zoë", None, "zoë", True),
    # Data Manager: "Don't include prefixes such as Mrs." / "suffixes such as Jr."
    (G, K.FIRST_NAME, "Mrs. Jane", None, "jane", True),
    (G, K.LAST_NAME, "Anderson-Lee Jr.", None, "andersonlee", True),
    (G, K.FIRST_NAME, "Miss", None, "miss", True),
    (G, K.FIRST_NAME, "Mary  Ann ", None, "mary ann", True),
    # Meta: "a-z only ... no punctuation. Special characters in UTF-8 format."
    (M, K.FIRST_NAME, "Zoë", None, "zoë", True),
    (M, K.FIRST_NAME, "Zoe\u0308", None, "zoë", True),
    (M, K.LAST_NAME, "Anderson-Lee Jr.", None, "andersonleejr", True),
    (M, K.LAST_NAME, "Müller", None, "müller", True),
    (G, K.COUNTRY, " us ", None, "US", False),
    (M, K.COUNTRY, "Gb", None, "gb", True),
    (G, K.ZIP, " 94043-1351 ", "US", "94043-1351", False),
    (M, K.ZIP, "94043-1351", "US", "94043", True),
    (M, K.ZIP, "SW1A 1AA", "GB", "sw1a1aa", True),
    (G, K.MADID, " 6D92078A-8246-4BA4-AE5B-76104861E7DC ", None, None, False),
    (M, K.MADID, "6D92078A-8246-4BA4-AE5B-76104861E7DC", None, None, False),
    # facebook-business format_params never hashes EXTERN_ID.
    (M, K.EXTERNAL_ID, "  cust-0042 ", None, "cust-0042", False),
    (G, K.EXTERNAL_ID, "cust-0042", None, "cust-0042", False),
]


@pytest.mark.parametrize(("dialect", "kind", "raw", "country", "normalized", "hashed"), CASES)
def test_value_is_sent_as_the_network_documents(
    dialect: Dialect,
    kind: IdentifierKind,
    raw: object,
    country: str | None,
    normalized: str | None,
    hashed: bool,
) -> None:
    if normalized is None:  # MADIDs: lowercase UUID, identical on both networks
        normalized = str(raw).strip().lower()
    expected = sha(normalized) if hashed else normalized
    assert send_value(dialect, kind, raw, country) == expected


INVALID = [
    (G, K.EMAIL, "not-an-email", None, "invalid_email"),
    (M, K.EMAIL, "bo b@example.com", None, "invalid_email"),
    (M, K.EMAIL, "a@b", None, "invalid_email"),
    (G, K.PHONE, "12", "US", "invalid_phone"),
    (G, K.PHONE, "n/a", "US", "invalid_phone"),
    (G, K.PHONE, "415 555 0132", None, "phone_needs_country"),
    (M, K.ZIP, "12", "US", "invalid_zip"),
    (G, K.COUNTRY, "Atlantis", None, "invalid_country"),
    (M, K.FIRST_NAME, "!!!", None, "invalid_name"),
    (M, K.MADID, "not-a-uuid", None, "invalid_madid"),
    (G, K.EMAIL, "x" * 10_000 + "@example.com", None, "too_long"),
    (G, K.EMAIL, b"\xff\xfe@example.com", None, "not_utf8"),
    # Google's Formatter refuses a gmail local part that its rule leaves empty.
    (G, K.EMAIL, "+shopping@gmail.com", None, "invalid_email"),
    (G, K.EMAIL, "...@googlemail.com", None, "invalid_email"),
    # A NUL or another control character can never be part of a mailbox (issue 27).
    (G, K.EMAIL, "alice\x00@example.com", None, "control_character"),
    (M, K.EMAIL, "\x00alice@example.com", None, "control_character"),
    (M, K.EMAIL, "ali\x1bce@example.com", None, "control_character"),
    (G, K.EMAIL, "alice@exa\x7fmple.com", None, "control_character"),
    (M, K.EMAIL, "alice@example.com\x9f", None, "control_character"),
]


@pytest.mark.parametrize(("dialect", "kind", "raw", "country", "reason"), INVALID)
def test_invalid_value_gets_a_reason(
    dialect: Dialect, kind: IdentifierKind, raw: object, country: str | None, reason: str
) -> None:
    with pytest.raises(InvalidIdentifier) as raised:
        send_value(dialect, kind, raw, country)
    assert raised.value.reason == reason


def test_column_keeps_good_rows_beside_bad_ones() -> None:
    raw = pa.array(["a@example.com", None, "bad", "  ", "A@EXAMPLE.COM"])
    column = normalize_column(M, K.EMAIL, raw)
    assert column.values.to_pylist() == [
        sha("a@example.com"),
        None,
        None,
        None,
        sha("a@example.com"),
    ]
    assert column.reasons.to_pylist() == [None, None, "invalid_email", None, None]


def test_column_reads_each_rows_country() -> None:
    raw = pa.array(["030 123456", "030 123456"])
    column = normalize_column(G, K.PHONE, raw, pa.array(["DE", None]))
    assert column.values.to_pylist() == [sha("+4930123456"), None]
    assert column.reasons.to_pylist() == [None, "phone_needs_country"]


@given(st.text(max_size=80), st.sampled_from(DIALECTS), st.sampled_from(list(K)))
def test_normalization_is_idempotent_and_never_crashes(
    text: str, dialect: Dialect, kind: IdentifierKind
) -> None:
    rule = rule_of(dialect, kind)
    try:
        once = rule.normalize(text, "US")
    except InvalidIdentifier:
        return
    assert rule.normalize(as_written_back(dialect, kind, once), "US") == once


def as_written_back(dialect: Dialect, kind: IdentifierKind, normalized: str) -> str:
    """Meta's phone form drops the '+', and digits alone are read as a national number of
    the row's country (what warehouses hold); written back with its '+', it must be stable."""
    return "+" + normalized if kind is K.PHONE and not dialect.phone_plus else normalized


VALID_NUMBERS = [
    phonenumbers.format_number(
        phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE),
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    )
    for region in ("US", "GB", "DE", "FR", "IN", "BR", "JP", "AU")
]


@given(
    st.sampled_from(VALID_NUMBERS),
    st.sampled_from(DIALECTS),
    st.sampled_from(["US", "GB", "DE", "FR", "IN", "BR"]),
)
def test_phone_normalization_is_idempotent_whatever_the_default_country(
    number: str, dialect: Dialect, country: str
) -> None:
    rule = rule_of(dialect, K.PHONE)
    once = rule.normalize(number, country)
    assert rule.normalize(as_written_back(dialect, K.PHONE, once), country) == once


def test_hash_command_prints_one_line_per_input() -> None:
    lines = "Alice.Smith@Gmail.com\nnot-an-email\n\n b@example.com\n"
    completed = subprocess.run(
        [sys.executable, "-m", "syncd", "hash", "--network", "google", "--kind", "email"],
        input=lines.encode(),
        capture_output=True,
        check=True,
    )
    assert completed.stdout.decode().splitlines() == [
        sha("alicesmith@gmail.com"),
        "",
        "",
        sha("b@example.com"),
    ]


def test_hash_command_reads_national_phones_with_default_country() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "syncd",
            "hash",
            "--network",
            "meta",
            "--kind",
            "phone",
            "--default-country",
            "gb",
        ],
        input=b"020 7946 0958\n+1 415 555 0132\n",
        capture_output=True,
        check=True,
    )
    assert completed.stdout.decode().splitlines() == [sha("442079460958"), sha("14155550132")]
