"""The single retry policy for every network: capped exponential backoff with full jitter,
and the network's own wait (Retry-After, retryDelay) whenever it gives one."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from syncd.destinations.base import DestinationError, ErrorClass

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, error: DestinationError) -> float:
        if error.retry_after is not None:
            return min(error.retry_after, self.max_delay)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def call_with_retries(
    request: Callable[[], T],
    policy: RetryPolicy,
    what: str,
    *,
    on_outcome: Callable[[str], None] = lambda outcome: None,
    on_wait: Callable[[float, DestinationError], None] = lambda seconds, error: None,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Run `request` until it succeeds. `on_outcome` hears of every request sent ("ok" or
    the error class), `on_wait` of every backoff. FAIL_AUDIENCE errors, and the last error
    once attempts run out, propagate; so does any other exception, untouched."""
    for attempt in range(policy.attempts):
        try:
            result = request()
        except DestinationError as error:
            on_outcome(error.error_class.value)
            if error.error_class is ErrorClass.FAIL_AUDIENCE or attempt + 1 == policy.attempts:
                raise
            wait = policy.delay(attempt, error)
            log.warning("%s: %s (%s), retrying in %.1fs", what, error.error_class, error, wait)
            on_wait(wait, error)
            sleep(wait)
        else:
            on_outcome("ok")
            return result
    raise AssertionError("unreachable: the loop returns or raises")
