"""TikTok spend per audience: the synchronous report per ad group and day, split evenly across
the custom audiences each ad group targets.

TikTok reports delivery per ad group, not per audience, and an ad group may target several
custom audiences (``audience_ids`` of ``/adgroup/get/``,
https://business-api.tiktok.com/portal/docs?id=1739314558673922). Each ad group's day is
shared as Meta's ad sets' are (``syncd.spend.split``): 1/n to each targeted audience, rows for
the managed ones. Audiences in ``excluded_audience_ids`` are not targeting and get nothing.

Two reads, each paged (``page``, ``page_size`` 1-1,000, ``data.page_info.total_page``):

* ``GET /adgroup/get/`` with ``filtering={"primary_status": "STATUS_ALL"}``: by default
  deleted ad groups are left out ("STATUS_NOT_DELETE, which returns ad groups in all status
  excluding STATUS_DELETE", tiktok/tiktok-business-api-sdk ``FilteringAdgroupGet.md``), and
  a deleted ad group's past delivery still needs its targeting;
* ``GET /report/integrated/get/`` (https://business-api.tiktok.com/portal/docs?id=1740302848100353):
  ``report_type`` BASIC at ``data_level`` AUCTION_ADGROUP, ``dimensions``
  ``["adgroup_id", "stat_time_day"]``, spend, impressions, clicks and currency, with the
  ``adgroup_status`` filter at STATUS_ALL for the same reason (its default leaves deleted ad
  groups out: bububa/tiktok-business ``model/report/integrated_get.go``; the filter as
  airbytehq/airbyte source-tiktok-marketing sends it for ``include_deleted``). A daily report
  spans at most 30 days (same file), so a longer window is read 30 days at a time. Days are
  the ad account's, as ``start_date``/``end_date`` are.

The billing model is the ad group's ``billing_event``: CPC per click, CPM and OCPM
("Optimized Cost per Mille", the SDK's ``AdgroupCreateBody``) per thousand impressions; any
other event (CPV ...) is labelled with its own name.

TikTok counts calls per developer app across every endpoint (docs/tiktok.md, section 5), so
reports wait on the same pacer as the destination's pushes, and are retried by the same policy
on the classes of the client's error table.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from syncd.config.models import Audience
from syncd.destinations.base import DestinationError, ErrorClass
from syncd.destinations.registry import pacer_of
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.destinations.tiktok.client import TikTokAudiences
from syncd.destinations.tiktok.settings import TikTokDestination
from syncd.pacing import Pacer
from syncd.spend.grouped import managed_segments, split_table
from syncd.spend.split import GroupDay
from syncd.spend.table import CPC, CPM, SPEND_SCHEMA, Pulled

__all__ = ["MAX_REPORT_DAYS", "PAGE_SIZE", "billing_model", "pull_spend"]

#: Rows per page of both reads: their largest page (SDK ``report_integrated_get.yml``
#: ``page_size`` maximum 1000; ``AdgroupApi.md`` "Range of values- 1-1000").
PAGE_SIZE = 1_000
#: Days one report with ``stat_time_day`` may span.
MAX_REPORT_DAYS = 30
_AD_GROUPS, _REPORT = "/adgroup/get/", "/report/integrated/get/"
_ALL = json.dumps(["STATUS_ALL"])
_AD_GROUP_FIELDS = (
    "adgroup_id",
    "adgroup_name",
    "campaign_id",
    "campaign_name",
    "billing_event",
    "audience_ids",  # exclusions carry no spend: not asked for (docs/tiktok.md, section 10)
)
_METRICS = ("spend", "impressions", "clicks", "currency", "campaign_name", "adgroup_name")
_BILLING = {"CPC": CPC, "CPM": CPM, "OCPM": CPM}
_T = TypeVar("_T")


def billing_model(billing_event: str) -> str:
    """CPC for CPC, CPM for CPM and OCPM, else the event's own name."""
    return _BILLING.get(billing_event, billing_event or "UNKNOWN")


@dataclass(frozen=True)
class _AdGroup:
    name: str
    campaign_id: str
    campaign_name: str | None
    billing_event: str
    audiences: tuple[str, ...]  # targeted custom audience ids, exclusions not among them


def pull_spend(
    destination: TikTokDestination,
    audiences: Sequence[Audience],
    since: dt.date,
    until: dt.date,
    *,
    pulled_at: dt.datetime,
    retry_policy: RetryPolicy,
    sleep: Callable[[float], object] = time.sleep,
    page_size: int = PAGE_SIZE,
    transport: httpx.BaseTransport | None = None,
) -> Pulled:
    """Spend rows (SPEND_SCHEMA) of the managed ``audiences`` from ``since`` to ``until``.
    Raises ``DestinationError`` when TikTok refuses. ``page_size`` (1-1,000) and
    ``transport`` (httpx's by default) are for tests."""
    client = TikTokAudiences(destination, transport)
    advertiser = destination.advertiser_id
    subject = f"TikTok advertiser {advertiser}"
    reader = _Reader(client, subject, pacer_of(destination), retry_policy, sleep, page_size)
    notes: list[str] = []
    try:
        segments = managed_segments(audiences, reader.find_audience, notes)
        if not segments:
            return Pulled(SPEND_SCHEMA.empty_table(), (), tuple(notes))
        ad_groups = _ad_groups(reader.pages(_AD_GROUPS, _ad_group_query(advertiser)))
        rows = [
            row
            for first, last in _spans(since, until)
            for row in reader.pages(_REPORT, _report_query(advertiser, first, last))
        ]
    finally:
        client.close()
    table = split_table(
        _group_days(rows, ad_groups, advertiser),
        segments,
        pulled_at,
        notes,
        "ad group(s) in the report are not listed by /adgroup/get/",
    )
    return Pulled(table, tuple(sorted(segments)), tuple(notes))


class _Reader:
    """The puller's requests: each paced on the app's pacer and retried by the policy."""

    def __init__(
        self,
        client: TikTokAudiences,
        subject: str,
        pacer: Pacer,
        policy: RetryPolicy,
        sleep: Callable[[float], object],
        page_size: int,
    ) -> None:
        self._client, self._subject, self._pacer = client, subject, pacer
        self._policy, self._sleep, self._page_size = policy, sleep, page_size

    def call(self, what: str, request: Callable[[], _T]) -> _T:
        """``request`` once the pacer lets it leave, again as the retry policy says."""

        def paced() -> _T:
            with self._pacer.sending(self._sleep):
                return request()

        return call_with_retries(
            paced,
            self._policy,
            f"{self._subject} {what}",
            on_outcome=self._answered,
            on_wait=self._waited,
            sleep=self._sleep,
        )

    def find_audience(self, name: str) -> str | None:
        return self.call("audience names", lambda: self._client.find_audience(name))

    def pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every item of a paged read, page after page until ``page_info`` says the last."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            query = {**params, "page": str(page), "page_size": str(self._page_size)}
            what = f"{path} page {page}"
            data = self.call(
                what, functools.partial(self._client.read, path, query, f"{self._subject} {what}")
            )
            items.extend(item for item in data.get("list") or () if isinstance(item, dict))
            total_pages = (data.get("page_info") or {}).get("total_page")
            if not isinstance(total_pages, int) or page >= total_pages:
                return items
            page += 1

    def _answered(self, outcome: str) -> None:
        if outcome == "ok":
            self._pacer.answered()

    def _waited(self, seconds: float, error: DestinationError) -> None:
        if error.error_class is ErrorClass.RATE_LIMITED:
            self._pacer.throttled(seconds)


def _ad_group_query(advertiser: str) -> dict[str, str]:
    return {
        "advertiser_id": advertiser,
        "fields": json.dumps(list(_AD_GROUP_FIELDS)),
        "filtering": json.dumps({"primary_status": "STATUS_ALL"}),
    }


def _report_query(advertiser: str, first: dt.date, last: dt.date) -> dict[str, str]:
    status = {"field_name": "adgroup_status", "filter_type": "IN", "filter_value": _ALL}
    return {
        "advertiser_id": advertiser,
        "report_type": "BASIC",
        "service_type": "AUCTION",
        "data_level": "AUCTION_ADGROUP",
        "dimensions": json.dumps(["adgroup_id", "stat_time_day"]),
        "metrics": json.dumps(list(_METRICS)),
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "filtering": json.dumps([status]),
    }


def _spans(since: dt.date, until: dt.date) -> Iterable[tuple[dt.date, dt.date]]:
    """The window in spans of at most ``MAX_REPORT_DAYS`` days, both ends included."""
    first = since
    while first <= until:
        last = min(first + dt.timedelta(days=MAX_REPORT_DAYS - 1), until)
        yield first, last
        first = last + dt.timedelta(days=1)


def _ad_groups(nodes: Iterable[dict[str, Any]]) -> dict[str, _AdGroup]:
    result = {}
    for node in nodes:
        targeted = {str(i) for i in node.get("audience_ids") or ()}
        result[str(node.get("adgroup_id", ""))] = _AdGroup(
            name=str(node.get("adgroup_name", "")),
            campaign_id=str(node.get("campaign_id", "")),
            campaign_name=node.get("campaign_name"),
            billing_event=str(node.get("billing_event") or ""),
            audiences=tuple(sorted(targeted)),
        )
    return result


def _group_days(
    rows: Iterable[dict[str, Any]], ad_groups: dict[str, _AdGroup], advertiser: str
) -> Iterator[GroupDay | str]:
    """Each report row as a `GroupDay`, or the id of its ad group when that is not listed."""
    for row in rows:
        dimensions, metrics = row.get("dimensions") or {}, row.get("metrics") or {}
        ad_group_id = str(dimensions.get("adgroup_id", ""))
        ad_group = ad_groups.get(ad_group_id)
        if ad_group is None:
            yield ad_group_id
            continue
        yield GroupDay(
            day=dt.date.fromisoformat(str(dimensions["stat_time_day"])[:10]),
            network="tiktok",
            account_id=advertiser,
            campaign_id=ad_group.campaign_id,
            campaign_name=metrics.get("campaign_name") or ad_group.campaign_name,
            ad_set_id=ad_group_id,
            ad_set_name=metrics.get("adgroup_name") or ad_group.name,
            targeted=ad_group.audiences,
            cost=float(metrics.get("spend") or 0),
            impressions=_count(metrics.get("impressions")),
            clicks=_count(metrics.get("clicks")),
            currency=metrics.get("currency") or None,
            billing_model=billing_model(ad_group.billing_event),
        )


def _count(value: object) -> int:
    """A whole-number metric: TikTok sends numbers as strings, counts at times as "116.0"."""
    return round(float(str(value))) if value not in (None, "") else 0
