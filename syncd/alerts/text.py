"""What an alert message says, in the plain JSON format and in Slack's.

Every message names its rule, the audience (its config name, or every audience for a
condition of a destination or credential as a whole), what happened and the fix. The rules
write what happened in counts and reasons only, so no identifier ever reaches a webhook.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syncd.state.alerts import FIRING, Outgoing

#: The audience of a condition about a destination or credential as a whole.
WHOLE = "*"


def audience_label(audience: str) -> str:
    return "every audience" if audience == WHOLE else f"audience {audience}"


def text(message: Outgoing) -> str:
    """One paragraph a person reads in a chat or a mail."""
    where = audience_label(message.audience)
    if message.event == FIRING:
        return f"FIRING {message.rule} on {where}: {message.message}. Fix: {message.fix}"
    return (
        f"RESOLVED {message.rule} on {where} (open since {_time(message.opened_at)}): it "
        f"no longer holds. It was: {message.message}. The fix was: {message.fix}"
    )


def body(format_name: str, message: Outgoing) -> dict[str, Any]:
    """The JSON body POSTed to a webhook of `format_name` (json or slack)."""
    if format_name == "slack":
        return slack(message)
    return {
        "status": message.event,
        "rule": message.rule,
        "audience": message.audience,
        "message": message.message,
        "fix": message.fix,
        "opened_at": _time(message.opened_at),
        "resolved_at": _time(message.resolved_at) if message.event != FIRING else None,
        "text": text(message),
    }


def slack(message: Outgoing) -> dict[str, Any]:
    """An incoming-webhook body: `text` (what notifications show) and the same in blocks,
    the state and rule in bold (https://api.slack.com/messaging/webhooks). Text is escaped
    as Slack asks: &, < and > (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    plain = _escaped(text(message))
    icon = ":rotating_light:" if message.event == FIRING else ":white_check_mark:"
    where = _escaped(audience_label(message.audience))
    headline = f"{icon} *{message.event.upper()}* `{message.rule}` on {where}"
    fix = "Fix" if message.event == FIRING else "The fix was"
    return {
        "text": plain,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _escaped(message.message)}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"*{fix}:* {_escaped(message.fix)}"}],
            },
        ],
    }


def _escaped(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
