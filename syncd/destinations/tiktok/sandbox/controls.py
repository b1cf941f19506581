"""The TikTok emulator's controls for tests and the demo: advertisers and audiences, the
members TikTok has applied (hashes only), pending changes, refusals on demand (the next N
calls fail with a code), a spent rate budget, a revoked token and a denied advertiser.

``TikTokEmulator`` mixes these in; they read and change its state under its lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from syncd.destinations.tiktok.sandbox.errors import RETURN_CODES
from syncd.destinations.tiktok.sandbox.payload import MemberId, advertiser_id
from syncd.destinations.tiktok.sandbox.state import Audience
from syncd.destinations.tiktok.sandbox.usage import UsageWindow, app_budget

__all__ = ["EmulatorControls", "Failure"]

#: One queued refusal: (path fragment, code, message or None for the code's own).
Failure = tuple[str, int, str | None]


class EmulatorControls:
    """Public helpers of the TikTok emulator."""

    _lock: threading.RLock
    _clock: Callable[[], float]
    _audiences: dict[str, Audience]
    _advertisers: set[str]
    _fixed_advertisers: bool
    _denied: set[str]
    _budget: UsageWindow
    _token_revoked: bool
    _failures: deque[Failure]
    _next_id: int
    processing_seconds: float

    # -- advertisers and audiences ---------------------------------------------------------

    def add_advertiser(self, advertiser: str) -> None:
        """Authorize one more advertiser to the app's token."""
        with self._lock:
            self._advertisers.add(advertiser_id(advertiser))

    def add_audience(
        self,
        audience_id: str | None = None,
        *,
        advertiser: str | None = None,
        name: str | None = None,
        audience_type: str = "Partner",
    ) -> str:
        """Create an empty audience, as if made earlier; returns its id. ``audience_type``
        "Partner" is a streaming audience, "Customer File Audience" a customer-file one."""
        with self._lock:
            owner = advertiser or next(iter(sorted(self._advertisers)), "7000000000000000001")
            self._advertisers.add(owner)
            new_id = audience_id or self._new_id()
            self._audiences[new_id] = Audience(
                new_id,
                owner,
                name or f"sandbox audience {new_id}",
                audience_type,
                None,
                time.time(),
            )
            return new_id

    def audiences(self, advertiser: str | None = None) -> dict[str, str]:
        """Audience id -> name, of one advertiser or of all."""
        with self._lock:
            return {
                a.id: a.name
                for a in self._audiences.values()
                if advertiser is None or a.advertiser == advertiser
            }

    def members(self, audience_id: str) -> set[MemberId]:
        """The (ID type, hash) pairs TikTok has applied so far; ``KeyError`` for an unknown
        audience. Changes still pending are not in it (see ``pending``)."""
        with self._lock:
            audience = self._audiences[str(audience_id)]
            audience.apply_ready(self._clock())
            return set(audience.members)

    def hashes(self, audience_id: str) -> set[str]:
        """The applied members' hashes, whatever their ID type."""
        return {value for _, value in self.members(audience_id)}

    def pending(self, audience_id: str) -> int:
        """Changes accepted for the audience and not yet applied."""
        with self._lock:
            audience = self._audiences[str(audience_id)]
            audience.apply_ready(self._clock())
            return len(audience.pending)

    def process_pending(self, audience_id: str | None = None) -> int:
        """Apply every pending change now, of one audience or of all; returns how many."""
        with self._lock:
            chosen = (
                [self._audiences[str(audience_id)]]
                if audience_id is not None
                else list(self._audiences.values())
            )
            return sum(audience.apply_all() for audience in chosen)

    # -- refusals -----------------------------------------------------------------------------

    def fail_next(
        self, code: int, times: int = 1, *, message: str | None = None, path: str = ""
    ) -> None:
        """Answer the next ``times`` calls whose path contains ``path`` with ``code`` (HTTP 200,
        TikTok's envelope), before the token or the rate budget is looked at and without
        touching any audience. ``message`` defaults to the code's own (``RETURN_CODES``)."""
        if code == 0 or times < 1:
            raise ValueError("code is a non-zero return code and times at least 1")
        if message is None and code not in RETURN_CODES:
            raise ValueError(f"give a message for code {code}: it is not in RETURN_CODES")
        with self._lock:
            self._failures.extend([(path, code, message)] * times)

    def pending_failures(self) -> int:
        """Queued refusals not yet answered (a test checks its faults were all spent)."""
        with self._lock:
            return len(self._failures)

    def revoke_token(self) -> None:
        """Refuse every token from now on with code 40105, as after a revocation."""
        with self._lock:
            self._token_revoked = True

    def restore_token(self) -> None:
        """Accept the token again, as after a new authorization."""
        with self._lock:
            self._token_revoked = False

    def deny(self, advertiser: str) -> None:
        """Refuse calls naming this advertiser with code 40001, as when the authorization of
        the advertiser to the app is withdrawn."""
        with self._lock:
            self._denied.add(str(advertiser))

    def allow(self, advertiser: str) -> None:
        """Lift ``deny``."""
        with self._lock:
            self._denied.discard(str(advertiser))

    # -- rate budget --------------------------------------------------------------------------

    def set_rate_limit(self, calls_per_window: int, window_seconds: float = 1.0) -> None:
        """Replace the app's budget (TikTok's is per second, by call limit level)."""
        with self._lock:
            self._budget = app_budget(
                calls_per_window=calls_per_window, window_seconds=window_seconds
            )

    def exhaust_budget(self) -> None:
        """Spend the app's whole budget now: the next call answers code 40100."""
        with self._lock:
            self._budget.fill(self._clock())

    def budget_used(self) -> int:
        """The budget used now, in percent."""
        with self._lock:
            return self._budget.percent(self._clock())

    # -- bookkeeping --------------------------------------------------------------------------

    def _new_id(self) -> str:
        while str(self._next_id) in self._audiences:
            self._next_id += 1
        self._next_id += 1
        return str(self._next_id - 1)
