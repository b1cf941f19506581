"""The demo shop: deterministic, shaped like a real shop, dirty on purpose, segments correct.

Segment membership is recomputed here in plain Python from the raw tables, so a wrong join or
an off-by-one in the SQL shows up as a difference rather than being checked against itself.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import phonenumbers
import pytest

from syncd.demo import SEGMENTS, ShopSummary, build_shop
from syncd.demo.segments import SEGMENT_COLUMNS

TABLES = ("visitors", "sessions", "orders", "carts", "wishlists")
REFERENCE = datetime(2026, 11, 1)
RECENT_SINCE = datetime(2026, 10, 2)  # 30 days before the reference date
COUNTRIES = {"US", "GB", "DE", "FR", "IN", "BR"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ShopSummary]:
    path = tmp_path_factory.mktemp("shop") / "shop.duckdb"
    return path, build_shop(path, visitors=5_000, seed=7)


@pytest.fixture(scope="module")
def con(shop: tuple[Path, ShopSummary]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(shop[0]), read_only=True)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def contents(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(path), read_only=True) as c:
        return {t: rows(c, f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}


# --- build ------------------------------------------------------------------------------------


def test_same_seed_same_shop_other_seed_other_shop(tmp_path: Path) -> None:
    build_shop(tmp_path / "a.duckdb", visitors=1_500, seed=11)
    build_shop(tmp_path / "b.duckdb", visitors=1_500, seed=11)
    build_shop(tmp_path / "c.duckdb", visitors=1_500, seed=12)
    a, b, c = (contents(tmp_path / f"{n}.duckdb") for n in "abc")
    assert a == b
    for table in TABLES:
        assert a[table] != c[table], table


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    path.write_bytes(b"not a database")
    summary = build_shop(path, visitors=200)
    assert len(contents(path)["visitors"]) == summary.visitors == 200
    assert [p.name for p in tmp_path.iterdir()] == ["shop.duckdb"]


def test_rejects_an_empty_shop(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        build_shop(tmp_path / "shop.duckdb", visitors=0)


def test_tables_have_the_documented_columns(con: duckdb.DuckDBPyConnection) -> None:
    def columns(table: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in rows(con, f"DESCRIBE {table}")]

    v = "VARCHAR"
    assert columns("visitors") == [
        ("visitor_id", "BIGINT"), ("email", v), ("phone", v), ("first_name", v),
        ("last_name", v), ("country", v), ("zip", v), ("first_seen", "DATE"),
    ]  # fmt: skip
    assert columns("sessions") == [
        ("visitor_id", "BIGINT"), ("started_at", "TIMESTAMP"), ("pages", "INTEGER"),
    ]  # fmt: skip
    assert columns("orders") == [
        ("order_id", "BIGINT"), ("visitor_id", "BIGINT"), ("ordered_at", "TIMESTAMP"),
        ("amount", "DECIMAL(10,2)"),
    ]  # fmt: skip
    assert columns("carts") == [
        ("visitor_id", "BIGINT"), ("updated_at", "TIMESTAMP"), ("items", "INTEGER"),
        ("abandoned", "BOOLEAN"),
    ]  # fmt: skip
    assert columns("wishlists") == [
        ("visitor_id", "BIGINT"), ("added_at", "TIMESTAMP"), ("product_id", "BIGINT"),
    ]  # fmt: skip


def test_summary_matches_the_database(
    shop: tuple[Path, ShopSummary], con: duckdb.DuckDBPyConnection
) -> None:
    summary = shop[1]
    (count,) = rows(con, "SELECT COUNT(*) FROM visitors")[0]
    (buyers, orders) = rows(con, "SELECT COUNT(DISTINCT visitor_id), COUNT(*) FROM orders")[0]
    assert (summary.visitors, summary.buyers, summary.orders) == (count, buyers, orders)
    assert summary.sessions == rows(con, "SELECT COUNT(*) FROM sessions")[0][0]
    assert summary.carts == rows(con, "SELECT COUNT(*) FROM carts")[0][0]
    assert summary.missing_emails > 0 and summary.invalid_phones > 0
    assert summary.duplicate_visitors > 0
    segment_sizes = {name: len(rows(con, seg.sql)) for name, seg in SEGMENTS.items()}
    assert segment_sizes == {
        "non_buyers": summary.non_buyers,
        "abandoned_carts": summary.abandoned_cart_visitors,
        "wishlist_users": summary.wishlist_users,
        "first_time_buyers": summary.first_time_buyers,
        "frequent_shoppers": summary.frequent_shoppers,
        "recent_buyers": summary.recent_buyers,
    }


def test_about_92_percent_never_buy(
    shop: tuple[Path, ShopSummary], con: duckdb.DuckDBPyConnection
) -> None:
    (rate,) = rows(
        con,
        "SELECT AVG(CASE WHEN visitor_id IN (SELECT visitor_id FROM orders) THEN 0 ELSE 1 END)"
        " FROM visitors",
    )[0]
    assert 0.90 <= rate <= 0.94
    assert shop[1].non_buyer_rate == pytest.approx(rate)


def test_buyers_mostly_buy_once_some_often(con: duckdb.DuckDBPyConnection) -> None:
    per_buyer = Counter(n for (n,) in rows(con, "SELECT COUNT(*) FROM orders GROUP BY visitor_id"))
    buyers = sum(per_buyer.values())
    assert per_buyer[1] / buyers > 0.5
    assert 0.1 < sum(c for n, c in per_buyer.items() if n >= 3) / buyers < 0.4


def test_activity_happens_between_first_visit_and_reference_date(
    con: duckdb.DuckDBPyConnection,
) -> None:
    for table, column in [
        ("sessions", "started_at"), ("orders", "ordered_at"), ("carts", "updated_at"),
        ("wishlists", "added_at"),
    ]:  # fmt: skip
        (early, late) = rows(
            con,
            f"SELECT COUNT(*) FILTER (WHERE t.{column} < v.first_seen), MAX(t.{column})"
            f" FROM {table} AS t JOIN visitors AS v USING (visitor_id)",
        )[0]
        assert early == 0, table
        assert late < REFERENCE, table
    (first, last) = rows(con, "SELECT MIN(first_seen), MAX(first_seen) FROM visitors")[0]
    assert date(2025, 11, 1) <= first and last < date(2026, 11, 1)
    assert rows(con, "SELECT MIN(amount) > 0, COUNT(DISTINCT order_id) FROM orders")[0][0]


# --- segments ---------------------------------------------------------------------------------


def expected_members(con: duckdb.DuckDBPyConnection) -> dict[str, set[int]]:
    """Each segment's visitor ids, computed in Python from the raw tables."""
    visitor_ids = {v for (v,) in rows(con, "SELECT visitor_id FROM visitors")}
    orders_of: defaultdict[int, list[datetime]] = defaultdict(list)
    for v, at in rows(con, "SELECT visitor_id, ordered_at FROM orders"):
        orders_of[v].append(at)
    carts = rows(con, "SELECT visitor_id, updated_at, abandoned FROM carts")
    return {
        "non_buyers": visitor_ids - orders_of.keys(),
        "abandoned_carts": {
            v for v, at, abandoned in carts if abandoned and not any(o >= at for o in orders_of[v])
        },
        "wishlist_users": {v for (v,) in rows(con, "SELECT visitor_id FROM wishlists")},
        "first_time_buyers": {v for v, o in orders_of.items() if len(o) == 1},
        "frequent_shoppers": {v for v, o in orders_of.items() if len(o) >= 3},
        "recent_buyers": {
            v for v, o in orders_of.items() if any(RECENT_SINCE <= at < REFERENCE for at in o)
        },
    }


def test_playbook_has_the_six_segments() -> None:
    assert list(SEGMENTS) == [
        "non_buyers", "abandoned_carts", "wishlist_users", "first_time_buyers",
        "frequent_shoppers", "recent_buyers",
    ]  # fmt: skip
    for name, (description, sql) in SEGMENTS.items():
        assert description and sql.lstrip().upper().startswith("SELECT"), name


@pytest.mark.parametrize("name", list(SEGMENTS))
def test_segment_returns_exactly_its_visitors(con: duckdb.DuckDBPyConnection, name: str) -> None:
    cursor = con.execute(SEGMENTS[name].sql)
    assert tuple(d[0] for d in cursor.description) == SEGMENT_COLUMNS
    got = Counter(cursor.fetchall())
    people = {
        r[0]: r[1:]
        for r in rows(
            con,
            "SELECT visitor_id, email, phone, first_name, last_name, country, zip FROM visitors",
        )
    }
    members = expected_members(con)[name]
    assert len(members) >= 50, "a segment this small makes a poor demo"
    assert got == Counter(people[v] for v in members)


def test_segments_relate_as_the_playbook_says(con: duckdb.DuckDBPyConnection) -> None:
    m = expected_members(con)
    buyers = m["first_time_buyers"] | m["frequent_shoppers"] | m["recent_buyers"]
    assert not buyers & m["non_buyers"]
    assert not m["first_time_buyers"] & m["frequent_shoppers"]
    # Both sides of the cart rule occur: buyers who abandoned a cart after their last order
    # are in the segment, carts recovered by a later order are not.
    abandoned_any = {v for (v,) in rows(con, "SELECT visitor_id FROM carts WHERE abandoned")}
    assert m["abandoned_carts"] - m["non_buyers"]
    assert abandoned_any - m["abandoned_carts"]


# --- dirt -------------------------------------------------------------------------------------


def visitors(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cursor = con.execute("SELECT * FROM visitors")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def mailbox(email: str) -> str:
    local, _, domain = email.strip().lower().partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def test_emails_are_dirty_at_realistic_rates(con: duckdb.DuckDBPyConnection) -> None:
    vs = visitors(con)
    emails = [v["email"] for v in vs if v["email"] is not None]
    assert 0.01 < 1 - len(emails) / len(vs) < 0.15  # NULLs
    assert 0 < sum("@" not in e for e in emails) < 0.05 * len(vs)  # no @, "n/a", ""
    assert sum(e != e.lower() for e in emails) > 0.02 * len(emails)  # mixed case
    assert sum(e != e.strip() for e in emails) > 0.01 * len(emails)  # stray whitespace
    gmail = re.compile(r"^\S*\.\S*@(gmail|googlemail)\.com$", re.IGNORECASE)
    assert sum(bool(gmail.match(e.strip())) for e in emails) > 50  # dots Gmail ignores
    assert any(e.strip().lower().endswith("@googlemail.com") for e in emails)
    for domain in {e.strip().lower().rpartition("@")[2] for e in emails if "@" in e}:
        assert (
            domain in ("gmail.com", "googlemail.com")
            or domain.endswith("example.com")
            or (domain in ("example.org", "example.net"))
        ), domain


def test_some_people_signed_up_twice(con: duckdb.DuckDBPyConnection) -> None:
    by_mailbox: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in visitors(con):
        if v["email"] and "@" in v["email"]:
            by_mailbox[mailbox(v["email"])].append(v)
    twice = [group for group in by_mailbox.values() if len(group) > 1]
    assert len(twice) > 0.01 * len(by_mailbox)
    for group in twice:
        raw = {v["email"] for v in group}
        assert len(raw) == len(group), "a duplicate is written differently"
        lasts = {v["last_name"].strip().casefold() for v in group if v["last_name"]}
        assert len(lasts) <= 1, "a mailbox belongs to one person"


def test_phones_come_in_many_formats_and_the_real_ones_are_valid(
    con: duckdb.DuckDBPyConnection,
) -> None:
    vs = visitors(con)
    junk, regions = 0, Counter[str]()
    for v in vs:
        phone, country = v["phone"], v["country"]
        if phone is None:
            continue
        if sum(c.isdigit() for c in phone) < 7:  # "12", "n/a", "000000": no real number
            junk += 1
            continue
        if country is None:  # a national format cannot be read without it: quarantine's job
            continue
        number = phonenumbers.parse(phone, country.strip().upper())
        assert phonenumbers.is_valid_number(number), (phone, country)
        regions[phonenumbers.region_code_for_number(number)] += 1
    assert junk > 0
    assert set(regions) == COUNTRIES
    phones = [v["phone"] for v in vs if v["phone"]]
    assert any(p.startswith("(") for p in phones)  # (415) 555-0132
    assert any(p.startswith("+") and " " in p for p in phones)  # +44 20 7946 0958
    assert any(re.fullmatch(r"\+\d{8,15}", p) for p in phones)  # E.164
    assert any(p.startswith("00") for p in phones)  # 0049 30 1234567
    assert any(p.startswith("0") and not p.startswith("00") for p in phones)  # 030 123456
    assert {"12", "n/a"} & set(phones)


def test_most_visitors_leave_an_email_or_a_phone(con: duckdb.DuckDBPyConnection) -> None:
    vs = visitors(con)
    assert sum(v["phone"] is None for v in vs) > 0.1 * len(vs)
    assert sum(v["email"] is None and v["phone"] is None for v in vs) < 0.01 * len(vs)


def test_names_and_countries_are_messy_but_recoverable(con: duckdb.DuckDBPyConnection) -> None:
    vs = visitors(con)
    countries = [v["country"] for v in vs]
    assert None in countries
    assert {c.strip().upper() for c in countries if c} == COUNTRIES
    assert any(c and c != c.strip() for c in countries)
    assert any(c and c.islower() for c in countries)
    names = [v["first_name"] for v in vs] + [v["last_name"] for v in vs]
    assert None in names
    assert any(n and n != n.strip() for n in names)
    assert any(n and n.isupper() for n in names)
    assert any(n and not n.isascii() for n in names)  # Müller, João
