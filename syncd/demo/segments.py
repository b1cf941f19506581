"""The retargeting and remarketing playbook over the demo shop, as data.

Each segment is plain SQL over the shop's tables that returns one row per visitor with the
columns `email, phone, first_name, last_name, country, zip`, raw as stored: cleaning the dirt
is syncd's identity stage's job, and doing it here would hide it from the demo. The SQL sticks
to standard syntax so the same playbook runs on DuckDB, Postgres, BigQuery or Snowflake.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import NamedTuple

from syncd.demo.rows import RECENT_DAYS, REFERENCE_DATE


class Segment(NamedTuple):
    """A segment's human description and the SQL that selects its visitors."""

    description: str
    sql: str


SEGMENT_COLUMNS = ("email", "phone", "first_name", "last_name", "country", "zip")
"""The columns every segment query returns, in this order."""

_RECENT_SINCE = REFERENCE_DATE - timedelta(days=RECENT_DAYS)


def _visitors_where(condition: str) -> str:
    # Filtering `visitors` (never joining activity into it) keeps one row per visitor.
    return (
        "SELECT v.email, v.phone, v.first_name, v.last_name, v.country, v.zip\n"
        "FROM visitors AS v\n"
        f"WHERE {condition}\n"
        "ORDER BY v.visitor_id"
    )


def _order_count(having: str) -> str:
    return f"v.visitor_id IN (SELECT visitor_id FROM orders GROUP BY visitor_id HAVING {having})"


SEGMENTS: Mapping[str, Segment] = MappingProxyType(
    {
        "non_buyers": Segment(
            "Visitors who never ordered: the ~92% that retargeting brings back.",
            _visitors_where(
                "NOT EXISTS (SELECT 1 FROM orders AS o WHERE o.visitor_id = v.visitor_id)"
            ),
        ),
        "abandoned_carts": Segment(
            "Visitors with an abandoned cart and no order placed since that cart was updated.",
            _visitors_where(
                "EXISTS (SELECT 1 FROM carts AS c WHERE c.visitor_id = v.visitor_id"
                " AND c.abandoned AND NOT EXISTS (SELECT 1 FROM orders AS o"
                " WHERE o.visitor_id = c.visitor_id AND o.ordered_at >= c.updated_at))"
            ),
        ),
        "wishlist_users": Segment(
            "Visitors who saved at least one product to their wishlist.",
            _visitors_where(
                "EXISTS (SELECT 1 FROM wishlists AS w WHERE w.visitor_id = v.visitor_id)"
            ),
        ),
        "first_time_buyers": Segment(
            "Customers with exactly one order: the second purchase is the one to win.",
            _visitors_where(_order_count("COUNT(*) = 1")),
        ),
        "frequent_shoppers": Segment(
            "Customers with three or more orders: loyalty and lookalike seed.",
            _visitors_where(_order_count("COUNT(*) >= 3")),
        ),
        "recent_buyers": Segment(
            f"Customers who ordered in the {RECENT_DAYS} days before {REFERENCE_DATE}:"
            " an exclusion audience, so nobody is chased right after buying.",
            _visitors_where(
                "v.visitor_id IN (SELECT visitor_id FROM orders"
                f" WHERE ordered_at >= TIMESTAMP '{_RECENT_SINCE} 00:00:00'"
                f" AND ordered_at < TIMESTAMP '{REFERENCE_DATE} 00:00:00')"
            ),
        ),
    }
)
"""Segment name -> (description, SQL), in playbook order."""

EXCLUSION_SEGMENTS = frozenset({"recent_buyers"})
"""Segments meant to be excluded from ad sets rather than targeted."""
