"""How the audience P&L is shown: a text table with a verdict in plain words per audience
for people, and the same lines with every number as CSV or JSON for scripts (and for
`syncd.lift.pnl_table`). One function (`pnl_rows`) makes the numbers all three print, so
they cannot disagree."""

from __future__ import annotations

import csv
import io
import json
import math

from syncd.lift.estimate import Estimate, Interval, Lift, Ratio, minimum_detectable_effect
from syncd.lift.pnl import AudiencePnl, PnlReport

#: What to write when no audience has a holdout: the one line of YAML that adds one.
HINT = (
    "No audience has a holdout, so there is no P&L to show. Add one to a segment and sync: "
    "`holdout: {fraction: 0.1}` under segments.<name>, and an `outcomes:` block (see README, "
    "Audience P&L)."
)

_TEXT, _COUNT, _NUMBER, _FLAG = "VARCHAR", "BIGINT", "DOUBLE PRECISION", "BOOLEAN"


def _interval_of(name: str) -> dict[str, str]:
    return {name: _NUMBER, f"{name}_low": _NUMBER, f"{name}_high": _NUMBER}


#: The columns of a P&L row (`pnl_rows`), in order, with their SQL types (`--pnl-table`).
PNL_COLUMNS: dict[str, str] = {
    **dict.fromkeys(("segment", "destination", "network", "since", "until"), _TEXT),
    "attribution_days": _COUNT,
    **dict.fromkeys(("treated_people", "held_out_people"), _COUNT),
    **dict.fromkeys(("treated_converters", "held_out_converters"), _COUNT),
    **dict.fromkeys(("conversion_rate_treated", "conversion_rate_held_out"), _NUMBER),
    **dict.fromkeys(("revenue_per_person_treated", "revenue_per_person_held_out"), _NUMBER),
    **_interval_of("incremental_conversions"),
    "incremental_conversions_significant": _FLAG,
    **_interval_of("incremental_revenue"),
    "incremental_revenue_significant": _FLAG,
    "spend": _NUMBER,
    "currency": _TEXT,
    "spend_reported": _FLAG,
    **_interval_of("cost_per_incremental_conversion"),
    **_interval_of("incremental_roas"),
    "minimum_detectable_effect": _NUMBER,
    "verdict": _TEXT,
}

#: Past this many times the current group sizes, "needs more people" becomes "far more".
_MOST_GROWTH = 1000


def pnl_rows(report: PnlReport) -> list[dict[str, object]]:
    """One flat record per audience: every number of its line, None where there is none
    (an interval's `high` is None too when it is unbounded: a cost per incremental
    conversion whose conversions may be zero)."""
    return [_row(report, line) for line in report.audiences]


def _row(report: PnlReport, line: AudiencePnl) -> dict[str, object]:
    e = line.estimate
    return {
        "segment": line.segment,
        "destination": line.destination,
        "network": line.network,
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "attribution_days": report.attribution_days,
        "treated_people": line.treated.people,
        "held_out_people": line.held_out.people,
        "treated_converters": line.treated.converters,
        "held_out_converters": line.held_out.converters,
        "conversion_rate_treated": e.conversion_rate_treated,
        "conversion_rate_held_out": e.conversion_rate_held_out,
        "revenue_per_person_treated": e.revenue_per_person_treated,
        "revenue_per_person_held_out": e.revenue_per_person_held_out,
        **_lift("incremental_conversions", e.incremental_conversions),
        **_lift("incremental_revenue", e.incremental_revenue),
        "spend": line.spend,
        "currency": line.currency,
        "spend_reported": line.spend_reported,
        **_ratio("cost_per_incremental_conversion", e.cost_per_incremental_conversion),
        **_ratio("incremental_roas", e.incremental_roas),
        "minimum_detectable_effect": e.minimum_detectable_effect,
        "verdict": verdict(line),
    }


def _bounds(name: str, interval: Interval | None) -> dict[str, float | None]:
    low, high = (None, None) if interval is None else (interval.low, interval.high)
    return {f"{name}_low": low, f"{name}_high": high if high != math.inf else None}


def _lift(name: str, lift: Lift | None) -> dict[str, object]:
    if lift is None:
        return {name: None, **_bounds(name, None), f"{name}_significant": None}
    return {
        name: lift.value,
        **_bounds(name, lift.interval),
        f"{name}_significant": lift.significant,
    }


def _ratio(name: str, ratio: Ratio | None) -> dict[str, object]:
    if ratio is None:
        return {name: None, **_bounds(name, None)}
    return {name: ratio.value, **_bounds(name, ratio.interval)}


def verdict(line: AudiencePnl) -> str:
    """What the line means, in a few plain words, from the intervals (never the point
    values alone: a lift whose interval spans zero is no lift yet)."""
    e = line.estimate
    conversions = e.incremental_conversions
    if conversions is None:
        return "no people in one of the groups yet"
    roas = e.incremental_roas
    if roas is not None and roas.interval is not None:
        if roas.interval.low > 1:
            return "pays for itself"
        if roas.interval.high < 1:
            return "loses money: returns less than it costs"
    if conversions.significant and conversions.value > 0:
        if not line.spend_reported:
            return "adds conversions; no spend recorded to weigh them against"
        return "adds conversions; too early to say whether it pays for itself"
    if conversions.significant:
        return "fewer conversions than the held-out group"
    more = people_needed(e)
    if more is None:
        return "no detectable lift: the treated convert no more than the held out"
    if more > _MOST_GROWTH * (e.treated_people + e.held_out_people):
        return "no detectable lift: too small to measure at any realistic size"
    return f"no detectable lift yet: needs about {_about(more)} more people"


def people_needed(e: Estimate) -> int | None:
    """How many more people (split as now) would make the observed rise in conversion rate
    the minimum detectable effect: None when there is no rise to detect."""
    treated, held = e.conversion_rate_treated, e.conversion_rate_held_out
    if treated is None or held is None or treated <= held:
        return None
    rise = treated - held
    people = e.treated_people + e.held_out_people
    share = e.treated_people / people

    def detects(total: float) -> bool:
        n_t, n_h = round(total * share), round(total * (1 - share))
        mde = minimum_detectable_effect(n_t, n_h, held)
        return mde is not None and mde <= rise

    if detects(people):
        return 0
    low, high = float(people), float(people) * 2
    while not detects(high):
        if high > people * _MOST_GROWTH * 2:
            return int(high)
        low, high = high, high * 2
    while high - low > max(1.0, low * 0.01):
        middle = (low + high) / 2
        low, high = (low, middle) if detects(middle) else (middle, high)
    return math.ceil(high) - people


def _about(count: int) -> str:
    """Two significant figures: the estimate is no finer than that."""
    if count < 100:
        return f"{count:,}"
    digits = len(str(count)) - 2
    return f"{round(count, -digits):,}"


def pnl_text(report: PnlReport) -> str:
    """The table for people, with the notes that qualify it beneath."""
    from syncd.summary import format_table

    if not report.has_holdouts:
        return HINT
    title = (
        f"Audience P&L from {report.since} to {report.until}\n(conversions within "
        f"{report.attribution_days} days of entering a group; each person counted in the "
        "group they started the window in)"
    )
    headers = ("segment", "network", "treated", "held out", "conv. treated")
    headers += ("conv. held out", "incr. conversions [95% CI]", "incr. revenue [95% CI]")
    headers += ("spend", "cost/incr. conv.", "iROAS", "MDE", "verdict")
    rows = [_text_row(line) for line in report.audiences]
    parts = [title]
    if rows:
        parts.append(format_table(headers, rows))
    parts += _notes(report)
    return "\n".join(parts)


def _text_row(line: AudiencePnl) -> list[object]:
    e = line.estimate
    cost = e.cost_per_incremental_conversion
    return [
        line.segment,
        line.network,
        line.treated.people,
        line.held_out.people,
        _percent(e.conversion_rate_treated),
        _percent(e.conversion_rate_held_out),
        _with_interval(e.incremental_conversions, "{:,.1f}"),
        _with_interval(e.incremental_revenue, "{:,.2f}"),
        f"{line.spend:,.2f}" if line.spend_reported else "0 (none)",
        "-" if cost is None or cost.value is None else f"{cost.value:,.2f}",
        _roas(e.incremental_roas),
        _percent(e.minimum_detectable_effect, "+"),
        verdict(line),
    ]


def _percent(value: float | None, sign: str = "") -> str:
    return "-" if value is None else f"{sign}{value * 100:.2f}%"


def _with_interval(lift: Lift | None, number: str) -> str:
    if lift is None:
        return "-"
    value = number.format(lift.value)
    if lift.interval is None:
        return f"{value} [-]"
    return f"{value} [{number.format(lift.interval.low)}, {number.format(lift.interval.high)}]"


def _roas(roas: Ratio | None) -> str:
    if roas is None or roas.value is None:
        return "-"
    if roas.interval is None:
        return f"{roas.value:.2f}"
    return f"{roas.value:.2f} [{roas.interval.low:.2f}, {roas.interval.high:.2f}]"


def _notes(report: PnlReport) -> list[str]:
    notes = []
    unpaid = [f"{a.segment}->{a.destination}" for a in report.audiences if not a.spend_reported]
    if unpaid:
        notes.append(
            f"spend 0 (none): no spend in the spend table for {', '.join(unpaid)} in the "
            "window (run `syncd spend`); no cost per conversion or iROAS without it"
        )
    if report.without_outcomes:
        notes.append(
            f"not measured: {', '.join(report.without_outcomes)} have a holdout but no "
            "`outcomes:` (top-level, or in the segment) to measure it by"
        )
    counts = report.outcomes
    if counts.without_person or counts.bad:
        notes.append(
            f"outcomes: {counts.kept:,} rows used; left out {counts.without_person:,} with "
            f"no email, phone, external id or ad id, and {counts.bad:,} with no time or a "
            "value that is not a number"
        )
    notes.append(
        "MDE: the smallest rise in conversion rate these group sizes detect 80% of the "
        "time; a lift below it means little yet"
    )
    return notes


def pnl_json(report: PnlReport) -> str:
    return json.dumps(pnl_rows(report), indent=2)


def pnl_csv(report: PnlReport) -> str:
    rows = pnl_rows(report)
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue()
