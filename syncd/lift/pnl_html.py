"""The audience P&L on the HTML report (`syncd report --html`, the demo's report.html): the
lift of every audience with its 95% interval, treated against held out over time per
segment, and in plain words which segments pay for themselves.

Inline SVG like the spend charts (`syncd.spend.html`), no script: the page stays one file
that opens offline. A segment's holdout is shared by its audiences on every network, so
they have the same people: one chart over time per set of people, and the sentence on
paying for itself weighs the segment's lift against all its networks' spend together (each
network's line alone credits the whole lift to its own spend).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from syncd.lift.estimate import Interval
from syncd.lift.pnl import AudiencePnl, DailyGroup, PnlReport
from syncd.spend.html import nice_ticks

TREATED, HELD_OUT = "#2563eb", "#ea580c"


def section(report: PnlReport) -> str:
    """The P&L part of the page; empty when no audience has a holdout."""
    if not report.audiences:
        return ""
    groups = _by_people(report.audiences)
    parts = [
        "<h2>Audience P&amp;L: what each audience added</h2>",
        f"<p class=what>From {report.since} to {report.until}; a person's orders count for "
        f"{report.attribution_days} days after they entered their group, treated (sent to "
        "the network) or held out (never sent). The difference between the two groups is "
        "what the audience added.</p>",
        "<h3>Lift in conversion rate, with its 95% interval</h3>",
        "<p class=what>Treated minus held-out conversion rate, in percentage points, per "
        "audience. An interval that crosses the zero line is no lift yet.</p>",
        _lift_chart(report.audiences),
        "<h3>Which segments pay for themselves</h3>",
        "<ul>" + "".join(f"<li>{escape(_pays(lines))}</li>" for lines in groups) + "</ul>",
    ]
    for lines in groups:
        networks = ", ".join(line.network for line in lines)
        parts.append(f"<h3>{escape(lines[0].segment)} ({escape(networks)}): treated against "
                     "held out over time</h3>")  # fmt: skip
        parts.append(_over_time(lines[0].daily))
    return "\n".join(parts)


def _by_people(lines: Sequence[AudiencePnl]) -> list[list[AudiencePnl]]:
    """The lines grouped by segment and people: the audiences of one segment's holdout."""
    groups: dict[tuple[str, tuple[DailyGroup, ...]], list[AudiencePnl]] = {}
    for line in lines:
        groups.setdefault((line.segment, line.daily), []).append(line)
    return list(groups.values())


def _pays(lines: list[AudiencePnl]) -> str:
    """One sentence: whether the segment's incremental revenue covers what its audiences
    cost, by the interval of revenue over spend (iROAS), never by the point value alone."""
    name = lines[0].segment
    revenue = lines[0].estimate.incremental_revenue
    spend = sum(line.spend for line in lines)
    currency = "/".join(sorted({line.currency for line in lines if line.currency}))
    if not any(line.spend_reported for line in lines) or spend <= 0:
        return f"{name}: no spend recorded for its audiences, so it cannot be weighed yet."
    if revenue is None or revenue.interval is None:
        return f"{name}: too few people or orders in a group to say yet."
    low, high = revenue.interval.low / spend, revenue.interval.high / spend
    returns = (
        f"each 1 {currency} of its {spend:,.2f} {currency} spend returns {low:.2f} to "
        f"{high:.2f} in revenue that would not have come without it (95% interval)"
    )
    if low > 1:
        return f"{name} pays for itself: {returns}."
    if high < 1:
        return f"{name} does not pay for itself: {returns}."
    return f"{name} does not pay for itself yet: {returns}, which holds break-even (1)."


def _rise(line: AudiencePnl) -> tuple[float, Interval] | None:
    """Incremental conversions per treated person, in percentage points."""
    lift = line.estimate.incremental_conversions
    people = line.estimate.treated_people
    if lift is None or lift.interval is None or not people:
        return None
    scale = 100 / people
    return lift.value * scale, Interval(lift.interval.low * scale, lift.interval.high * scale)


def _lift_chart(lines: Sequence[AudiencePnl]) -> str:
    """A point and its error bar per audience on one axis centred on zero."""
    shown = [(line, rise) for line in lines if (rise := _rise(line)) is not None]
    if not shown:
        return "<p>No audience has both groups with orders yet.</p>"
    extent = max(max(abs(i.low), abs(i.high)) for _, (_, i) in shown)
    ticks = nice_ticks(extent, most=3)
    label, plot, row, top = 230, 440, 24, 8
    height = top + row * len(shown) + 30

    def x(value: float) -> float:
        return label + (value + ticks[-1]) / (2 * ticks[-1]) * plot

    shapes = [f'<svg class=pnl width={label + plot + 40} height={height} role=img '
              'aria-label="lift per audience">']  # fmt: skip
    axis_y = top + row * len(shown)
    for value in [-t for t in reversed(ticks[1:])] + ticks:
        shapes.append(
            f"<line class={'base' if value == 0 else 'grid'} x1={x(value):.1f} "
            f"x2={x(value):.1f} y1={top} y2={axis_y} />"
            f"<text class=axis x={x(value):.1f} y={axis_y + 16} text-anchor=middle>"
            f"{value:+g}</text>"
        )
    for index, (line, (value, interval)) in enumerate(shown):
        y = top + row * index + row / 2
        color = TREATED if interval.low > 0 or interval.high < 0 else "#555"
        shapes.append(
            f"<text x={label - 8} y={y + 4:.1f} text-anchor=end>"
            f"{escape(line.segment)} · {escape(line.network)}</text>"
            f"<line x1={x(interval.low):.1f} x2={x(interval.high):.1f} y1={y:.1f} y2={y:.1f} "
            f'stroke="{color}" stroke-width=2 />'
            f'<circle cx={x(value):.1f} cy={y:.1f} r=4 fill="{color}" />'
        )
    shapes.append("</svg>")
    return "".join(shapes)


def _over_time(daily: Sequence[DailyGroup]) -> str:
    """Cumulative conversion rate of each group by day: one line each, treated and held out."""
    days = sorted({point.day for point in daily})
    if not days:
        return "<p>Nobody has entered a group in this window.</p>"
    rates: dict[bool, dict[dt.date, float]] = {}
    for point in daily:
        rates.setdefault(point.held_out, {})[point.day] = 100 * point.converters / point.people
    ticks = nice_ticks(max(max(r.values()) for r in rates.values()), most=4)
    width, height, left, bottom, top, right = 640, 220, 56, 40, 12, 130
    span = max((days[-1] - days[0]).days, 1)

    def x(day: dt.date) -> float:
        return left + (day - days[0]).days / span * (width - left - right)

    def y(value: float) -> float:
        return top + (1 - value / ticks[-1]) * (height - top - bottom)

    shapes = [f'<svg class=pnl width={width} height={height} role=img '
              'aria-label="treated against held out over time">']  # fmt: skip
    for value in ticks:
        shapes.append(
            f"<line class={'base' if value == 0 else 'grid'} x1={left} x2={width - right} "
            f"y1={y(value):.1f} y2={y(value):.1f} />"
            f"<text class=axis x={left - 6} y={y(value) + 4:.1f} text-anchor=end>{value:g}%</text>"
        )
    for day in days[:: max(1, len(days) // 6)]:
        shapes.append(
            f"<text class=axis x={x(day):.1f} y={height - bottom + 18} text-anchor=middle>"
            f"{day:%b %d}</text>"
        )
    for index, (held_out, name, color) in enumerate(
        ((False, "treated", TREATED), (True, "held out", HELD_OUT))
    ):
        series = sorted(rates.get(held_out, {}).items())
        points = " ".join(f"{x(day):.1f},{y(rate):.1f}" for day, rate in series)
        dots = "".join(
            f'<circle cx={x(day):.1f} cy={y(rate):.1f} r=3 fill="{color}" />'
            for day, rate in series
        )
        legend = top + 18 * index
        shapes.append(
            f'<polyline fill=none stroke="{color}" stroke-width=2 points="{points}" />{dots}'
            f'<rect x={width - right + 14} y={legend} width=12 height=12 fill="{color}" />'
            f"<text x={width - right + 32} y={legend + 10}>{name}</text>"
        )
    shapes.append("</svg>")
    return "".join(shapes)
