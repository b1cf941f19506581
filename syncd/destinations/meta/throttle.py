"""Slowing down on Meta's own signals, before Meta has to throttle us.

Every Graph answer, success or error, carries ``x-business-use-case-usage`` (per business
and use case: ``call_count``, ``total_cputime``, ``total_time`` in percent of the budget, and
``estimated_time_to_regain_access`` in minutes) and ``x-ad-account-usage``
(``acc_id_util_pct``, ``reset_time_duration`` in seconds); ``x-app-usage`` has the app's
percentages, and Insights answers carry ``x-fb-ads-insights-throttle`` (``app_id_util_pct``,
``acc_id_util_pct``; "Insights API Limits & Best Practices",
https://developers.facebook.com/docs/marketing-api/insights/best-practices).
``parse_usage`` reads the most loaded of them; the client reports it to the ad account's
``syncd.pacing.Pacer``, which narrows the window of calls in flight to what the budget has
left and, once it is spent, holds every call until Meta says access comes back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Usage", "parse_usage"]


@dataclass(frozen=True)
class Usage:
    """The most loaded budget one answer reported, and when access comes back."""

    percent: float = 0.0
    regain_seconds: float = 0.0


def parse_usage(headers: Mapping[str, str] | None) -> Usage | None:
    """The usage an answer reports, or None when it carries no (readable) usage header."""
    if not headers:
        return None
    lowered = {str(name).lower(): value for name, value in headers.items()}
    percents: list[float] = []
    regain: list[float] = []  # Meta's estimate per use case, in seconds
    resets: list[float] = []  # the ad account's reset time, used when there is no estimate
    business = _json(lowered.get("x-business-use-case-usage"))
    if isinstance(business, dict):
        for entries in business.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    percents += _numbers(entry, "call_count", "total_cputime", "total_time")
                    regain += [60 * m for m in _numbers(entry, "estimated_time_to_regain_access")]
    account = _json(lowered.get("x-ad-account-usage"))
    if isinstance(account, dict):
        percents += _numbers(account, "acc_id_util_pct")
        resets += _numbers(account, "reset_time_duration")
    app = _json(lowered.get("x-app-usage"))
    if isinstance(app, dict):
        percents += _numbers(app, "call_count", "total_cputime", "total_time")
    insights = _json(lowered.get("x-fb-ads-insights-throttle"))
    if isinstance(insights, dict):
        percents += _numbers(insights, "app_id_util_pct", "acc_id_util_pct")
    if not percents and not regain and not resets:
        return None
    wait = max(regain, default=0.0) or max(resets, default=0.0)
    return Usage(max(percents, default=0.0), wait)


def _json(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _numbers(entry: dict[str, Any], *names: str) -> list[float]:
    found = []
    for name in names:
        value = entry.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            found.append(float(value))
    return found
