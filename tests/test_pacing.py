"""The pacer on its own, on a clock the test moves: the quota's rate, the window's growth
and halving, and the network's pauses."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.clock import FakeClock

from syncd.pacing import NotSent, Pace, Pacer, forget_shared_pacers, shared_pacer


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


@pytest.mark.parametrize(
    ("per_minute", "window_seconds", "margin", "per_window"),
    [(600.0, 1.0, 0.9, 9), (300.0, 60.0, 0.97, 291), (120.0, 0.5, 1.0, 1)],
    ids=["tiktok-per-second", "per-minute", "half-second"],
)
@given(gaps=st.lists(st.floats(min_value=0.0, max_value=0.3), min_size=50, max_size=200))
@settings(max_examples=40, deadline=None)
def test_no_window_of_the_paces_length_holds_more_than_its_share_of_the_quota(
    per_minute: float, window_seconds: float, margin: float, per_window: int, gaps: list[float]
) -> None:
    """The quota per window scales with the window (and the margin): TikTok's 10 calls a
    second are paced over one second, never 540 in the first second of a minute."""
    clock = FakeClock()
    pace = Pace(requests_per_minute=per_minute, window_seconds=window_seconds, margin=margin)
    pacer = Pacer(pace, clock=clock)
    left = []
    for gap in gaps:
        pacer.acquire(clock.sleep)
        left.append(clock.now)
        clock.now += gap  # requests are asked for at whatever pace the push goes
    for index, first in enumerate(left):
        assert sum(1 for t in left[index:] if t < first + window_seconds) <= per_window
    # And no slower: a request waits only for the oldest of a full window to leave it.
    for index in range(per_window, len(left)):
        asked = left[index - 1] + gaps[index - 1]
        assert left[index] <= max(asked, left[index - per_window] + window_seconds) + 1e-9


def test_a_request_counts_until_a_window_after_its_answer() -> None:
    """The network counts a request when it arrives, which may be as late as its answer:
    nine slow requests of TikTok's second keep their places until a second after they were
    answered, and while they are all out, the tenth waits for their answers."""
    clock = FakeClock()
    pace = Pace(
        requests_per_minute=600,
        window_seconds=1.0,
        until_answered=True,
        max_in_flight=16,
        margin=0.9,
    )
    pacer = Pacer(dataclasses.replace(pace, start_in_flight=16), clock=clock)
    started = clock.now
    with contextlib.ExitStack() as out:
        for _ in range(9):
            out.enter_context(pacer.sending(clock.sleep))
        clock.now += 1.5  # slow answers
    with pacer.sending(clock.sleep):
        assert clock.now == pytest.approx(started + 2.5)

    answers: list[contextlib.ExitStack] = []
    answered_at: list[float] = []

    def answer_one_then_sleep(seconds: float) -> None:
        """Another thread's request is answered while this one waits."""
        answers.pop().close()
        answered_at.append(clock.now)
        clock.sleep(seconds)

    clock.now += 1.0  # the last window is over
    for _ in range(9):
        stack = contextlib.ExitStack()
        stack.enter_context(pacer.sending(clock.sleep))
        answers.append(stack)
    with pacer.sending(answer_one_then_sleep):
        assert answered_at and clock.now >= answered_at[0] + 1.0 - 1e-9
    for stack in answers:
        stack.close()


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


def test_one_spell_halves_the_window_once_and_its_first_answer_says_when_it_ends() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(max_in_flight=16, start_in_flight=8), clock=clock)
    pacer.throttled(30.0)
    clock.now += 0.4  # the other requests that were out answer the same, a moment later
    for _ in range(7):
        pacer.throttled(60.0)
    assert pacer.window == 1  # the probe after a pause; the window under it is 4
    pacer.acquire(clock.sleep)
    assert clock.sleeps == [pytest.approx(29.6)]
    pacer.reported(10.0, 0.0)  # the probe's answer: the budget is back
    assert pacer.window == 4  # halved once, not eight times


def test_the_window_narrows_to_the_calls_the_reported_budget_has_left() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(max_in_flight=8), clock=clock)
    assert pacer.window == 4
    for used, window in ((40, 4), (45, 4), (85, 3), (90, 2), (95, 1)):
        pacer.reported(used, 0.0)
        assert pacer.window == window  # each call costs 5%: what is left, at most 4
    pacer.reported(100, 90.0)  # spent: nothing leaves until Meta's estimate
    pacer.wait_for_resume(clock.sleep)
    assert clock.sleeps == [90.0]
    assert pacer.window == 1  # one call probes what the budget has
    pacer.reported(100, 30.0)  # the budget slides: still spent, a new spell
    pacer.wait_for_resume(clock.sleep)
    assert clock.sleeps == [90.0, 30.0]
    pacer.reported(20, 0.0)
    assert pacer.window == 4


def test_answers_to_requests_sent_before_a_pause_do_not_extend_it() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(max_in_flight=8), clock=clock)
    pacer.reported(100, 60.0)
    clock.now += 0.5
    pacer.reported(100, 60.0)
    pacer.throttled(60.0)
    pacer.wait_for_resume(clock.sleep)
    assert clock.sleeps == [pytest.approx(59.5)]


def test_a_stopping_pass_does_not_wait_out_a_pause() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(max_in_flight=8), clock=clock)
    pacer.reported(100, 60.0)
    with pytest.raises(NotSent):
        pacer.wait_for_resume(lambda seconds: True)  # a stopping pass's Event.wait


def test_one_quota_owner_has_one_pacer_in_the_process() -> None:
    pace = Pace(requests_per_minute=300, max_in_flight=8)
    first = shared_pacer(("google_data_manager", "https://x", "project-a"), pace)
    assert shared_pacer(("google_data_manager", "https://x", "project-a"), pace) is first
    assert shared_pacer(("google_data_manager", "https://x", "project-b"), pace) is not first
    wider = dataclasses.replace(pace, max_in_flight=16)
    assert shared_pacer(("google_data_manager", "https://x", "project-a"), wider) is not first
    forget_shared_pacers()
    assert shared_pacer(("google_data_manager", "https://x", "project-a"), pace) is not first


def test_after_a_pause_the_first_answer_reopens_the_window() -> None:
    """Data Manager reports no usage: an answer, not a report, ends the probe."""
    clock = FakeClock()
    pacer = Pacer(Pace(requests_per_minute=300, max_in_flight=8), clock=clock)
    pacer.throttled(10.0)
    assert pacer.window == 1
    pacer.acquire(clock.sleep)
    pacer.answered()
    assert pacer.window == 2
