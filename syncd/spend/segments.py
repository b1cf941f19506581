"""A segment's spend on one network and how its ratios are written: what the report computes
and the HTML page draws, in a module of their own so the page need not import the report
that renders it."""

from __future__ import annotations

from dataclasses import dataclass

from syncd.spend.table import cpc, cpm


@dataclass(frozen=True)
class SegmentSpend:
    """One line of the report, shared by the text and the HTML page so they cannot disagree."""

    segment: str
    network: str
    cost: float
    currency: str
    impressions: int
    clicks: int
    billing_models: str
    audience_members: int | None = None
    match_rate: float | None = None

    @property
    def cpc(self) -> float | None:
        return cpc(self.cost, self.clicks)

    @property
    def cpm(self) -> float | None:
        return cpm(self.cost, self.impressions)


def money(value: float | None) -> str:
    """Two decimals, or a dash where the ratio has no denominator (no clicks, no views)."""
    return f"{value:,.2f}" if value is not None else "-"
