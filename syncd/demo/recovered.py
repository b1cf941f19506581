"""The demo's closing note: each segment's P&L estimate beside the true lift the demo drew
its orders with (`syncd.demo.lifts`), and whether the 95% interval holds the truth.

The truth is checked in conversions, the unit of the P&L's interval: the true lift times
what the segment's treated people would have bought without it. A segment's audiences on
every network share its holdout, so they usually give one estimate; the note names the
networks that agree, and lists any that do not on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncd.demo.lifts import SegmentTruth
from syncd.lift.pnl import AudiencePnl, PnlReport


@dataclass(frozen=True)
class Recovery:
    """One audience's estimate against its segment's truth."""

    line: AudiencePnl
    truth: SegmentTruth

    @property
    def covered(self) -> bool:
        """Whether the 95% interval of incremental conversions holds the expected ones."""
        lift = self.line.estimate.incremental_conversions
        if lift is None or lift.interval is None:
            return False
        return lift.interval.low <= self.truth.expected_incremental <= lift.interval.high

    @property
    def significant(self) -> bool:
        lift = self.line.estimate.incremental_conversions
        return lift is not None and lift.significant


def recoveries(report: PnlReport, truths: dict[str, SegmentTruth]) -> list[Recovery]:
    """Every P&L line of a segment the demo knows the truth of, in the report's order."""
    return [
        Recovery(line, truths[line.segment]) for line in report.audiences if line.segment in truths
    ]


def recovery_note(report: PnlReport, truths: dict[str, SegmentTruth]) -> str:
    """The estimates beside the true lifts, one paragraph per segment, in plain words."""
    by_segment: dict[str, list[Recovery]] = {}
    for recovery in recoveries(report, truths):
        by_segment.setdefault(recovery.line.segment, []).append(recovery)
    lines = ["Estimates beside the true lifts the demo drew its orders with:"]
    for segment, found in by_segment.items():
        truth = found[0].truth
        lines.append(
            f"  {segment}: true {truth.truth.lift:+.0%}, i.e. "
            f"{truth.expected_incremental:+,.1f} conversions among {truth.treated:,} treated."
        )
        groups: dict[str, list[Recovery]] = {}
        for recovery in found:
            groups.setdefault(_estimate(recovery), []).append(recovery)
        for estimate, alike in groups.items():
            networks = _joined([r.line.network for r in alike])
            lines.append(f"    {networks}: estimated {estimate}: {_verdict(alike[0])}")
    return "\n".join(lines)


def _estimate(recovery: Recovery) -> str:
    """`+34% (+41.0 conversions [12.2, 69.8])`: the relative lift over the held-out
    rate, then the P&L's own numbers."""
    e = recovery.line.estimate
    lift = e.incremental_conversions
    if lift is None or lift.interval is None:
        return "nothing yet (a group is empty or never converted)"
    held = e.conversion_rate_held_out or 0.0
    relative = f"{lift.value / (e.treated_people * held):+.0%} " if held else ""
    return (
        f"{relative}({lift.value:+,.1f} conversions, 95% interval "
        f"[{lift.interval.low:+,.1f}, {lift.interval.high:+,.1f}])"
    )


def _verdict(recovery: Recovery) -> str:
    if not recovery.covered:
        return "the interval misses the truth (about 1 segment in 20 does, by chance)."
    if recovery.truth.truth.lift == 0:  # covering a truth of 0: not significant
        return "the interval covers the truth, and no lift is claimed, rightly."
    if recovery.significant:
        return "the interval covers the truth and excludes zero: the lift is found."
    return "the interval covers the truth, but is too wide to tell the lift from none yet."


def _joined(names: list[str]) -> str:
    return " and ".join(filter(None, (", ".join(names[:-1]), *names[-1:])))
