"""The app's call budget: TikTok limits calls per second per developer app, by the app's call
limit level.

"The system uses a second call limit for each developer app. The set limit varies according
to the app's call limit level": Basic 10/sec, Advanced 20/sec, Premium 30/sec, "All apps are
set to basic call limit level by default" (airbytehq/airbyte ``source-tiktok-marketing``
``streams.py`` ``backoff_time``, from TikTok's "Rate limits" page,
https://business-api.tiktok.com/marketing_api/docs?id=1701890997610497; an app approved for
"Advanced API rate limiting (20 QPS)" is quoted in airbytehq/airbyte issue #70992). Past the
budget every call of the app answers code 40100 until the second slides on.

Per-endpoint or per-advertiser limits (QPM, QPD) may exist on top; none was found in a source
reachable from here (docs/tiktok.md), so the emulator counts one budget per app. Its window is
a sliding one (Meta's ``UsageWindow``), and tests pass a smaller budget or longer window.
"""

from __future__ import annotations

from syncd.destinations.meta.sandbox.usage import UsageWindow

__all__ = ["CALLS_PER_SECOND", "UsageWindow", "app_budget"]

#: Calls per second of a developer app, by call limit level.
CALLS_PER_SECOND = {"basic": 10, "advanced": 20, "premium": 30}


def app_budget(
    level: str = "basic", calls_per_window: int | None = None, window_seconds: float = 1.0
) -> UsageWindow:
    """The app's window: its level's calls per second, or ``calls_per_window`` per
    ``window_seconds`` when given."""
    if level not in CALLS_PER_SECOND:
        raise ValueError(f"level is one of {', '.join(CALLS_PER_SECOND)}")
    return UsageWindow(calls_per_window or CALLS_PER_SECOND[level], window_seconds)
