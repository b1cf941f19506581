"""Meta spend per audience: Insights per ad set and day, split across the ad set's audiences.

Meta reports spend per ad set (``level=adset``, ``time_increment=1``), and one ad set may
target several custom audiences (``targeting.custom_audiences``). Each targeted audience gets
an even share, 1/n of the ad set's day, whether syncd manages it or not; rows are kept only
for the audiences syncd manages. Excluded audiences (``excluded_custom_audiences``) carry
nothing. Spend is split exactly; impressions and clicks are whole numbers, so they are split
as evenly as whole numbers allow, the remainder going one each to the audiences with the
lowest ids, and every audience's share adds back up to the ad set's total. ``cpc`` and ``cpm``
on each row are the ad set's own (its spend over its clicks or impressions).

The billing model is the ad set's ``billing_event``: IMPRESSIONS is CPM, LINK_CLICKS and
CLICKS are CPC, any other event is labelled with its own name (THRUPLAY, APP_INSTALLS ...).

Calls go through the Meta destination's client, so its session setup and its pacing on
Meta's usage headers apply to reports exactly as to audience edits. Reports spend other
budgets than audience edits (ads_insights, ads_management, not custom_audience: "Rate
Limiting", https://developers.facebook.com/docs/graph-api/overview/rate-limiting), so they
wait on a pacer of their own: a throttled report does not hold the account's pushes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from syncd.config.models import Audience
from syncd.destinations.meta.schema import CAPABILITIES
from syncd.destinations.meta.settings import MetaDestination
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.pacing import Pacer, shared_pacer
from syncd.spend.grouped import managed_segments, split_table
from syncd.spend.split import GroupDay
from syncd.spend.table import CPC, CPM, SPEND_SCHEMA, Pulled

__all__ = ["billing_model", "pull_meta"]

_AD_SET_FIELDS = ("id", "name", "campaign_id", "billing_event", "targeting")
_INSIGHT_FIELDS = (
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
    "spend",
    "impressions",
    "clicks",
    "date_start",
    "account_currency",
)
_BILLING = {"IMPRESSIONS": CPM, "LINK_CLICKS": CPC, "CLICKS": CPC}
_PAGE = 500


def billing_model(billing_event: str) -> str:
    """CPM for IMPRESSIONS, CPC for LINK_CLICKS and CLICKS, else the event's own name."""
    return _BILLING.get(billing_event, billing_event or "UNKNOWN")


@dataclass(frozen=True)
class _AdSet:
    name: str
    billing_event: str
    audiences: tuple[str, ...]  # targeted custom audience ids, sorted


def pull_meta(
    destination: MetaDestination,
    audiences: Sequence[Audience],
    since: dt.date,
    until: dt.date,
    *,
    pulled_at: dt.datetime,
    retry_policy: RetryPolicy,
    sleep: Callable[[float], object] = time.sleep,
    pacer: Pacer | None = None,
) -> Pulled:
    """Spend rows (SPEND_SCHEMA) of the managed ``audiences`` from ``since`` to ``until``.
    Raises ``DestinationError`` when Meta refuses. ``pacer`` (by default the process's
    for the ad account's reports) must keep time as ``sleep`` does."""
    from syncd.destinations.meta.client import MetaCustomAudiences

    pace = destination.paced(CAPABILITIES.pace)
    pacer = pacer or shared_pacer((*destination.quota_owner, "reports"), pace)
    client = MetaCustomAudiences(destination, sleep=sleep, pacer=pacer)
    subject = f"Meta ad account {destination.ad_account_id}"
    notes: list[str] = []

    def find(name: str) -> str | None:
        return call_with_retries(
            lambda: client.find_audience(name),
            retry_policy,
            f"{subject}: audience names",
            sleep=sleep,
        )

    try:
        segments = managed_segments(audiences, find, notes)
        if not segments:
            return Pulled(SPEND_SCHEMA.empty_table(), (), tuple(notes))
        account = client.ad_account()

        def fetch() -> tuple[dict[str, _AdSet], list[dict[str, Any]]]:
            ad_sets = account.get_ad_sets(fields=list(_AD_SET_FIELDS), params={"limit": _PAGE})
            params = {
                "level": "adset",
                "time_increment": 1,
                "time_range": {"since": since.isoformat(), "until": until.isoformat()},
                "limit": _PAGE,
            }
            insights = account.get_insights(fields=list(_INSIGHT_FIELDS), params=params)
            # The SDK's cursors fetch further pages while they are iterated.
            return _ad_sets(dict(node) for node in ad_sets), [dict(row) for row in insights]

        ad_sets, insights = call_with_retries(
            lambda: client.read(f"{subject} spend report", fetch),
            retry_policy,
            f"{subject} spend report",
            sleep=sleep,
        )
    finally:
        client.close()
    table = split_table(
        _group_days(insights, ad_sets, destination.ad_account_id),
        segments,
        pulled_at,
        notes,
        "ad set(s) in Insights are not listed (archived or deleted)",
    )
    return Pulled(table, tuple(sorted(segments)), tuple(notes))


def _ad_sets(nodes: Iterable[dict[str, Any]]) -> dict[str, _AdSet]:
    result = {}
    for node in nodes:
        targeting = node.get("targeting") or {}
        targeted = {str(item["id"]) for item in targeting.get("custom_audiences") or ()}
        result[str(node["id"])] = _AdSet(
            name=str(node.get("name", "")),
            billing_event=str(node.get("billing_event", "")),
            audiences=tuple(sorted(targeted, key=lambda i: (len(i), i))),
        )
    return result


def _group_days(
    insights: Iterable[dict[str, Any]], ad_sets: dict[str, _AdSet], account_id: str
) -> Iterator[GroupDay | str]:
    """Each Insights row as a `GroupDay`, or the id of its ad set when that is not listed."""
    for row in insights:
        ad_set_id = str(row["adset_id"])
        ad_set = ad_sets.get(ad_set_id)
        if ad_set is None:
            yield ad_set_id
            continue
        yield GroupDay(
            day=dt.date.fromisoformat(row["date_start"]),
            network="meta",
            account_id=account_id,
            campaign_id=str(row.get("campaign_id", "")),
            campaign_name=row.get("campaign_name"),
            ad_set_id=ad_set_id,
            ad_set_name=row.get("adset_name") or ad_set.name,
            targeted=ad_set.audiences,
            cost=float(row.get("spend") or 0),
            impressions=int(row.get("impressions") or 0),
            clicks=int(row.get("clicks") or 0),
            currency=row.get("account_currency"),
            billing_model=billing_model(ad_set.billing_event),
        )
