"""Ad groups and their daily delivery for the TikTok emulator's spend reports: a
deterministic generator, the ad groups as ``/adgroup/get/`` renders them, and report rows.

Four ad groups in three campaigns, built on the audiences given (sorted, reused round-robin
when there are fewer than four):

* "Retargeting - Cart" bills CPC and targets audience A;
* "Retargeting - Lookalike mix" bills OCPM (per thousand impressions) and targets A and B:
  spend two audiences share, so the allocation rule gets exercised;
* "Remarketing - Buyers" bills CPC and targets C;
* "Prospecting - Broad" bills OCPM, targets C and *excludes* D (A when there are only three
  audiences): an exclusion is no targeting and carries no spend, and with four audiences D
  is only ever excluded.

Numbers come from ``syncd.sandbox.campaigns``, seeded by (seed, advertiser, day, ad group), so
the same arguments always give the same rows and adding days never changes earlier ones. Spend is
in whole cents; reports render it, and every other metric, as strings, as TikTok's do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from syncd.sandbox.campaigns import Campaigns, Plan

__all__ = ["AdGroup", "Delivery", "ReportRow", "build_ad_groups", "daily_rows"]

_CAMPAIGN_BASE = 1_780_000_000_000_000
_AD_GROUP_BASE = 1_780_000_000_100_000
#: TikTok's time format in ad group fields and report dimensions (``stat_time_day``).
_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class AdGroup:
    """An ad group: what it bills on, which custom audiences it targets or excludes, and
    whether it was deleted (listed and reported only when asked for with STATUS_ALL)."""

    id: str
    name: str
    campaign_id: str
    campaign_name: str
    billing_event: str  # CPC or OCPM
    audience_ids: tuple[str, ...]
    excluded_audience_ids: tuple[str, ...] = ()
    deleted: bool = False

    def node(self, advertiser: str, created: dt.date) -> dict[str, Any]:
        """The ad group as ``/adgroup/get/`` lists it (the fields syncd and the demo read,
        and a few around them)."""
        stamp = dt.datetime.combine(created, dt.time()).strftime(_TIME)
        return {
            "advertiser_id": advertiser,
            "campaign_id": self.campaign_id,
            "campaign_name": self.campaign_name,
            "adgroup_id": self.id,
            "adgroup_name": self.name,
            "billing_event": self.billing_event,
            "optimization_goal": "CLICK" if self.billing_event == "CPC" else "REACH",
            "budget_mode": "BUDGET_MODE_DAY",
            "budget": 50.0,
            "operation_status": "DISABLE" if self.deleted else "ENABLE",
            "secondary_status": (
                "ADGROUP_STATUS_DELETE" if self.deleted else "ADGROUP_STATUS_DELIVERY_OK"
            ),
            "audience_ids": list(self.audience_ids),
            "excluded_audience_ids": list(self.excluded_audience_ids),
            "create_time": stamp,
            "modify_time": stamp,
        }


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One day of one ad group, as the BASIC report at AUCTION_ADGROUP level holds it."""

    day: dt.date
    ad_group: AdGroup
    spend_cents: int
    impressions: int
    clicks: int
    currency: str = "USD"

    @property
    def key(self) -> tuple[dt.date, str]:
        return self.day, self.ad_group.id


@dataclass
class Delivery:
    """One advertiser's ad groups and report rows."""

    ad_groups: list[AdGroup] = field(default_factory=list)
    rows: dict[tuple[dt.date, str], ReportRow] = field(default_factory=dict)
    created: dt.date | None = None

    def generate(
        self, audiences: Sequence[str], advertiser: str, start: dt.date, end: dt.date, seed: int
    ) -> list[ReportRow]:
        """Ad groups over the audiences (once), and their daily rows, stored."""
        if not self.ad_groups:
            self.ad_groups = build_ad_groups(audiences)
            self.created = start
        rows = daily_rows(self.ad_groups, advertiser, start, end, seed)
        self.rows.update((row.key, row) for row in rows)
        return rows

    def delete(self, ad_group_id: str) -> None:
        """Mark an ad group deleted (its rows stay, as TikTok keeps deleted delivery)."""
        found = {group.id: group for group in self.ad_groups}
        if ad_group_id not in found:
            raise KeyError(f"no ad group {ad_group_id}")
        deleted = replace(found[ad_group_id], deleted=True)
        self.ad_groups = [deleted if g.id == ad_group_id else g for g in self.ad_groups]
        self.rows = {
            key: replace(row, ad_group=deleted) if row.ad_group.id == ad_group_id else row
            for key, row in self.rows.items()
        }


_PLANS = (
    Plan("Retargeting", "Retargeting - Cart", True, (0,), (), (900, 5_000),
         (0.008, 0.025), (0.25, 1.1)),
    Plan("Retargeting", "Retargeting - Lookalike mix", False, (0, 1), (),
         (4_000, 15_000), (0.003, 0.008), (3.0, 9.0)),
    Plan("Remarketing", "Remarketing - Buyers", True, (2,), (), (600, 3_000),
         (0.01, 0.03), (0.4, 1.6)),
    Plan("Prospecting", "Prospecting - Broad", False, (2,), (3,), (8_000, 25_000),
         (0.001, 0.005), (2.5, 7.0)),
)  # fmt: skip
_CAMPAIGNS = Campaigns(_PLANS, weekend_factor=0.85)


def build_ad_groups(audiences: Sequence[str]) -> list[AdGroup]:
    """The four ad groups over the audience ids (in numeric order); slots repeat when there
    are few."""
    ordered = sorted(set(audiences), key=lambda i: (len(i), i))
    return [
        AdGroup(
            id=str(_AD_GROUP_BASE + placed.number),
            name=placed.plan.name,
            campaign_id=str(_CAMPAIGN_BASE + placed.campaign_number),
            campaign_name=f"{placed.plan.campaign} {placed.campaign_number}",
            billing_event="CPC" if placed.plan.per_click else "OCPM",
            audience_ids=placed.targeted,
            excluded_audience_ids=placed.excluded,
        )
        for placed in _CAMPAIGNS.place(ordered)
    ]


def daily_rows(
    ad_groups: Sequence[AdGroup], advertiser: str, start: dt.date, end: dt.date, seed: int
) -> list[ReportRow]:
    """Deterministic rows for every ad group and day from ``start`` to ``end`` inclusive."""
    return [
        ReportRow(day, ad_group, numbers.spend_cents, numbers.impressions, numbers.clicks)
        for day, ad_group, numbers in _CAMPAIGNS.deliver(ad_groups, advertiser, start, end, seed)
    ]
