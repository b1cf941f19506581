"""An erasure record as a person reads it (a table per request) or a script does (JSON), and
what is left to do: counts, outcomes and the networks' reasons, never an identifier."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from syncd.state.erasures import SETTLED, ErasureRecord, Outcome

#: At most this many invalid lines are listed by number; the rest are counted.
LISTED_LINES = 20


def record_text(record: ErasureRecord) -> str:
    """The request, then one row per audience: network, outcome, members, requests, reason."""
    values = ", ".join(f"{network} {count:,}" for network, count in record.values.items())
    lines = [
        f"erasure {record.erasure_id}: {record.status}",
        f"  requested {_when(record.requested_at)}"
        + (f", finished {_when(record.finished_at)}" if record.finished_at else ""),
        f"  {record.people:,} people, {record.invalid_lines:,} invalid lines; "
        f"hashes held: {values or 'none'}",
    ]
    rows = [("AUDIENCE", "NETWORK", "OUTCOME", "MEMBERS", "REQUESTS", "REASON")]
    rows += [
        (
            o.key.audience,
            o.key.network,
            o.outcome,
            f"{o.members:,}",
            str(o.requests),
            o.reason or "",
        )
        for o in record.outcomes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [
            cell.rjust(width) if index in (3, 4) else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row[:5], widths, strict=True))
        ]
        lines.append(("  " + "  ".join(cells) + "  " + row[5]).rstrip())
    return "\n".join(lines)


def record_json(records: Sequence[ErasureRecord]) -> str:
    """The records as JSON: a list, one object per request, with its outcomes."""
    return json.dumps([_as_dict(record) for record in records], indent=2)


def left_to_do(record: ErasureRecord, known: set[tuple[str, str]], config_path: str) -> list[str]:
    """A line per audience whose outcome is not settled: what is left and how to resume.
    `known` holds the (destination, audience id) of the config's audiences."""
    lines = []
    for outcome in record.outcomes:
        if outcome.outcome in SETTLED:
            continue
        where = f"{record.erasure_id} {outcome.key.audience} ({outcome.key.network})"
        if (outcome.key.destination, outcome.key.audience_id) not in known:
            lines.append(
                f"{where}: {outcome.outcome}: this config has no such audience any more; "
                "run syncd forget with the config that has it"
            )
            continue
        lines.append(
            f"{where}: {outcome.outcome}: {_what(outcome)}; resume with "
            f"`syncd forget {config_path}`"
        )
    return lines


def invalid_text(invalid: dict[int, list[str]]) -> list[str]:
    """The invalid lines by number and reason (never the value), the first few listed."""
    numbers = sorted(invalid)
    lines = [f"line {n}: {', '.join(invalid[n])}" for n in numbers[:LISTED_LINES]]
    if len(numbers) > LISTED_LINES:
        lines.append(f"... and {len(numbers) - LISTED_LINES:,} more invalid lines")
    return lines


def _what(outcome: Outcome) -> str:
    if outcome.reason:
        return outcome.reason
    return "not tried yet" if not outcome.requests else "not confirmed yet"


def _as_dict(record: ErasureRecord) -> dict[str, object]:
    return {
        "erasure_id": record.erasure_id,
        "status": record.status,
        "requested_at": _when(record.requested_at),
        "finished_at": _when(record.finished_at) if record.finished_at else None,
        "people": record.people,
        "invalid_lines": record.invalid_lines,
        "values": dict(record.values),
        "outcomes": [
            {
                "audience": o.key.audience,
                "destination": o.key.destination,
                "audience_id": o.key.audience_id,
                "network": o.key.network,
                "outcome": o.outcome,
                "members": o.members,
                "requests": o.requests,
                "reason": o.reason,
                "updated_at": _when(o.updated_at),
            }
            for o in record.outcomes
        ],
    }


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
