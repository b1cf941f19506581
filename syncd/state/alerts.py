"""The alerts syncd raised, and the messages about them still to deliver.

`alerts` is the record an operator (and `syncd status`) reads: one row per condition from
the moment it started, open while `resolved_at` is NULL. `alert_outbox` holds each message
for each webhook until the webhook took it, so delivery happens beside the passes, survives
a process that exits first, and is retried by the next one. Webhooks are named by a digest
of their URL (`syncd.config.alerts.Webhook.digest`), never the secret URL itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from syncd.state.backends import Backend

#: What a message in the outbox says of its alert.
FIRING, RESOLVED = "firing", "resolved"

ALERTS_DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_key VARCHAR PRIMARY KEY,
    rule VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    message VARCHAR NOT NULL,
    fix VARCHAR NOT NULL,
    resolved_at TIMESTAMPTZ
)
"""

OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS alert_outbox (
    message_id VARCHAR PRIMARY KEY,
    alert_key VARCHAR NOT NULL,
    webhook VARCHAR NOT NULL,
    event VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error VARCHAR
)
"""


def create(backend: Backend) -> None:
    """Both tables, where missing (from `syncd.state.schema.create_or_upgrade`)."""
    backend.execute(ALERTS_DDL)
    backend.execute(OUTBOX_DDL)


def open_alerts(backend: Backend, rule: str) -> dict[str, str]:
    """The rule's open alerts: audience -> alert key."""
    rows = backend.execute(
        "SELECT audience, alert_key FROM alerts WHERE rule = ? AND resolved_at IS NULL", [rule]
    )
    return {str(audience): str(key) for audience, key in rows}


def open_alert(
    backend: Backend,
    rule: str,
    audience: str,
    text: tuple[str, str],
    now: datetime,
    webhooks: Sequence[str],
) -> bool:
    """Open the rule's alert on the audience with (message, fix) and queue its "firing"
    message for each webhook, in one transaction; False when one is open already.

    Replicas observing at once compute the same key (the rule's alerts on the audience so
    far, plus one): the primary key lets one insert win, and the other finds the conflict
    and queues nothing."""
    with backend.transaction():
        ((earlier,),) = backend.execute(
            "SELECT count(*) FROM alerts WHERE rule = ? AND audience = ?", [rule, audience]
        )
        key = f"{rule}|{audience}|{int(earlier) + 1}"
        opened = backend.execute(
            "INSERT INTO alerts (alert_key, rule, audience, opened_at, message, fix) "
            "SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE rule = ? "
            "AND audience = ? AND resolved_at IS NULL) ON CONFLICT DO NOTHING "
            "RETURNING alert_key",
            [key, rule, audience, now, *text, rule, audience],
        )
        if opened:
            _queue(backend, key, FIRING, now, webhooks)
    return bool(opened)


def resolve_alert(backend: Backend, key: str, now: datetime, webhooks: Sequence[str]) -> bool:
    """Resolve an open alert and queue its "resolved" message, in one transaction; False
    when another process resolved it first."""
    with backend.transaction():
        resolved = backend.execute(
            "UPDATE alerts SET resolved_at = ? WHERE alert_key = ? AND resolved_at IS NULL "
            "RETURNING alert_key",
            [now, key],
        )
        if resolved:
            _queue(backend, key, RESOLVED, now, webhooks)
    return bool(resolved)


def _queue(backend: Backend, key: str, event: str, now: datetime, webhooks: Sequence[str]) -> None:
    for webhook in webhooks:
        backend.execute(
            "INSERT INTO alert_outbox (message_id, alert_key, webhook, event, created_at, "
            "attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
            [uuid.uuid4().hex, key, webhook, event, now, now],
        )


@dataclass(frozen=True)
class Outgoing:
    """One message for one webhook, with what its alert says."""

    message_id: str
    webhook: str
    event: str
    attempts: int
    created_at: datetime
    rule: str
    audience: str
    message: str
    fix: str
    opened_at: datetime
    resolved_at: datetime | None


def due(backend: Backend, now: datetime, limit: int = 50) -> list[Outgoing]:
    """Messages whose turn has come, oldest first: a message waits while an earlier one of
    its alert to its webhook is undelivered ("firing" goes before "resolved")."""
    rows = backend.execute(
        "SELECT o.message_id, o.webhook, o.event, o.attempts, o.created_at, a.rule, "
        "a.audience, a.message, a.fix, a.opened_at, a.resolved_at FROM alert_outbox o "
        "JOIN alerts a ON a.alert_key = o.alert_key WHERE o.next_attempt_at <= ? "
        "AND NOT EXISTS (SELECT 1 FROM alert_outbox e WHERE e.alert_key = o.alert_key AND "
        "e.webhook = o.webhook AND (e.created_at < o.created_at OR (e.created_at = o.created_at "
        "AND e.event < o.event))) "
        "ORDER BY o.created_at, o.event LIMIT ?",
        [now, limit],
    )
    return [Outgoing(*row) for row in rows]


def claim(backend: Backend, message_id: str, now: datetime, until: datetime) -> bool:
    """Take a due message for one attempt, until `until`: another process finds it not due
    meanwhile, and takes it again after that if this one died sending it."""
    return bool(
        backend.execute(
            "UPDATE alert_outbox SET next_attempt_at = ?, attempts = attempts + 1 "
            "WHERE message_id = ? AND next_attempt_at <= ? RETURNING message_id",
            [until, message_id, now],
        )
    )


def delivered(backend: Backend, message_id: str) -> None:
    backend.execute("DELETE FROM alert_outbox WHERE message_id = ?", [message_id])


def retry_at(backend: Backend, message_id: str, when: datetime, error: str) -> None:
    backend.execute(
        "UPDATE alert_outbox SET next_attempt_at = ?, last_error = ? WHERE message_id = ?",
        [when, error, message_id],
    )


def next_due(backend: Backend) -> datetime | None:
    """When the earliest message in the outbox is due, or None when it is empty."""
    ((when,),) = backend.execute("SELECT min(next_attempt_at) FROM alert_outbox")
    return when


def pending(backend: Backend) -> int:
    ((count,),) = backend.execute("SELECT count(*) FROM alert_outbox")
    return int(count)


def drop_stale(backend: Backend, before: datetime, webhooks: Sequence[str]) -> dict[str, int]:
    """Delete messages queued before `before`, and those for webhooks not in `webhooks`;
    how many for each reason."""
    old = backend.execute(
        "DELETE FROM alert_outbox WHERE created_at < ? RETURNING message_id", [before]
    )
    marks = ", ".join("?" for _ in webhooks) or "NULL"
    gone = backend.execute(
        f"DELETE FROM alert_outbox WHERE webhook NOT IN ({marks}) RETURNING message_id",
        list(webhooks),
    )
    return {"too old (alerts.give_up_after)": len(old), "webhook removed from config": len(gone)}
