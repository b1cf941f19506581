"""Contract: syncd normalizes as the networks' own helpers do, except where it deliberately
does not, and then for a documented reason (docs/normalization.md).

References nobody here wrote: Google's `google-ads-datamanager-util` `Formatter` and Meta's
facebook-business SDK (`CustomAudience.format_params`, which strips and lowercases every
multi-key value and then calls `normalize_key`). Each is fed a seeded, generated corpus of
dirty values plus every example the networks' documents give, and each answer is compared
with what syncd sends. A case is *equal* when both send the same bytes or both refuse it;
otherwise it must fall under one named deliberate difference, whose classifier below says
exactly when it applies. Anything else fails the test. `python -m
tests.test_contract_normalization` prints the counts.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable

import phonenumbers
import pytest
from facebook_business.adobjects.customaudience import CustomAudience
from google.ads.datamanager_util import Formatter
from google.ads.datamanager_util.format import Encoding

from syncd.identity import GOOGLE, META, IdentifierKind, InvalidIdentifier, rule_of, send_value

K = IdentifierKind
#: Each network's dialect by its name, which also seeds its corpus.
DIALECTS = {"google": GOOGLE, "meta": META}
FORMATTER = Formatter()
MULTI_KEY = CustomAudience.Schema.MultiKeySchema
EQUAL = "equal"
#: What format_params strips off every multi-key value before normalize_key.
SDK_STRIPPED = " \t\r\n\0\x0b."

# -- documented examples ------------------------------------------------------------------------

#: Data Manager "Format user data" (developers.google.com/data-manager/api/devguides/concepts/
#: formatting) and Google's Formatter docstrings.
GOOGLE_EXAMPLES = {
    K.EMAIL: [
        "cloudy.sanfrancisco+shopping@gmail.com",
        "Cloudy.SanFrancisco+shopping@Gmail.com",
        "user.name+NYC@Example.com",
        " Jane.Doe@GoogleMail.com ",
    ],
    K.PHONE: ["+1 (800) 555-0100", "+18005550100", " +44 20 7946 0958 "],
    K.FIRST_NAME: ["Jane", " Mrs. Jane ", "Zoë"],
    K.LAST_NAME: ["Doe", "Doe Jr.", "O'Brien"],
}
#: Meta customer-file docs (developers.facebook.com/docs/marketing-api/audiences/guides/
#: custom-audiences, "Hashing and normalizing data") and the Business Help Center list
#: format (facebook.com/business/help/2082575038703844).
META_EXAMPLES = {
    K.EMAIL: ["username@hotmail.co.uk", "your.name@gmail.com", "myname@yahoo.com"],
    K.PHONE: ["1-234-567-8910", "12345678910", "+44 844 412 4653"],
    K.FIRST_NAME: ["John", "Mary-Ann", "José"],
    K.LAST_NAME: ["Smith", "O'Neil", "Müller"],
    K.EXTERNAL_ID: ["cust-0042", "ABC123def"],
    K.MADID: ["AECE52E7-03EE-455A-B3C4-E57283966239", "aece52e7-03ee-455a-b3c4-e57283966239"],
}

# -- the corpus ---------------------------------------------------------------------------------

SEED = 21
CASES_PER_KIND = 4000
LOCAL = [*"abcxyzABCXYZ0189", ".", ".", "+", "+", "-", "_", "'", "é", "ü", "İ"]
DOMAINS = ["gmail.com", "googlemail.com", "GMail.COM", "example.com", "ex.co.uk", "b"]
DOMAINS += ["gmail.com.au", "x..y", "bücher.de", ""]
PADDING = ["", "", "", " ", "  ", "\t", "\n", "\xa0", "\u3000", ".", "\x00", "\x1b"]
LETTERS = [*"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "é", "ü", "ß", "ñ", "İ", "ø", "Σ", "ж"]
NAME_EXTRA = [" ", "  ", "-", "'", ".", ",", "1"]
TITLES = ["Mr", "Mrs.", "Ms", "Dr.", "Jr", "Jr.", "III", "Sr"]
#: Regions whose example numbers are written in every shape.
REGIONS = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "NL", "ES", "IT", "MX", "ZA", "SG"]


def _padded(rng: random.Random, text: str) -> str:
    return rng.choice(PADDING) + text + rng.choice(PADDING)


def emails(rng: random.Random) -> list[str]:
    out = []
    for _ in range(CASES_PER_KIND):
        local = "".join(rng.choice(LOCAL) for _ in range(rng.randint(0, 12)))
        domain = rng.choice(DOMAINS)
        email = f"{local}@{domain}" if rng.random() > 0.03 else f"{local}{domain}"
        if rng.random() < 0.05:
            email = email.replace("@", " @", 1)
        out.append(_padded(rng, email))
    return out


def phones(rng: random.Random) -> list[tuple[str, str | None]]:
    """(value, the row's country) in the shapes warehouses hold."""
    out: list[tuple[str, str | None]] = []
    formats = list(phonenumbers.PhoneNumberFormat.__dict__.values())
    shapes = [f for f in formats if isinstance(f, int)]
    for _ in range(CASES_PER_KIND):
        region = rng.choice(REGIONS)
        number = phonenumbers.example_number_for_type(
            region, rng.choice([phonenumbers.PhoneNumberType.MOBILE, None])
        ) or phonenumbers.example_number(region)
        if rng.random() < 0.3:  # another number of the same plan, maybe invalid
            national = str(number.national_number)
            digit = rng.randrange(len(national))
            national = national[:digit] + str(rng.randint(0, 9)) + national[digit + 1 :]
            number = phonenumbers.PhoneNumber(number.country_code, int(national))
        text = phonenumbers.format_number(number, rng.choice(shapes))
        if rng.random() < 0.1:
            text = "".join(rng.choice("0123456789 -+()") for _ in range(rng.randint(1, 16)))
        out.append((_padded(rng, text), rng.choice([region, region, None])))
    return out


def names(rng: random.Random) -> list[str]:
    out = []
    for _ in range(CASES_PER_KIND):
        words = [
            "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 8)))
            + (rng.choice(NAME_EXTRA) if rng.random() < 0.3 else "")
            for _ in range(rng.randint(1, 3))
        ]
        if rng.random() < 0.15:
            words.insert(0 if rng.random() < 0.5 else len(words), rng.choice(TITLES))
        text = " ".join(words)
        if rng.random() < 0.05:
            text = unicodedata.normalize("NFD", text)
        out.append(_padded(rng, text))
    return out


def external_ids(rng: random.Random) -> list[str]:
    chars = [*"abcXYZ0189-_.", " "]
    return [
        _padded(rng, "".join(rng.choice(chars) for _ in range(rng.randint(1, 12))))
        for _ in range(CASES_PER_KIND)
    ]


def madids(rng: random.Random) -> list[str]:
    out = []
    for _ in range(CASES_PER_KIND):
        madid = str(random.Random(rng.random()).getrandbits(128).to_bytes(16, "big").hex())
        madid = f"{madid[:8]}-{madid[8:12]}-{madid[12:16]}-{madid[16:20]}-{madid[20:]}"
        if rng.random() < 0.5:
            madid = madid.upper()
        if rng.random() < 0.1:
            madid = madid.replace("-", "")
        out.append(_padded(rng, madid))
    return out


# -- both sides ---------------------------------------------------------------------------------

Outcome = tuple[str | None, str | None]  # (what is sent, or the refusal)


def syncd(network: str, kind: IdentifierKind, value: str, country: str | None) -> Outcome:
    """The normalized value syncd sends (before hashing), or its refusal."""
    try:
        sent = send_value(DIALECTS[network], kind, value, country)
    except InvalidIdentifier as invalid:
        return None, invalid.reason
    rule = rule_of(DIALECTS[network], kind)
    normalized = rule.normalize(value, country)
    # The hash is the one the networks ask for: checked here rather than assumed.
    assert sent == (sha256_hex(normalized) if rule.hashed else normalized)
    return normalized, None


def sha256_hex(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


GOOGLE_FORMAT = {
    K.EMAIL: FORMATTER.format_email_address,
    K.PHONE: FORMATTER.format_phone_number,
    K.FIRST_NAME: FORMATTER.format_given_name,
    K.LAST_NAME: FORMATTER.format_family_name,
}
GOOGLE_PROCESS = {
    K.EMAIL: FORMATTER.process_email_address,
    K.PHONE: FORMATTER.process_phone_number,
    K.FIRST_NAME: FORMATTER.process_given_name,
    K.LAST_NAME: FORMATTER.process_family_name,
}


def google(kind: IdentifierKind, value: str) -> Outcome:
    try:
        formatted = GOOGLE_FORMAT[kind](value)
    except ValueError as refused:
        return None, str(refused)
    # process_* is format, SHA-256, hex: syncd's hash of the same text must be it.
    assert GOOGLE_PROCESS[kind](value, Encoding.HEX) == sha256_hex(formatted)
    return formatted, None


META_KEYS = {
    K.EMAIL: MULTI_KEY.email,
    K.PHONE: MULTI_KEY.phone,
    K.FIRST_NAME: MULTI_KEY.fn,
    K.LAST_NAME: MULTI_KEY.ln,
    K.EXTERNAL_ID: MULTI_KEY.extern_id,
}


def meta(kind: IdentifierKind, value: str) -> Outcome:
    """What format_params sends, unhashed: its strip, lower and normalize_key. MADID is
    what the single-key MOBILE_ADVERTISER_ID schema sends, which it never hashes."""
    if kind is K.MADID:
        params = CustomAudience.format_params(CustomAudience.Schema.mobile_advertiser_id, [value])
        return params["payload"]["data"][0], None
    key = META_KEYS[kind]
    normalized = CustomAudience.normalize_key(key, value.strip(SDK_STRIPPED).lower())
    params = CustomAudience.format_params([key], [[value]], is_raw=True)
    sent = params["payload"]["data"][0][0]
    assert sent == (normalized if key == MULTI_KEY.extern_id else sha256_hex(normalized))
    return normalized, None


# -- the deliberate differences -----------------------------------------------------------------

_EMAIL = re.compile(r"^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_PREFIXES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof"}
_SUFFIXES = {"jr", "sr", "ii", "iii", "iv"}


def _no_punctuation(text: str) -> str:
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))


def google_difference(
    kind: IdentifierKind, value: str, country: str | None, ours: Outcome, theirs: Outcome
) -> str | None:
    """The deliberate difference this case is, or None."""
    (sent, reason), (formatted, _) = ours, theirs
    if kind is K.EMAIL:
        if reason == "control_character":
            return "control characters refused"
        joined = "".join(value.split()).lower()
        if reason == "invalid_email" and formatted is not None and not _EMAIL.match(joined):
            return "not an address refused"
        if formatted is None and sent is not None and re.search(r"\s", value.strip()):
            return "intermediate whitespace removed, as the guide says"
    if kind is K.PHONE:
        if sent is None and formatted is not None:
            return "not a valid number refused"
        if sent is not None:
            return "read by phonenumbers with the row's country"
    if kind in (K.FIRST_NAME, K.LAST_NAME) and formatted is not None:
        words = " ".join(_no_punctuation(formatted).split()).split()
        if sent == " ".join(words):
            return "punctuation and inner space runs removed"
        if kind is K.FIRST_NAME and words and words[0] in _PREFIXES and sent == " ".join(words[1:]):
            return "a title before the given name dropped"
        if (
            kind is K.LAST_NAME
            and words
            and words[-1] in _SUFFIXES
            and sent == " ".join(words[:-1])
        ):
            return "a generation after the family name dropped"
        if sent is None and not words:
            return "a name of punctuation only refused"
    return None


def meta_difference(
    kind: IdentifierKind, value: str, country: str | None, ours: Outcome, theirs: Outcome
) -> str | None:
    (sent, reason), (normalized, _) = ours, theirs
    assert normalized is not None  # the SDK never refuses
    if kind is K.EMAIL:
        if reason == "control_character":
            return "control characters refused"
        if reason == "invalid_email" and not _EMAIL.match(value.strip().lower()):
            return "not an address refused"
        if sent == value.strip().lower() and normalized == value.strip(SDK_STRIPPED).lower():
            return "Python's whitespace trimmed; dots and NULs at the ends are not"
    if kind is K.PHONE:
        if sent is None:
            return "not a valid number refused"
        return "read by phonenumbers with the row's country"
    if kind in (K.FIRST_NAME, K.LAST_NAME):
        if sent is None and normalized == "":
            return "an empty name refused, not hashed"

        # The SDK keeps a-z of the text as given; syncd every letter (composed, NFC): the
        # same a-z once both are decomposed, and more letters on syncd's side.
        def a_z(text: str) -> str:
            return re.sub("[^a-z]", "", unicodedata.normalize("NFD", text))

        if sent is not None and not sent.isascii() and a_z(sent) == a_z(value.lower()):
            return "letters beyond a-z kept in UTF-8, as Meta's docs say"
    if kind is K.EXTERNAL_ID:
        if sent is not None and sent.lower() == normalized:
            return "external id's case kept"
        if sent in (value.strip(), None) and normalized == value.strip(SDK_STRIPPED).lower():
            return "external id trimmed of whitespace only, case kept"
    if kind is K.MADID:
        if reason == "invalid_madid":
            return "not a device id refused"
        if sent == value.strip().lower():
            return "device id lowercased and trimmed, as Meta's docs say"
    return None


Network_ = tuple[
    Callable[[IdentifierKind, str], Outcome],
    Callable[[IdentifierKind, str, str | None, Outcome, Outcome], str | None],
]


def compare(
    network: str, kind: IdentifierKind, cases: Iterable[tuple[str, str | None]]
) -> Counter[str]:
    """Counts of equal cases and of each deliberate difference; fails on any other."""
    reference, classify = (
        (google, google_difference)
        if network == "google"
        else (
            meta,
            meta_difference,
        )
    )
    counts: Counter[str] = Counter()
    unexplained = []
    for value, country in cases:
        ours, theirs = syncd(network, kind, value, country), reference(kind, value)
        if ours[0] == theirs[0]:  # the same text sent, or both refuse
            counts[EQUAL] += 1
            continue
        difference = classify(kind, value, country, ours, theirs)
        if difference is None:
            unexplained.append((value, country, ours, theirs))
        counts[difference or "UNEXPLAINED"] += 1
    assert not unexplained, unexplained[:5]
    return counts


def corpus(network: str, kind: IdentifierKind) -> list[tuple[str, str | None]]:
    rng = random.Random(f"{SEED}-{network}-{kind}")
    examples = (GOOGLE_EXAMPLES if network == "google" else META_EXAMPLES).get(kind, [])
    documented = [(value, "US") for value in examples]
    generated: list[tuple[str, str | None]] = {
        K.EMAIL: lambda: [(v, None) for v in emails(rng)],
        K.PHONE: lambda: phones(rng),
        K.FIRST_NAME: lambda: [(v, None) for v in names(rng)],
        K.LAST_NAME: lambda: [(v, None) for v in names(rng)],
        K.EXTERNAL_ID: lambda: [(v, None) for v in external_ids(rng)],
        K.MADID: lambda: [(v, None) for v in madids(rng)],
    }[kind]()
    return documented + generated


GOOGLE_KINDS = [K.EMAIL, K.PHONE, K.FIRST_NAME, K.LAST_NAME]
META_KINDS = [K.EMAIL, K.PHONE, K.FIRST_NAME, K.LAST_NAME, K.EXTERNAL_ID, K.MADID]


@pytest.mark.parametrize("kind", GOOGLE_KINDS)
def test_google_normalization_is_the_formatters_but_for_documented_differences(
    kind: IdentifierKind,
) -> None:
    counts = compare("google", kind, corpus("google", kind))
    assert counts[EQUAL] > 0


@pytest.mark.parametrize("kind", META_KINDS)
def test_meta_normalization_is_the_sdks_but_for_documented_differences(
    kind: IdentifierKind,
) -> None:
    counts = compare("meta", kind, corpus("meta", kind))
    assert counts[EQUAL] > 0


def test_documented_examples_are_equal() -> None:
    """The examples Google's guide gives are sent exactly as the Formatter sends them."""
    for value in GOOGLE_EXAMPLES[K.EMAIL]:
        assert syncd("google", K.EMAIL, value, None) == google(K.EMAIL, value)
    assert syncd("google", K.EMAIL, "cloudy.sanfrancisco+shopping@gmail.com", None) == (
        "cloudysanfrancisco@gmail.com",
        None,
    )
    for value in ("+1 (800) 555-0100", "+18005550100"):
        assert syncd("google", K.PHONE, value, None) == ("+18005550100", None)
    # Meta's SDK never hashes EXTERN_ID, and neither does syncd.
    assert send_value(META, K.EXTERNAL_ID, "cust-0042", None) == "cust-0042"


def report() -> str:
    lines = []
    for network, kinds in (("google", GOOGLE_KINDS), ("meta", META_KINDS)):
        for kind in kinds:
            counts = compare(network, kind, corpus(network, kind))
            total = sum(counts.values())
            others = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if k != EQUAL)
            lines.append(f"{network} {kind}: {total} cases, {counts[EQUAL]} equal; {others}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
