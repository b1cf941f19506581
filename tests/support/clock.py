"""A clock the test moves: time passes only when someone sleeps on it."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that move only when someone sleeps; the sleeps are kept."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
