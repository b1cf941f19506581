"""The Google Ads emulator's spend controls for tests and the demo: store, generate, restate
and read the rows ``ad_group_audience_view`` and ``campaign_audience_view`` report.

``GoogleAdsEmulator`` mixes these in; they read and change its accounts under its lock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from syncd.destinations.google.sandbox.ads.spend import generate_spend, scaled
from syncd.destinations.google.sandbox.ads.state import Account, SpendRow

__all__ = ["SpendControls"]


class SpendControls:
    """Spend helpers of the Google Ads emulator, per customer (the default one without)."""

    _lock: threading.RLock
    _account: Callable[[str | None], Account]

    def add_spend(self, rows: Iterable[SpendRow], *, customer_id: str | None = None) -> int:
        """Store spend rows (a row with the same day, campaign, ad group and criterion
        replaces). A campaign holds its user lists at one level: Google refuses criteria of
        one type on a campaign and its ad groups at once (CriterionError
        CANNOT_ATTACH_CRITERIA_AT_CAMPAIGN_AND_ADGROUP, google-ads
        google/ads/googleads/v25/errors/types/criterion_error.py), so rows that would need
        that raise ``ValueError``."""
        with self._lock:
            account = self._account(customer_id)
            rows = list(rows)
            levels: dict[int, set[bool]] = {}
            for row in [*account.spend.values(), *rows]:
                levels.setdefault(row.campaign_id, set()).add(row.ad_group_id is None)
            both = sorted(campaign for campaign, found in levels.items() if len(found) > 1)
            if both:
                raise ValueError(
                    f"campaigns {both} would target user lists at campaign and ad group level "
                    "at once (CANNOT_ATTACH_CRITERIA_AT_CAMPAIGN_AND_ADGROUP)"
                )
            for row in rows:
                account.spend[row.key] = row
            return len(rows)

    def generate_spend(
        self,
        start: dt.date,
        end: dt.date,
        *,
        customer_id: str | None = None,
        user_list_ids: Iterable[int] | None = None,
        seed: int = 0,
    ) -> list[SpendRow]:
        """Store and return deterministic daily spend (see ``spend``) on the given lists.

        Without ``user_list_ids`` the account's current lists are targeted.
        """
        with self._lock:
            account = self._account(customer_id)
            lists = list(user_list_ids) if user_list_ids is not None else list(account.user_lists)
            rows = generate_spend(account.customer_id, lists, start, end, seed=seed)
            self.add_spend(rows, customer_id=account.customer_id)
            return rows

    def restate(
        self,
        day: dt.date,
        *,
        customer_id: str | None = None,
        factor: float | None = None,
        ad_group_id: int | None = None,
        user_list_id: int | None = None,
        impressions: int | None = None,
        clicks: int | None = None,
        cost_micros: int | None = None,
    ) -> int:
        """Change a past day's numbers, as networks restate recent days; returns rows changed.

        Scales by ``factor`` and/or sets the given values, on the rows of ``day`` (narrowed
        to one ad group or one user list when given).
        """
        with self._lock:
            account = self._account(customer_id)
            changed = 0
            for key, row in list(account.spend.items()):
                if row.date != day or ad_group_id not in (None, row.ad_group_id):
                    continue
                if user_list_id not in (None, row.user_list_id):
                    continue
                new = scaled(row, factor) if factor is not None else row
                account.spend[key] = replace(
                    new,
                    impressions=new.impressions if impressions is None else impressions,
                    clicks=new.clicks if clicks is None else clicks,
                    cost_micros=new.cost_micros if cost_micros is None else cost_micros,
                )
                changed += 1
            return changed

    def spend(self, customer_id: str | None = None) -> list[SpendRow]:
        """The stored spend rows, by day, campaign, ad group and criterion."""
        with self._lock:
            return sorted(self._account(customer_id).spend.values(), key=lambda row: row.key)
