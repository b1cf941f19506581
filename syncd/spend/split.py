"""One ad set's (Meta) or ad group's (TikTok) day shared among the custom audiences it
targets: the even split `syncd.spend.table` documents, in one place for every network that
reports spend per group of audiences rather than per audience.

Each targeted audience gets 1/n of the day, n counting every audience the group targets,
managed by syncd or not; rows are made only for the audiences syncd manages. Spend is split
exactly; impressions and clicks are whole numbers, split as evenly as whole numbers allow, the
remainder going one each to the audiences with the lowest ids, so that the shares add back up
to the group's totals. ``cpc`` and ``cpm`` are the group's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from syncd.spend.table import cpc, cpm

__all__ = ["EVEN_SPLIT", "GroupDay", "even_split_rows", "split_evenly"]

EVEN_SPLIT = "even_split"


@dataclass(frozen=True)
class GroupDay:
    """One day of one ad set or ad group as its network reports it, and whom it targets
    (exclusions are not targeting: they are never in ``targeted``)."""

    day: dt.date
    network: str
    account_id: str
    campaign_id: str
    campaign_name: str | None
    ad_set_id: str
    ad_set_name: str | None
    targeted: Iterable[str]
    cost: float
    impressions: int
    clicks: int
    currency: str | None
    billing_model: str


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` whole numbers that differ by at most one and add up to it;
    the larger ones come first."""
    quotient, remainder = divmod(total, parts)
    return [quotient + (1 if index < remainder else 0) for index in range(parts)]


def even_split_rows(
    group: GroupDay, segments: Mapping[str, str], pulled_at: dt.datetime
) -> list[dict[str, Any]]:
    """Spend rows (``SPEND_SCHEMA`` records) of the managed audiences (id -> segment in
    ``segments``) among those the group targets; none when it targets none of them."""
    ordered = sorted(set(group.targeted), key=lambda i: (len(i), i))  # numeric order
    if not set(ordered) & segments.keys():
        return []
    parts = len(ordered)
    split = zip(
        ordered,
        split_evenly(group.impressions, parts),
        split_evenly(group.clicks, parts),
        strict=True,
    )
    return [
        {
            "date": group.day,
            "network": group.network,
            "account_id": group.account_id,
            "campaign_id": group.campaign_id,
            "campaign_name": group.campaign_name,
            "ad_set_id": group.ad_set_id,
            "ad_set_name": group.ad_set_name,
            "audience_id": audience_id,
            "segment": segments[audience_id],
            "impressions": impressions,
            "clicks": clicks,
            "cost": group.cost / parts,
            "currency": group.currency,
            "cpc": cpc(group.cost, group.clicks),
            "cpm": cpm(group.cost, group.impressions),
            "billing_model": group.billing_model,
            "share": 1 / parts,
            "allocation": EVEN_SPLIT,
            "pulled_at": pulled_at,
        }
        for audience_id, impressions, clicks in split
        if audience_id in segments  # its share counts in 1/n, but is not stored
    ]
