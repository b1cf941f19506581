"""The spend table: one row per day x network x account x campaign x ad set x audience.

It sits next to the segments so a team can see which segment earns its budget. Networks
restate recent days, so each pull reads a window reaching back `spend.lookback_days` and
replaces what the table held for those audiences in that window (rows are keyed, so pulling
twice changes nothing). `share` and `allocation` make the allocation rule visible in the data
itself:

- Google reports each ad group's metrics per audience criterion (ad_group_audience_view),
  and each campaign's for lists targeted at campaign level (campaign_audience_view), so a
  row belongs to its audience entirely: share 1, allocation "criterion" or
  "campaign_criterion" (ad_set_id "": no ad group).
- Meta reports spend per ad set, and one ad set may target several custom audiences. Its
  spend is split evenly across every custom audience the ad set targets (managed by syncd
  or not): share 1/n, allocation "even_split". Impressions and clicks are whole numbers, so
  they are split as evenly as whole numbers allow (the remainder goes one each to the
  audiences with the lowest ids) and add back up to the ad set's; `cpc` and `cpm` are the ad
  set's own. Excluded audiences carry no spend. Only audiences syncd manages get rows. An
  even split is the only rule the data supports without guessing: Meta does not break ad
  set delivery down by audience.
- TikTok reports spend per ad group, which may target several custom audiences: split the
  same way (`syncd.spend.split`), allocation "even_split".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

SPEND_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("network", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("campaign_name", pa.string()),
        pa.field("ad_set_id", pa.string(), nullable=False),
        pa.field("ad_set_name", pa.string()),
        pa.field("audience_id", pa.string(), nullable=False),
        pa.field("segment", pa.string()),
        pa.field("impressions", pa.int64(), nullable=False),
        pa.field("clicks", pa.int64(), nullable=False),
        pa.field("cost", pa.float64(), nullable=False),
        pa.field("currency", pa.string()),
        pa.field("cpc", pa.float64()),
        pa.field("cpm", pa.float64()),
        pa.field("billing_model", pa.string(), nullable=False),
        pa.field("share", pa.float64(), nullable=False),
        pa.field("allocation", pa.string(), nullable=False),
        pa.field("pulled_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
KEY = ("date", "network", "account_id", "campaign_id", "ad_set_id", "audience_id")

CPC, CPM = "CPC", "CPM"


def cpc(cost: float, clicks: int) -> float | None:
    """Cost per click; None where nothing was clicked (not zero, not infinity)."""
    return cost / clicks if clicks else None


def cpm(cost: float, impressions: int) -> float | None:
    """Cost per thousand impressions; None where nothing was shown."""
    return cost * 1000 / impressions if impressions else None


class SpendNotConfigured(Exception):
    """The destination's settings give syncd no way to read its spend (a Data Manager
    destination without a `reporting` connection): the pull is skipped, and says why."""


@dataclass(frozen=True)
class Pulled:
    """What one destination's pull brought back: rows for the audiences it covers."""

    rows: pa.Table
    #: The network ids of the audiences the rows cover: the pull is the whole truth about
    #: them in its window (rows they no longer have there are dropped).
    audience_ids: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
