"""What the Graph emulator holds: ad accounts, their custom audiences, replace sessions,
ad sets and daily Insights rows. Plain data; the emulator guards it with its lock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from syncd.destinations.meta.sandbox.errors import FLAGGED_DESCRIPTION
from syncd.destinations.meta.sandbox.payload import Member
from syncd.destinations.meta.sandbox.spend import (
    AdSet,
    InsightRow,
    build_ad_sets,
    daily_rows,
    restated,
)
from syncd.destinations.meta.sandbox.usage import UsageWindow

__all__ = ["Account", "Audience", "ReplaceSession"]


@dataclass
class ReplaceSession:
    """An open usersreplace session: the members of its batches so far."""

    session_id: int
    started: float  # emulator clock
    last_seq: int
    members: set[Member] = field(default_factory=set)
    received: int = 0


@dataclass
class Audience:
    """A customer-list custom audience on an ad account."""

    id: str
    account: str  # act_<digits>
    name: str
    description: str = ""
    subtype: str = "CUSTOM"
    customer_file_source: str = "USER_PROVIDED_ONLY"
    time_created: int = 0
    members: set[Member] = field(default_factory=set)
    flagged: int | None = None  # an operation_status code such as 471
    flagged_fields: tuple[str, ...] = ()
    refuses_replace: bool = False
    replace: ReplaceSession | None = None

    def node(self) -> dict[str, Any]:
        """Every field the emulator serves, as Graph renders the CustomAudience node."""
        size = len(self.members)
        if self.flagged is not None:
            operation = {"code": self.flagged, "description": FLAGGED_DESCRIPTION}
            delivery = {"code": 300, "description": "This audience is restricted from ads."}
        elif self.replace is not None:
            operation = {"code": 300, "description": "Replacing audience in progress."}
            delivery = {"code": 200, "description": "This audience is ready for use."}
        else:
            operation = {"code": 200, "description": "Normal"}
            delivery = {"code": 200, "description": "This audience is ready for use."}
        node: dict[str, Any] = {
            "id": self.id,
            "account_id": self.account.removeprefix("act_"),
            "name": self.name,
            "description": self.description,
            "subtype": self.subtype,
            "customer_file_source": self.customer_file_source,
            "approximate_count_lower_bound": size,
            "approximate_count_upper_bound": size,
            "operation_status": operation,
            "delivery_status": delivery,
            "time_created": self.time_created,
        }
        if self.flagged is not None:
            node["fields_violating_integrity_policy"] = list(self.flagged_fields)
        return node


@dataclass
class Account:
    """An ad account: its rate budget per business use case, ad sets and Insights rows
    (audiences are global)."""

    id: str
    budgets: dict[str, UsageWindow]  # business use case -> its window
    ad_sets: list[AdSet] = field(default_factory=list)
    insights: dict[tuple[dt.date, str], InsightRow] = field(default_factory=dict)

    def generate_spend(
        self, audiences: list[tuple[str, str]], start: dt.date, end: dt.date, seed: int
    ) -> list[InsightRow]:
        """Ad sets over (id, name) audiences (once), and their daily rows, stored."""
        if not self.ad_sets:
            self.ad_sets = build_ad_sets(audiences)
        rows = daily_rows(self.ad_sets, self.id, start, end, seed)
        self.insights.update((row.key, row) for row in rows)
        return rows

    def restate(
        self, day: dt.date, adset_id: str | None, factor: float | None, **numbers: int | None
    ) -> int:
        """Restate the rows of ``day`` (of one ad set, if given); returns rows changed."""
        changed = 0
        for key, row in list(self.insights.items()):
            if row.day == day and adset_id in (None, row.ad_set.id):
                self.insights[key] = restated(row, factor=factor, **numbers)
                changed += 1
        return changed
