"""Rate-limit accounting: a sliding-window call budget per ad account, and the usage headers
Graph sends with every answer so that clients can slow down before they are throttled.

``x-business-use-case-usage`` is ``{business_id: [{"type", "call_count", "total_cputime",
"total_time", "estimated_time_to_regain_access"}]}`` with percentages of the budget and the
wait in minutes; ``x-ad-account-usage`` is ``{"acc_id_util_pct", "reset_time_duration"}``
with the wait in seconds. Insights answers also carry ``x-fb-ads-insights-throttle``
(``{"app_id_util_pct", "acc_id_util_pct"}``; "Insights API Limits & Best Practices",
https://developers.facebook.com/docs/marketing-api/insights/best-practices). The emulator
reports the same figure in all of them: its budget counts calls only (real Graph also weighs
CPU and wall time, by rules it does not publish).

How fast the figure rises is Meta's published budget: each business use case allows so many
calls per ad account in a sliding hour, by access tier (``CALLS_PER_HOUR``), so one call adds
100 / budget percent and each call stops counting an hour after it was made. Tests and
benchmarks pass a smaller budget or a shorter window to reach 100% in a few calls.
"""

from __future__ import annotations

import json
import math
from collections import deque

__all__ = ["ACCESS_TIERS", "CALLS_PER_HOUR", "UsageWindow", "usage_headers"]

#: Calls per ad account in one hour, per business use case and Marketing API access tier,
#: with no active ads or audiences counted (each adds 40 calls, 400 for Insights): "Rate
#: Limiting", https://developers.facebook.com/docs/marketing-apis/rate-limiting
#: (ads_management: 100,000 at the standard tier, 300 at the development tier; custom_audience:
#: 190,000 or 5,000, at most 700,000) and the Business Use Case rate limits of
#: https://developers.facebook.com/docs/graph-api/overview/rate-limiting (ads_insights:
#: 190,000 or 600). Meta renamed the tiers in 2026: standard is now Full, development Limited.
CALLS_PER_HOUR: dict[str, dict[str, int]] = {
    "full": {"custom_audience": 190_000, "ads_management": 100_000, "ads_insights": 190_000},
    "limited": {"custom_audience": 5_000, "ads_management": 300, "ads_insights": 600},
}
#: The ``ads_api_access_tier`` the usage headers name for each tier.
ACCESS_TIERS = {"full": "standard_access", "limited": "development_access"}


class UsageWindow:
    """Calls of one ad account within the last ``window_seconds``, against a budget."""

    def __init__(self, calls_per_window: int, window_seconds: float) -> None:
        if calls_per_window < 1 or window_seconds <= 0:
            raise ValueError("a usage window needs a positive budget and length")
        self.calls_per_window = calls_per_window
        self.window_seconds = window_seconds
        self._calls: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - self.window_seconds:
            self._calls.popleft()

    def try_call(self, now: float) -> bool:
        """Count a call at ``now``; False (and nothing counted) once the budget is spent."""
        self._expire(now)
        if len(self._calls) >= self.calls_per_window:
            return False
        self._calls.append(now)
        return True

    def fill(self, now: float) -> None:
        """Spend the whole budget at ``now``: the next call is throttled."""
        self._expire(now)
        self._calls.extend([now] * (self.calls_per_window - len(self._calls)))

    def percent(self, now: float, *, refused: bool = False) -> int:
        """Usage in percent; a refused call counts too, so a throttled answer says >100."""
        self._expire(now)
        used = len(self._calls) + (1 if refused else 0)
        return math.ceil(100 * used / self.calls_per_window)

    def regain_seconds(self, now: float) -> float:
        """Seconds until a call fits in the budget again (0 while it does)."""
        self._expire(now)
        if len(self._calls) < self.calls_per_window:
            return 0.0
        return max(self._calls[0] + self.window_seconds - now, 0.0)


def usage_headers(
    business_id: str,
    use_case: str,
    percent: int,
    regain_seconds: float,
    access_tier: str = "standard_access",
) -> dict[str, str]:
    """The usage headers of one answer; the wait is in whole minutes, rounded up, as Graph
    reports it in ``estimated_time_to_regain_access``."""
    minutes = math.ceil(regain_seconds / 60) if regain_seconds > 0 else 0
    business = {
        business_id: [
            {
                "type": use_case,
                "call_count": percent,
                "total_cputime": percent,
                "total_time": percent,
                "estimated_time_to_regain_access": minutes,
                "ads_api_access_tier": access_tier,
            }
        ]
    }
    account = {
        "acc_id_util_pct": percent,
        "reset_time_duration": math.ceil(regain_seconds),
        "ads_api_access_tier": access_tier,
    }
    headers = {
        "x-business-use-case-usage": json.dumps(business, separators=(",", ":")),
        "x-ad-account-usage": json.dumps(account, separators=(",", ":")),
    }
    if use_case == "ads_insights":
        insights = {
            "app_id_util_pct": 0,
            "acc_id_util_pct": percent,
            "ads_api_access_tier": access_tier,
        }
        headers["x-fb-ads-insights-throttle"] = json.dumps(insights, separators=(",", ":"))
    return headers
