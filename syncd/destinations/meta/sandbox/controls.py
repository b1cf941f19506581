"""The emulator's controls for tests and the demo: audiences, flags, tokens, permissions,
rate budgets and spend, plus the ad account bookkeeping they share with request handling.

``MetaGraphEmulator`` mixes these in; they read and change its state under its lock.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from syncd.destinations.meta.sandbox import replace
from syncd.destinations.meta.sandbox.errors import THROTTLES, USE_CASE_THROTTLES
from syncd.destinations.meta.sandbox.payload import Member
from syncd.destinations.meta.sandbox.spend import AdSet, InsightRow
from syncd.destinations.meta.sandbox.state import Account, Audience
from syncd.destinations.meta.sandbox.tokens import TokenLife
from syncd.destinations.meta.sandbox.usage import UsageWindow

__all__ = ["ACCOUNT_ID", "EmulatorControls"]

ACCOUNT_ID = re.compile(r"act_\d+")


class EmulatorControls:
    """Public helpers of the Graph emulator, and its ad account bookkeeping."""

    _lock: threading.RLock
    _clock: Callable[[], float]
    _audiences: dict[str, Audience]
    _accounts: dict[str, Account]
    _default_account: str
    _fixed_accounts: bool
    _budgets: dict[str, tuple[int, float]]
    _denied: dict[str, int]
    _token_subcode: int | None
    _token_life: TokenLife
    _throttles: dict[str, tuple[int, int | None]]
    _under_applied: dict[str, deque[int | None]]
    replace_window_seconds: float

    # -- test helpers: audiences ---------------------------------------------------------

    def add_audience(
        self,
        audience_id: str,
        *,
        name: str | None = None,
        description: str = "",
        ad_account_id: str | None = None,
    ) -> None:
        """Create an (empty) audience, as if it had been made in Ads Manager."""
        with self._lock:
            if str(audience_id) not in self._audiences:
                account = self._account(ad_account_id or self._default_account)
                self._audiences[str(audience_id)] = Audience(
                    str(audience_id),
                    account.id,
                    name or f"sandbox audience {audience_id}",
                    description,
                    time_created=int(time.time()),
                )

    def members(self, audience_id: str) -> set[Member]:
        """A copy of an audience's members; raises ``KeyError`` for an unknown audience."""
        with self._lock:
            return set(self._audiences[str(audience_id)].members)

    def audiences(self, ad_account_id: str | None = None) -> dict[str, str]:
        """The audiences of an ad account (default: the first), id -> name."""
        with self._lock:
            account = ad_account_id or self._default_account
            return {a.id: a.name for a in self._audiences.values() if a.account == account}

    def flag_audience(
        self, audience_id: str, code: int = 471, fields: Iterable[str] = ("name",)
    ) -> None:
        """Flag an audience as Meta's integrity review does: operation_status ``code``, and
        every edit of its users refused (code 100, subcode 1713230)."""
        with self._lock:
            audience = self._audiences[str(audience_id)]
            audience.flagged, audience.flagged_fields = code, tuple(fields)

    def unflag_audience(self, audience_id: str) -> None:
        """Lift a flag, as a successful review or a rename does."""
        with self._lock:
            self._audiences[str(audience_id)].flagged = None

    def refuse_replace(self, audience_id: str, refused: bool = True) -> None:
        """Make usersreplace refuse this audience (code 2650): modelled on an audience that
        seeds a lookalike used by an active ad set, whose users Meta will not swap at once."""
        with self._lock:
            self._audiences[str(audience_id)].refuses_replace = refused

    def under_apply(self, audience_id: str, applied: int | None = 0, times: int = 1) -> None:
        """Make the next ``times`` adds or removals of this audience (``POST`` or ``DELETE``
        ``/{id}/users``) apply only their first ``applied`` rows and answer 200 with
        ``num_received`` = the rows applied; with ``applied=None``, apply nothing and leave
        ``num_received`` out of the answer.

        It stands for Graph acknowledging less than was sent: the users edge answers with
        ``num_received`` and ``num_invalid_entries`` (the reference of
        https://developers.facebook.com/docs/marketing-api/reference/custom-audience/users),
        and a client must take what those say was received, not the rows it sent; None is
        an answer that confirms nothing at all."""
        if (applied is not None and applied < 0) or times < 1:
            raise ValueError("applied is a count of rows (or None), times at least 1")
        with self._lock:
            if str(audience_id) not in self._audiences:
                raise KeyError(audience_id)
            queued = self._under_applied.setdefault(str(audience_id), deque())
            queued.extend([applied] * times)

    def replace_in_progress(self, audience_id: str) -> bool:
        """Whether a usersreplace session is open (and not yet past its window)."""
        with self._lock:
            session = self._audiences[str(audience_id)].replace
            now, window = self._clock(), self.replace_window_seconds
            return session is not None and not replace.expired(session, now, window)

    # -- test helpers: tokens, permissions, rate limits ----------------------------------

    def expire_token(self, subcode: int = 463) -> None:
        """Refuse every token from now on with code 190 and ``subcode`` (463 expired, 460
        invalidated by a password change)."""
        with self._lock:
            self._token_subcode = subcode

    def renew_token(self) -> None:
        with self._lock:
            self._token_subcode = None

    def token_expires(
        self, at: dt.datetime | None, data_access_at: dt.datetime | None = None
    ) -> None:
        """Give the token an expiry (None: never, what a system user's non-expiring token
        has), and an end of the app's access to user data: ``debug_token`` reports both, and
        every call is refused (190/463) once either has passed."""
        with self._lock:
            self._token_life.expires_at = int(at.timestamp()) if at else 0
            self._token_life.data_access_expires_at = (
                int(data_access_at.timestamp()) if data_access_at else 0
            )

    def require_app_token(self, app_token: str | None) -> None:
        """Let only this app access token ("app_id|app_secret") ask ``debug_token``, as
        Graph does for a token whose user is not a developer of the app (None: any)."""
        with self._lock:
            self._token_life.app_token = app_token

    def deny(self, object_id: str, code: int = 200) -> None:
        """Refuse requests on an audience or ad account with permission error ``code``
        (200: no role on the object; 10: the app lacks the permission)."""
        with self._lock:
            self._denied[str(object_id)] = code

    def allow(self, object_id: str) -> None:
        with self._lock:
            self._denied.pop(str(object_id), None)

    def exhaust_budget(
        self, ad_account_id: str | None = None, use_case: str = "custom_audience"
    ) -> None:
        """Spend an account's whole call budget of one business use case (custom_audience,
        ads_management, ads_insights) now: its next call is throttled."""
        with self._lock:
            account = self._account(ad_account_id or self._default_account)
            account.budgets[use_case].fill(self._clock())

    def usage(self, ad_account_id: str | None = None, use_case: str = "custom_audience") -> int:
        """An account's budget use of one business use case in percent, as the usage
        headers report it."""
        with self._lock:
            account = self._account(ad_account_id or self._default_account)
            return account.budgets[use_case].percent(self._clock())

    def throttle_with(
        self, code: int, subcode: int | None = None, *, use_case: str = "custom_audience"
    ) -> None:
        """Answer a spent budget of ``use_case`` with another documented throttling error
        of ``errors.THROTTLES`` (say code 4, subcode 1504022 for Insights) instead of the use
        case's own business-use-case code."""
        if (code, subcode) not in THROTTLES:
            raise ValueError(f"({code}, {subcode}) is not one of {sorted(THROTTLES, key=str)}")
        if use_case not in USE_CASE_THROTTLES:
            raise ValueError(f"use_case must be one of {sorted(USE_CASE_THROTTLES)}")
        with self._lock:
            self._throttles[use_case] = (code, subcode)

    # -- test helpers: spend -------------------------------------------------------------

    def generate_spend(
        self,
        start: dt.date,
        end: dt.date,
        audience_ids: Iterable[str] | None = None,
        seed: int = 0,
        *,
        ad_account_id: str | None = None,
    ) -> list[InsightRow]:
        """Create the ad sets over the audiences (default: the account's) and store, and
        return, deterministic daily Insights from ``start`` to ``end`` (dates) inclusive."""
        with self._lock:
            account = self._account(ad_account_id or self._default_account)
            ids = (
                list(audience_ids) if audience_ids is not None else list(self.audiences(account.id))
            )
            named = [(i, self._audiences[i].name if i in self._audiences else i) for i in ids]
            return account.generate_spend(named, start, end, seed)

    def restate(
        self,
        day: dt.date,
        *,
        ad_account_id: str | None = None,
        adset_id: str | None = None,
        factor: float | None = None,
        spend_cents: int | None = None,
        impressions: int | None = None,
        clicks: int | None = None,
    ) -> int:
        """Change a past day's numbers, as Meta restates recent days; returns rows changed."""
        with self._lock:
            account = self._account(ad_account_id or self._default_account)
            numbers = {"spend_cents": spend_cents, "impressions": impressions, "clicks": clicks}
            return account.restate(day, adset_id, factor, **numbers)

    def ad_sets(self, ad_account_id: str | None = None) -> list[AdSet]:
        with self._lock:
            return list(self._account(ad_account_id or self._default_account).ad_sets)

    def insights(self, ad_account_id: str | None = None) -> list[InsightRow]:
        """The stored Insights rows, by day and ad set."""
        with self._lock:
            account = self._account(ad_account_id or self._default_account)
            return [account.insights[key] for key in sorted(account.insights)]

    # -- accounts ----------------------------------------------------------------------------

    def _new_account(self, account_id: str) -> Account:
        if not ACCOUNT_ID.fullmatch(account_id):
            raise ValueError(f"an ad account id is act_<digits>, not {account_id!r}")
        budgets = {use_case: UsageWindow(*budget) for use_case, budget in self._budgets.items()}
        account = Account(account_id, budgets)
        self._accounts[account_id] = account
        return account

    def _known_account(self, account_id: str) -> bool:
        with self._lock:
            return account_id in self._accounts or not self._fixed_accounts

    def _account(self, account_id: str) -> Account:
        """An account by id, created on first use unless the accounts were given."""
        if account_id in self._accounts:
            return self._accounts[account_id]
        if self._fixed_accounts:
            raise KeyError(account_id)
        return self._new_account(account_id)

    def _owner(self, object_id: str) -> Account | None:
        """The ad account a request counts against (None for an unknown object)."""
        if ACCOUNT_ID.fullmatch(object_id):
            return self._account(object_id) if self._known_account(object_id) else None
        audience = self._audiences.get(object_id)
        return self._accounts[audience.account] if audience is not None else None
