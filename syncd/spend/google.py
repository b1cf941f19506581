"""Google spend per audience: GAQL on both audience views through SearchStream.

A user list is targeted at ad group level (an ad group criterion: ``ad_group_audience_view``,
one row per day, ad group and list) or at campaign level (a campaign criterion:
``campaign_audience_view``, one row per day, campaign and list; "this view only includes
audiences attached at the campaign level":
https://developers.google.com/google-ads/api/fields/v20/campaign_audience_view). Both are
pulled. Every row belongs to one list entirely (share 1): allocation "criterion" for ad group
rows, "campaign_criterion" for campaign rows, which have no ad group (``ad_set_id`` "").

No click is counted twice: each click is delivered through one criterion, and the two views
report disjoint criteria. Google refuses criteria of one type on a campaign and its ad groups
at once (CriterionError CANNOT_ATTACH_CRITERIA_AT_CAMPAIGN_AND_ADGROUP, "Criteria type cannot
be associated with a campaign and its ad group(s) simultaneously": google-ads,
google/ads/googleads/v25/errors/types/criterion_error.py), so on any day a campaign's lists
are in one view or the other; rows of both views for one campaign and day can only be
delivery before and after the lists moved level, and both count. Ad group rows without an ad
group criterion on a list (other audiences) are skipped, as are lists syncd does not manage.

The billing model comes from the campaign's bidding strategy: CPM and CPV strategies buy
impressions or views, every other one buys clicks.

The pull works for both Google destinations: a ``google_ads`` destination is itself a Google
Ads API connection on ``customer_id``; a ``google_data_manager`` destination pulls through its
``reporting`` connection on ``operating_account_id`` (the Data Manager API has no reports).
Each SearchStream runs under the destination's ``timeout_seconds`` (the whole stream), and a
stream cut at it is retried like any transient failure.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from syncd.config.models import (
    Audience,
    GoogleAdsConnection,
    GoogleAdsDestination,
    GoogleDataManagerDestination,
)
from syncd.destinations.base import DestinationError, ErrorClass
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.spend.table import CPC, CPM, SPEND_SCHEMA, Pulled, SpendNotConfigured, cpc, cpm

if TYPE_CHECKING:
    from google.ads.googleads.client import GoogleAdsClient

__all__ = ["CPM_STRATEGIES", "SpendNotConfigured", "billing_model", "pull_google"]

#: Bidding strategies that buy impressions (CPM) or video views (CPV): not paid per click.
CPM_STRATEGIES = frozenset({"TARGET_CPM", "MANUAL_CPM", "FIXED_CPM", "TARGET_CPV", "MANUAL_CPV"})
_CAMPAIGN_FIELDS = (
    "segments.date",
    "customer.currency_code",
    "campaign.id",
    "campaign.name",
    "campaign.bidding_strategy_type",
    "campaign.advertising_channel_type",
)
_METRICS = ("metrics.impressions", "metrics.clicks", "metrics.cost_micros")
#: view -> the fields read from it (campaign_audience_view has no ad group to select).
_VIEWS = {
    "ad_group_audience_view": (
        *_CAMPAIGN_FIELDS,
        "ad_group.id",
        "ad_group.name",
        "ad_group_criterion.user_list.user_list",
        *_METRICS,
    ),
    "campaign_audience_view": (
        *_CAMPAIGN_FIELDS,
        "campaign_criterion.user_list.user_list",
        *_METRICS,
    ),
}
_MICROS = 1_000_000


def billing_model(bidding_strategy_type: str) -> str:
    """CPM for strategies that buy impressions or views, CPC for the rest."""
    return CPM if bidding_strategy_type in CPM_STRATEGIES else CPC


def pull_google(
    destination: GoogleAdsDestination | GoogleDataManagerDestination,
    audiences: Sequence[Audience],
    since: dt.date,
    until: dt.date,
    *,
    pulled_at: dt.datetime,
    retry_policy: RetryPolicy,
    sleep: Callable[[float], object] = time.sleep,
) -> Pulled:
    """Spend rows (SPEND_SCHEMA) of the managed ``audiences`` from ``since`` to ``until``.
    Raises ``SpendNotConfigured`` for a Data Manager destination without ``reporting``, and
    ``DestinationError`` when Google refuses."""
    connection, customer_id = _connection(destination)
    from syncd.destinations.google.ads_connection import build_client

    client = build_client(connection)
    service = client.get_service("GoogleAdsService")
    notes: list[str] = []
    try:
        search = functools.partial(
            _search,
            client,
            service,
            customer_id,
            destination.timeout_seconds,
            retry_policy,
            sleep,
        )
        segments = _segments_by_list(search, audiences, notes)
        if not segments:
            return Pulled(SPEND_SCHEMA.empty_table(), (), tuple(notes))
        dates = f"segments.date BETWEEN '{since.isoformat()}' AND '{until.isoformat()}'"
        rows = {
            view: search(f"SELECT {', '.join(fields)} FROM {view} WHERE {dates}", view)
            for view, fields in _VIEWS.items()
        }
    finally:
        service.transport.close()
    records = [
        record
        for view, view_rows in rows.items()
        for record in _records(
            view_rows, view == "campaign_audience_view", customer_id, segments, pulled_at
        ).values()
    ]
    return Pulled(_table(records), tuple(sorted(segments)), tuple(notes))


def _connection(
    destination: GoogleAdsDestination | GoogleDataManagerDestination,
) -> tuple[GoogleAdsConnection, str]:
    if isinstance(destination, GoogleAdsDestination):
        return destination, destination.customer_id
    reporting = destination.reporting
    if reporting is None:
        raise SpendNotConfigured(
            "no `reporting` block (a Google Ads API connection), so its spend is not pulled; "
            "the Data Manager API uploads lists but has no reports"
        )
    if reporting.login_customer_id is None and destination.login_account_id is not None:
        reporting = reporting.model_copy(update={"login_customer_id": destination.login_account_id})
    return reporting, destination.operating_account_id


def _segments_by_list(
    search: Callable[[str, str], list[Any]], audiences: Sequence[Audience], notes: list[str]
) -> dict[str, str]:
    """User list id -> segment, for the audiences given by id and those given by name
    (found with one GAQL query on ``user_list``, which reads and never creates)."""
    segments = {a.audience_id: a.segment for a in audiences if a.audience_id is not None}
    named = {a.audience_name: a for a in audiences if a.audience_name is not None}
    if named:
        rows = search("SELECT user_list.id, user_list.name FROM user_list", "user list names")
        ids = {row.user_list.name: str(row.user_list.id) for row in rows}
        for name, audience in sorted(named.items()):
            if name in ids:
                segments[ids[name]] = audience.segment
            else:
                notes.append(
                    f"{audience.name}: no user list named {name!r} (the first sync creates "
                    "it); skipped"
                )
    return segments


def _search(
    client: GoogleAdsClient,
    service: Any,
    customer_id: str,
    timeout: float,
    retry_policy: RetryPolicy,
    sleep: Callable[[float], object],
    query: str,
    what: str,
) -> list[Any]:
    subject = f"Google Ads customer {customer_id} {what}"

    def stream() -> list[Any]:
        try:
            return [
                row
                for batch in service.search_stream(
                    customer_id=customer_id, query=query, timeout=timeout
                )
                for row in batch.results
            ]
        except Exception as error:
            raise _classified(error, client, subject) from None

    return call_with_retries(stream, retry_policy, subject, sleep=sleep)


def _classified(error: Exception, client: GoogleAdsClient, subject: str) -> Exception:
    from syncd.destinations.google.ads_errors import classify_ads_error, is_ads_api_error

    if is_ads_api_error(error):
        return classify_ads_error(error, client, subject)
    if isinstance(error, OSError):
        return DestinationError(ErrorClass.RETRY, f"{subject}: {type(error).__name__}")
    return error


_Key = tuple[str, str, str, str]  # (date, campaign id, ad group id or "", list id)


def _records(
    rows: Iterable[Any],
    at_campaign: bool,
    customer_id: str,
    segments: dict[str, str],
    pulled_at: dt.datetime,
) -> dict[_Key, dict[str, Any]]:
    """One record per day, campaign, ad group (none ``at_campaign``) and managed list, from
    one view's rows (summed should Google ever split one criterion's day in two)."""
    totals: dict[_Key, dict[str, Any]] = {}
    prefix = f"customers/{customer_id}/userLists/"
    for row in rows:
        criterion = row.campaign_criterion if at_campaign else row.ad_group_criterion
        user_list = criterion.user_list.user_list
        list_id = user_list.removeprefix(prefix)
        if not user_list.startswith(prefix) or list_id not in segments:
            continue  # another kind of audience, or a list syncd does not manage: not stored
        ad_set_id = "" if at_campaign else str(row.ad_group.id)
        key = (row.segments.date, str(row.campaign.id), ad_set_id, list_id)
        found = totals.get(key)
        if found is None:
            totals[key] = {
                "date": dt.date.fromisoformat(row.segments.date),
                "network": "google",
                "account_id": customer_id,
                "campaign_id": str(row.campaign.id),
                "campaign_name": row.campaign.name,
                "ad_set_id": ad_set_id,
                "ad_set_name": None if at_campaign else row.ad_group.name,
                "audience_id": list_id,
                "segment": segments[list_id],
                "impressions": int(row.metrics.impressions),
                "clicks": int(row.metrics.clicks),
                "cost_micros": int(row.metrics.cost_micros),
                "currency": row.customer.currency_code or None,
                "billing_model": billing_model(row.campaign.bidding_strategy_type.name),
                "share": 1.0,
                "allocation": "campaign_criterion" if at_campaign else "criterion",
                "pulled_at": pulled_at,
            }
        else:
            found["impressions"] += int(row.metrics.impressions)
            found["clicks"] += int(row.metrics.clicks)
            found["cost_micros"] += int(row.metrics.cost_micros)
    return totals


def _table(records: Iterable[dict[str, Any]]) -> pa.Table:
    rows = []
    for record in records:
        row = dict(record)
        cost = row.pop("cost_micros") / _MICROS
        row["cost"] = cost
        row["cpc"] = cpc(cost, row["clicks"])
        row["cpm"] = cpm(cost, row["impressions"])
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=SPEND_SCHEMA)
