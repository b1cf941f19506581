"""The project's request quotas: per-minute and daily budgets, as Google counts and refuses them.

Google's "Limits and quotas" page (https://developers.google.com/data-manager/api/devguides/limits)
counts requests per Google Cloud project in four separate budgets -- IngestionService mutate
(ingest, remove) and read (requestStatus:retrieve), and all other services' mutate and read
(userLists) -- 300 a minute each, 100,000 a day for IngestionService and 50,000 for the others.
A request over a budget is refused with RESOURCE_EXHAUSTED and HTTP 429, and the budget's
quota limit name (``IngestionMutateRequestsPerMinutePerProject``, ...) is in the ``ErrorInfo``
detail under ``metadata.quota_limit``, which is how a client tells a day's limit from a
minute's. The minute's refusal also carries ``RetryInfo.retryDelay`` (and ``Retry-After``) up
to the end of the minute; the day's carries none: nothing a client can wait for within a run.
Both carry a ``QuotaFailure``. The detail types are google.rpc's (google/rpc/error_details.proto,
in googleapis-common-protos).

Windows are fixed (the current minute, the current UTC day), counted on an injectable clock;
the sandbox gives every budget the same configured limits. A refused request is not counted.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from syncd.sandbox.google_data_manager.errors import ApiError

__all__ = ["BUDGETS", "Quota", "limit_name"]

#: The budgets of the limits page, by the first part of their quota limit names.
BUDGETS = frozenset({"IngestionMutate", "IngestionRead", "ManagementMutate", "ManagementRead"})
#: Google Cloud's quota errors name a metric too; the limits page does not give its name.
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
        # budget -> (window, requests counted)
        self._minute: dict[str, tuple[int, int]] = {}
        self._day: dict[str, tuple[int, int]] = {}

    def spend(self, budget: str) -> None:
        """Count one request against ``budget`` (one of BUDGETS), or raise the API's
        RESOURCE_EXHAUSTED if that budget is spent."""
        if budget not in BUDGETS:
            raise ValueError(f"unknown quota budget {budget!r}")
        with self._lock:
            now = self._clock()
            minute, day = int(now // 60), int(now // 86_400)
            last_minute, in_minute = self._minute.get(budget, (-1, 0))
            last_day, in_day = self._day.get(budget, (-1, 0))
            in_minute = in_minute if last_minute == minute else 0
            in_day = in_day if last_day == day else 0
            if self.per_day is not None and in_day >= self.per_day:
                raise _exhausted(limit_name(budget, "Day"), self.per_day, "per day", None)
            if self.per_minute is not None and in_minute >= self.per_minute:
                wait = (minute + 1) * 60 - now
                name = limit_name(budget, "Minute")
                raise _exhausted(name, self.per_minute, "per minute", wait)
            self._minute[budget], self._day[budget] = (minute, in_minute + 1), (day, in_day + 1)


def limit_name(budget: str, window: str) -> str:
    """The quota limit name of a budget's window, as the limits page lists them."""
    return f"{budget}RequestsPer{window}PerProject"


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
