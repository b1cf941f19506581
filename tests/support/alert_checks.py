"""What the credential and spend alert tests share: a config whose alerts go to a local
receiver, and the messages of one rule the receiver got once the outbox is empty."""

from __future__ import annotations

from typing import Any

from support.webhooks import Receiver
from syncd.alerts.delivery import settle
from syncd.config.alerts import Webhook
from syncd.config.models import SyncdConfig

__all__ = ["delivered", "to_receiver"]


def to_receiver(config: SyncdConfig, receiver: Receiver, **rules: Any) -> SyncdConfig:
    """`config` with its alerts going to `receiver` (JSON), and `rules` changed."""
    settings = {"webhooks": [Webhook(url=receiver.url)], **rules}
    return config.model_copy(update={"alerts": config.alerts.model_copy(update=settings)})


def delivered(config: SyncdConfig, receiver: Receiver, rule: str) -> list[tuple[str, str]]:
    """(status, text) of every message of `rule` the receiver has, once nothing is left to
    deliver."""
    assert settle(config, 10) == 0
    return [(b["status"], b["text"]) for b in receiver.received() if b["rule"] == rule]
