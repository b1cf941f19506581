"""`syncd report --html`: one self-contained page, charts drawn as inline SVG.

No script, no font, no stylesheet is fetched: the file opens offline, from an email
attachment or a CI artifact, and looks the same everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from syncd.spend.report import SegmentSpend, money

_PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04")
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#111}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}
p.sub{color:#555;margin:0 0 1rem}table{border-collapse:collapse}
th,td{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
svg text{font:12px system-ui,sans-serif;fill:#333}.grid{stroke:#e5e5e5}
.note{color:#555;max-width:46rem}
"""


def render(
    title: str,
    segments: Sequence[SegmentSpend],
    daily: dict[str, dict[dt.date, float]],
    period: tuple[dt.date, dt.date] | None,
) -> str:
    """The whole page as a string."""
    when = f"{period[0]} to {period[1]}" if period else "no spend in this period"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1><p class=sub>{escape(when)}</p>",
        "<h2>Spend per segment over time</h2>",
        _line_chart(daily),
        "<h2>Cost per click (CPC) per segment</h2>",
        _bar_chart([(f"{s.segment} · {s.network}", s.cpc, s.currency) for s in segments]),
        "<h2>Cost per thousand impressions (CPM) per segment</h2>",
        _bar_chart([(f"{s.segment} · {s.network}", s.cpm, s.currency) for s in segments]),
        "<h2>Totals</h2>",
        _table(segments),
        "<p class=note>Google spend is per audience criterion. Meta reports spend per ad set; "
        "an ad set targeting several custom audiences has its spend split evenly across "
        "them (the share column of the spend table). Excluded audiences carry no spend.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _line_chart(daily: dict[str, dict[dt.date, float]]) -> str:
    width, height, left, bottom, top, right = 760, 300, 60, 40, 16, 190
    days = sorted({day for series in daily.values() for day in series})
    if not days:
        return "<p>No spend yet.</p>"
    peak = max(max(series.values()) for series in daily.values()) or 1.0
    span = max((days[-1] - days[0]).days, 1)

    def x(day: dt.date) -> float:
        return left + (day - days[0]).days / span * (width - left - right)

    def y(value: float) -> float:
        return top + (1 - value / peak) * (height - top - bottom)

    shapes = [f'<svg width={width} height={height} role=img aria-label="spend over time">']
    for step in range(5):
        value = peak * step / 4
        shapes.append(
            f"<line class=grid x1={left} x2={width - right} y1={y(value):.1f} y2={y(value):.1f} />"
            f"<text x={left - 6} y={y(value) + 4:.1f} text-anchor=end>{value:,.0f}</text>"
        )
    for day in (days[0], days[len(days) // 2], days[-1]):
        shapes.append(
            f"<text x={x(day):.1f} y={height - bottom + 18} text-anchor=middle>{day}</text>"
        )
    for index, (segment, series) in enumerate(sorted(daily.items())):
        color = _PALETTE[index % len(_PALETTE)]
        points = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in sorted(series.items()))
        legend_y = top + 16 * index
        shapes.append(
            f'<polyline fill=none stroke="{color}" stroke-width=2 points="{points}" />'
            f'<rect x={width - right + 14} y={legend_y} width=10 height=10 fill="{color}" />'
            f"<text x={width - right + 30} y={legend_y + 9}>{escape(segment)}</text>"
        )
    shapes.append("</svg>")
    return "".join(shapes)


def _bar_chart(bars: Sequence[tuple[str, float | None, str]]) -> str:
    shown = [(label, value, currency) for label, value, currency in bars if value is not None]
    if not shown:
        return "<p>Nothing to show.</p>"
    label_width, bar_width, row = 260, 380, 22
    peak = max(value for _, value, _ in shown) or 1.0
    height = row * len(shown) + 8
    shapes = [f"<svg width={label_width + bar_width + 110} height={height} role=img>"]
    for index, (label, value, currency) in enumerate(shown):
        top = 4 + index * row
        length = value / peak * bar_width
        shapes.append(
            f"<text x={label_width - 8} y={top + 14} text-anchor=end>{escape(label)}</text>"
            f"<rect x={label_width} y={top + 3} width={length:.1f} height={row - 8} "
            f'fill="{_PALETTE[index % len(_PALETTE)]}" />'
            f"<text x={label_width + length + 6:.1f} y={top + 14}>"
            f"{value:,.2f} {escape(currency)}</text>"
        )
    shapes.append("</svg>")
    return "".join(shapes)


def _table(segments: Sequence[SegmentSpend]) -> str:
    head = (
        "<table><tr><th>segment</th><th>network</th><th>spend</th><th>impressions</th>"
        "<th>clicks</th><th>CPC</th><th>CPM</th><th>billing</th><th>audience</th>"
        "<th>match rate</th></tr>"
    )
    rows = [
        "<tr>"
        + "".join(
            f"<td>{escape(cell)}</td>"
            for cell in (
                s.segment,
                s.network,
                f"{s.cost:,.2f} {s.currency}",
                f"{s.impressions:,}",
                f"{s.clicks:,}",
                money(s.cpc),
                money(s.cpm),
                s.billing_models,
                f"{s.audience_members:,}" if s.audience_members is not None else "-",
                f"{s.match_rate:.0%}" if s.match_rate is not None else "-",
            )
        )
        + "</tr>"
        for s in segments
    ]
    return head + "".join(rows) + "</table>"
