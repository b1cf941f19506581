"""Members of a Google Ads upload: a batch's rows as the identifiers of ``UserData``
operations of an OfflineUserDataJob, those operations cut into requests, and the ones a
request's partial failure refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from syncd.destinations.google.ads_errors import error_codes

__all__ = ["MAX_IDENTIFIERS_PER_REQUEST", "fill_user_data", "refused_operations", "request_chunks"]

#: Identifiers per AddOfflineUserDataJobOperations request (the API allows 100,000).
MAX_IDENTIFIERS_PER_REQUEST = 10_000


def fill_user_data(user_data: Any, row: dict[str, str | None], key_type: str) -> bool:
    """Put a row's identifiers for a list of ``key_type`` into a raw ``UserData``."""
    if key_type == "CRM_ID":
        if row.get("external_id"):
            user_data.user_identifiers.add().third_party_user_id = row["external_id"]
    elif key_type == "MOBILE_ADVERTISING_ID":
        if row.get("madid"):
            user_data.user_identifiers.add().mobile_id = row["madid"]
    else:
        if row.get("email"):
            user_data.user_identifiers.add().hashed_email = row["email"]
        if row.get("phone"):
            user_data.user_identifiers.add().hashed_phone_number = row["phone"]
        address = [row.get(k) for k in ("first_name", "last_name", "country", "zip")]
        if all(address):
            info = user_data.user_identifiers.add().address_info
            info.hashed_first_name, info.hashed_last_name = address[0], address[1]
            info.country_code, info.postal_code = address[2], address[3]
    return len(user_data.user_identifiers) > 0


def request_chunks(operations: list[tuple[int, Any]]) -> Iterator[list[tuple[int, Any]]]:
    """Operations in requests of at most MAX_IDENTIFIERS_PER_REQUEST identifiers."""
    chunk: list[tuple[int, Any]] = []
    identifiers = 0
    for item in operations:
        count = len(item[1].create.user_identifiers) + len(item[1].remove.user_identifiers)
        if chunk and identifiers + count > MAX_IDENTIFIERS_PER_REQUEST:
            yield chunk
            chunk, identifiers = [], 0
        chunk.append(item)
        identifiers += count
    if chunk:
        yield chunk


def refused_operations(response: Any, client: Any) -> Iterator[tuple[int, str]]:
    """(operation index in its request, error code) of each operation the partial failure
    of an ``AddOfflineUserDataJobOperations`` response refused."""
    status = response.partial_failure_error
    if not status.code:
        return
    failure_type = type(client.get_type("GoogleAdsFailure"))
    for detail in status.details:
        failure = failure_type.deserialize(detail.value)
        for error, (_, code) in zip(failure.errors, error_codes(failure), strict=True):
            path = error.location.field_path_elements
            if path and path[0].field_name == "operations":
                yield int(path[0].index), code
