"""`syncd status` drawn for people (one screen of plain text) and for scripts (a JSON
document whose keys are listed in `JSON_KEYS` and the command's help, and only ever grow)."""

from __future__ import annotations

import datetime as dt
import json

from syncd.status.gather import AudienceStatus, LastPass, OpenAlert, Status
from syncd.summary import format_table

#: The JSON document's version: raised only if a key changes meaning or goes.
JSON_VERSION = 1

_HEADERS = (
    "audience",
    "network",
    "last pass",
    "outcome",
    "held",
    "match",
    "next run",
    "alerts",
    "erasures",
    "refresh due",
)
#: Characters of an error shown on the screen; the JSON carries it whole.
_ERROR_WIDTH = 160


def text(status: Status, config_path: str) -> str:
    """The screen: a header, a row per audience, then the errors and open alerts."""
    lines = [_header(status, config_path), ""]
    if not status.exists:
        lines += [f"no state yet: run `syncd sync {config_path}`", ""]
    lines.append(format_table(_HEADERS, [_row(a, status.at) for a in status.audiences]))
    errors = [
        f"  {a.name} {a.last_pass.status}: {_short(a.last_pass.error)}"
        for a in status.audiences
        if a.last_pass is not None and a.last_pass.error
    ]
    if errors:
        lines += ["", "Errors of the last passes:", *errors]
    if status.alerts:
        lines += ["", f"Open alerts ({len(status.alerts)}):"]
        lines += [_alert(alert, status.at) for alert in status.alerts]
    return "\n".join(lines)


def _header(status: Status, config_path: str) -> str:
    spend = (
        f"spend pulled {_ago(status.last_spend_pull, status.at)}"
        if status.last_spend_pull is not None
        else "spend never pulled into the state"
    )
    count = len(status.audiences)
    return "\n".join(
        (
            f"syncd status of {config_path} at {status.at:%Y-%m-%d %H:%M:%S} UTC",
            f"state: {status.state} · {count} audience{'s' if count != 1 else ''} · {spend}",
            f"open alerts: {len(status.alerts)} · erasure requests pending: "
            f"{status.erasure_requests_pending}",
        )
    )


def _row(audience: AudienceStatus, at: dt.datetime) -> tuple[object, ...]:
    last = audience.last_pass
    erasures = str(audience.erasures_pending + audience.erasures_failed)
    if audience.erasures_failed:
        erasures += f" ({audience.erasures_failed} failed)"
    return (
        audience.name,
        audience.network,
        _when(last, at),
        last.status if last else "never synced",
        _held(audience),
        f"{audience.match_rate:.0%}" if audience.match_rate is not None else "-",
        "due now" if audience.next_run <= at else _in(audience.next_run - at),
        len(audience.alerts),
        erasures,
        _refresh(audience.refresh_due, at),
    )


def _held(audience: AudienceStatus) -> int | str:
    if not audience.members_in_flight:
        return audience.members_held
    return f"{audience.members_held:,} ({audience.members_in_flight:,} in flight)"


def _when(last: LastPass | None, at: dt.datetime) -> str:
    if last is None:
        return "-"
    seconds = last.seconds
    took = "running" if seconds is None else f"took {_duration(seconds)}"
    return f"{_ago(last.started_at, at)}, {took}"


def _refresh(due: dt.datetime | None, at: dt.datetime) -> str:
    if due is None:
        return "-"
    return "overdue: next pass" if due <= at else _in(due - at)


def _alert(alert: OpenAlert, at: dt.datetime) -> str:
    return (
        f"  {alert.audience}  {alert.rule}  since {_ago(alert.opened_at, at)}: "
        f"{_short(alert.message)}\n    fix: {alert.fix}"
    )


def _short(error: str | None) -> str:
    first = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    return first if len(first) <= _ERROR_WIDTH else first[: _ERROR_WIDTH - 1] + "…"


def _ago(when: dt.datetime, at: dt.datetime) -> str:
    seconds = (at - when).total_seconds()
    return "just now" if seconds < 1 else f"{_duration(seconds)} ago"


def _in(delta: dt.timedelta) -> str:
    return f"in {_duration(delta.total_seconds())}"


def _duration(seconds: float) -> str:
    """Short and rounded: 0.4 s, 42 s, 12 min, 1 h 38 min, 450 d."""
    if seconds >= 86400:
        return f"{seconds / 86400:.0f} d"
    if seconds >= 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


#: Every key of the JSON document, documented once (the command's help prints them).
JSON_KEYS = """\
version (1), generated_at, state {location, exists}, last_spend_pull (or null),
erasure_requests_pending, alerts [{rule, audience, opened_at, message, fix}], and audiences
[{audience, network, audience_id, schedule, last_pass {started_at, finished_at, seconds,
status, error} (or null), members_held, members_in_flight, matched_members, match_rate (0-1,
or null), next_run, due_now, refresh_due (or null), refresh_overdue, open_alerts, erasures
{pending, failed}}]. Times are ISO 8601 in UTC."""


def as_json(status: Status, *, indent: int | None = 2) -> str:
    """The document `JSON_KEYS` describes."""
    document = {
        "version": JSON_VERSION,
        "generated_at": _iso(status.at),
        "state": {"location": status.state, "exists": status.exists},
        "last_spend_pull": _iso(status.last_spend_pull),
        "erasure_requests_pending": status.erasure_requests_pending,
        "alerts": [_alert_json(alert) for alert in status.alerts],
        "audiences": [_audience_json(a, status.at) for a in status.audiences],
    }
    return json.dumps(document, indent=indent)


def _audience_json(audience: AudienceStatus, at: dt.datetime) -> dict[str, object]:
    last = audience.last_pass
    return {
        "audience": audience.name,
        "network": audience.network,
        "audience_id": audience.audience_id,
        "schedule": audience.schedule,
        "last_pass": None
        if last is None
        else {
            "started_at": _iso(last.started_at),
            "finished_at": _iso(last.finished_at),
            "seconds": last.seconds,
            "status": last.status,
            "error": last.error,
        },
        "members_held": audience.members_held,
        "members_in_flight": audience.members_in_flight,
        "matched_members": audience.matched_members,
        "match_rate": audience.match_rate,
        "next_run": _iso(audience.next_run),
        "due_now": audience.next_run <= at,
        "refresh_due": _iso(audience.refresh_due),
        "refresh_overdue": audience.refresh_due is not None and audience.refresh_due <= at,
        "open_alerts": len(audience.alerts),
        "erasures": {"pending": audience.erasures_pending, "failed": audience.erasures_failed},
    }


def _alert_json(alert: OpenAlert) -> dict[str, object]:
    return {
        "rule": alert.rule,
        "audience": alert.audience,
        "opened_at": _iso(alert.opened_at),
        "message": alert.message,
        "fix": alert.fix,
    }


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.astimezone(dt.UTC).isoformat()
