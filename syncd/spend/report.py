"""What each segment cost, per network: the numbers `syncd report` prints and draws."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.config.models import SyncdConfig
from syncd.spend.table import cpc, cpm


@dataclass(frozen=True)
class SegmentSpend:
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


def by_segment(
    rows: pa.Table,
    audience_members: dict[tuple[str, str], int] | None = None,
    match_rates: dict[tuple[str, str], float] | None = None,
) -> list[SegmentSpend]:
    """Totals per (segment, network), shares applied; sizes and match rates where known."""
    if not len(rows):
        return []
    grouped = rows.group_by(["segment", "network"], use_threads=False).aggregate(
        [
            ("cost", "sum"),
            ("impressions", "sum"),
            ("clicks", "sum"),
            ("currency", "distinct"),
            ("billing_model", "distinct"),
        ]
    )
    sizes = audience_members or {}
    rates = match_rates or {}
    result = []
    for row in grouped.to_pylist():
        key = (row["segment"], row["network"])
        result.append(
            SegmentSpend(
                segment=row["segment"],
                network=row["network"],
                cost=round(row["cost_sum"], 2),
                currency="/".join(sorted(c for c in row["currency_distinct"] if c)),
                impressions=row["impressions_sum"],
                clicks=row["clicks_sum"],
                billing_models="+".join(sorted(row["billing_model_distinct"])),
                audience_members=sizes.get(key),
                match_rate=rates.get(key),
            )
        )
    return sorted(result, key=lambda item: (-item.cost, item.segment, item.network))


def daily_cost(rows: pa.Table) -> dict[str, dict[dt.date, float]]:
    """Cost per segment and day (both networks together), for the chart over time."""
    if not len(rows):
        return {}
    grouped = rows.group_by(["segment", "date"], use_threads=False).aggregate([("cost", "sum")])
    series: dict[str, dict[dt.date, float]] = {}
    for row in grouped.sort_by([("segment", "ascending"), ("date", "ascending")]).to_pylist():
        series.setdefault(row["segment"], {})[row["date"]] = row["cost_sum"]
    return series


@dataclass(frozen=True)
class SpendReport:
    """The report over one period, renderable as text or as an HTML page."""

    first: dt.date
    last: dt.date
    rows: pa.Table
    segments: list[SegmentSpend]

    def text(self) -> str:
        from syncd.summary import format_table

        if not self.segments:
            return f"No spend between {self.first} and {self.last}: run `syncd spend` first."
        headers = ("segment", "network", "spend", "currency", "impressions", "clicks", "CPC")
        headers += ("CPM", "billing", "audience", "match rate")
        table = format_table(
            headers,
            [
                (
                    s.segment,
                    s.network,
                    f"{s.cost:,.2f}",
                    s.currency,
                    s.impressions,
                    s.clicks,
                    money(s.cpc),
                    money(s.cpm),
                    s.billing_models,
                    s.audience_members if s.audience_members is not None else "-",
                    f"{s.match_rate:.0%}" if s.match_rate is not None else "-",
                )
                for s in self.segments
            ],
        )
        return f"Spend from {self.first} to {self.last}\n{table}"

    def html(self) -> str:
        from syncd.spend import html

        title = f"syncd: spend per segment, {self.first} to {self.last}"
        return html.render(title, self.segments, daily_cost(self.rows), period(self.rows))


def build_report(config: SyncdConfig, first: dt.date, last: dt.date) -> SpendReport:
    """Read the spend table and the audiences' sizes from the state for one period."""
    from syncd.plan import audience_ref
    from syncd.spend import open_spend_store
    from syncd.state import open_state

    with open_spend_store(config) as store:
        rows = store.rows(first, last)
    sizes: dict[tuple[str, str], int] = {}
    with open_state(config.state) as state:
        for audience in config.audiences:
            network = config.destinations[audience.destination].kind
            key = (audience.segment, "meta" if network == "meta" else "google")
            sizes[key] = sizes.get(key, 0) + state.member_count(audience_ref(config, audience))
    return SpendReport(first, last, rows, by_segment(rows, sizes))


def money(value: float | None) -> str:
    """Two decimals, or a dash where the ratio has no denominator (no clicks, no views)."""
    return f"{value:,.2f}" if value is not None else "-"


def period(rows: pa.Table) -> tuple[dt.date, dt.date] | None:
    if not len(rows):
        return None
    return pc.min(rows["date"]).as_py(), pc.max(rows["date"]).as_py()
