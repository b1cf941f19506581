"""What ``requestStatus:retrieve`` answers for each request the emulator accepted.

Ingestion is asynchronous on Google's side: changes apply at once here, but a request reads
``PROCESSING`` for its first polls, then its final status per destination, with the counts
and the refusals (denied consent, failed processing) a client only learns by polling.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from syncd.destinations.google.sandbox.data_manager.errors import ApiError, not_found
from syncd.destinations.google.sandbox.data_manager.members import Parsed

__all__ = ["DENIED", "INTERNAL", "RequestStatuses", "destination_status", "match_rate_range"]

#: ``ProcessingErrorReason`` values (google.ads.datamanager_v1.types.processing_errors).
DENIED = "PROCESSING_ERROR_REASON_DENIED_CONSENT"
INTERNAL = "PROCESSING_ERROR_REASON_INTERNAL_ERROR"
_MATCH_RANGES = ((20, "LESS_THAN_20"), (30, "20_TO_30"), (40, "31_TO_40"), (50, "41_TO_50"))
_MATCH_RANGES += ((60, "51_TO_60"), (70, "61_TO_70"), (80, "71_TO_80"), (90, "81_TO_90"))


def match_rate_range(percentage: int) -> str:
    """The ``MatchRateRange`` an upload with this match rate reports."""
    for upper, name in _MATCH_RANGES:
        if percentage <= upper:
            return f"MATCH_RATE_RANGE_{name}"
    return "MATCH_RATE_RANGE_91_TO_100"


@dataclass(slots=True)
class _Status:
    per_destination: list[dict[str, Any]]
    polls_left: int


class RequestStatuses:
    """Accepted requests by id; the emulator calls it under its own lock."""

    def __init__(self) -> None:
        self._statuses: dict[str, _Status] = {}

    def record(self, per_destination: list[dict[str, Any]], processing_polls: int) -> str:
        """Keep a new request's final statuses, shown after ``processing_polls`` polls."""
        request_id = str(uuid.uuid4())
        self._statuses[request_id] = _Status(per_destination, processing_polls)
        return request_id

    def retrieve(self, request_id: str | None) -> list[dict[str, Any]]:
        """``requestStatusPerDestination`` for one poll of ``request_id``."""
        if not request_id:
            raise ApiError(
                "Required field is missing.", reason="REQUIRED_FIELD_MISSING", field="request_id"
            )
        status = self._statuses.get(request_id)
        if status is None:
            raise not_found("Resource not found: no request with this request_id.")
        if status.polls_left > 0:
            status.polls_left -= 1
            return [
                {"destination": s["destination"], "requestStatus": "PROCESSING"}
                for s in status.per_destination
            ]
        return status.per_destination

    def finish(self) -> None:
        """Every request has its final status at its next poll."""
        for status in self._statuses.values():
            status.polls_left = 0

    def forget(self) -> None:
        """Forget every request: polls of them answer 404."""
        self._statuses.clear()


def destination_status(
    operation: str,
    destination: dict[str, Any],
    parsed: list[Parsed],
    refused: int,
    reason: str,
    match_rate_percentage: int,
) -> dict[str, Any]:
    """One destination's final status: counts, match rate range, and ``refused`` members
    counted under ``reason``."""
    # int64 fields are strings in proto3 JSON, as the real API returns them.
    records = str(len(parsed))
    user_ids = parsed and parsed[0].data_type == "userIdData"
    identifiers = str(sum(member.identifiers for member in parsed))
    verb = "Ingestion" if operation == "ingest" else "Removal"
    if user_ids:
        detail = {"recordCount": records, "userIdCount": identifiers}
        status = {f"userIdData{verb}Status": detail}
    else:
        detail = {"recordCount": records, "userIdentifierCount": identifiers}
        if operation == "ingest":
            detail["uploadMatchRateRange"] = match_rate_range(match_rate_percentage)
        status = {f"userData{verb}Status": detail}
    key = f"audienceMembers{verb}Status"
    result: dict[str, Any] = {"destination": destination, key: status}
    if refused:
        result["requestStatus"] = "FAILED" if refused == len(parsed) else "PARTIAL_SUCCESS"
        result["errorInfo"] = {"errorCounts": [{"recordCount": str(refused), "reason": reason}]}
    else:
        result["requestStatus"] = "SUCCESS"
    return result
