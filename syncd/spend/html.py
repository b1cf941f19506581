"""`syncd report --html`: one self-contained page, charts drawn as inline SVG.

No script, no font, no stylesheet is fetched: the file opens offline, from an email
attachment or a CI artifact, and looks the same everywhere.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from html import escape

from syncd.spend.segments import SegmentSpend, money

_PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04")
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#111}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:2rem 0 .2rem}
h3{font-size:1rem;margin:1.2rem 0 .2rem}
p.sub{color:#555;margin:0 0 1rem}p.what{color:#555;margin:0 0 .5rem;max-width:46rem}
table{border-collapse:collapse}
th,td{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
svg text{font:12px system-ui,sans-serif;fill:#333}svg text.axis{fill:#555}
.grid{stroke:#e5e5e5}.base{stroke:#999}
.note{color:#555;max-width:46rem}
"""


def render(
    title: str,
    segments: Sequence[SegmentSpend],
    daily: dict[str, dict[dt.date, float]],
    period: tuple[dt.date, dt.date] | None,
    more: str = "",
) -> str:
    """The whole page as a string; `more` is HTML put last (the P&L's charts,
    `syncd.lift.pnl_html`, which draws on this module's styles)."""
    currencies = sorted({s.currency for s in segments if s.currency})
    unit = currencies[0] if len(currencies) == 1 else "mixed currencies"
    if period:
        total = sum(s.cost for s in segments)
        networks = _joined(sorted({s.network for s in segments}))
        when = (
            f"{period[0]} to {period[1]} · {total:,.2f} {unit} on {networks} · "
            f"{len({s.segment for s in segments})} segments"
        )
    else:
        when = "no spend in this period"
    colors = {
        segment: _PALETTE[index % len(_PALETTE)]
        for index, segment in enumerate(sorted({s.segment for s in segments} | set(daily)))
    }
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(title)}, {escape(when)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1><p class=sub>{escape(when)}</p>",
        "<h2>Spend per segment over time</h2>",
        f"<p class=what>{escape(_over_time(segments))}</p>",
        _line_chart(daily, colors, unit),
        "<h2>Cost per click (CPC) per segment</h2>",
        "<p class=what>All of a segment's spend on a network over its clicks.</p>",
        _bar_chart([(s.segment, s.network, s.cpc, s.currency) for s in segments], colors),
        "<h2>Cost per thousand impressions (CPM) per segment</h2>",
        "<p class=what>All of a segment's spend on a network over its impressions, per "
        "thousand.</p>",
        _bar_chart([(s.segment, s.network, s.cpm, s.currency) for s in segments], colors),
        "<h2>Totals</h2>",
        _table(segments),
        "<p class=note>Billing says how the spend was bought: CPC (per click) or CPM (per "
        "thousand impressions). A network that reports spend per audience gives rows that "
        "each belong to one audience; one that reports it per ad set or ad group has the "
        "spend of one targeting several custom audiences split evenly across them (the share "
        "column of the spend table), and its impressions and clicks as evenly as whole "
        "numbers allow. Excluded audiences carry no spend. Audience is the members syncd "
        "holds; match rate is the members the network says it matched after the latest sync, "
        "over the members sent.</p>",
        more,
        "</body></html>",
    ]
    return "\n".join(parts)


def _joined(names: Sequence[str]) -> str:
    """The names as prose: a; a and b; a, b and c."""
    return " and ".join(filter(None, (", ".join(names[:-1]), *names[-1:])))


def _over_time(segments: Sequence[SegmentSpend]) -> str:
    """What the chart over time adds up: every network the rows hold, by its registry name."""
    names = sorted({s.network for s in segments})
    if len(names) > 1:
        return f"Daily spend of each segment, {_joined(names)} together."
    return "Daily spend of each segment" + "".join(f" on {name}" for name in names) + "."


def nice_ticks(peak: float, most: int = 5) -> list[float]:
    """Round axis values from 0 to at least ``peak``: steps of 1, 2, 2.5 or 5 x 10^n, at
    most ``most`` + 1 of them."""
    if peak <= 0:
        return [0.0, 1.0]
    raw = peak / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(f * power for f in (1, 2, 2.5, 5, 10) if f * power >= raw)
    count = math.ceil(peak / step - 1e-9)
    return [step * index for index in range(count + 1)]


def _line_chart(daily: dict[str, dict[dt.date, float]], colors: dict[str, str], unit: str) -> str:
    width, height, left, bottom, top, right = 800, 320, 72, 44, 16, 190
    days = sorted({day for series in daily.values() for day in series})
    if not days:
        return "<p>No spend yet.</p>"
    ticks = nice_ticks(max(max(series.values()) for series in daily.values()))
    peak = ticks[-1]
    span = max((days[-1] - days[0]).days, 1)

    def x(day: dt.date) -> float:
        return left + (day - days[0]).days / span * (width - left - right)

    def y(value: float) -> float:
        return top + (1 - value / peak) * (height - top - bottom)

    shapes = [f'<svg width={width} height={height} role=img aria-label="spend over time">']
    decimals = 0 if ticks[1] >= 1 else 2
    for value in ticks:
        line_class = "base" if value == 0 else "grid"
        shapes.append(
            f"<line class={line_class} x1={left} x2={width - right} y1={y(value):.1f} "
            f"y2={y(value):.1f} />"
            f"<text class=axis x={left - 6} y={y(value) + 4:.1f} text-anchor=end>"
            f"{value:,.{decimals}f}</text>"
        )
    middle = (top + height - bottom) / 2
    shapes.append(
        f'<text class=axis transform="translate(14 {middle:.0f}) rotate(-90)" '
        f"text-anchor=middle>spend per day ({escape(unit)})</text>"
    )
    step = max(1, math.ceil(len(days) / 7))
    for day in days[::step]:
        shapes.append(
            f"<line class=base x1={x(day):.1f} x2={x(day):.1f} y1={height - bottom} "
            f"y2={height - bottom + 4} />"
            f"<text class=axis x={x(day):.1f} y={height - bottom + 18} text-anchor=middle>"
            f"{day:%b %d}</text>"
        )
    for index, (segment, series) in enumerate(sorted(daily.items())):
        color = colors.get(segment, _PALETTE[index % len(_PALETTE)])
        points = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in sorted(series.items()))
        legend_y = top + 18 * index
        shapes.append(
            f'<polyline fill=none stroke="{color}" stroke-width=2 points="{points}" />'
            f'<rect x={width - right + 14} y={legend_y} width=12 height=12 fill="{color}" />'
            f"<text x={width - right + 32} y={legend_y + 10}>{escape(segment)}</text>"
        )
    shapes.append("</svg>")
    return "".join(shapes)


def _bar_chart(bars: Sequence[tuple[str, str, float | None, str]], colors: dict[str, str]) -> str:
    """Horizontal bars, largest first, each in its segment's color (as in the line chart)."""
    shown = sorted(
        ((segment, network, value, currency) for segment, network, value, currency in bars
         if value is not None),
        key=lambda bar: (-bar[2], bar[0], bar[1]),
    )  # fmt: skip
    if not shown:
        return "<p>Nothing to show.</p>"
    label_width, bar_width, row = 230, 420, 22
    peak = shown[0][2] or 1.0
    height = row * len(shown) + 8
    shapes = [f"<svg width={label_width + bar_width + 110} height={height} role=img>"]
    for index, (segment, network, value, currency) in enumerate(shown):
        top = 4 + index * row
        length = max(value / peak * bar_width, 1.0)
        label = f"{segment} · {network}"
        shapes.append(
            f"<text x={label_width - 8} y={top + 14} text-anchor=end>{escape(label)}</text>"
            f"<rect x={label_width} y={top + 3} width={length:.1f} height={row - 8} "
            f'fill="{colors.get(segment, _PALETTE[0])}" />'
            f"<text x={label_width + length + 6:.1f} y={top + 14}>"
            f"{value:,.2f} {escape(currency)}</text>"
        )
    shapes.append(f"<line class=base x1={label_width} x2={label_width} y1=2 y2={height - 2} />")
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
