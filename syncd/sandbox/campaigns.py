"""Campaign plans over custom audiences and their deterministic daily delivery, shared by
the emulators of networks that report spend per group of audiences (Meta's ad sets,
TikTok's ad groups); each emulator keeps its own plans, ids and wire shapes.

A plan is one group to build: its campaign, whether it bills per click or per thousand
impressions, the audience slots it targets and excludes, and the ranges its daily numbers
are drawn from. Slots index the audiences in the network's order and repeat round-robin when
there are fewer audiences than slots. A day's numbers come from a ``random.Random`` seeded by
(seed, account, day, group id), so the same arguments always give the same numbers and adding
days never changes earlier ones.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["Campaigns", "DayOfDelivery", "Placed", "Plan"]

_A = TypeVar("_A")


class _Group(Protocol):
    """An ad set or ad group as a network's emulator holds it: built from the plan of its
    ``name``."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


_G = TypeVar("_G", bound=_Group)


@dataclass(frozen=True, slots=True)
class Plan:
    """One ad set or ad group to build, and how it delivers."""

    campaign: str
    name: str
    per_click: bool  # CPC; else per thousand impressions (CPM)
    targets: tuple[int, ...]  # audience slots
    excludes: tuple[int, ...]
    impressions: tuple[int, int]
    ctr: tuple[float, float]
    price: tuple[float, float]  # CPC or CPM in currency units


@dataclass(frozen=True, slots=True)
class Placed(Generic[_A]):
    """A plan over actual audiences: its position among the plans (from 1), the number of
    its campaign (from 1, in order of first use) and the audiences it targets and excludes
    (an audience both targeted and excluded is only targeted)."""

    number: int
    plan: Plan
    campaign_number: int
    targeted: tuple[_A, ...]
    excluded: tuple[_A, ...]


@dataclass(frozen=True, slots=True)
class DayOfDelivery:
    """One group's numbers for one day; spend in whole cents, as the networks bill."""

    spend_cents: int
    impressions: int
    clicks: int


@dataclass(frozen=True)
class Campaigns:
    """One network's plans, and the share of a weekday's impressions that Saturdays and
    Sundays deliver."""

    plans: tuple[Plan, ...]
    weekend_factor: float

    def place(self, audiences: Sequence[_A]) -> list[Placed[_A]]:
        """Every plan over ``audiences``, taken in the order given; slots repeat when few."""
        if not audiences:
            raise ValueError("spend needs at least one custom audience to target")
        campaigns: dict[str, int] = {}
        placed = []
        for index, plan in enumerate(self.plans):
            number = campaigns.setdefault(plan.campaign, len(campaigns) + 1)
            targeted = tuple(
                dict.fromkeys(audiences[slot % len(audiences)] for slot in plan.targets)
            )
            excluded = tuple(
                audience
                for audience in (audiences[slot % len(audiences)] for slot in plan.excludes)
                if audience not in targeted
            )
            placed.append(Placed(index + 1, plan, number, targeted, excluded))
        return placed

    def deliver(
        self, groups: Sequence[_G], account: str, start: dt.date, end: dt.date, seed: int
    ) -> list[tuple[dt.date, _G, DayOfDelivery]]:
        """Every group's numbers on every day from ``start`` to ``end`` inclusive, each drawn
        from a generator seeded by (seed, account, day, group id)."""
        if end < start:
            raise ValueError("end is before start")
        plans = {plan.name: plan for plan in self.plans}
        return [
            (day, group, self._day(plans[group.name], day, f"{seed}:{account}:{day}:{group.id}"))
            for day in (start + dt.timedelta(days=n) for n in range((end - start).days + 1))
            for group in groups
        ]

    def _day(self, plan: Plan, day: dt.date, key: str) -> DayOfDelivery:
        rng = random.Random(key)
        weekend = self.weekend_factor if day.weekday() >= 5 else 1.0
        impressions = round(rng.randint(*plan.impressions) * weekend)
        clicks = round(impressions * rng.uniform(*plan.ctr))
        unit = rng.uniform(*plan.price)
        spend = clicks * unit if plan.per_click else impressions / 1000 * unit
        return DayOfDelivery(round(spend * 100), impressions, clicks)
