"""The demo shop's tables while they are generated: their columns, their Arrow schemas, the
tallies `ShopSummary` reports, and the fixed calendar every generator counts on.

The calendar is `REFERENCE_DATE`, never the wall clock, so a given seed always yields the
same database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa

__all__ = ["DAY", "RECENT_DAYS", "REFERENCE_DATE", "REFERENCE_S", "Columns", "arrow_tables"]

REFERENCE_DATE = date(2026, 11, 1)
"""The shop's "today": all activity happens before it; `recent_buyers` counts back from it."""

RECENT_DAYS = 30
"""How far back an order makes its visitor a recent buyer."""

DAY = 86_400
#: `REFERENCE_DATE` in seconds since the epoch: timestamps are generated as integers.
REFERENCE_S = (REFERENCE_DATE - date(1970, 1, 1)).days * DAY

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


def _cols(table: str) -> dict[str, list[Any]]:
    return {name: [] for name in _SCHEMAS[table].names}


@dataclass(slots=True)
class Columns:
    """Column-wise rows for the five tables, plus the tallies `ShopSummary` reports."""

    visitors: dict[str, list[Any]] = field(default_factory=lambda: _cols("visitors"))
    sessions: dict[str, list[Any]] = field(default_factory=lambda: _cols("sessions"))
    orders: list[tuple[int, int, int]] = field(default_factory=list)  # (ts, visitor, cents)
    carts: dict[str, list[Any]] = field(default_factory=lambda: _cols("carts"))
    wishlists: dict[str, list[Any]] = field(default_factory=lambda: _cols("wishlists"))
    tally: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.tally[key] = self.tally.get(key, 0) + n


def arrow_tables(cols: Columns) -> dict[str, pa.Table]:
    """The five tables as Arrow, in the column order of their DuckDB tables."""
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
