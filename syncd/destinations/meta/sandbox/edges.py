"""Reads of the emulator's objects as Graph renders them: field selection, filtering and
cursor paging for the ad account edges (customaudiences, adsets, insights).

Paging is Graph's: ``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"}}``
with ``next`` only when there is a next page (the SDK's Cursor follows ``cursors.after``
while ``next`` is present). Unlike Graph, ``next`` carries no access token.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from syncd.destinations.meta.sandbox.errors import GraphError
from syncd.destinations.meta.sandbox.payload import NAME, parse_json_param
from syncd.destinations.meta.sandbox.spend import InsightRow

__all__ = [
    "AD_SET_FIELDS",
    "AUDIENCE_FIELDS",
    "INSIGHT_FIELDS",
    "filter_audiences",
    "insight_rows",
    "page",
    "select",
]

AUDIENCE_FIELDS = frozenset(
    {
        "id",
        "account_id",
        "name",
        "description",
        "subtype",
        "customer_file_source",
        "approximate_count_lower_bound",
        "approximate_count_upper_bound",
        "operation_status",
        "delivery_status",
        "time_created",
        "fields_violating_integrity_policy",
    }
)
AD_SET_FIELDS = frozenset(
    {
        "id",
        "name",
        "campaign_id",
        "billing_event",
        "optimization_goal",
        "status",
        "effective_status",
        "targeting",
    }
)
INSIGHT_FIELDS = frozenset(
    {
        "adset_id",
        "adset_name",
        "campaign_id",
        "campaign_name",
        "spend",
        "impressions",
        "clicks",
        "cpc",
        "cpm",
        "date_start",
        "date_stop",
        "account_currency",
    }
)
_DEFAULT_LIMIT = 25
_MAX_LIMIT = 5_000
_FILTER_FIELDS = frozenset({"id", "name", "subtype", "description", "customer_file_source"})


def select(
    node: dict[str, Any], fields: str | None, allowed: frozenset[str], node_type: str
) -> dict[str, Any]:
    """The node with only the requested fields (and ``id``, all Graph answers without
    ``fields``); unknown fields are code 100."""
    wanted = [name.strip() for name in (fields or "id").split(",") if name.strip()]
    for name in wanted:
        if name not in allowed:
            shown = f" ({name})" if NAME.fullmatch(name) else ""
            raise GraphError(
                f"(#100) Tried accessing nonexisting field{shown} on node type ({node_type})"
            )
    keys = ("id", *wanted) if "id" in node else tuple(wanted)
    return {key: node[key] for key in dict.fromkeys(keys) if key in node}


def page(
    items: Sequence[dict[str, Any]],
    params: dict[str, str],
    url: str,
    *,
    summary: bool = False,
) -> dict[str, Any]:
    """One page of ``items`` after the ``after`` cursor, at most ``limit`` long."""
    try:
        limit = int(params.get("limit", _DEFAULT_LIMIT))
    except ValueError:
        raise GraphError("(#100) param limit must be an integer") from None
    limit = min(max(limit, 1), _MAX_LIMIT)
    start = _offset(params.get("after"))
    chunk = list(items[start : start + limit])
    body: dict[str, Any] = {"data": chunk}
    if chunk:
        cursors = {"before": _cursor(start), "after": _cursor(start + len(chunk))}
        body["paging"] = {"cursors": cursors}
        if start + len(chunk) < len(items):
            query = {k: v for k, v in params.items() if k not in ("access_token", "after")}
            query["after"] = cursors["after"]
            body["paging"]["next"] = f"{url}?{urlencode(query)}"
    if summary and params.get("summary", "").lower() in ("true", "1"):
        body["summary"] = {"total_count": len(items)}
    return body


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "offset" and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise GraphError("(#100) Invalid cursor in param after")


def filter_audiences(
    nodes: Iterable[dict[str, Any]], params: dict[str, str]
) -> list[dict[str, Any]]:
    """Apply Graph's ``filtering=[{"field", "operator", "value"}]`` to audience nodes."""
    if "filtering" not in params:
        return list(nodes)
    rules = parse_json_param(params, "filtering")
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        raise GraphError("(#100) param filtering must be an array of objects")
    tests = [_filter_test(rule) for rule in rules]
    return [node for node in nodes if all(test(node) for test in tests)]


def _filter_test(rule: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    name, operator, value = rule.get("field"), rule.get("operator"), rule.get("value")
    if name not in _FILTER_FIELDS:
        shown = f" {name}" if isinstance(name, str) and NAME.fullmatch(name) else ""
        raise GraphError(f"(#100) Filtering field{shown} is invalid")

    def text(node: dict[str, Any]) -> str:
        return str(node.get(str(name), ""))

    if operator == "EQUAL":
        return lambda node: text(node) == str(value)
    if operator == "NOT_EQUAL":
        return lambda node: text(node) != str(value)
    if operator == "CONTAIN":
        return lambda node: str(value).lower() in text(node).lower()
    if operator == "NOT_CONTAIN":
        return lambda node: str(value).lower() not in text(node).lower()
    if operator in ("IN", "NOT_IN") and isinstance(value, list):
        values = {str(item) for item in value}
        return lambda node: (text(node) in values) == (operator == "IN")
    raise GraphError("(#100) Filtering operator is invalid for this field")


def insight_rows(rows: Iterable[InsightRow], params: dict[str, str]) -> list[dict[str, Any]]:
    """``level=adset&time_increment=1`` rows of the ``time_range``, with the asked fields."""
    if params.get("level", "adset") != "adset":
        raise GraphError("(#100) The sandbox serves Insights at level=adset only")
    if params.get("time_increment", "1") != "1":
        raise GraphError("(#100) The sandbox serves Insights with time_increment=1 only")
    since, until = _time_range(params)
    fields = params.get("fields") or "spend,impressions,date_start,date_stop"
    wanted = [name.strip() for name in fields.split(",") if name.strip()]
    for name in wanted:
        if name not in INSIGHT_FIELDS:
            shown = f" {name}" if NAME.fullmatch(name) else ""
            raise GraphError(f"(#100){shown} is not valid for fields param")
    chosen = sorted(
        (row for row in rows if since <= row.day <= until), key=lambda row: (row.day, row.key)
    )
    rendered = []
    for row in chosen:
        full = row.render()
        rendered.append({name: full[name] for name in wanted if name in full})
    return rendered


def _time_range(params: dict[str, str]) -> tuple[dt.date, dt.date]:
    if "time_range" not in params:
        return dt.date.min, dt.date.max
    raw = parse_json_param(params, "time_range")
    try:
        since = dt.date.fromisoformat(raw["since"])
        until = dt.date.fromisoformat(raw["until"])
    except (TypeError, KeyError, ValueError):
        raise GraphError(
            '(#100) param time_range must be {"since":"YYYY-MM-DD","until":"YYYY-MM-DD"}'
        ) from None
    if until < since:
        raise GraphError("(#100) time_range.until is before time_range.since")
    return since, until
