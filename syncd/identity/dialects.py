"""Each network's identity rules as one value, a `Dialect`, that every path reads.

Networks agree on most of normalization and differ on a few points: inner whitespace in an
email, gmail's "+" tags and dots, the phone's "+", how names and postal codes are written,
which identifiers are hashed, whether an address is sent only whole. A Dialect states each
point once, as data. The per-value rules (`rules`), the Arrow kernels (`emails`, `phones`),
member building (`syncd.members`) and the pushdown SQL (`syncd.pushdown`) all take the
network's Dialect and branch on its fields, never on a network's name, so they agree on any
combination, and a new network declares its rules beside its capabilities, touching none of
them. A rule no field describes yet is a new field, read by every path that can apply it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from syncd.identity.kinds import IdentifierKind


class NameForm(StrEnum):
    """How a given or family name is written before it is hashed."""

    #: Lowercase, without Unicode punctuation, its words joined by one space; digits,
    #: symbols and letters such as "é" stay (Google).
    WORDS = "words"
    #: Lowercase letters and combining marks only (Unicode categories L and M), in NFC:
    #: no spaces, digits or punctuation (Meta).
    LETTERS = "letters"


class ZipForm(StrEnum):
    """How a postal code is written."""

    #: Trimmed and upper case, as the country writes it (Google).
    AS_WRITTEN = "as_written"
    #: Lowercase, without spaces or dashes; a US code is its first five digits (Meta).
    COMPACT = "compact"


#: A person's own words and numbers: no network takes them in clear, and syncd's state
#: stores them only as hashes (`syncd.members.HASHED_COLUMNS`), so every dialect hashes them.
ALWAYS_HASHED = frozenset(
    {
        IdentifierKind.EMAIL,
        IdentifierKind.PHONE,
        IdentifierKind.FIRST_NAME,
        IdentifierKind.LAST_NAME,
    }
)


@dataclass(frozen=True)
class Dialect:
    """One network's identity rules. A rule here changes what members are sent: a change
    to a network's value raises `versions.RULES_VERSION`, as a change to `rules` does."""

    #: An email loses all its whitespace, inner included; otherwise only its ends are
    #: trimmed, and an address with whitespace inside is refused.
    email_inner_whitespace_removed: bool
    #: A gmail.com or googlemail.com local part loses its first "+" and what follows it.
    gmail_plus_tag_removed: bool
    #: A gmail.com or googlemail.com local part loses every dot (after its tag, if that
    #: goes too). A local part either rule leaves empty is refused.
    gmail_dots_removed: bool
    #: A phone is E.164 with its "+"; otherwise E.164's digits alone.
    phone_plus: bool
    name_form: NameForm
    #: A title (Mrs.) before a given name and a generation (Jr.) after a family name are
    #: dropped when a name stands beside them.
    name_affixes_dropped: bool
    #: The ISO 3166-1 alpha-2 country code is sent in lower case; otherwise in upper case.
    country_lowercase: bool
    zip_form: ZipForm
    #: Names, country and postal code are sent only as one complete address: unless all
    #: four are mapped and valid, none of them is sent.
    address_all_or_nothing: bool
    #: The kinds sent as SHA-256 hex; the others are sent normalized, in clear.
    hashed: frozenset[IdentifierKind]

    def __post_init__(self) -> None:
        missing = ALWAYS_HASHED - self.hashed
        if missing:
            kinds = ", ".join(sorted(missing))
            raise ValueError(f"a dialect must hash {kinds}: they are never sent or stored in clear")


#: Google Customer Match, through Data Manager or the Google Ads API: Data Manager "Format
#: user data" (developers.google.com/data-manager/api/devguides/concepts/formatting), the
#: AddressInfo reference, and google-ads-datamanager-util's Formatter. Region and postal
#: code are sent in clear beside the hashed names of an address (AddressInfo).
GOOGLE = Dialect(
    email_inner_whitespace_removed=True,
    gmail_plus_tag_removed=True,
    gmail_dots_removed=True,
    phone_plus=True,
    name_form=NameForm.WORDS,
    name_affixes_dropped=True,
    country_lowercase=False,
    zip_form=ZipForm.AS_WRITTEN,
    address_all_or_nothing=True,
    hashed=ALWAYS_HASHED,
)

#: Meta custom audiences: the customer-file "Hashing and normalizing data" guide
#: (developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences). MADID and
#: EXTERN_ID are sent unhashed, as facebook-business sends them (customaudiencemixin.py,
#: format_params: "for mobile_advertiser_id, don't hash it"; a multi-key EXTERN_ID is never
#: hashed).
META = Dialect(
    email_inner_whitespace_removed=False,
    gmail_plus_tag_removed=False,
    gmail_dots_removed=False,
    phone_plus=False,
    name_form=NameForm.LETTERS,
    name_affixes_dropped=False,
    country_lowercase=True,
    zip_form=ZipForm.COMPACT,
    address_all_or_nothing=False,
    hashed=ALWAYS_HASHED | {IdentifierKind.COUNTRY, IdentifierKind.ZIP},
)
