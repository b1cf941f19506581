"""The pacer on its own, on a clock the test moves: the quota's rate, the window's growth
and halving, and the network's pauses."""

from __future__ import annotations

import pytest
from support.clock import FakeClock

from syncd.pacing import Pace, Pacer


def test_no_minute_holds_more_than_the_quota_less_its_margin() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(requests_per_minute=300, max_in_flight=8, margin=0.97), clock=clock)
    started, left = clock.now, []
    for _ in range(700):
        pacer.acquire(clock.sleep)
        left.append(clock.now - started)
        clock.now += 0.01  # each request takes a little time to send
    # A minute's worth (291) leaves at once, the next once the first is a minute old.
    assert left[290] < 3 and left[291] == pytest.approx(60.0)
    for index, first in enumerate(left):
        assert sum(1 for t in left[index:] if t < first + 60) <= 291
    # 700 requests take the time the quota allows, not a request more per minute.
    assert left[-1] == pytest.approx(120.0, abs=3)


def test_without_a_quota_nothing_waits() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(max_in_flight=8), clock=clock)
    for _ in range(1000):
        pacer.acquire(clock.sleep)
    assert clock.sleeps == []


def test_the_window_doubles_until_throttled_then_widens_by_one_and_halves() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(max_in_flight=16, start_in_flight=2), clock=clock)
    assert pacer.window == 2
    for expected in (4, 8, 16):  # a window's worth of answers doubles it
        for _ in range(pacer.window):
            pacer.answered()
        assert pacer.window == expected
    for _ in range(100):
        pacer.answered()
    assert pacer.window == 16  # never past the network's widest
    pacer.throttled(None)
    assert pacer.window == 8
    for _ in range(8):
        pacer.answered()
    assert pacer.window == 9  # after a throttle, one at a time
    for _ in range(5):
        pacer.throttled(None)
    assert pacer.window == 1  # never below one
    assert Pacer(Pace(max_in_flight=8)).window == 4  # by default half the widest


def test_a_throttle_pauses_every_request_for_as_long_as_the_network_said() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(max_in_flight=8), clock=clock)
    pacer.throttled(30.0)
    pacer.acquire(clock.sleep)
    assert clock.sleeps == [30.0]
