"""How long an emulated network takes to answer, and how many requests it is answering at once.

Real networks answer a 10,000-member batch in roughly 0.3-2 s, so a large sync is bounded by
requests x latency unless several requests are in flight. An emulator that answers at once
hides that; one that answers with a per-request delay (a fixed part plus seeded, uniform
jitter), each request on its own thread, shows what a client gains by sending several at a
time. ``InFlight`` counts the requests being answered, so a benchmark can report the most a
client ever had open per network.
"""

from __future__ import annotations

import random
import threading
from types import TracebackType

__all__ = ["InFlight", "Latency", "LatencyControls"]


class Latency:
    """The delay before each answer: ``seconds`` plus up to ``jitter`` more, drawn uniformly
    from a generator seeded with ``seed``, so two runs draw the same sequence."""

    def __init__(self, seconds: float = 0.0, jitter: float = 0.0, seed: int = 0) -> None:
        if seconds < 0 or jitter < 0:
            raise ValueError("latency and jitter are seconds, not negative")
        self.seconds = seconds
        self.jitter = jitter
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> float:
        """The delay of one answer, in seconds."""
        if not self.jitter:
            return self.seconds
        with self._lock:  # random.Random is not documented as thread-safe
            return self.seconds + self._random.uniform(0.0, self.jitter)


class InFlight:
    """Requests being answered now, and the most there were at once since the last reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current = 0
        self._peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self._current += 1
            self._peak = max(self._peak, self._current)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._current -= 1

    @property
    def current(self) -> int:
        with self._lock:
            return self._current

    @property
    def peak(self) -> int:
        with self._lock:
            return self._peak

    def reset_peak(self) -> None:
        """Start a new measurement: the peak becomes the requests open right now."""
        with self._lock:
            self._peak = self._current


class LatencyControls:
    """The latency settings of an emulator (HTTP or gRPC); the host sets ``delay`` and
    ``in_flight`` in its constructor and waits ``delay.draw()`` before each answer, outside
    its state lock so that requests in flight wait side by side."""

    delay: Latency
    in_flight: InFlight

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        """Answer each request after ``seconds`` plus up to ``jitter`` seconds (seeded)."""
        self.delay = Latency(seconds, jitter, seed)

    @property
    def latency(self) -> float:
        """The fixed part of the delay, in seconds (settable: tests widen crash windows)."""
        return self.delay.seconds

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.set_latency(seconds, self.delay.jitter)
