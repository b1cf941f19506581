"""Turning what rules see into alerts: one message when a condition starts, one when it
clears, and nothing on the passes in between.

A rule (after each pass, or on the daemon's clock) decides which audiences it checked and
which of them are in its condition now, and hands both to `observe`. The engine compares
that with the rule's open alerts in the state: a new condition opens an alert and queues a
"firing" message, an open alert whose condition is gone is resolved and queues a "resolved"
one. Queuing is a row in the state's outbox (`syncd.state.alerts`), written in the same
transaction as the alert, so delivery never holds up the caller and two replicas observing
at once queue one message between them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from syncd.alerts import delivery
from syncd.alerts.text import WHOLE
from syncd.config.models import SyncdConfig
from syncd.state import StateStore
from syncd.state import alerts as records

__all__ = ["WHOLE", "Condition", "observe"]


@dataclass(frozen=True)
class Condition:
    """A rule's condition, in force on one audience now.

    `message` says what happened in counts and reasons (never an identifier); `fix` what
    to do about it. The engine adds the audience's name to what it sends."""

    rule: str
    audience: str
    message: str
    fix: str


def observe(
    config: SyncdConfig,
    state: StateStore,
    rule: str,
    checked: Collection[str],
    conditions: Sequence[Condition],
) -> None:
    """Bring `rule`'s alerts on the `checked` audiences (config names, or `WHOLE`) in line
    with `conditions`, those of them in the rule's condition now: open an alert for each new
    condition, resolve each open alert whose condition is gone, leave the rest alone.
    An audience with a condition counts as checked. Several conditions of one audience
    (several destinations under `WHOLE`) make one alert, their texts joined."""
    wrong = sorted({condition.rule for condition in conditions} - {rule})
    if wrong:
        raise ValueError(f"observe({rule!r}) was given conditions of {', '.join(wrong)}")
    found = _by_audience(conditions)
    backend = state.backend
    opened = records.open_alerts(backend, rule)
    webhooks = [webhook.digest for webhook in config.alerts.webhooks]
    now = datetime.now(UTC)
    queued = False
    for audience in sorted(set(checked) | set(found)):
        text = found.get(audience)
        if text is not None and audience not in opened:
            queued |= records.open_alert(backend, rule, audience, text, now, webhooks)
        elif text is None and audience in opened:
            queued |= records.resolve_alert(backend, opened[audience], now, webhooks)
    if queued and webhooks:
        delivery.wake(config)


def _by_audience(conditions: Sequence[Condition]) -> dict[str, tuple[str, str]]:
    """(message, fix) per audience, the texts of several conditions joined in order."""
    texts: dict[str, tuple[list[str], list[str]]] = {}
    for condition in conditions:
        messages, fixes = texts.setdefault(condition.audience, ([], []))
        if condition.message not in messages:
            messages.append(condition.message)
        if condition.fix not in fixes:
            fixes.append(condition.fix)
    return {
        audience: ("; ".join(messages), "; ".join(fixes))
        for audience, (messages, fixes) in texts.items()
    }
