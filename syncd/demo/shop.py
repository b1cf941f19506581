"""A deterministic demo shop on DuckDB: e-commerce visitors with the dirt real data has.

`syncd demo` syncs this shop's segments to the sandbox emulators. The data is synthetic
(reserved example domains, 555 and drama-range phone stems) but shaped like a real shop: about
92% of visitors never buy, identifiers arrive in mixed formats, some are missing or invalid, and
some people signed up twice. The dirt is deliberate: it makes normalization and quarantine
visible in the demo instead of hiding them behind clean data.

Everything derives from `random.Random(seed)` and the fixed `REFERENCE_DATE`, never the wall
clock, so a given seed always yields the same database. Rows are built as Python columns
(`rows`: people in `visitors`, what they do in `activity`) and loaded into DuckDB through
Arrow, which keeps 100,000 visitors within a few seconds.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from syncd.demo.activity import generate_activity
from syncd.demo.rows import DAY, REFERENCE_DATE, REFERENCE_S, Columns, arrow_tables
from syncd.demo.visitors import generate_visitors

__all__ = ["ShopSummary", "build_shop"]

_HISTORY_DAYS = 365


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


_DDL = """
CREATE TABLE visitors (visitor_id BIGINT PRIMARY KEY, email VARCHAR, phone VARCHAR,
    first_name VARCHAR, last_name VARCHAR, country VARCHAR, zip VARCHAR, first_seen DATE);
CREATE TABLE sessions (visitor_id BIGINT, started_at TIMESTAMP, pages INTEGER);
CREATE TABLE orders (order_id BIGINT PRIMARY KEY, visitor_id BIGINT, ordered_at TIMESTAMP,
    amount DECIMAL(10, 2));
CREATE TABLE carts (visitor_id BIGINT, updated_at TIMESTAMP, items INTEGER, abandoned BOOLEAN);
CREATE TABLE wishlists (visitor_id BIGINT, added_at TIMESTAMP, product_id BIGINT);
CREATE TABLE opt_outs (email VARCHAR, phone VARCHAR, opted_out_at TIMESTAMP);
"""


def build_shop(path: Path, visitors: int = 5_000, seed: int = 7) -> ShopSummary:
    """Write the demo shop to `path` (replacing any file there) and return what it holds.

    The database is built under a temporary name and moved into place, so a reader never sees
    a half-written shop.
    """
    if visitors < 1:
        raise ValueError("visitors must be at least 1")
    rng = random.Random(seed)
    cols = Columns()
    days_ago = sorted((rng.randint(1, _HISTORY_DAYS) for _ in range(visitors)), reverse=True)
    generate_visitors(rng, cols, days_ago)
    for visitor_id, days in enumerate(days_ago, start=1):
        generate_activity(rng, cols, visitor_id, REFERENCE_S - days * DAY)
    _write(path, arrow_tables(cols))
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
