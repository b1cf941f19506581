"""A deterministic demo shop on DuckDB: e-commerce visitors with the dirt real data has.

`syncd demo` syncs this shop's segments to the sandbox emulators. The data is synthetic
(reserved example domains, 555 and drama-range phone stems) but shaped like a real shop: about
92% of visitors never buy, identifiers arrive in mixed formats, some are missing or invalid, and
some people signed up twice. The dirt is deliberate: it makes normalization and quarantine
visible in the demo instead of hiding them behind clean data.

Everything derives from `random.Random(seed)` and the fixed `REFERENCE_DATE`, never the wall
clock, so a given seed always yields the same database. Rows are built as Python columns and
loaded into DuckDB through Arrow, which keeps 100,000 visitors within a few seconds.
"""

from __future__ import annotations

import os
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any

import duckdb
import phonenumbers
import pyarrow as pa

REFERENCE_DATE = date(2026, 11, 1)
"""The shop's "today": all activity happens before it; `recent_buyers` counts back from it."""

RECENT_DAYS = 30
"""How far back an order makes its visitor a recent buyer."""

_DAY = 86_400
_REF_S = (REFERENCE_DATE - date(1970, 1, 1)).days * _DAY
_HISTORY_DAYS = 365
_BUYER_RATE = 0.08
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

# National significant numbers minus their last four digits. Each stem was checked to give
# numbers `phonenumbers.is_valid_number` accepts; US 555 and UK Ofcom drama ranges look fake.
_PHONE_STEMS: dict[str, tuple[str, ...]] = {
    "US": tuple(f"{area}555" for area in (201, 206, 212, 213, 303, 305, 312, 404, 415, 503,
                                           512, 617, 702, 713, 718, 801)),
    "GB": ("207946", "161496", "113496", "117496", "740012", "771234", "121234"),
    "DE": ("301234", "3012", "8912345", "6912345", "1512345", "170123", "1701234", "40123",
           "21112"),
    "FR": ("61234", "67890", "12345", "75123", "49876", "98765", "33456", "55123"),
    "IN": ("812345", "987654", "912345", "998877", "741041", "112345", "223456"),
    "BR": ("1196123", "2198765", "3198765", "5199876", "112345"),
}  # fmt: skip
_PHONE_STYLES = ("national", "international", "e164", "digits", "alternate")
_PHONE_STYLE_CUM_WEIGHTS = tuple(accumulate((45, 22, 15, 10, 8)))
_INVALID_PHONES = ("12", "n/a", "0", "000000", "123", "+1", "tbd", "555")
_INVALID_EMAIL_TOKENS = ("n/a", "none", "", "-")
_DOMAINS = ("gmail.com", "example.com", "example.org", "example.net", "mail.example.com")
_DOMAIN_CUM_WEIGHTS = tuple(accumulate((38, 28, 14, 12, 8)))
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


@dataclass(frozen=True, slots=True)
class ShopSummary:
    """What `build_shop` wrote, counted while generating, for the demo's printout.

    Segment-shaped counts (buyers, first_time_buyers, ...) equal the row counts of the
    matching `SEGMENTS` queries; dirt counts say how much the identity stage should quarantine.
    """

    path: Path
    seed: int
    reference_date: date
    visitors: int  # rows in `visitors`, duplicates included
    duplicate_visitors: int  # rows re-registering an earlier person with a rewritten email
    sessions: int
    orders: int
    buyers: int  # visitors with at least one order
    first_time_buyers: int  # exactly one order
    frequent_shoppers: int  # three or more orders
    recent_buyers: int  # an order in the RECENT_DAYS before reference_date
    carts: int  # rows in `carts`, checked out, abandoned and live
    abandoned_cart_visitors: int  # an abandoned cart with no order since
    wishlist_users: int
    missing_emails: int  # NULL email
    invalid_emails: int  # no usable address: "n/a", "", "jane at example.com", ...
    missing_phones: int  # NULL phone
    invalid_phones: int  # "12", "n/a", "000000", ...

    @property
    def non_buyers(self) -> int:
        return self.visitors - self.buyers

    @property
    def non_buyer_rate(self) -> float:
        return self.non_buyers / self.visitors if self.visitors else 0.0


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


@dataclass(slots=True)
class _Columns:
    """Column-wise rows for the five tables, plus the tallies `ShopSummary` reports."""

    visitors: dict[str, list[Any]] = field(default_factory=lambda: _cols("visitors"))
    sessions: dict[str, list[Any]] = field(default_factory=lambda: _cols("sessions"))
    orders: list[tuple[int, int, int]] = field(default_factory=list)  # (ts, visitor, cents)
    carts: dict[str, list[Any]] = field(default_factory=lambda: _cols("carts"))
    wishlists: dict[str, list[Any]] = field(default_factory=lambda: _cols("wishlists"))
    tally: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.tally[key] = self.tally.get(key, 0) + n


_SCHEMAS: dict[str, pa.Schema] = {
    "visitors": pa.schema([("visitor_id", pa.int64()), ("email", pa.string()),
                           ("phone", pa.string()), ("first_name", pa.string()),
                           ("last_name", pa.string()), ("country", pa.string()),
                           ("zip", pa.string()), ("first_seen", pa.date32())]),
    "sessions": pa.schema([("visitor_id", pa.int64()), ("started_at", pa.timestamp("s")),
                           ("pages", pa.int32())]),
    "orders": pa.schema([("order_id", pa.int64()), ("visitor_id", pa.int64()),
                         ("ordered_at", pa.timestamp("s")), ("amount", pa.decimal128(10, 2))]),
    "carts": pa.schema([("visitor_id", pa.int64()), ("updated_at", pa.timestamp("s")),
                        ("items", pa.int32()), ("abandoned", pa.bool_())]),
    "wishlists": pa.schema([("visitor_id", pa.int64()), ("added_at", pa.timestamp("s")),
                            ("product_id", pa.int64())]),
}  # fmt: skip

_DDL = """
CREATE TABLE visitors (visitor_id BIGINT PRIMARY KEY, email VARCHAR, phone VARCHAR,
    first_name VARCHAR, last_name VARCHAR, country VARCHAR, zip VARCHAR, first_seen DATE);
CREATE TABLE sessions (visitor_id BIGINT, started_at TIMESTAMP, pages INTEGER);
CREATE TABLE orders (order_id BIGINT PRIMARY KEY, visitor_id BIGINT, ordered_at TIMESTAMP,
    amount DECIMAL(10, 2));
CREATE TABLE carts (visitor_id BIGINT, updated_at TIMESTAMP, items INTEGER, abandoned BOOLEAN);
CREATE TABLE wishlists (visitor_id BIGINT, added_at TIMESTAMP, product_id BIGINT);
"""


def _cols(table: str) -> dict[str, list[Any]]:
    return {name: [] for name in _SCHEMAS[table].names}


def build_shop(path: Path, visitors: int = 5_000, seed: int = 7) -> ShopSummary:
    """Write the demo shop to `path` (replacing any file there) and return what it holds.

    The database is built under a temporary name and moved into place, so a reader never sees
    a half-written shop.
    """
    if visitors < 1:
        raise ValueError("visitors must be at least 1")
    rng = random.Random(seed)
    cols = _Columns()
    days_ago = sorted((rng.randint(1, _HISTORY_DAYS) for _ in range(visitors)), reverse=True)
    _generate_visitors(rng, cols, days_ago)
    for visitor_id, days in enumerate(days_ago, start=1):
        _generate_activity(rng, cols, visitor_id, _REF_S - days * _DAY)
    _write(path, _arrow_tables(cols))
    t = cols.tally
    return ShopSummary(
        path=path,
        seed=seed,
        reference_date=REFERENCE_DATE,
        visitors=visitors,
        duplicate_visitors=t.get("duplicates", 0),
        sessions=len(cols.sessions["visitor_id"]),
        orders=len(cols.orders),
        buyers=t.get("buyers", 0),
        first_time_buyers=t.get("first_time_buyers", 0),
        frequent_shoppers=t.get("frequent_shoppers", 0),
        recent_buyers=t.get("recent_buyers", 0),
        carts=len(cols.carts["visitor_id"]),
        abandoned_cart_visitors=t.get("abandoned", 0),
        wishlist_users=t.get("wishlist_users", 0),
        missing_emails=t.get("missing_emails", 0),
        invalid_emails=t.get("invalid_emails", 0),
        missing_phones=t.get("missing_phones", 0),
        invalid_phones=t.get("invalid_phones", 0),
    )


# --- identities -------------------------------------------------------------------------------


def _generate_visitors(rng: random.Random, cols: _Columns, days_ago: Sequence[int]) -> None:
    """Visitor rows in signup order; about 2% re-register a person seen earlier."""
    taken = _Taken()
    clean_signups: list[tuple[_Person, set[str]]] = []  # valid emails written so far, per person
    v = cols.visitors
    for visitor_id, days in enumerate(days_ago, start=1):
        if clean_signups and rng.random() < _DUPLICATE_RATE:
            person, written = rng.choice(clean_signups)
            email: str | None = _email_variant(rng, person, written)
            phone = _render_phone(rng, person) if rng.random() < 0.6 else None
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
        v["first_seen"].append(_REF_S // _DAY - days)


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
                   (region, *_new_phone(rng, region, taken.phones)))  # fmt: skip


def _mailbox_key(local: str, domain: str) -> tuple[str, str]:
    """Gmail ignores dots and treats googlemail.com as gmail.com: one mailbox, one person."""
    if domain in _GMAIL:
        return local.replace(".", ""), "gmail.com"
    return local, domain


@cache
def _ascii(name: str) -> str:
    folded = name.replace("ß", "ss").replace("'", "").replace("-", "").lower()
    return unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()


def _render_email(rng: random.Random, cols: _Columns, person: _Person) -> str | None:
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


# --- phones -----------------------------------------------------------------------------------


def _new_phone(rng: random.Random, region: str, taken: set[tuple[str, str]]) -> tuple[str, str]:
    """A (stem, suffix) phonenumbers accepts for `region`, not yet given to anyone else.

    Once a region's ranges run low, people share a number, as households do.
    """
    country_code = phonenumbers.country_code_for_region(region)
    for attempt in range(40):
        stem, suffix = rng.choice(_PHONE_STEMS[region]), f"{rng.randrange(10_000):04d}"
        if (region, stem + suffix) in taken and attempt < 20:
            continue
        number = phonenumbers.PhoneNumber(
            country_code=country_code, national_number=int(stem + suffix)
        )
        if phonenumbers.is_valid_number_for_region(number, region):
            taken.add((region, stem + suffix))
            return stem, suffix
    raise RuntimeError(f"phone stems for {region} no longer give valid numbers")


def _phone_or_dirt(rng: random.Random, cols: _Columns, person: _Person, needed: bool) -> str | None:
    """Most people leave a phone; those without a usable email almost always do."""
    if rng.random() < (0.03 if needed else 0.28):
        return None
    if rng.random() < 0.02:
        cols.count("invalid_phones")
        return rng.choice(_INVALID_PHONES)
    return _render_phone(rng, person)


def _render_phone(rng: random.Random, person: _Person) -> str:
    region, stem, suffix = person.phone
    style = rng.choices(_PHONE_STYLES, cum_weights=_PHONE_STYLE_CUM_WEIGHTS)[0]
    if region != person.country:  # abroad, a national format would be misread
        style = rng.choice(("international", "e164"))
    return _phone_templates(region, stem)[style].format(*suffix)


@cache
def _phone_templates(region: str, stem: str) -> dict[str, str]:
    """Formats of one stem with `{}` where the four suffix digits go.

    Formatting rules depend on leading digits only, so formatting the stem once and slotting
    the suffix in is exact and avoids a `format_number` call per visitor.
    """
    country_code = phonenumbers.country_code_for_region(region)
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(stem + "0000"))
    fmt = phonenumbers.PhoneNumberFormat

    def slotted(text: str) -> str:
        chars, left = list(text), 4
        for i in range(len(chars) - 1, -1, -1):
            if left and chars[i].isdigit():
                chars[i], left = "{}", left - 1
        return "".join(chars)

    national = slotted(phonenumbers.format_number(number, fmt.NATIONAL))
    international = slotted(phonenumbers.format_number(number, fmt.INTERNATIONAL))
    digits = "".join(c for c in national if c.isdigit()) + "{}{}{}{}"
    if region == "US":  # 415.555.0132; Americans rarely write the 011 exit code
        alternate = f"{digits[:3]}.{digits[3:6]}.{{}}{{}}{{}}{{}}"
    elif region == "BR":  # 21 98765-4321; Brazil's 00 is followed by a carrier code
        alternate = national.replace("(", "").replace(")", "")
    else:  # 0049 30 1234567: the 00 exit code instead of "+"
        alternate = "00" + international[1:]
    return {
        "national": national,
        "international": international,
        "e164": "+" + "".join(c for c in international if c.isdigit()) + "{}{}{}{}",
        "digits": digits,
        "alternate": alternate,
    }


# --- behaviour --------------------------------------------------------------------------------


def _generate_activity(rng: random.Random, cols: _Columns, visitor_id: int, seen_s: int) -> None:
    """Sessions, orders, carts and wishlist items of one visitor, all before the reference date."""
    arrival = seen_s + rng.randrange(_DAY // 2)
    orders = _order_times(rng, arrival) if rng.random() < _BUYER_RATE else []
    s = cols.sessions
    for k in range(1 + min(int(rng.expovariate(0.9)), 20) + len(orders)):
        s["visitor_id"].append(visitor_id)
        s["started_at"].append(arrival if k == 0 else rng.randrange(arrival, _REF_S))
        s["pages"].append(1 + min(int(rng.expovariate(0.25)), 59))
    c = cols.carts
    for ts in orders:
        cents = max(199, int(rng.lognormvariate(4.0, 0.6) * 100))
        cols.orders.append((ts, visitor_id, cents))
        _cart(c, visitor_id, ts - rng.randrange(60, 1_800), rng.randint(1, 6), abandoned=False)
    if rng.random() < (0.35 if orders else 0.18):
        ts = rng.randrange(arrival, _REF_S)
        _cart(c, visitor_id, ts, rng.randint(1, 8), abandoned=True)
        if not orders or ts > orders[-1]:
            cols.count("abandoned")
    elif not orders and rng.random() < 0.04:  # still shopping: a live cart is not abandoned
        ts = rng.randrange(max(arrival, _REF_S - 2 * _DAY), _REF_S)
        _cart(c, visitor_id, ts, rng.randint(1, 4), abandoned=False)
    if rng.random() < (0.12 if orders else 0.06):
        cols.count("wishlist_users")
        for product_id in rng.sample(range(1_000, 1_500), k=rng.randint(1, 5)):
            cols.wishlists["visitor_id"].append(visitor_id)
            cols.wishlists["added_at"].append(rng.randrange(arrival, _REF_S))
            cols.wishlists["product_id"].append(product_id)
    if orders:
        cols.count("buyers")
        cols.count("first_time_buyers", int(len(orders) == 1))
        cols.count("frequent_shoppers", int(len(orders) >= 3))
        cols.count("recent_buyers", int(orders[-1] >= _REF_S - RECENT_DAYS * _DAY))


def _order_times(rng: random.Random, arrival: int) -> list[int]:
    """Most buyers order once; about a quarter come back three times or more."""
    r = rng.random()
    n = 1 if r < 0.6 else 2 if r < 0.75 else rng.randint(3, 8)
    return sorted(rng.randrange(arrival + 1_800, _REF_S) for _ in range(n))


def _cart(c: dict[str, list[Any]], visitor_id: int, ts: int, items: int, abandoned: bool) -> None:
    c["visitor_id"].append(visitor_id)
    c["updated_at"].append(ts)
    c["items"].append(items)
    c["abandoned"].append(abandoned)


# --- loading ----------------------------------------------------------------------------------


def _arrow_tables(cols: _Columns) -> dict[str, pa.Table]:
    # Order ids grow with time, as a shop's sequence would hand them out.
    orders = sorted(cols.orders)
    order_cols = {
        "order_id": list(range(100_001, 100_001 + len(orders))),
        "visitor_id": [o[1] for o in orders],
        "ordered_at": [o[0] for o in orders],
        "amount": [Decimal(o[2]).scaleb(-2) for o in orders],
    }
    raw = {"visitors": cols.visitors, "sessions": cols.sessions, "orders": order_cols,
           "carts": cols.carts, "wishlists": cols.wishlists}  # fmt: skip
    return {name: pa.table(data, schema=_SCHEMAS[name]) for name, data in raw.items()}


def _write(path: Path, tables: dict[str, pa.Table]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".{path.name}.building")
    for stale in (building, Path(f"{building}.wal")):
        stale.unlink(missing_ok=True)
    with duckdb.connect(str(building)) as con:
        con.execute(_DDL)
        for name, table in tables.items():
            con.register("arrow_rows", table)
            con.execute(f"INSERT INTO {name} SELECT * FROM arrow_rows")
            con.unregister("arrow_rows")
        con.execute("CHECKPOINT")
    Path(f"{path}.wal").unlink(missing_ok=True)
    os.replace(building, path)
