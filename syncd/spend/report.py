"""What each segment cost, per network: the numbers `syncd report` prints and draws."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.config.models import SyncdConfig
from syncd.destinations.base import MATCHED
from syncd.destinations.registry import network_of
from syncd.spend.segments import SegmentSpend, money
from syncd.state.backends import Backend


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
        rows = [
            [
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
            ]
            for s in self.segments
        ]
        for column in (2, 6, 7, 10):  # numbers written as text: aligned right all the same
            width = max(len(headers[column]), *(len(str(row[column])) for row in rows))
            for row in rows:
                row[column] = str(row[column]).rjust(width)
        table = format_table(headers, rows)
        return f"Spend from {self.first} to {self.last}\n{table}"

    def html(self, more: str = "") -> str:
        """The page; `more` is HTML after the spend's charts (the audience P&L's)."""
        from syncd.spend import html

        title = "syncd: spend per segment"
        return html.render(title, self.segments, daily_cost(self.rows), period(self.rows), more)


def build_report(config: SyncdConfig, first: dt.date, last: dt.date) -> SpendReport:
    """Read the spend table, the audiences' sizes and their latest match rates from the
    state for one period. Reads only."""
    from syncd.spend import open_spend_store
    from syncd.state import open_state
    from syncd.targets import audience_ref

    with open_spend_store(config) as store:
        rows = store.rows(first, last)
    sizes: dict[tuple[str, str], int] = {}
    matched: dict[tuple[str, str], tuple[float, int]] = {}  # key -> (matched, of members)
    with open_state(config.state) as state:
        infos = latest_audience_info(state.backend)
        for audience in config.audiences:
            network = network_of(config.destinations[audience.destination]).name
            key = (audience.segment, network)
            held = state.held_count(audience_ref(config, audience))  # no fold: no lease
            sizes[key] = sizes.get(key, 0) + held
            estimate = matched_members(infos.get(audience.name))
            if estimate is not None:
                done, of = matched.get(key, (0.0, 0))
                matched[key] = (done + estimate[0], of + estimate[1])
    rates = {key: min(done / of, 1.0) for key, (done, of) in matched.items() if of}
    return SpendReport(first, last, rows, by_segment(rows, sizes, rates))


def latest_audience_info(backend: Backend) -> dict[str, tuple[dict[str, object], int | None]]:
    """Per audience (config name): what the network said about it after its latest run
    that read it back (``runs.summary`` -> ``audience_info``), and that run's member count."""
    table = backend.arrow(
        "SELECT audience, summary FROM ("
        " SELECT audience, summary, ROW_NUMBER() OVER ("
        "  PARTITION BY audience ORDER BY finished_at DESC) AS recency FROM runs"
        " WHERE finished_at IS NOT NULL AND summary IS NOT NULL"
        """ AND summary NOT LIKE '%"audience_info": {}%'"""
        ") AS latest WHERE recency = 1"
    )
    found: dict[str, tuple[dict[str, object], int | None]] = {}
    for record in table.to_pylist():
        try:
            summary = json.loads(record["summary"])
        except ValueError:
            continue
        info = summary.get("audience_info") if isinstance(summary, dict) else None
        if isinstance(info, dict) and info:
            members = summary.get("members")
            found[record["audience"]] = (info, members if isinstance(members, int) else None)
    return found


def matched_members(
    latest: tuple[dict[str, object], int | None] | None,
) -> tuple[float, int] | None:
    """(matched, members) of one audience at its latest run, or None when unknown: the
    matched count every network's `describe` gives (`MATCHED`) over the members the run
    sent. A record from before that field has none, until the audience's next pass."""
    if latest is None:
        return None
    info, members = latest
    matched = info.get(MATCHED)
    if not members or not isinstance(matched, int) or isinstance(matched, bool):
        return None
    return float(matched), members


def period(rows: pa.Table) -> tuple[dt.date, dt.date] | None:
    if not len(rows):
        return None
    return pc.min(rows["date"]).as_py(), pc.max(rows["date"]).as_py()
