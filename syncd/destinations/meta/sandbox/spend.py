"""Ad sets and daily Insights for spend reporting: a deterministic generator and restatements.

Four ad sets in three campaigns, built on the audiences given (sorted, reused round-robin
when there are fewer than three):

* "Retargeting - Cart" bills LINK_CLICKS (CPC) and targets audience A;
* "Retargeting - Lookalike mix" bills IMPRESSIONS (CPM) and targets A and B: spend that two
  audiences share, so the allocation rule gets exercised;
* "Remarketing - Buyers" bills LINK_CLICKS and targets C;
* "Prospecting - Broad" bills IMPRESSIONS, targets C and *excludes* A: an exclusion is no
  targeting and carries no spend.

Numbers come from ``syncd.sandbox.campaigns``, seeded by (seed, ad account, day, ad set), so
the same arguments always give the same rows and adding days never changes earlier ones.
Spend is in whole cents, as Meta bills; Insights render it, and every other number, as
strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from syncd.sandbox.campaigns import Campaigns, Plan

__all__ = ["AdSet", "InsightRow", "build_ad_sets", "daily_rows", "restated"]

_CAMPAIGN_BASE = 120_000_000_000_000
_AD_SET_BASE = 120_000_000_100_000


@dataclass(frozen=True, slots=True)
class AdSet:
    """An ad set: what it bills on, and which custom audiences it targets or excludes."""

    id: str
    name: str
    campaign_id: str
    campaign_name: str
    billing_event: str  # IMPRESSIONS (CPM) or LINK_CLICKS (CPC)
    custom_audiences: tuple[tuple[str, str], ...]  # (id, name)
    excluded_custom_audiences: tuple[tuple[str, str], ...] = ()
    status: str = "ACTIVE"

    def node(self) -> dict[str, Any]:
        """The ad set as Graph renders it."""
        targeting: dict[str, Any] = {
            "geo_locations": {"countries": ["US"], "location_types": ["home", "recent"]},
            "custom_audiences": [{"id": i, "name": n} for i, n in self.custom_audiences],
        }
        if self.excluded_custom_audiences:
            targeting["excluded_custom_audiences"] = [
                {"id": i, "name": n} for i, n in self.excluded_custom_audiences
            ]
        return {
            "id": self.id,
            "name": self.name,
            "campaign_id": self.campaign_id,
            "billing_event": self.billing_event,
            "optimization_goal": (
                "LINK_CLICKS" if self.billing_event == "LINK_CLICKS" else "REACH"
            ),
            "status": self.status,
            "effective_status": self.status,
            "targeting": targeting,
        }


@dataclass(frozen=True, slots=True)
class InsightRow:
    """One day of one ad set, as Insights ``level=adset&time_increment=1`` reports it."""

    day: dt.date
    ad_set: AdSet
    spend_cents: int
    impressions: int
    clicks: int
    currency: str = "USD"

    @property
    def key(self) -> tuple[dt.date, str]:
        return self.day, self.ad_set.id

    def render(self) -> dict[str, Any]:
        """All the fields the emulator serves, as strings like Graph's Insights."""
        row: dict[str, Any] = {
            "adset_id": self.ad_set.id,
            "adset_name": self.ad_set.name,
            "campaign_id": self.ad_set.campaign_id,
            "campaign_name": self.ad_set.campaign_name,
            "spend": f"{self.spend_cents / 100:.2f}",
            "impressions": str(self.impressions),
            "clicks": str(self.clicks),
            "date_start": self.day.isoformat(),
            "date_stop": self.day.isoformat(),
            "account_currency": self.currency,
        }
        if self.impressions:
            row["cpm"] = f"{self.spend_cents / 100 / self.impressions * 1000:.6f}"
        if self.clicks:  # Graph leaves cpc out for a day without clicks
            row["cpc"] = f"{self.spend_cents / 100 / self.clicks:.6f}"
        return row


_PLANS = (
    Plan("Retargeting", "Retargeting - Cart", True, (0,), (), (800, 4_000),
         (0.008, 0.02), (0.35, 1.4)),
    Plan("Retargeting", "Retargeting - Lookalike mix", False, (0, 1), (),
         (3_000, 12_000), (0.002, 0.006), (4.0, 11.0)),
    Plan("Remarketing", "Remarketing - Buyers", True, (2,), (), (500, 2_500),
         (0.01, 0.03), (0.5, 2.0)),
    Plan("Prospecting", "Prospecting - Broad", False, (2,), (0,), (6_000, 20_000),
         (0.001, 0.004), (3.0, 8.0)),
)  # fmt: skip
_CAMPAIGNS = Campaigns(_PLANS, weekend_factor=0.8)


def build_ad_sets(audiences: Sequence[tuple[str, str]]) -> list[AdSet]:
    """The four ad sets over (id, name) audiences; audience slots repeat when there are few."""
    return [
        AdSet(
            id=str(_AD_SET_BASE + placed.number),
            name=placed.plan.name,
            campaign_id=str(_CAMPAIGN_BASE + placed.campaign_number),
            campaign_name=f"{placed.plan.campaign} {placed.campaign_number}",
            billing_event="LINK_CLICKS" if placed.plan.per_click else "IMPRESSIONS",
            custom_audiences=placed.targeted,
            excluded_custom_audiences=placed.excluded,
        )
        for placed in _CAMPAIGNS.place(sorted(audiences))
    ]


def daily_rows(
    ad_sets: Sequence[AdSet], account: str, start: dt.date, end: dt.date, seed: int
) -> list[InsightRow]:
    """Deterministic rows for every ad set and day from ``start`` to ``end`` inclusive."""
    return [
        InsightRow(day, ad_set, numbers.spend_cents, numbers.impressions, numbers.clicks)
        for day, ad_set, numbers in _CAMPAIGNS.deliver(ad_sets, account, start, end, seed)
    ]


def restated(
    row: InsightRow,
    *,
    factor: float | None = None,
    spend_cents: int | None = None,
    impressions: int | None = None,
    clicks: int | None = None,
) -> InsightRow:
    """The row as Meta restates a past day: scaled by ``factor`` and/or given new numbers."""
    if factor is not None:
        row = replace(
            row,
            spend_cents=round(row.spend_cents * factor),
            impressions=round(row.impressions * factor),
            clicks=round(row.clicks * factor),
        )
    return replace(
        row,
        spend_cents=row.spend_cents if spend_cents is None else spend_cents,
        impressions=row.impressions if impressions is None else impressions,
        clicks=row.clicks if clicks is None else clicks,
    )
