"""How fast and how wide one destination's requests go: a token bucket paced to the
network's published quota, and a window of requests in flight that widens while the
network answers and halves when it throttles (additive increase, multiplicative decrease).

Against a network that takes 0.3-2 s per request, requests one at a time leave the wall time
at requests x latency, whatever syncd does in between; several in flight divide it, up to
the quota. Pacing to the quota before it is hit costs nothing, while a 429 costs its wait
and its retry. One `Pacer` serves every push to one destination in a pass, so audiences
sharing an account share its budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Pace:
    """A network's pacing, as data: its request quota (None: no fixed rate, the network
    says when to slow down, as Meta's usage headers do) and the widest window."""

    requests_per_minute: float | None = None
    max_in_flight: int = 1
    #: The window a push starts with; it grows by one per window's worth of answers.
    start_in_flight: int = 2
    #: The share of the quota paced to: the network counts its minute on its own clock.
    margin: float = 0.97


class Pacer:
    """The token bucket and the window of one destination, safe to share between threads."""

    def __init__(
        self,
        pace: Pace,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pace = pace
        self._clock = clock
        self._lock = threading.Condition()
        self._window = max(1, min(pace.start_in_flight, pace.max_in_flight))
        self._in_flight = 0
        self._answered = 0  # answers since the window last grew
        self._rate = (
            pace.requests_per_minute * pace.margin / 60 if pace.requests_per_minute else None
        )
        self._tokens = 1.0
        self._filled_at = clock()
        self._resume_at = 0.0  # no request before this (the network asked for a pause)

    @property
    def window(self) -> int:
        """How many requests may be in flight now."""
        with self._lock:
            return self._window

    @contextmanager
    def sending(self, wait: Callable[[float], object]) -> Iterator[None]:
        """Hold one of the window's places for a request, once the quota lets it leave:
        every push to the destination shares the window, whichever audience it is for."""
        with self._lock:
            while self._in_flight >= self._window:
                self._lock.wait()
            self._in_flight += 1
        try:
            self.acquire(wait)
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def acquire(self, wait: Callable[[float], object]) -> None:
        """Block (with `wait`, which a stopping pass cuts short) until the quota lets a
        request leave."""
        while True:
            with self._lock:
                delay = self._delay()
                if delay <= 0:
                    self._tokens -= 1
                    return
            wait(delay)

    def answered(self) -> None:
        """A request went through: after a window's worth of them, widen by one."""
        with self._lock:
            self._answered += 1
            if self._answered >= self._window and self._window < self.pace.max_in_flight:
                self._window += 1
                self._answered = 0
                self._lock.notify_all()

    def throttled(self, retry_after: float | None) -> None:
        """The network said slow down: halve the window, and send nothing until it said."""
        with self._lock:
            self._window = max(1, self._window // 2)
            self._answered = 0
            if retry_after:
                self._resume_at = max(self._resume_at, self._clock() + retry_after)

    def _delay(self) -> float:
        """Seconds until the next request may leave (0: now); refills the bucket."""
        now = self._clock()
        if now < self._resume_at:
            return self._resume_at - now
        if self._rate is None:
            return 0.0
        self._tokens = min(1.0, self._tokens + (now - self._filled_at) * self._rate)
        self._filled_at = now
        # A hair short of a token counts as one: float rounding must not leave a wait
        # too small to move the clock.
        return 0.0 if self._tokens >= 1 - 1e-9 else (1 - self._tokens) / self._rate
