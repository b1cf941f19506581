"""The demo shop's visitors: people with names, addresses, emails and phones, written with
the dirt real sign-up forms collect.

Names keep their accents, apostrophes and hyphens; emails arrive in mixed case, with stray
spaces, Gmail dots and googlemail.com; some identifiers are missing or unusable, and about 2%
of visitors are a person signing up again with their email written differently. The dirt is
what makes normalization and quarantine visible in the demo.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate

from syncd.demo.fake_phones import new_phone, render_phone
from syncd.demo.rows import DAY, REFERENCE_S, Columns

__all__ = ["generate_visitors"]

_DUPLICATE_RATE = 0.02

# (ISO code, weight, first names, last names): accents, apostrophes and hyphens are kept
# because real customer names have them and the networks' name rules must deal with them.
_COUNTRIES: tuple[tuple[str, int, tuple[str, ...], tuple[str, ...]], ...] = (
    ("US", 45, ("James", "Mary", "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Mia", "Zoë"),
     ("Smith", "Johnson", "Williams", "Brown", "Garcia", "O'Brien", "Miller", "Davis",
      "Martinez", "Anderson-Lee")),
    ("GB", 15, ("Oliver", "Amelia", "George", "Isla", "Harry", "Emily", "Jack", "Poppy"),
     ("Jones", "Taylor", "Evans", "Thomas", "Roberts", "Walker", "O'Connor", "Hughes")),
    ("DE", 12, ("Lukas", "Anna", "Leon", "Marie", "Felix", "Sophie", "Jonas", "Jürgen"),
     ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Schäfer", "Groß")),
    ("FR", 10, ("Louis", "Camille", "Gabriel", "Léa", "Hugo", "Chloé", "Jules", "Inès"),
     ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Lefèvre", "Moreau", "Girard")),
    ("IN", 10, ("Aarav", "Priya", "Vivaan", "Ananya", "Aditya", "Diya", "Arjun", "Kavya"),
     ("Sharma", "Patel", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Nair")),
    ("BR", 8, ("João", "Maria", "Pedro", "Ana", "Lucas", "Júlia", "Matheus", "Beatriz"),
     ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Almeida", "Araújo")),
)  # fmt: skip
_COUNTRY_CODES = tuple(c[0] for c in _COUNTRIES)
_COUNTRY_CUM_WEIGHTS = tuple(accumulate(c[1] for c in _COUNTRIES))

_INVALID_PHONES = ("12", "n/a", "0", "000000", "123", "+1", "tbd", "555")
_INVALID_EMAIL_TOKENS = ("n/a", "none", "", "-")
_DOMAINS = ("gmail.com", "example.com", "example.org", "example.net", "mail.example.com")
_DOMAIN_CUM_WEIGHTS = tuple(accumulate((38, 28, 14, 12, 8)))
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


@dataclass(frozen=True, slots=True)
class _Person:
    """One real person; a duplicate visitor row renders the same person a second time."""

    first: str
    last: str
    country: str
    zip: str | None
    local: str
    domain: str
    phone: tuple[str, str, str]  # (region, stem, four-digit suffix)


@dataclass(slots=True)
class _Taken:
    """Identifiers already handed out, so two people never share a mailbox by accident."""

    mailboxes: set[tuple[str, str]] = field(default_factory=set)
    phones: set[tuple[str, str]] = field(default_factory=set)


def generate_visitors(rng: random.Random, cols: Columns, days_ago: Sequence[int]) -> None:
    """Visitor rows in signup order; about 2% re-register a person seen earlier."""
    taken = _Taken()
    clean_signups: list[tuple[_Person, set[str]]] = []  # valid emails written so far, per person
    v = cols.visitors
    for visitor_id, days in enumerate(days_ago, start=1):
        if clean_signups and rng.random() < _DUPLICATE_RATE:
            person, written = rng.choice(clean_signups)
            email: str | None = _email_variant(rng, person, written)
            phone = render_phone(rng, person.phone, person.country) if rng.random() < 0.6 else None
            cols.count("duplicates")
        else:
            person = _new_person(rng, taken)
            email = _render_email(rng, cols, person)
            phone = _phone_or_dirt(rng, cols, person, needed=email is None or "@" not in email)
            if email is not None and "@" in email:
                clean_signups.append((person, {email}))
        if phone is None:
            cols.count("missing_phones")
        v["visitor_id"].append(visitor_id)
        v["email"].append(email)
        v["phone"].append(phone)
        v["first_name"].append(_render_name(rng, person.first))
        v["last_name"].append(_render_name(rng, person.last))
        v["country"].append(_render_country(rng, person.country))
        v["zip"].append(person.zip)
        v["first_seen"].append(REFERENCE_S // DAY - days)


def _new_person(rng: random.Random, taken: _Taken) -> _Person:
    country, _, firsts, lasts = rng.choices(_COUNTRIES, cum_weights=_COUNTRY_CUM_WEIGHTS)[0]
    first, last = rng.choice(firsts), rng.choice(lasts)
    f, la = _ascii(first), _ascii(last)
    base = rng.choice((f"{f}.{la}", f"{f}{la}", f"{f[0]}{la}", f"{f}_{la}", f"{la}.{f}", f))
    domain = rng.choices(_DOMAINS, cum_weights=_DOMAIN_CUM_WEIGHTS)[0]
    if domain == "gmail.com" and country in ("GB", "DE") and rng.random() < 0.3:
        domain = "googlemail.com"  # still common where Gmail was once called Google Mail
    local, width = base, 1
    while _mailbox_key(local, domain) in taken.mailboxes:
        width += 1  # jane.doe taken: try jane.doe42, then jane.doe317, ...
        local = f"{base}{rng.randrange(10 ** (width - 1), 10**width)}"
    taken.mailboxes.add(_mailbox_key(local, domain))
    # An expat's phone belongs to another country than the address; it is always written
    # internationally, as people abroad do.
    region = country if rng.random() > 0.03 else rng.choice(_COUNTRY_CODES)
    return _Person(first, last, country, _zip(rng, country), local, domain,
                   (region, *new_phone(rng, region, taken.phones)))  # fmt: skip


def _mailbox_key(local: str, domain: str) -> tuple[str, str]:
    """Gmail ignores dots and treats googlemail.com as gmail.com: one mailbox, one person."""
    if domain in _GMAIL:
        return local.replace(".", ""), "gmail.com"
    return local, domain


@cache
def _ascii(name: str) -> str:
    folded = name.replace("ß", "ss").replace("'", "").replace("-", "").lower()
    return unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()


def _render_email(rng: random.Random, cols: Columns, person: _Person) -> str | None:
    r = rng.random()
    if r < 0.06:
        cols.count("missing_emails")
        return None
    if r < 0.075:
        cols.count("invalid_emails")
        return rng.choice(
            (f"{person.local}.{person.domain}", f"{person.local} at {person.domain}",
             *_INVALID_EMAIL_TOKENS)
        )  # fmt: skip
    local = person.local
    if person.domain in _GMAIL and rng.random() < 0.12:
        local = _sprinkle_dots(rng, local)
    return _dirty_case_and_space(rng, f"{local}@{person.domain}")


def _email_variant(rng: random.Random, person: _Person, written: set[str]) -> str:
    """The same mailbox written differently from each earlier signup of this person."""
    local, domain = person.local, person.domain
    if domain in _GMAIL:
        domain = rng.choice(("gmail.com", "googlemail.com"))
        local = rng.choice((local.replace(".", ""), _sprinkle_dots(rng, local)))
    email = _dirty_case_and_space(rng, f"{local}@{domain}")
    if email in written:
        email = email.upper() if email != email.upper() else email.lower()
    while email in written:
        email = f" {email}"
    written.add(email)
    return email


def _sprinkle_dots(rng: random.Random, local: str) -> str:
    bare = local.replace(".", "")
    cuts = sorted(rng.sample(range(1, len(bare)), k=min(2, len(bare) - 1)))
    parts = [bare[i:j] for i, j in zip([0, *cuts], [*cuts, len(bare)], strict=True)]
    return ".".join(parts)


def _dirty_case_and_space(rng: random.Random, text: str) -> str:
    r = rng.random()
    if r < 0.05:
        text = text.title()
    elif r < 0.08:
        text = text.upper()
    r = rng.random()
    if r < 0.03:
        text = f" {text}"
    elif r < 0.05:
        text = f"{text} "
    elif r < 0.055:
        text = f"{text}\t"
    return text


def _render_name(rng: random.Random, name: str) -> str | None:
    r = rng.random()
    if r < 0.02:
        return None
    if r < 0.06:
        return name.upper()
    if r < 0.09:
        return name.lower()
    if r < 0.12:
        return rng.choice((f" {name}", f"{name} ", f"{name}  "))
    return name


def _render_country(rng: random.Random, country: str) -> str | None:
    r = rng.random()
    if r < 0.04:
        return None
    if r < 0.12:
        return country.lower()
    if r < 0.15:
        return f" {rng.choice((country, country.lower()))} "
    return country


def _zip(rng: random.Random, country: str) -> str | None:
    if rng.random() < 0.08:
        return None
    match country:
        case "US":
            code = f"{rng.randrange(501, 99_951):05d}"
            return f"{code}-{rng.randrange(10_000):04d}" if rng.random() < 0.1 else code
        case "GB":
            area = rng.choice(("SW1A", "EC1A", "M1", "B33", "LS1", "EH1", "CF10", "BS1"))
            unit = "".join(rng.choices("ABDEFGHJLNPQRSTUWXYZ", k=2))
            return f"{area} {rng.randrange(10)}{unit}"
        case "IN":
            return str(rng.randrange(110_001, 855_999))
        case "BR":
            return f"{rng.randrange(1_000, 99_999):05d}-{rng.randrange(1_000):03d}"
        case _:  # DE, FR: five digits, leading zeros included
            return f"{rng.randrange(1_000, 99_999):05d}"


def _phone_or_dirt(rng: random.Random, cols: Columns, person: _Person, needed: bool) -> str | None:
    """Most people leave a phone; those without a usable email almost always do."""
    if rng.random() < (0.03 if needed else 0.28):
        return None
    if rng.random() < 0.02:
        cols.count("invalid_phones")
        return rng.choice(_INVALID_PHONES)
    return render_phone(rng, person.phone, person.country)
