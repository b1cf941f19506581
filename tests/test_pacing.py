"""The pacer on its own, on a clock the test moves: the quota's rate, the window's growth
and halving, and the network's pauses."""

from __future__ import annotations

import pytest

from syncd.pacing import Pace, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_requests_leave_at_the_quota_less_its_margin() -> None:
    clock = Clock()
    pacer = Pacer(Pace(requests_per_minute=300, max_in_flight=8, margin=0.97), clock=clock)
    started = clock.now
    for _ in range(301):
        pacer.acquire(clock.wait)
    # The first leaves at once, each next one 60 / (300 x 0.97) s later: never over 300 in
    # any minute, and within 3% of the quota-bound time.
    assert clock.now - started == pytest.approx(300 * 60 / (300 * 0.97))
    assert len(clock.waits) == 300


def test_without_a_quota_nothing_waits() -> None:
    clock = Clock()
    pacer = Pacer(Pace(max_in_flight=8), clock=clock)
    for _ in range(1000):
        pacer.acquire(clock.wait)
    assert clock.waits == []


def test_the_window_widens_with_answers_and_halves_when_throttled() -> None:
    clock = Clock()
    pacer = Pacer(Pace(max_in_flight=8, start_in_flight=2), clock=clock)
    assert pacer.window == 2
    for _ in range(2):
        pacer.answered()
    assert pacer.window == 3
    for _ in range(100):
        pacer.answered()
    assert pacer.window == 8  # never past the network's widest
    pacer.throttled(None)
    assert pacer.window == 4
    for _ in range(5):
        pacer.throttled(None)
    assert pacer.window == 1  # never below one


def test_a_throttle_pauses_every_request_for_as_long_as_the_network_said() -> None:
    clock = Clock()
    pacer = Pacer(Pace(max_in_flight=8), clock=clock)
    pacer.throttled(30.0)
    pacer.acquire(clock.wait)
    assert clock.waits == [30.0]
