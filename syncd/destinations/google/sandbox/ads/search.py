"""``GoogleAdsService.Search`` and ``SearchStream``: GAQL over the emulator's resources.

The query is parsed, its fields checked against the resource's catalogue (``QueryError`` names
as the real API uses them), rows filtered, aggregated per resource and selected segments,
sorted, limited, then copied into the version's own ``GoogleAdsRow`` messages. As in the real
API, each resource touched by the selected fields also gets its ``resource_name`` filled, and
the response's ``field_mask`` lists the selected fields. Search pages hold 10,000 rows (the
fixed page size since v17; a ``page_size`` is refused) and SearchStream batches hold 10,000.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from syncd.destinations.google.sandbox.ads.errors import AdsError, ErrorDetail
from syncd.destinations.google.sandbox.ads.gaql import (
    Condition,
    GaqlError,
    Query,
    coerce,
    has_finite_range,
    matches,
    parse,
)
from syncd.destinations.google.sandbox.ads.protos import Protos, set_field
from syncd.destinations.google.sandbox.ads.resources import (
    RESOURCES,
    Resource,
    Row,
    derive_metrics,
    known_fields,
)
from syncd.destinations.google.sandbox.ads.state import Account

__all__ = ["PAGE_SIZE", "Result", "run_query", "search_pages", "stream_batches"]

#: Rows per Search page and per SearchStream message.
PAGE_SIZE = 10_000

_CLAUSE_ERRORS = {
    "select": "PROHIBITED_FIELD_IN_SELECT_CLAUSE",
    "where": "PROHIBITED_FIELD_IN_WHERE_CLAUSE",
    "order by": "PROHIBITED_FIELD_IN_ORDER_BY_CLAUSE",
}


@dataclass(frozen=True, slots=True)
class Result:
    """The rows a query selects, still as dicts, and the selected fields in query order."""

    fields: tuple[str, ...]
    rows: list[Row]


def _query_error(code: str, message: str) -> AdsError:
    return AdsError(ErrorDetail("query_error", code, message))


def _check_field(resource: Resource, name: str, clause: str) -> str:
    """Return the field's kind, or raise the error the API gives for it in that clause."""
    kind = resource.fields.get(name)
    if kind is not None:
        return kind
    if name in known_fields():
        raise _query_error(
            _CLAUSE_ERRORS[clause],
            f"Cannot use field {name} in the {clause.upper()} clause of a query "
            f"FROM {resource.name}.",
        )
    raise _query_error("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: '{name}'.")


def _validate(query: Query, today: dt.date) -> tuple[Resource, list[Condition]]:
    resource = RESOURCES.get(query.resource)
    if resource is None:
        raise _query_error(
            "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE",
            f"Invalid resource in the FROM clause: '{query.resource}' (the sandbox serves "
            f"{', '.join(sorted(RESOURCES))}).",
        )
    for name in query.fields:
        _check_field(resource, name, "select")
    for ordering in query.order_by:
        _check_field(resource, ordering.field, "order by")
    conditions = [
        coerce(condition, _check_field(resource, condition.field, "where"), today)
        for condition in query.conditions
    ]
    if "segments.date" in query.fields and not has_finite_range(query.conditions, "segments.date"):
        raise _query_error(
            "EXPECTED_FILTERS_ON_DATE_RANGE",
            "segments.date in the SELECT clause needs a finite date range in the WHERE clause.",
        )
    return resource, conditions


def _aggregate(rows: list[Row], resource: Resource, fields: Sequence[str]) -> list[Row]:
    """One row per resource and selected segment values, metrics summed, averages derived."""
    segments = [name for name in fields if name.startswith("segments.")]
    identity = f"{resource.name}.resource_name"
    groups: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        key = (row[identity], *(row.get(name) for name in segments))
        group = groups.get(key)
        if group is None:
            groups[key] = dict(row)
            continue
        for metric in resource.metrics:
            group[metric] = group.get(metric, 0) + row.get(metric, 0)
    return [derive_metrics(group) for group in groups.values()]


def _sort_key(value: Any) -> tuple[Any, ...]:
    return (0,) if value is None else (1, value)


def run_query(account: Account, text: str, *, match_rate: int, today: dt.date) -> Result:
    """Evaluate a GAQL query against one account; raises ``AdsError`` with a QueryError."""
    try:
        query = parse(text)
        resource, conditions = _validate(query, today)
    except GaqlError as error:
        raise _query_error(error.code, error.message) from None
    except ValueError as error:  # a bad DURING constant and the like
        raise _query_error("BAD_VALUE", str(error)) from None
    before = [c for c in conditions if not c.field.startswith("metrics.")]
    after = [c for c in conditions if c.field.startswith("metrics.")]
    rows = [
        row
        for row in resource.rows(account, match_rate)
        if all(matches(c, row.get(c.field)) for c in before)
    ]
    if resource.metrics:
        rows = _aggregate(rows, resource, query.fields)
    rows = [row for row in rows if all(matches(c, row.get(c.field)) for c in after)]
    for ordering in reversed(query.order_by):
        rows.sort(key=lambda row: _sort_key(row.get(ordering.field)), reverse=ordering.descending)
    if query.limit is not None:
        rows = rows[: query.limit]
    return Result(query.fields, rows)


def _to_message(messages: Protos, fields: Sequence[str], row: Row) -> Any:
    message = messages.row()
    names = list(fields)
    for prefix in {name.split(".")[0] for name in fields}:
        if f"{prefix}.resource_name" in row:
            names.append(f"{prefix}.resource_name")
    for name in names:
        value = row.get(name)
        if value is not None:
            set_field(message, name, value)
    return message


def _page_token(customer_id: str, query: str, offset: int) -> str:
    digest = hashlib.sha256(f"{customer_id}\n{query}".encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(f"{digest}:{offset}".encode()).decode()


def _page_offset(customer_id: str, query: str, token: str) -> int:
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode().rpartition(":")[2])
    except ValueError:
        offset = -1
    if offset < 0 or _page_token(customer_id, query, offset) != token:
        raise AdsError(
            ErrorDetail("request_error", "INVALID_PAGE_TOKEN", "Page token is not valid.")
        )
    return offset


def search_pages(
    messages: Protos, account: Account, request: Any, *, match_rate: int, today: dt.date
) -> tuple[Any, int]:
    """Answer one ``Search`` request: a page of rows; returns the response and its row count."""
    if request.page_size:
        raise AdsError(
            ErrorDetail(
                "request_error",
                "PAGE_SIZE_NOT_SUPPORTED",
                "Setting the page size is not supported: pages hold 10,000 rows.",
                (("page_size", None),),
            )
        )
    offset = (
        _page_offset(account.customer_id, request.query, request.page_token)
        if (request.page_token)
        else 0
    )
    result = run_query(account, request.query, match_rate=match_rate, today=today)
    response: Any = messages.search_response()
    if request.validate_only:
        return response, 0
    page = result.rows[offset : offset + PAGE_SIZE]
    response.results.extend(_to_message(messages, result.fields, row) for row in page)
    response.field_mask.paths.extend(result.fields)
    if offset + PAGE_SIZE < len(result.rows):
        response.next_page_token = _page_token(
            account.customer_id, request.query, offset + PAGE_SIZE
        )
    if request.search_settings.return_total_results_count:
        response.total_results_count = len(result.rows)
    return response, len(page)


def stream_batches(
    messages: Protos,
    account: Account,
    request: Any,
    request_id: str,
    *,
    match_rate: int,
    today: dt.date,
) -> list[Any]:
    """Answer one ``SearchStream`` request: every row, in messages of up to 10,000."""
    result = run_query(account, request.query, match_rate=match_rate, today=today)
    batches = []
    for start in range(0, max(len(result.rows), 1), PAGE_SIZE):
        batch: Any = messages.stream_response()
        batch.results.extend(
            _to_message(messages, result.fields, row)
            for row in result.rows[start : start + PAGE_SIZE]
        )
        batch.field_mask.paths.extend(result.fields)
        batch.request_id = request_id
        batches.append(batch)
    return batches
