"""What the demo shop's visitors do: sessions, orders, carts and wishlist items.

About 8% of visitors buy, most of them once; carts are checked out, abandoned or still live,
so the playbook's segments (first-time buyers, frequent shoppers, abandoned carts, wishlist
users) all have members. Everything happens before `REFERENCE_DATE`.
"""

from __future__ import annotations

import random
from typing import Any

from syncd.demo.rows import DAY, RECENT_DAYS, REFERENCE_S, Columns

__all__ = ["generate_activity"]

_BUYER_RATE = 0.08


def generate_activity(rng: random.Random, cols: Columns, visitor_id: int, seen_s: int) -> None:
    """Sessions, orders, carts and wishlist items of one visitor, all before the reference date."""
    arrival = seen_s + rng.randrange(DAY // 2)
    orders = _order_times(rng, arrival) if rng.random() < _BUYER_RATE else []
    s = cols.sessions
    for k in range(1 + min(int(rng.expovariate(0.9)), 20) + len(orders)):
        s["visitor_id"].append(visitor_id)
        s["started_at"].append(arrival if k == 0 else rng.randrange(arrival, REFERENCE_S))
        s["pages"].append(1 + min(int(rng.expovariate(0.25)), 59))
    c = cols.carts
    for ts in orders:
        cents = max(199, int(rng.lognormvariate(4.0, 0.6) * 100))
        cols.orders.append((ts, visitor_id, cents))
        _cart(c, visitor_id, ts - rng.randrange(60, 1_800), rng.randint(1, 6), abandoned=False)
    if rng.random() < (0.35 if orders else 0.18):
        ts = rng.randrange(arrival, REFERENCE_S)
        _cart(c, visitor_id, ts, rng.randint(1, 8), abandoned=True)
        if not orders or ts > orders[-1]:
            cols.count("abandoned")
    elif not orders and rng.random() < 0.04:  # still shopping: a live cart is not abandoned
        ts = rng.randrange(max(arrival, REFERENCE_S - 2 * DAY), REFERENCE_S)
        _cart(c, visitor_id, ts, rng.randint(1, 4), abandoned=False)
    if rng.random() < (0.12 if orders else 0.06):
        cols.count("wishlist_users")
        for product_id in rng.sample(range(1_000, 1_500), k=rng.randint(1, 5)):
            cols.wishlists["visitor_id"].append(visitor_id)
            cols.wishlists["added_at"].append(rng.randrange(arrival, REFERENCE_S))
            cols.wishlists["product_id"].append(product_id)
    if orders:
        cols.count("buyers")
        cols.count("first_time_buyers", int(len(orders) == 1))
        cols.count("frequent_shoppers", int(len(orders) >= 3))
        cols.count("recent_buyers", int(orders[-1] >= REFERENCE_S - RECENT_DAYS * DAY))


def _order_times(rng: random.Random, arrival: int) -> list[int]:
    """Most buyers order once; about a quarter come back three times or more."""
    r = rng.random()
    n = 1 if r < 0.6 else 2 if r < 0.75 else rng.randint(3, 8)
    return sorted(rng.randrange(arrival + 1_800, REFERENCE_S) for _ in range(n))


def _cart(c: dict[str, list[Any]], visitor_id: int, ts: int, items: int, abandoned: bool) -> None:
    c["visitor_id"].append(visitor_id)
    c["updated_at"].append(ts)
    c["items"].append(items)
    c["abandoned"].append(abandoned)
