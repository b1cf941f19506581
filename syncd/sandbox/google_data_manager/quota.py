"""The project's request quotas: a per-minute budget and a daily one, both as Google sends them.

The real limits are 300 requests per minute and 100,000 per day per project. A request over
the minute's budget gets 429 RESOURCE_EXHAUSTED with ``RetryInfo.retryDelay`` (and a
``Retry-After`` header) saying when the minute ends; a request over the day's budget gets
429 RESOURCE_EXHAUSTED whose ``QuotaFailure`` and ``ErrorInfo.metadata.quota_limit`` name the
daily limit, and no retry delay: nothing a client can wait for within a run. Windows are fixed
(the current minute, the current UTC day), counted on an injectable clock. A refused request
is not counted.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from syncd.sandbox.google_data_manager.errors import ApiError

__all__ = ["PER_DAY_LIMIT", "PER_MINUTE_LIMIT", "Quota"]

PER_MINUTE_LIMIT = "RequestsPerMinutePerProject"
PER_DAY_LIMIT = "RequestsPerDayPerProject"
_METRIC = "datamanager.googleapis.com/requests"
_TYPE = "type.googleapis.com/google.rpc."


class Quota:
    """Counts requests per minute and per day; ``None`` means no limit."""

    def __init__(
        self,
        requests_per_minute: int | None = None,
        requests_per_day: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = requests_per_minute
        self.per_day = requests_per_day
        self._clock = clock
        self._lock = threading.Lock()
        self._minute: tuple[int, int] = (-1, 0)  # (window, requests counted)
        self._day: tuple[int, int] = (-1, 0)

    def spend(self) -> None:
        """Count one request, or raise the API's RESOURCE_EXHAUSTED if a budget is spent."""
        with self._lock:
            now = self._clock()
            minute, day = int(now // 60), int(now // 86_400)
            in_minute = self._minute[1] if self._minute[0] == minute else 0
            in_day = self._day[1] if self._day[0] == day else 0
            if self.per_day is not None and in_day >= self.per_day:
                raise _exhausted(PER_DAY_LIMIT, self.per_day, "per day", None)
            if self.per_minute is not None and in_minute >= self.per_minute:
                wait = (minute + 1) * 60 - now
                raise _exhausted(PER_MINUTE_LIMIT, self.per_minute, "per minute", wait)
            self._minute, self._day = (minute, in_minute + 1), (day, in_day + 1)


def _exhausted(limit: str, value: int, per: str, retry_after: float | None) -> ApiError:
    description = (
        f"Quota exceeded for quota metric 'Requests' and limit 'Requests {per} per project' "
        f"of service 'datamanager.googleapis.com'."
    )
    details = [
        {
            "@type": f"{_TYPE}QuotaFailure",
            "violations": [{"subject": "project:sandbox", "description": description}],
        }
    ]
    headers: dict[str, str] = {}
    if retry_after is not None:
        seconds = max(retry_after, 0.001)
        details.insert(0, {"@type": f"{_TYPE}RetryInfo", "retryDelay": f"{seconds:.3f}s"})
        headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    return ApiError(
        description,
        reason="RATE_LIMIT_EXCEEDED",
        status=429,
        grpc_status="RESOURCE_EXHAUSTED",
        domain="googleapis.com",
        details=details,
        metadata={
            "quota_metric": _METRIC,
            "quota_limit": limit,
            "quota_limit_value": str(value),
            "service": "datamanager.googleapis.com",
        },
        headers=headers,
    )
