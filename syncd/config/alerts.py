"""The `alerts:` section: where syncd says that something broke (webhooks, plain JSON or
Slack's incoming-webhook format), and the thresholds of the rules that decide it did.

Every rule is on by default with a threshold that stays quiet on a healthy sync; a rule set
to null is off. A webhook URL is a secret (a Slack one lets anyone post to the channel), so
it is kept as one and written as `${VAR}`, which the loader expands before validation.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from syncd.config.schedule import checked_duration, duration_seconds


class Webhook(BaseModel):
    # As syncd.config.models.StrictModel (not imported: that module imports this one).
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = Field(
        description="Where alerts are POSTed, e.g. ${SLACK_WEBHOOK_URL} (a Slack incoming "
        "webhook, https://api.slack.com/messaging/webhooks). An unset variable is a config "
        "error naming it."
    )
    format: Literal["json", "slack"] = Field(
        default="json",
        description="json: one JSON object per message (status, rule, audience, message, "
        'fix, text); slack: Slack\'s incoming-webhook body ({"text": ..., "blocks": ...}).',
    )
    timeout_seconds: float = Field(
        default=10, gt=0, le=120, description="How long one delivery attempt may take."
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("write an http(s) URL, e.g. ${SLACK_WEBHOOK_URL}")
        return value

    @property
    def digest(self) -> str:
        """How the state's outbox names this webhook without holding its secret URL."""
        return hashlib.sha256(self.url.get_secret_value().encode()).hexdigest()[:16]


class Alerts(BaseModel):
    # As syncd.config.models.StrictModel (not imported: that module imports this one).
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhooks: list[Webhook] = Field(
        default_factory=list,
        description="Where alert messages go; none: alerts are only kept in the state "
        "(`syncd status` shows the open ones).",
    )
    audience_failed: bool = Field(
        default=True,
        description="Alert when an audience's pass fails, is refused by a guardrail, is "
        "deferred (quota) or leaves members unapplied; it clears at its next good pass.",
    )
    refused_share: float | None = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Alert when the network refuses more than this share of the members a "
        "pass sent (e.g. 0.05 = 5%); null: off.",
    )
    match_rate_drop_points: float | None = Field(
        default=20,
        gt=0,
        le=100,
        description="Alert when the network's match rate (matched members over members "
        "held) fell by more than this many percentage points since the last good pass; "
        "null: off.",
    )
    size_drift_fraction: float | None = Field(
        default=0.2,
        gt=0,
        description="Alert when the network's audience size differs from what its match "
        "rate and the members syncd holds say it should be by more than this fraction, "
        "beyond the network's own rounding (Meta's sizes are ranges); null: off.",
    )
    refresh_overdue_intervals: float | None = Field(
        default=3,
        ge=1,
        description="Alert when an audience's last good pass is older than this many of its "
        "schedule's intervals, or than its network's membership refresh window, whichever "
        "comes first (checked by `syncd run` between passes too); null: off.",
    )
    credential_expiry_days: int | None = Field(
        default=7,
        ge=0,
        le=90,
        description="Alert when a destination's token expires within this many days (Meta's "
        "token debugger) or the network refuses it (Meta, or Google refusing an OAuth "
        "refresh); asked at most hourly by `syncd run` and `syncd sync --once`; null: off.",
    )
    spend_on_empty: bool = Field(
        default=True,
        description="Alert when spend arrives for an audience syncd holds no members of "
        "(money on an empty list); checked after each spend pull.",
    )
    spend_stopped_days: int | None = Field(
        default=2,
        ge=1,
        le=90,
        description="Alert when an audience that had spend gets none for this many days "
        "(up to the day a spend pull reached); checked after each spend pull; null: off.",
    )
    give_up_after: str = Field(
        default="1d",
        description="A message no webhook took within this long (a number and a unit, e.g. "
        "6h) is dropped from the outbox, with an error in the log; until then it is retried "
        "with backoff, by this process or the next run.",
    )

    @field_validator("give_up_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        checked = checked_duration(value)
        assert checked is not None
        return checked

    @property
    def give_up_seconds(self) -> float:
        return duration_seconds(self.give_up_after)
