"""Slowing down on Meta's own signals, before Meta has to throttle us.

Every Graph answer, success or error, carries ``x-business-use-case-usage`` (per business
and use case: ``call_count``, ``total_cputime``, ``total_time`` in percent of the budget, and
``estimated_time_to_regain_access`` in minutes) and ``x-ad-account-usage``
(``acc_id_util_pct``, ``reset_time_duration`` in seconds); ``x-app-usage`` has the app's
percentages, and Insights answers carry ``x-fb-ads-insights-throttle`` (``app_id_util_pct``,
``acc_id_util_pct``; "Insights API Limits & Best Practices",
https://developers.facebook.com/docs/marketing-api/insights/best-practices).
``MetaThrottle`` keeps the highest percentage it saw last and, past ``threshold``, sleeps
before the next call: the closer to 100%, the longer, up to ``max_pause``. At 100% it waits
for the access Meta says is regained, within the same cap. When a call was throttled anyway,
the retry policy waits (see ``errors``) and the throttle steps aside, so the two waits do
not add up.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MetaThrottle", "Usage", "parse_usage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    """The most loaded budget one answer reported, and when access comes back."""

    percent: float = 0.0
    regain_seconds: float = 0.0


def parse_usage(headers: Mapping[str, str] | None) -> Usage | None:
    """The usage an answer reports, or None when it carries no (readable) usage header."""
    if not headers:
        return None
    lowered = {str(name).lower(): value for name, value in headers.items()}
    percents: list[float] = []
    regain: list[float] = []  # Meta's estimate per use case, in seconds
    resets: list[float] = []  # the ad account's reset time, used when there is no estimate
    business = _json(lowered.get("x-business-use-case-usage"))
    if isinstance(business, dict):
        for entries in business.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    percents += _numbers(entry, "call_count", "total_cputime", "total_time")
                    regain += [60 * m for m in _numbers(entry, "estimated_time_to_regain_access")]
    account = _json(lowered.get("x-ad-account-usage"))
    if isinstance(account, dict):
        percents += _numbers(account, "acc_id_util_pct")
        resets += _numbers(account, "reset_time_duration")
    app = _json(lowered.get("x-app-usage"))
    if isinstance(app, dict):
        percents += _numbers(app, "call_count", "total_cputime", "total_time")
    insights = _json(lowered.get("x-fb-ads-insights-throttle"))
    if isinstance(insights, dict):
        percents += _numbers(insights, "app_id_util_pct", "acc_id_util_pct")
    if not percents and not regain and not resets:
        return None
    wait = max(regain, default=0.0) or max(resets, default=0.0)
    return Usage(max(percents, default=0.0), wait)


def _json(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _numbers(entry: dict[str, Any], *names: str) -> list[float]:
    found = []
    for name in names:
        value = entry.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            found.append(float(value))
    return found


class MetaThrottle:
    """Pauses before a call while Meta reports usage past ``threshold`` percent.

    ``sleep`` is injectable so tests (and a stoppable daemon) control the waiting.
    """

    def __init__(
        self,
        *,
        threshold: float = 75.0,
        max_pause: float = 60.0,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if not 0 <= threshold < 100:
            raise ValueError("threshold is a percentage below 100")
        self.threshold = threshold
        self.max_pause = max_pause
        self._sleep = sleep
        self._usage = Usage()
        self._lock = threading.Lock()
        #: Seconds paused so far, for metrics and tests.
        self.paused = 0.0

    @property
    def usage(self) -> Usage:
        """The usage of the last answer that reported one."""
        with self._lock:
            return self._usage

    def observe(self, headers: Mapping[str, str] | None) -> Usage | None:
        """Read the usage headers of an answer (success or error)."""
        usage = parse_usage(headers)
        if usage is not None:
            with self._lock:
                self._usage = usage
        return usage

    def pause_for(self, usage: Usage) -> float:
        """Seconds to wait before the next call at this usage."""
        if usage.percent < self.threshold:
            return 0.0
        if usage.percent >= 100:
            wait = usage.regain_seconds if usage.regain_seconds > 0 else self.max_pause
            return min(wait, self.max_pause)
        share = (usage.percent - self.threshold) / (100 - self.threshold)
        return self.max_pause * share

    def before_call(self) -> float:
        """Sleep as long as the last reported usage asks; returns the seconds slept."""
        pause = self.pause_for(self.usage)
        if pause > 0:
            log.info(
                "Meta reports %.0f%% of the rate budget used: pausing %.1fs before the next call",
                self.usage.percent,
                pause,
            )
            self._sleep(pause)
            with self._lock:
                self.paused += pause
        return pause

    def step_aside(self) -> None:
        """A call was throttled: the retry policy waits Meta's time, so do not wait again."""
        with self._lock:
            self._usage = Usage()
