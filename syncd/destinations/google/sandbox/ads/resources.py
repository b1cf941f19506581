"""The GAQL resources the emulator serves, their selectable fields, and their rows.

Each resource turns an ``Account`` into rows: plain dicts from GAQL field name to a Python
value (enum values by name, dates as ISO strings). The search module filters, aggregates and
sorts those dicts, then copies the selected fields into ``GoogleAdsRow`` messages. A field in
no catalogue here is unknown to the emulator and answered with ``UNRECOGNIZED_FIELD``.

Field kinds (``int``, ``float``, ``str``, ``enum``, ``date``, ``bool``) say how GAQL literals
compare with a field. ``metrics.*`` of the audience views are summed over the rows of one view
(and one value of each selected segment); averages are derived from the sums, as the real API
computes them: ``average_cpc = cost / clicks``, ``average_cpm = cost / impressions * 1000``,
both in micros.

``campaign_audience_view`` holds only lists attached at campaign level, one view per campaign
and criterion (``customers/{cid}/campaignAudienceViews/{campaign_id}~{criterion_id}``); its
attributed resources are campaign, campaign_criterion and customer, so ``ad_group.*`` is not
selectable with it (https://developers.google.com/google-ads/api/fields/v20/
campaign_audience_view; the resource in google-ads, resources/types/campaign_audience_view.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from syncd.destinations.google.sandbox.ads.state import Account, SpendRow, is_matched

__all__ = ["RESOURCES", "Resource", "Row", "derive_metrics", "known_fields"]

Row = dict[str, Any]

_CUSTOMER = {"customer.id": "int", "customer.resource_name": "str", "customer.currency_code": "str"}


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource of the FROM clause: its fields by kind and how to list its rows."""

    name: str
    fields: Mapping[str, str]
    rows: Callable[[Account, int], list[Row]]
    #: Summed when rows of one resource (and segment values) are aggregated; empty = no metrics.
    metrics: frozenset[str] = frozenset()


def _customer(account: Account) -> Row:
    return {
        "customer.id": int(account.customer_id),
        "customer.resource_name": f"customers/{account.customer_id}",
        "customer.currency_code": account.currency_code,
    }


def _user_list_rows(account: Account, match_rate: int) -> list[Row]:
    rows = []
    for user_list in account.user_lists.values():
        uploaded = len(user_list.members)
        matched = sum(1 for member in user_list.members if is_matched(member, match_rate))
        rows.append(
            {
                **_customer(account),
                "user_list.resource_name": account.user_list_name(user_list.id),
                "user_list.id": user_list.id,
                "user_list.name": user_list.name,
                "user_list.description": user_list.description,
                "user_list.type": "CRM_BASED",
                "user_list.membership_status": "OPEN",
                "user_list.membership_life_span": user_list.membership_life_span,
                "user_list.size_for_display": matched,
                "user_list.size_for_search": matched,
                # Google leaves the match rate unset until something was uploaded.
                "user_list.match_rate_percentage": (
                    round(100 * matched / uploaded) if uploaded else None
                ),
                "user_list.crm_based_user_list.upload_key_type": user_list.upload_key_type,
                "user_list.crm_based_user_list.data_source_type": user_list.data_source_type,
            }
        )
    return rows


def _job_rows(account: Account, match_rate: int) -> list[Row]:
    return [
        {
            **_customer(account),
            "offline_user_data_job.resource_name": account.job_name(job.id),
            "offline_user_data_job.id": job.id,
            "offline_user_data_job.type": "CUSTOMER_MATCH_USER_LIST",
            "offline_user_data_job.status": job.status,
            "offline_user_data_job.failure_reason": job.failure_reason,
            "offline_user_data_job.customer_match_user_list_metadata.user_list": (
                account.user_list_name(job.user_list_id)
            ),
        }
        for job in account.jobs.values()
    ]


def _campaign_fields(account: Account, row: SpendRow) -> Row:
    """The customer, date, campaign and metrics of a spend row: what both views share."""
    return {
        **_customer(account),
        "segments.date": row.date.isoformat(),
        "campaign.resource_name": f"customers/{account.customer_id}/campaigns/{row.campaign_id}",
        "campaign.id": row.campaign_id,
        "campaign.name": row.campaign_name,
        "campaign.bidding_strategy_type": row.bidding_strategy_type,
        "campaign.advertising_channel_type": row.advertising_channel_type,
        "metrics.impressions": row.impressions,
        "metrics.clicks": row.clicks,
        "metrics.cost_micros": row.cost_micros,
    }


def _spend_rows(account: Account, *, campaign_level: bool) -> list[SpendRow]:
    rows = [r for r in account.spend.values() if (r.ad_group_id is None) == campaign_level]
    return sorted(rows, key=lambda r: r.key)


def _campaign_audience_view_rows(account: Account, match_rate: int) -> list[Row]:
    cid = account.customer_id
    return [
        {
            **_campaign_fields(account, row),
            "campaign_audience_view.resource_name": (
                f"customers/{cid}/campaignAudienceViews/{row.campaign_id}~{row.criterion_id}"
            ),
            "campaign_criterion.resource_name": (
                f"customers/{cid}/campaignCriteria/{row.campaign_id}~{row.criterion_id}"
            ),
            "campaign_criterion.criterion_id": row.criterion_id,
            "campaign_criterion.user_list.user_list": account.user_list_name(row.user_list_id),
        }
        for row in _spend_rows(account, campaign_level=True)
    ]


def _audience_view_rows(account: Account, match_rate: int) -> list[Row]:
    cid = account.customer_id
    return [
        {
            **_campaign_fields(account, row),
            "ad_group_audience_view.resource_name": (
                f"customers/{cid}/adGroupAudienceViews/{row.ad_group_id}~{row.criterion_id}"
            ),
            "ad_group.resource_name": f"customers/{cid}/adGroups/{row.ad_group_id}",
            "ad_group.id": row.ad_group_id,
            "ad_group.name": row.ad_group_name,
            "ad_group_criterion.resource_name": (
                f"customers/{cid}/adGroupCriteria/{row.ad_group_id}~{row.criterion_id}"
            ),
            "ad_group_criterion.criterion_id": row.criterion_id,
            "ad_group_criterion.user_list.user_list": account.user_list_name(row.user_list_id),
        }
        for row in _spend_rows(account, campaign_level=False)
    ]


def derive_metrics(row: Row) -> Row:
    """Add the averages and CTR computed from summed impressions, clicks and cost."""
    impressions, clicks = row.get("metrics.impressions", 0), row.get("metrics.clicks", 0)
    cost = row.get("metrics.cost_micros", 0)
    row["metrics.average_cpc"] = cost / clicks if clicks else None
    row["metrics.average_cpm"] = cost * 1000 / impressions if impressions else None
    row["metrics.ctr"] = clicks / impressions if impressions else None
    return row


_METRICS = {
    "metrics.impressions": "int",
    "metrics.clicks": "int",
    "metrics.cost_micros": "int",
    "metrics.average_cpc": "float",
    "metrics.average_cpm": "float",
    "metrics.ctr": "float",
}
_SUMMED = frozenset({"metrics.impressions", "metrics.clicks", "metrics.cost_micros"})
_CAMPAIGN = {
    "segments.date": "date",
    "campaign.resource_name": "str",
    "campaign.id": "int",
    "campaign.name": "str",
    "campaign.bidding_strategy_type": "enum",
    "campaign.advertising_channel_type": "enum",
}

RESOURCES: Mapping[str, Resource] = {
    "user_list": Resource(
        "user_list",
        {
            **_CUSTOMER,
            "user_list.resource_name": "str",
            "user_list.id": "int",
            "user_list.name": "str",
            "user_list.description": "str",
            "user_list.type": "enum",
            "user_list.membership_status": "enum",
            "user_list.membership_life_span": "int",
            "user_list.size_for_display": "int",
            "user_list.size_for_search": "int",
            "user_list.match_rate_percentage": "int",
            "user_list.crm_based_user_list.upload_key_type": "enum",
            "user_list.crm_based_user_list.data_source_type": "enum",
        },
        _user_list_rows,
    ),
    "offline_user_data_job": Resource(
        "offline_user_data_job",
        {
            **_CUSTOMER,
            "offline_user_data_job.resource_name": "str",
            "offline_user_data_job.id": "int",
            "offline_user_data_job.type": "enum",
            "offline_user_data_job.status": "enum",
            "offline_user_data_job.failure_reason": "enum",
            "offline_user_data_job.customer_match_user_list_metadata.user_list": "str",
        },
        _job_rows,
    ),
    "ad_group_audience_view": Resource(
        "ad_group_audience_view",
        {
            **_CUSTOMER,
            **_CAMPAIGN,
            "ad_group_audience_view.resource_name": "str",
            "ad_group.resource_name": "str",
            "ad_group.id": "int",
            "ad_group.name": "str",
            "ad_group_criterion.resource_name": "str",
            "ad_group_criterion.criterion_id": "int",
            "ad_group_criterion.user_list.user_list": "str",
            **_METRICS,
        },
        _audience_view_rows,
        _SUMMED,
    ),
    "campaign_audience_view": Resource(
        "campaign_audience_view",
        {
            **_CUSTOMER,
            **_CAMPAIGN,
            "campaign_audience_view.resource_name": "str",
            "campaign_criterion.resource_name": "str",
            "campaign_criterion.criterion_id": "int",
            "campaign_criterion.user_list.user_list": "str",
            **_METRICS,
        },
        _campaign_audience_view_rows,
        _SUMMED,
    ),
}


def known_fields() -> frozenset[str]:
    """Every field of every resource: a field outside this set is unrecognized."""
    return frozenset(name for resource in RESOURCES.values() for name in resource.fields)
