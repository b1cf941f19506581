"""`syncd audit CONFIG [--since D] [--format table|json]`: what syncd did about erasures and
suppressions, for a privacy officer.

It lists every erasure request (`syncd forget`) with its outcome on each audience, and every
run whose segment had members left out by a suppression or an erasure, read from the state
without writing it. Nothing in it can be turned back into an identifier: it shows ids,
counts, outcomes, times and the networks' reasons, never a digest or a member key.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click

from syncd.cli_support import EXIT_FAILED, config_argument, load_config_or_exit
from syncd.state import StateUnavailable
from syncd.state.backends import Backend
from syncd.state.store import StateFormatError

#: How far back the audit looks without --since: as long as run records are kept by default
#: (`Retention.run_days`).
DEFAULT_DAYS = 90


@dataclass(frozen=True)
class AudienceOutcome:
    """What one erasure did on one audience."""

    audience: str
    network: str
    audience_id: str
    outcome: str
    members: int
    requests: int
    reason: str | None
    updated_at: str


@dataclass(frozen=True)
class Erasure:
    erasure_id: str
    requested_at: str
    people: int
    status: str
    finished_at: str | None
    outcomes: list[AudienceOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class SuppressionRun:
    """A run whose segment had members left out by suppressions or erasures."""

    run_id: str
    finished_at: str | None
    audience: str
    network: str
    suppressed: int
    removes: int
    status: str


@dataclass(frozen=True)
class Audit:
    since: str
    erasures: list[Erasure]
    suppressions: list[SuppressionRun]


def gather(backend: Backend, since: dt.datetime) -> Audit:
    """Erasures requested since `since` (and any not done yet, however old), and runs
    started since then that left suppressed members out, oldest first."""
    from syncd.status.reading import tables  # those others add may not be there yet

    erasures = _erasures(backend, since) if "erasures" in tables(backend) else []
    return Audit(_time(since) or "", erasures, _suppression_runs(backend, since))


def _erasures(backend: Backend, since: dt.datetime) -> list[Erasure]:
    found = {
        str(erasure_id): Erasure(
            str(erasure_id), _time(at) or "", int(people), str(status), _time(end)
        )
        for erasure_id, at, people, status, end in backend.execute(
            "SELECT erasure_id, requested_at, people, status, finished_at FROM erasures "
            "WHERE requested_at >= ? OR status <> 'done' ORDER BY requested_at, erasure_id",
            [since],
        )
    }
    if not found:
        return []
    rows = backend.execute(
        "SELECT o.erasure_id, o.audience, o.network, o.audience_id, o.outcome, o.members, "
        "o.requests, o.reason, o.updated_at FROM erasure_outcomes o JOIN erasures e "
        "ON e.erasure_id = o.erasure_id WHERE e.requested_at >= ? OR e.status <> 'done' "
        "ORDER BY o.audience, o.network, o.audience_id",
        [since],
    )
    for erasure_id, audience, network, audience_id, outcome, members, requests, why, at in rows:
        found[str(erasure_id)].outcomes.append(
            AudienceOutcome(
                str(audience),
                str(network),
                str(audience_id),
                str(outcome),
                int(members),
                int(requests),
                None if why is None else str(why),
                _time(at) or "",
            )
        )
    return list(found.values())


def _suppression_runs(backend: Backend, since: dt.datetime) -> list[SuppressionRun]:
    """Runs whose summary (`syncd.results.AudienceResult`, JSON with sorted keys) counts
    suppressed members; the text filter skips the runs that had none without parsing them."""
    rows = backend.execute(
        "SELECT run_id, finished_at, audience, status, summary FROM runs WHERE started_at >= ? "
        """AND summary LIKE '%"suppressed": %' AND summary NOT LIKE '%"suppressed": 0,%' """
        """AND summary NOT LIKE '%"suppressed": 0}%' ORDER BY started_at, run_id""",
        [since],
    )
    found = []
    for run_id, finished_at, audience, status, text in rows:
        summary = json.loads(text)
        suppressed = summary.get("suppressed")
        if not isinstance(suppressed, int) or suppressed <= 0:
            continue
        found.append(
            SuppressionRun(
                str(run_id),
                _time(finished_at),
                str(audience),
                str(summary.get("network", "")),
                suppressed,
                int(summary.get("removes", 0)),
                str(status),
            )
        )
    return found


def _time(value: dt.datetime | None) -> str | None:
    """A time in UTC, to the second, ISO 8601."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def as_json(audit: Audit) -> str:
    return json.dumps(asdict(audit), indent=2)


def as_table(audit: Audit) -> str:
    """Two plain-text tables: erasures (one line per audience reached) and runs with
    suppressed members."""
    from syncd.summary import format_table

    lines = [f"Erasures requested since {audit.since} (and any not done)"]
    rows: list[Sequence[object]] = []
    for erasure in audit.erasures:
        head = [erasure.erasure_id, erasure.requested_at, erasure.people, erasure.status]
        if not erasure.outcomes:
            rows.append([*head, "", "", "", "", "", ""])
        for outcome in erasure.outcomes:
            rows.append(
                [
                    *head,
                    outcome.audience,
                    outcome.network,
                    outcome.outcome,
                    outcome.members,
                    outcome.requests,
                    outcome.reason or "",
                ]
            )
    headers = ["erasure", "requested", "people", "status", "audience", "network", "outcome"]
    headers += ["members", "requests", "reason"]
    lines.append(format_table(headers, rows) if rows else "  none")
    lines += ["", f"Runs with suppressed members since {audit.since}"]
    runs = [
        [r.finished_at or "", r.audience, r.network, r.suppressed, r.removes, r.status, r.run_id]
        for r in audit.suppressions
    ]
    headers = ["finished", "audience", "network", "suppressed", "removes", "status", "run"]
    lines.append(format_table(headers, runs) if runs else "  none")
    return "\n".join(lines)


def since_option(value: str | None, now: dt.datetime) -> dt.datetime:
    """--since: a date or an ISO time (UTC unless it says), or a number of days like 30d;
    DEFAULT_DAYS ago without it."""
    if value is None:
        return now - dt.timedelta(days=DEFAULT_DAYS)
    text = value.strip()
    if text.endswith("d") and text[:-1].isdigit():
        return now - dt.timedelta(days=int(text[:-1]))
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a date (2025-01-31), a time nor a number of days (30d)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@click.command(context_settings={"max_content_width": 100})
@config_argument
@click.option(
    "--since",
    metavar="D",
    help=f"From when: a date (2025-01-31), an ISO time, or days back (30d). Default: "
    f"{DEFAULT_DAYS} days back.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A plain-text table, or a JSON document for records.",
)
def audit(config_path: Path, since: str | None, output: str) -> None:
    """What syncd did for privacy: every erasure (`syncd forget`) with its outcome per
    audience and network, and every run that left members out because a suppression or an
    erasure covers them. Ids, counts, outcomes and times only: nothing in it can be turned
    back into an identifier.

    Reads only: it never creates a state nor takes a lease. Exit codes: 0, or 1 when the
    state cannot be read.
    """
    from syncd.status.reading import open_reader

    config = load_config_or_exit(config_path)
    start = since_option(since, dt.datetime.now(dt.UTC))
    try:
        backend = open_reader(config.state)
        if backend is None:
            found = Audit(_time(start) or "", [], [])
        else:
            try:
                found = gather(backend, start)
            finally:
                backend.close()
    except (StateUnavailable, StateFormatError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(as_json(found) if output == "json" else as_table(found))
