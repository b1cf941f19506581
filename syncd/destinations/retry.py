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
    on_attempt: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `request` until it succeeds; `on_attempt` counts every request sent, failed ones
    included. FAIL_AUDIENCE errors, and the last error once attempts run out, propagate."""
    for attempt in range(policy.attempts):
        on_attempt()
        try:
            return request()
        except DestinationError as error:
            if error.error_class is ErrorClass.FAIL_AUDIENCE or attempt + 1 == policy.attempts:
                raise
            wait = policy.delay(attempt, error)
            log.warning("%s: %s (%s), retrying in %.1fs", what, error.error_class, error, wait)
            sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")
