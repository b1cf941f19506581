"""A deterministic, realistic spend generator for ``ad_group_audience_view``, and restatements.

Four campaigns, two ad groups each, targeting the given user lists at ad group level (the
first ad group of each campaign targets two lists, so spend allocation across audiences gets
exercised), and a fifth that targets one list at campaign level (``campaign_audience_view``):

* "Retargeting - Display" bids TARGET_CPA, "Remarketing - Search" MANUAL_CPC and "Loyalty -
  Display" MAXIMIZE_CONVERSIONS: paid per click, cost = clicks x a CPC;
* "Reach - YouTube" bids TARGET_CPM and "Awareness - Display" MANUAL_CPM: paid per thousand
  impressions, cost = impressions / 1000 x a CPM.

Numbers come from a ``random.Random`` seeded by (seed, customer, day, ad group, list), so the
same arguments always give the same rows, and adding days never changes earlier ones. Costs
are whole cents (multiples of 10,000 micros), like the currency amounts Google bills.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from syncd.destinations.google.sandbox.ads.state import SpendRow

__all__ = ["CPM_BIDDING", "generate_spend", "scaled"]

#: Bidding strategies that pay per thousand impressions; every other one here pays per click.
CPM_BIDDING = frozenset({"TARGET_CPM", "MANUAL_CPM", "FIXED_CPM"})

_CENT = 10_000
_MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class _Campaign:
    name: str
    bidding: str
    channel: str
    impressions: tuple[int, int]
    ctr: tuple[float, float]
    price: tuple[float, float]  # CPC or CPM in currency units


_CAMPAIGNS = (
    _Campaign(
        "Retargeting - Display", "TARGET_CPA", "DISPLAY", (1_500, 8_000), (0.003, 0.009), (0.3, 1.2)
    ),
    _Campaign("Remarketing - Search", "MANUAL_CPC", "SEARCH", (150, 900), (0.03, 0.08), (0.8, 3.0)),
    _Campaign(
        "Reach - YouTube", "TARGET_CPM", "VIDEO", (4_000, 15_000), (0.001, 0.004), (4.0, 9.0)
    ),
    _Campaign(
        "Awareness - Display", "MANUAL_CPM", "DISPLAY", (2_000, 10_000), (0.002, 0.006), (1.5, 4.0)
    ),
)
#: Targets its list at campaign level: a campaign holds user lists at one level only.
_CAMPAIGN_LEVEL = _Campaign(
    "Loyalty - Display",
    "MAXIMIZE_CONVERSIONS",
    "DISPLAY",
    (1_000, 6_000),
    (0.004, 0.01),
    (0.4, 1.5),
)
_CAMPAIGN_BASE = 21_000_000_000
_AD_GROUP_BASE = 151_000_000_000
_CRITERION_BASE = 700_000_000_000


def _targets(lists: Sequence[int], campaign: int, group: int) -> list[int]:
    first = lists[(campaign * 2 + group) % len(lists)]
    second = lists[(campaign * 2 + group + 1) % len(lists)]
    return [first, second] if group == 0 and second != first else [first]


def _day(rng: random.Random, campaign: _Campaign, day: dt.date) -> tuple[int, int, int]:
    weekend = 0.8 if day.weekday() >= 5 else 1.0
    impressions = round(rng.randint(*campaign.impressions) * weekend)
    clicks = round(impressions * rng.uniform(*campaign.ctr))
    price = rng.uniform(*campaign.price) * _MICROS
    cost = impressions * price / 1000 if campaign.bidding in CPM_BIDDING else clicks * price
    return impressions, clicks, round(cost / _CENT) * _CENT


def generate_spend(
    customer_id: str,
    user_list_ids: Sequence[int],
    start: dt.date,
    end: dt.date,
    *,
    seed: int = 0,
) -> list[SpendRow]:
    """Daily rows from ``start`` to ``end`` inclusive for every targeted list of every ad
    group, and of the campaign that targets at campaign level."""
    if not user_list_ids:
        raise ValueError("spend needs at least one user list to target")
    if end < start:
        raise ValueError("end is before start")
    lists = sorted(user_list_ids)
    rows = []
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]

    def row(c_index: int, group: int | None, list_id: int, day: dt.date) -> SpendRow:
        campaign = _CAMPAIGNS[c_index] if c_index < len(_CAMPAIGNS) else _CAMPAIGN_LEVEL
        ad_group_id = None if group is None else _AD_GROUP_BASE + c_index * 10 + group + 1
        placement = ad_group_id if ad_group_id is not None else f"campaign {c_index}"
        rng = random.Random(f"{seed}:{customer_id}:{day}:{placement}:{list_id}")
        impressions, clicks, cost = _day(rng, campaign, day)
        return SpendRow(
            date=day,
            campaign_id=_CAMPAIGN_BASE + c_index + 1,
            campaign_name=campaign.name,
            bidding_strategy_type=campaign.bidding,
            advertising_channel_type=campaign.channel,
            ad_group_id=ad_group_id,
            ad_group_name=None if group is None else f"{campaign.name} #{group + 1}",
            criterion_id=_CRITERION_BASE + list_id,
            user_list_id=list_id,
            impressions=impressions,
            clicks=clicks,
            cost_micros=cost,
        )

    for c_index in range(len(_CAMPAIGNS)):
        for group in range(2):
            for list_id in _targets(lists, c_index, group):
                rows.extend(row(c_index, group, list_id, day) for day in days)
    rows.extend(row(len(_CAMPAIGNS), None, lists[0], day) for day in days)
    return rows


def scaled(row: SpendRow, factor: float) -> SpendRow:
    """The row with impressions, clicks and cost scaled (a late restatement, say 0.97)."""
    return replace(
        row,
        impressions=round(row.impressions * factor),
        clicks=round(row.clicks * factor),
        cost_micros=round(row.cost_micros * factor / _CENT) * _CENT,
    )
