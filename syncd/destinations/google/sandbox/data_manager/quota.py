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

Every method counts, in the budget of its service and kind: ``requestStatus:retrieve`` is an
IngestionService read (``retrieve_request_status`` is a method of google-ads-datamanager's
``IngestionServiceClient``), so status polls spend the same budget whatever they poll, apart
from the ingests and removals they follow.

Windows are fixed (the current minute, the current UTC day), counted on an injectable clock:
Google Cloud refills a per-minute rate quota "at the start of the next synchronized interval,
such as 10:01:00, rather than refilling immediately" (https://cloud.google.com/compute/api-quota,
"Rate quotas"). ``published`` holds the page's figures; tests and benchmarks give smaller
ones. A refused request is not counted.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

from syncd.destinations.google.sandbox.data_manager.errors import ApiError

__all__ = ["BUDGETS", "PER_DAY", "PER_MINUTE", "Quota", "limit_name"]

#: The budgets of the limits page, by the first part of their quota limit names.
BUDGETS = frozenset({"IngestionMutate", "IngestionRead", "ManagementMutate", "ManagementRead"})
#: Google Cloud's quota errors name a metric too; the limits page does not give its name.
_METRIC = "datamanager.googleapis.com/requests"
#: The limits page's figures: 300 requests a minute in each budget; 100,000 a day for the
#: IngestionService's, 50,000 for all other services'.
PER_MINUTE = 300
PER_DAY = {
    "IngestionMutate": 100_000,
    "IngestionRead": 100_000,
    "ManagementMutate": 50_000,
    "ManagementRead": 50_000,
}
_TYPE = "type.googleapis.com/google.rpc."


class Quota:
    """Counts requests per minute and per day; ``None`` means no limit. A day's limit is one
    figure for every budget, or a figure per budget (as ``PER_DAY``)."""

    def __init__(
        self,
        requests_per_minute: int | None = None,
        requests_per_day: int | Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = requests_per_minute
        if requests_per_day is None or isinstance(requests_per_day, int):
            requests_per_day = dict.fromkeys(BUDGETS, requests_per_day)
        self.per_day: Mapping[str, int | None] = requests_per_day
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
            per_day = self.per_day.get(budget)
            if per_day is not None and in_day >= per_day:
                raise _exhausted(limit_name(budget, "Day"), per_day, "per day", None)
            if self.per_minute is not None and in_minute >= self.per_minute:
                wait = (minute + 1) * 60 - now
                name = limit_name(budget, "Minute")
                raise _exhausted(name, self.per_minute, "per minute", wait)
            self._minute[budget], self._day[budget] = (minute, in_minute + 1), (day, in_day + 1)

    @classmethod
    def published(cls, clock: Callable[[], float] = time.time) -> Quota:
        """The limits page's quotas (``PER_MINUTE``, ``PER_DAY``)."""
        return cls(PER_MINUTE, PER_DAY, clock)


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
