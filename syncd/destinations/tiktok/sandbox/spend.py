"""The TikTok emulator's spend reporting: ad groups with the custom audiences they target or
exclude, the synchronous report of their daily delivery, and the ``generate_spend`` control.

Paths served, under ``/open_api/v1.3``:

* ``GET /adgroup/get/`` (https://business-api.tiktok.com/portal/docs?id=1739314558673922):
  ``advertiser_id``; ``fields`` (JSON array); ``filtering`` (JSON object: ``adgroup_ids`` and
  ``campaign_ids``, 1-100 each, and ``primary_status``, by default STATUS_NOT_DELETE, "which
  returns ad groups in all status excluding STATUS_DELETE": STATUS_ALL lists deleted ones too);
  ``page`` and ``page_size`` (1-1,000, default 10) (tiktok/tiktok-business-api-sdk
  ``js_sdk/docs/AdgroupApi.md`` and ``FilteringAdgroupGet.md`` at its first commit).
* ``GET /report/integrated/get/`` (https://business-api.tiktok.com/portal/docs?id=1740302848100353):
  ``report_type`` BASIC, ``service_type`` AUCTION, ``data_level`` AUCTION_ADGROUP, ``dimensions``
  ``["adgroup_id", "stat_time_day"]`` (or ``["adgroup_id"]``), ``metrics`` (default
  ``["spend", "impressions"]``), ``start_date``/``end_date`` (ad account days, both included; at
  most 30 days with ``stat_time_day``, 365 without), ``filtering`` (JSON array of
  ``{"field_name", "filter_type", "filter_value"}``: ``adgroup_status`` IN, whose default
  STATUS_NOT_DELETE leaves deleted ad groups out, and ``adgroup_ids`` IN), ``page`` and
  ``page_size`` (1-1,000, default 10) (SDK ``yml_files/report_integrated_get.yml``; the limits
  from bububa/tiktok-business ``model/report/integrated_get.go``, which mirrors the portal's
  field notes). Rows are ``{"dimensions": {...}, "metrics": {...}}`` with every metric a string
  and ``stat_time_day`` as "2026-03-01 00:00:00", beside ``page_info``.

The emulator serves what syncd's spend puller and the demo ask for; other report types,
levels, dimensions and filters answer code 40002 naming the parameter, rather than a guess.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from syncd.destinations.tiktok.sandbox.delivery import AdGroup, Delivery, ReportRow
from syncd.destinations.tiktok.sandbox.errors import INVALID_PARAMS, OK, TikTokError, envelope
from syncd.destinations.tiktok.sandbox.payload import id_list
from syncd.destinations.tiktok.sandbox.query import bounded, json_value, names, paged
from syncd.sandbox.messages import Request, Response

__all__ = ["AD_GROUP_FIELDS", "REPORT_METRICS", "SpendEndpoints"]

AD_GROUP_FIELDS = tuple(AdGroup("0", "", "0", "", "CPC", ()).node("0", dt.date(2026, 1, 1)))
REPORT_METRICS = (
    "spend",
    "impressions",
    "clicks",
    "cpc",
    "cpm",
    "ctr",
    "currency",
    "campaign_id",
    "campaign_name",
    "adgroup_name",
)
_DIMENSIONS = ("adgroup_id", "stat_time_day")
_STATUSES = ("STATUS_ALL", "STATUS_NOT_DELETE", "STATUS_DELETE")
_MAX_DAYS_BY_DAY, _MAX_DAYS = 30, 365
_MAX_PAGE_SIZE = 1_000


class SpendEndpoints:
    """Spend reporting of the TikTok emulator; ``TikTokEmulator`` mixes it in."""

    _lock: threading.RLock
    _deliveries: dict[str, Delivery]
    _advertisers: set[str]
    _advertiser: Callable[[object], str]
    audiences: Callable[..., dict[str, str]]

    # -- test controls ------------------------------------------------------------------------

    def generate_spend(
        self,
        start: dt.date,
        end: dt.date,
        audience_ids: Iterable[str] | None = None,
        *,
        seed: int = 0,
        advertiser_id: str | None = None,
    ) -> list[ReportRow]:
        """Create the ad groups over the audiences (default: the advertiser's) and store, and
        return, deterministic daily rows from ``start`` to ``end`` (dates) inclusive."""
        with self._lock:
            advertiser = advertiser_id or min(self._advertisers)
            self._advertisers.add(advertiser)
            ids = (
                list(audience_ids) if audience_ids is not None else list(self.audiences(advertiser))
            )
            delivery = self._deliveries.setdefault(advertiser, Delivery())
            return delivery.generate(ids, advertiser, start, end, seed)

    def ad_groups(self, advertiser_id: str | None = None) -> list[AdGroup]:
        """The advertiser's ad groups, deleted ones included."""
        with self._lock:
            return list(self._delivery(advertiser_id).ad_groups)

    def report_rows(self, advertiser_id: str | None = None) -> list[ReportRow]:
        """The stored report rows, by day and ad group, deleted ad groups' included."""
        with self._lock:
            rows = self._delivery(advertiser_id).rows
            return [rows[key] for key in sorted(rows)]

    def delete_ad_group(self, ad_group_id: str, *, advertiser_id: str | None = None) -> None:
        """Delete an ad group, as Ads Manager does: listed and reported only with STATUS_ALL."""
        with self._lock:
            self._delivery(advertiser_id).delete(str(ad_group_id))

    def _delivery(self, advertiser_id: str | None) -> Delivery:
        return self._deliveries.get(advertiser_id or min(self._advertisers), Delivery())

    # -- endpoints ----------------------------------------------------------------------------

    def _adgroup_get(self, request: Request) -> Response:
        query = request.query
        fields = names(query.get("fields"), "fields", AD_GROUP_FIELDS)
        wanted = _ad_group_filter(json_value(query.get("filtering"), "filtering", dict) or {})
        page = bounded(query.get("page"), "page", 1, 1, 1_000_000)
        size = bounded(query.get("page_size"), "page_size", 10, 1, _MAX_PAGE_SIZE)
        with self._lock:
            advertiser = self._advertiser(query.get("advertiser_id"))
            delivery = self._deliveries.get(advertiser, Delivery())
            created = delivery.created or dt.date.today()
            nodes = [g.node(advertiser, created) for g in delivery.ad_groups if wanted(g)]
        if fields:
            nodes = [{name: node[name] for name in fields} for node in nodes]
        listed, page_info = paged(nodes, page, size)
        data = {"list": listed, "page_info": page_info}
        return envelope(OK, "OK", data, operation="adgroup_get", count=len(listed))

    def _report_get(self, request: Request) -> Response:
        report = _report_query(request.query)
        with self._lock:
            advertiser = self._advertiser(request.query.get("advertiser_id"))
            delivery = self._deliveries.get(advertiser, Delivery())
            rows = [row for row in delivery.rows.values() if report.wants(row)]
        listed, page_info = paged(report.lines(rows), report.page, report.page_size)
        data = {"list": listed, "page_info": page_info}
        return envelope(OK, "OK", data, operation="report", count=len(listed))


def _ad_group_filter(filtering: dict[str, Any]) -> Callable[[AdGroup], bool]:
    unknown = set(filtering) - {"adgroup_ids", "campaign_ids", "primary_status"}
    if unknown:
        raise TikTokError(INVALID_PARAMS, f"filtering: {sorted(unknown)[0]} is not supported.")
    ad_groups = set(id_list(filtering.get("adgroup_ids"), "adgroup_ids", required=False))
    campaigns = set(id_list(filtering.get("campaign_ids"), "campaign_ids", required=False))
    status = filtering.get("primary_status", "STATUS_NOT_DELETE")
    if status not in _STATUSES:
        raise TikTokError(INVALID_PARAMS, f"primary_status: Must be one of {', '.join(_STATUSES)}.")

    def wanted(group: AdGroup) -> bool:
        return (
            _status_matches(group, [status])
            and (not ad_groups or group.id in ad_groups)
            and (not campaigns or group.campaign_id in campaigns)
        )

    return wanted


def _status_matches(group: AdGroup, statuses: Iterable[str]) -> bool:
    accepted = set(statuses)
    if "STATUS_ALL" in accepted:
        return True
    return ("STATUS_DELETE" if group.deleted else "STATUS_NOT_DELETE") in accepted


@dataclass(frozen=True)
class _ReportQuery:
    daily: bool
    metrics: list[str]
    start: dt.date | None  # None: lifetime
    end: dt.date | None
    statuses: list[str]
    ad_group_ids: set[str]
    page: int
    page_size: int

    def wants(self, row: ReportRow) -> bool:
        in_window = self.start is None or self.end is None or self.start <= row.day <= self.end
        chosen = not self.ad_group_ids or row.ad_group.id in self.ad_group_ids
        return in_window and chosen and _status_matches(row.ad_group, self.statuses)

    def lines(self, rows: Iterable[ReportRow]) -> list[dict[str, Any]]:
        """The report's rows: one per ad group (and day), the metrics asked for as strings."""
        totals: dict[tuple[dt.date | None, str], list[Any]] = {}
        for row in rows:
            key = (row.day if self.daily else None, row.ad_group.id)
            total = totals.setdefault(key, [row.ad_group, 0, 0, 0, row.currency])
            total[1] += row.spend_cents
            total[2] += row.impressions
            total[3] += row.clicks
        lines = []
        for (day, ad_group_id), (group, cents, impressions, clicks, currency) in sorted(
            totals.items(), key=lambda item: (item[0][0] or dt.date.min, item[0][1])
        ):
            dimensions = {"adgroup_id": ad_group_id}
            if day is not None:
                dimensions["stat_time_day"] = f"{day.isoformat()} 00:00:00"
            values = _metrics(group, cents / 100, impressions, clicks, currency)
            lines.append(
                {"dimensions": dimensions, "metrics": {m: values[m] for m in self.metrics}}
            )
        return lines


def _metrics(
    group: AdGroup, spend: float, impressions: int, clicks: int, currency: str
) -> dict[str, str]:
    return {
        "spend": f"{spend:.2f}",
        "impressions": str(impressions),
        "clicks": str(clicks),
        "cpc": f"{spend / clicks:.2f}" if clicks else "0.00",
        "cpm": f"{spend * 1000 / impressions:.2f}" if impressions else "0.00",
        "ctr": f"{clicks * 100 / impressions:.2f}" if impressions else "0.00",
        "currency": currency,
        "campaign_id": group.campaign_id,
        "campaign_name": group.campaign_name,
        "adgroup_name": group.name,
    }


def _report_query(query: dict[str, str]) -> _ReportQuery:
    """A validated BASIC report request at ad group level; code 40002 otherwise."""
    _one_of(query.get("report_type"), "report_type", ("BASIC",), required=True)
    _one_of(query.get("service_type"), "service_type", ("AUCTION",), required=False)
    _one_of(query.get("data_level"), "data_level", ("AUCTION_ADGROUP",), required=True)
    dimensions = names(query.get("dimensions"), "dimensions", _DIMENSIONS)
    if "adgroup_id" not in dimensions:
        raise TikTokError(INVALID_PARAMS, "dimensions: adgroup_id is required at this level.")
    daily = "stat_time_day" in dimensions
    metrics = names(query.get("metrics"), "metrics", REPORT_METRICS) or ["spend", "impressions"]
    start = end = None
    if query.get("query_lifetime") == "true":
        if daily:
            raise TikTokError(INVALID_PARAMS, "query_lifetime: stat_time_day is not supported.")
    else:
        start, end = _date(query, "start_date"), _date(query, "end_date")
        if end < start:
            raise TikTokError(INVALID_PARAMS, "end_date: Must not be before start_date.")
        most = _MAX_DAYS_BY_DAY if daily else _MAX_DAYS
        if (end - start).days + 1 > most:
            raise TikTokError(
                INVALID_PARAMS, f"start_date, end_date: The time span cannot exceed {most} days."
            )
    statuses, ad_group_ids = ["STATUS_NOT_DELETE"], set()
    for condition in json_value(query.get("filtering"), "filtering", list) or []:
        field_name, values = _condition(condition)
        if field_name == "adgroup_status":
            statuses = [_one_of(v, "adgroup_status", _STATUSES, required=True) for v in values]
        else:
            ad_group_ids = set(id_list(values, "adgroup_ids"))
    return _ReportQuery(
        daily,
        metrics,
        start,
        end,
        statuses,
        ad_group_ids,
        bounded(query.get("page"), "page", 1, 1, 1_000_000),
        bounded(query.get("page_size"), "page_size", 10, 1, _MAX_PAGE_SIZE),
    )


def _condition(condition: object) -> tuple[str, list[Any]]:
    """One report filter: ``filter_type`` IN, its ``filter_value`` a JSON array as text."""
    if not isinstance(condition, dict) or set(condition) != {
        "field_name",
        "filter_type",
        "filter_value",
    }:
        raise TikTokError(
            INVALID_PARAMS, "filtering: Each condition has field_name, filter_type, filter_value."
        )
    field_name = condition["field_name"]
    if field_name not in ("adgroup_status", "adgroup_ids") or condition["filter_type"] != "IN":
        raise TikTokError(INVALID_PARAMS, f"filtering: {field_name!r} IN is not supported.")
    value = condition["filter_value"]
    values = json_value(value if isinstance(value, str) else None, "filter_value", list)
    if not values:
        raise TikTokError(INVALID_PARAMS, "filter_value: Must be a non-empty JSON array as text.")
    return field_name, values


def _one_of(raw: object, name: str, allowed: tuple[str, ...], *, required: bool) -> str:
    if raw is None or raw == "":
        if required:
            raise TikTokError(INVALID_PARAMS, f"{name}: This field is required.")
        return allowed[0]
    if raw not in allowed:
        raise TikTokError(INVALID_PARAMS, f"{name}: The emulator serves {', '.join(allowed)} only.")
    return str(raw)


def _date(query: dict[str, str], name: str) -> dt.date:
    raw = query.get(name)
    if not raw:
        raise TikTokError(INVALID_PARAMS, f"{name}: This field is required.")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise TikTokError(INVALID_PARAMS, f"{name}: Must be a date as YYYY-MM-DD.") from None
