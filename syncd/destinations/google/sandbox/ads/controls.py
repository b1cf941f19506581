"""The Google Ads emulator's controls for tests: refusals on demand (the next calls of a
method fail with a ``GoogleAdsFailure`` the test names), late answers on demand (the next
calls of a method answer after N seconds, past a client's deadline), a rotated token, and the
upload jobs as they ran, so a test can tell the order of adds and removals.

``GoogleAdsEmulator`` mixes these in; they read and change its state under its lock. The
server asks ``_next_delay`` when a call arrives and ``_next_failure`` before every handler
(after the headers are checked).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from syncd.destinations.google.sandbox.ads.errors import AdsError, ErrorDetail
from syncd.destinations.google.sandbox.ads.state import Account

__all__ = ["EmulatorControls"]


class EmulatorControls:
    """Public helpers of the Google Ads emulator for fault tests."""

    _lock: threading.RLock
    _access_token: str | None
    _accounts: dict[str, Account]
    _default_customer: str
    _failures: deque[tuple[str, AdsError]]
    _delays: deque[tuple[str, float]]
    _before_call: Callable[[], None]

    def fail_next(
        self,
        kind: str,
        code: str,
        message: str,
        *,
        times: int = 1,
        path: str = "",
        retry_delay: float | None = None,
    ) -> None:
        """Answer the next ``times`` calls whose method path contains ``path`` with one
        error of ``kind`` (the ``ErrorCode`` field, e.g. ``internal_error``) and ``code``
        (its enum name), in the gRPC status that kind gets, without running the call.
        ``retry_delay`` goes in ``details.quota_error_details.retry_delay``, where a
        ``quota_error`` says how long to back off
        (https://developers.google.com/google-ads/api/reference/rpc/v25/QuotaErrorDetails)."""
        if times < 1:
            raise ValueError("times is at least 1")
        error = AdsError(ErrorDetail(kind, code, message, retry_delay=retry_delay))
        with self._lock:
            self._failures.extend([(path, error)] * times)

    def delay_next(self, seconds: float, *, times: int = 1, path: str = "") -> None:
        """Answer the next ``times`` calls whose method path contains ``path`` ``seconds``
        late, on top of the latency, as a hung server does. The call still runs: a client
        whose deadline passed meanwhile has given up on a change that may land."""
        if times < 1 or seconds <= 0:
            raise ValueError("times is at least 1 and seconds more than 0")
        with self._lock:
            self._delays.extend([(path, seconds)] * times)

    def pending_failures(self) -> int:
        """Queued refusals and late answers not yet met (a test checks its faults were all
        spent on calls that reached the emulator)."""
        with self._lock:
            return len(self._failures) + len(self._delays)

    def set_access_token(self, token: str | None) -> None:
        """Accept only this bearer token from now on (None: any), as after a revocation."""
        with self._lock:
            self._access_token = token

    def uploads(self, customer_id: str | None = None) -> list[tuple[str, int]]:
        """The account's upload jobs that ran to SUCCESS, oldest first, each as its
        direction ("add" or "remove") and its count of operations."""
        with self._lock:
            self._before_call()
            account = self._accounts[customer_id or self._default_customer]
            jobs = sorted(account.jobs.values(), key=lambda job: job.id)
            return [
                (job.direction or "", job.operations) for job in jobs if job.status == "SUCCESS"
            ]

    def _next_delay(self, path: str) -> float:
        """The first queued delay for ``path``, spent; 0 when there is none."""
        with self._lock:
            for index, (fragment, seconds) in enumerate(self._delays):
                if fragment in path:
                    del self._delays[index]
                    return seconds
        return 0.0

    def _next_failure(self, path: str) -> AdsError | None:
        """The first queued refusal for ``path``, spent (callers hold the lock)."""
        for index, (fragment, error) in enumerate(self._failures):
            if fragment in path:
                del self._failures[index]
                return error
        return None
