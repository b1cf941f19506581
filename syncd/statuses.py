"""Request statuses of an asynchronous network (Google Data Manager), read while the push
goes on rather than after it.

Data Manager acknowledges an ingest with a request id and processes it later; only
`requestStatus:retrieve` says whether it was applied. Reading every status after the last
ingest added a round trip per request to the pass, and under a quota-bound sync a second
quota-bound phase (status reads have a budget of their own,
https://developers.google.com/data-manager/api/devguides/limits). Read on a thread of their
own as the acknowledgments come, they overlap the ingests and use the read budget while the
push uses the write one. Rounds back off while nothing changes, so statuses that stay
PROCESSING do not burn the read budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

#: A round of status reads: request ids -> their status now (one poll each).
ReadStatuses = Callable[[list[str]], dict[str, str]]

#: Statuses that will not change. NOT_FOUND: the network does not know the request (any
#: more): how it went will never be known, so its members are sent again.
FINAL = frozenset({"SUCCESS", "FAILED", "PARTIAL_SUCCESS", "NOT_FOUND"})
#: Final statuses whose request was applied (PARTIAL_SUCCESS: some records failed, counted
#: by reason in Google's errorInfo; sending them again meets the same reason).
APPLIED = frozenset({"SUCCESS", "PARTIAL_SUCCESS"})


class StatusWatch:
    """Reads the statuses of the requests `add`ed, on a thread of its own (started at
    once), until `results` or `close`."""

    def __init__(
        self,
        read: ReadStatuses,
        *,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._clock = clock
        self._statuses: dict[str, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._deadline: float | None = None  # set by `results`: read no longer than this
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="syncd-statuses", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop reading now (the push failed or stopped: what is known stays known)."""
        self._finish(self._clock())

    def add(self, request_ids: Iterable[str]) -> None:
        """Requests just acknowledged: their statuses are read from the next round on."""
        with self._lock:
            for request_id in request_ids:
                self._statuses.setdefault(request_id, "PROCESSING")

    def results(self, timeout: float) -> dict[str, str]:
        """Every request's status, waiting up to `timeout` seconds for those still
        PROCESSING; what was read before an error stopped the reading (`error`) stands."""
        self._finish(self._clock() + timeout)
        with self._lock:
            return dict(self._statuses)

    @property
    def error(self) -> BaseException | None:
        """What stopped the reading early (an error retrying cannot fix), if anything."""
        return self._error

    def _finish(self, deadline: float) -> None:
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
        self._wake.set()
        self._thread.join()

    def _pending(self) -> list[str]:
        with self._lock:
            return [r for r, status in self._statuses.items() if status not in FINAL]

    def _run(self) -> None:
        delay = self._first_delay
        while not self._over():
            deadline = self._deadline
            pause = delay if deadline is None else min(delay, max(0.0, deadline - self._clock()))
            if self._wake.wait(pause):  # `results` cut the pause short
                self._wake.clear()
            pending = self._pending()
            if not pending or self._over():
                continue
            try:
                found = self._read(pending)
            except Exception as error:  # reported by `error`, on the pass's thread
                self._error = error
                return
            with self._lock:
                self._statuses.update(found)
            changed = any(status in FINAL for status in found.values())
            delay = self._first_delay if changed else min(delay * 2, self._max_delay)

    def _over(self) -> bool:
        """Whether reading is over: asked to end, and nothing is pending or time is up."""
        deadline = self._deadline
        return deadline is not None and (not self._pending() or self._clock() >= deadline)
