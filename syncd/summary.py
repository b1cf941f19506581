"""Plain-text tables of what a pass did, for terminals and CI logs alike (no colors, no
box characters, so they survive being piped, grepped and pasted into tickets)."""

from __future__ import annotations

from collections.abc import Sequence

from syncd.results import AudienceResult

_COLUMNS = (
    "audience",
    "network",
    "rows",
    "invalid",
    "members",
    "adds",
    "removes",
    "requests",
    "status",
)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text, right-aligned numbers, two spaces between columns."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int) for row in rows) and rows for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def format_results(results: Sequence[AudienceResult], *, planned: bool = False) -> str:
    """One row per audience, then the invalid values by reason and any errors beneath."""
    headers = list(_COLUMNS)
    if planned:
        headers[headers.index("requests")] = "requests (planned)"
    rows = [
        (
            r.audience,
            r.network,
            r.rows_read,
            sum(r.invalid.values()),
            r.members,
            r.adds,
            r.removes,
            r.requests,
            r.status,
        )
        for r in results
    ]
    notes = []
    for result in results:
        shown = result.checks if planned else [c for c in result.checks if ": ok (" not in c]
        notes.extend(f"  {result.audience}: {check}" for check in shown)
        if result.suppressed:
            notes.append(
                f"  {result.audience}: suppressed: {result.suppressed:,} members left out "
                "(suppressions and erasures), never sent, removed where held"
            )
        if result.held_out_people is not None and result.treated_people is not None:
            notes.append(f"  {result.audience}: holdout: {_groups(result)}")
        if result.invalid:
            reasons = ", ".join(f"{reason} {count:,}" for reason, count in result.invalid.items())
            notes.append(f"  {result.audience}: invalid {reasons}")
        notes.extend(f"  {result.audience}: {note}" for note in result.notes)
        if result.error and result.status != "refused":  # a refusal's checks say why
            notes.append(f"  {result.audience}: {result.status.upper()}: {result.error}")
    table = format_table(headers, rows)
    return table + ("\n" + "\n".join(notes) if notes else "")


def _groups(result: AudienceResult) -> str:
    assert result.held_out_people is not None and result.treated_people is not None
    people = result.treated_people + result.held_out_people
    share = f" ({result.held_out_people / people:.1%})" if people else ""
    return (
        f"{result.treated_people:,} people treated, {result.held_out_people:,} held out"
        f"{share}, never sent"
    )
