"""Rate-limit accounting: a sliding-window call budget per ad account, and the usage headers
Graph sends with every answer so that clients can slow down before they are throttled.

``x-business-use-case-usage`` is ``{business_id: [{"type", "call_count", "total_cputime",
"total_time", "estimated_time_to_regain_access"}]}`` with percentages of the budget and the
wait in minutes; ``x-ad-account-usage`` is ``{"acc_id_util_pct", "reset_time_duration"}``
with the wait in seconds. Insights answers also carry ``x-fb-ads-insights-throttle``
(``{"app_id_util_pct", "acc_id_util_pct"}``; "Insights API Limits & Best Practices",
https://developers.facebook.com/docs/marketing-api/insights/best-practices). The emulator
reports the same figure in all of them: its budget counts calls only (real Graph also weighs
CPU and wall time).
"""

from __future__ import annotations

import json
import math
from collections import deque

__all__ = ["UsageWindow", "usage_headers"]


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
    business_id: str, use_case: str, percent: int, regain_seconds: float
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
                "ads_api_access_tier": "standard_access",
            }
        ]
    }
    account = {
        "acc_id_util_pct": percent,
        "reset_time_duration": math.ceil(regain_seconds),
        "ads_api_access_tier": "standard_access",
    }
    headers = {
        "x-business-use-case-usage": json.dumps(business, separators=(",", ":")),
        "x-ad-account-usage": json.dumps(account, separators=(",", ":")),
    }
    if use_case == "ads_insights":
        insights = {
            "app_id_util_pct": 0,
            "acc_id_util_pct": percent,
            "ads_api_access_tier": "standard_access",
        }
        headers["x-fb-ads-insights-throttle"] = json.dumps(insights, separators=(",", ":"))
    return headers
