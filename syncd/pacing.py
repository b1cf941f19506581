"""How fast and how wide one destination's requests go: no more requests in any window of
the network's length (a minute for Google, a second for TikTok) than its published quota,
and a window of requests in flight that widens while the network answers and halves when it
throttles (additive increase, multiplicative decrease).

Against a network that takes 0.3-2 s per request, requests one at a time leave the wall time
at requests x latency, whatever syncd does in between; several in flight divide it, up to
the quota. Pacing to the quota before it is hit costs nothing, while a 429 costs its wait
and its retry.

The quota is a count per window, not a rate: Google Cloud refills a per-minute quota "at the
start of the next synchronized interval" (https://cloud.google.com/compute/api-quota, "Rate
quotas"), so a sync of fifty requests may send them at once, and a larger one sends a
window's worth, then waits for the oldest to be a window old. No sliding window holding
more than the quota means no clock window does either, whatever the network's clock. The
window is the network's own: a per-second limit counted per minute would let a minute's
worth through in its first second.

A network without a fixed rate says how much of its budget is used instead (Meta's usage
headers, `reported`): the window narrows to the calls the budget has left, and at 100% every
request waits for the time the network gives, once per spell however many answers repeat it.

One `Pacer` serves every request to one quota owner (a Google Cloud project, a Meta ad
account; `shared_pacer`) in the process, pushes and status reads alike, across audiences and
passes: the daemon's next pass inherits the window its last one left.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class NotSent(Exception):
    """A request that waited for the quota was not sent: the pass is stopping."""


@dataclass(frozen=True)
class Pace:
    """A network's pacing, as data: its request quota (None: no fixed rate, the network
    says when to slow down, as Meta's usage headers do), the window the network counts it
    over, and the widest window of requests in flight."""

    #: The quota in requests a minute: a window of `window_seconds` holds its share of it
    #: (10 of 600 a minute in a one-second window).
    requests_per_minute: float | None = None
    #: How long the network's counting window is: 60 for a per-minute quota, 1 for a
    #: per-second one (TikTok's).
    window_seconds: float = 60.0
    #: Whether a request keeps its place until a window after its answer, not after it
    #: left: for a window latency is a large part of (TikTok's second), where the network
    #: counts a request when it arrives and one that left first may arrive after one that
    #: left later. A minute's quota leaves that to the margin: holding each place for a
    #: latency more cost Data Manager's quota-bound pass 1.3% (`benchmarks/latency.py
    #: --quota`, 125.3 s against 126.9 s for 120 s of quota).
    until_answered: bool = False
    max_in_flight: int = 1
    #: The window a push starts with (None: half the widest); it doubles per window's worth
    #: of answers until the network first throttles, then grows by one.
    start_in_flight: int | None = None
    #: The share of the quota used: a request counts when it arrives, on the network's clock.
    margin: float = 0.97

    def __post_init__(self) -> None:
        if self.window_seconds <= 0:
            raise ValueError("a pace's window_seconds is positive")

    @property
    def per_window(self) -> int | None:
        """Requests one window may hold, margin taken (at least one); None without a quota.
        Rounded before it is cut: 600 a minute at 90% is 9 a second, not 8.999..."""
        if not self.requests_per_minute:
            return None
        share = self.requests_per_minute * self.window_seconds / 60 * self.margin
        return max(1, int(round(share, 9)))


class Pacer:
    """The quota and the window of one destination, safe to share between threads."""

    def __init__(
        self,
        pace: Pace,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pace = pace
        self._clock = clock
        self._lock = threading.Condition()
        start = pace.start_in_flight or pace.max_in_flight // 2
        self._window = max(1, min(start, pace.max_in_flight))
        self._slow_start = True  # doubling, until the first throttle
        self._in_flight = 0
        self._answered = 0  # answers since the window last grew
        self._per_window = pace.per_window
        #: When each request of the last window counted, in order: an `acquire`d one when it
        #: left, a `sending` one when its answer came (the network counted it when it
        #: arrived, which is some time before that).
        self._sent: deque[float] = deque()
        self._out = 0  # `sending` requests that left and are not answered: all in the window
        self._resume_at = 0.0  # no request before this (the network asked for a pause)
        #: The budget used, in percent, as the network last reported it (None: unknown),
        #: and the least rise it showed between two reports: what one call costs.
        self._used: float | None = None
        self._per_call: float | None = None
        self._probing = False  # after a pause, one request until the network reports again

    @property
    def window(self) -> int:
        """How many requests may be in flight now: the window, narrowed to the calls the
        budget has left."""
        with self._lock:
            return self._limit()

    @contextmanager
    def sending(self, wait: Callable[[float], object]) -> Iterator[None]:
        """Hold one of the window's places for a request, once the quota lets it leave:
        every push to the destination shares the window, whichever audience it is for.
        The request counts against the quota from when it leaves, and with
        `Pace.until_answered` until a window after it is answered: the network counts it
        when it arrives, somewhere in between."""
        with self._lock:
            while self._in_flight >= self._limit():
                self._lock.wait()
            self._in_flight += 1
        left = False
        try:
            self._leave(wait, answered_later=self.pace.until_answered)
            left = True
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                if left and self.pace.until_answered:
                    self._out -= 1
                    if self._per_window is not None:
                        self._sent.append(self._clock())
                self._lock.notify_all()

    def acquire(self, wait: Callable[[float], object]) -> None:
        """Block until the quota lets a request leave, and count it as of now (a call whose
        answer the pacer is not told of). `wait` sleeps; a stopping pass's (an Event's
        `wait`) returns true, and then the request is not sent (`NotSent`)."""
        self._leave(wait, answered_later=False)

    def _leave(self, wait: Callable[[float], object], *, answered_later: bool) -> None:
        while True:
            with self._lock:
                delay = self._delay()
                if delay <= 0:
                    if answered_later:
                        self._out += 1
                    elif self._per_window is not None:
                        self._sent.append(self._clock())
                    return
            if wait(delay):
                raise NotSent("the pass is stopping")

    def answered(self) -> None:
        """A request went through: after a window's worth of them, widen (double while the
        network never throttled, else by one)."""
        with self._lock:
            if self._probing:  # the probe went through: the pause is over
                self._probing = False
                self._lock.notify_all()
            self._answered += 1
            if self._answered >= self._window and self._window < self.pace.max_in_flight:
                wider = self._window * 2 if self._slow_start else self._window + 1
                self._window = min(wider, self.pace.max_in_flight)
                self._answered = 0
                self._lock.notify_all()

    def throttled(self, retry_after: float | None) -> None:
        """The network said slow down: halve the window, and send nothing until it said.
        The requests that were out when it said so answer the same: one spell halves the
        window once, and its first answer says when it ends."""
        with self._lock:
            if self._pausing():
                return
            self._window = max(1, self._window // 2)
            self._answered = 0
            self._slow_start = False
            if retry_after:
                self._pause(retry_after)

    def reported(self, used_percent: float, regain_seconds: float) -> None:
        """The network reported how much of its budget is used and, when it is spent, in
        how long access comes back. Answers that come during a pause were sent before it:
        they say nothing new."""
        with self._lock:
            if self._pausing():
                return
            if self._used is not None and used_percent > self._used:
                rise = used_percent - self._used
                self._per_call = min(self._per_call or rise, rise)
            self._used = used_percent
            self._probing = False
            if used_percent >= 100:
                self._pause(regain_seconds or _UNKNOWN_REGAIN)
            self._lock.notify_all()

    def wait_for_resume(self, wait: Callable[[float], object]) -> None:
        """Block while the network asked for a pause (`NotSent` if the pass stops): for a
        call outside the window, such as a lookup before the push."""
        while True:
            with self._lock:
                delay = self._resume_at - self._clock()
            if delay <= 0:
                return
            if wait(delay):
                raise NotSent("the pass is stopping")

    def _pausing(self) -> bool:
        return self._clock() < self._resume_at

    def _pause(self, seconds: float) -> None:
        """Nothing leaves for `seconds`; then one request probes what the budget has."""
        self._resume_at = self._clock() + seconds
        self._used = None
        self._probing = True

    def _limit(self) -> int:
        """The window, narrowed to the calls the budget has left (at least one: the one
        whose answer says the budget is spent)."""
        if self._probing:
            return 1
        if self._used is None or self._per_call is None:
            return self._window
        left = int((100 - self._used) / self._per_call)
        return max(1, min(self._window, left))

    def _delay(self) -> float:
        """Seconds until the next request may leave (0: now)."""
        now = self._clock()
        if now < self._resume_at:
            return self._resume_at - now
        if self._per_window is None:
            return 0.0
        window = self.pace.window_seconds
        while self._sent and self._sent[0] <= now - window:
            self._sent.popleft()
        over = len(self._sent) + self._out - self._per_window  # places to free, less one
        if over < 0:
            return 0.0
        if over < len(self._sent):
            return self._sent[over] + window - now
        # The window is all requests still out: look again once some may have been answered.
        return window / 10


#: How long to pause when a budget is spent and the network did not say for how long: Meta's
#: estimates come in whole minutes.
_UNKNOWN_REGAIN = 60.0

_shared: dict[tuple[Hashable, Pace], Pacer] = {}
_shared_lock = threading.Lock()


def shared_pacer(owner: Hashable, pace: Pace) -> Pacer:
    """The process's one pacer for a quota owner at this pace. Two configs that pace one
    owner differently get one pacer each (a config is told its own knobs); one that pace
    it alike share it, as they share the network's budget."""
    with _shared_lock:
        pacer = _shared.get((owner, pace))
        if pacer is None:
            pacer = _shared[(owner, pace)] = Pacer(pace)
        return pacer


def forget_shared_pacers() -> None:
    """Start every quota owner afresh (tests: each starts a new emulator's budget)."""
    with _shared_lock:
        _shared.clear()
