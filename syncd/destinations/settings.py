"""What every destination's settings share: each network's own settings live in its folder
(`syncd.destinations.<network>.settings`) and build on this module, and
`syncd.config.models` makes the config's `destinations:` section from the registry's
networks. It lives here, not in `syncd.config`, so that a network's folder can be imported
before the config (which imports the registry)."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncd.identity import IdentifierKind
from syncd.pacing import Pace

__all__ = [
    "ConfigRuleError",
    "Consent",
    "DestinationSettings",
    "MappedSegment",
    "StrictModel",
    "SyncedAudience",
]


class ConfigRuleError(ValueError):
    """A rule across sections of the config, said at the key it is about: the loader reports
    it at `path` (with its line), not at the top level where pydantic puts model errors."""

    def __init__(self, path: str, message: str, hint: str) -> None:
        super().__init__(f"{path}: {message} ({hint})")
        self.path = path
        self.message = message
        self.hint = hint


class MappedSegment(Protocol):
    """What a network's config rules read of a segment (`syncd.config.models.Segment`)."""

    @property
    def identifiers(self) -> Mapping[IdentifierKind, str]: ...


class SyncedAudience(Protocol):
    """What a network's config rules read of an audience (`syncd.config.models.Audience`)."""

    @property
    def segment(self) -> str: ...

    @property
    def audience_id(self) -> str | None: ...


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must never silently turn a setting off."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Consent(StrictModel):
    ad_user_data: Literal["granted", "denied"] = Field(
        default="granted", description="Consent to use the members' data for ads (EU)."
    )
    ad_personalization: Literal["granted", "denied"] = Field(
        default="granted", description="Consent to personalized ads (EU)."
    )


class DestinationSettings(StrictModel):
    """Settings every network shares."""

    #: Which field names the network account (state is kept per account and audience).
    ACCOUNT_FIELD: ClassVar[str]
    if TYPE_CHECKING:  # every network's model declares both, with its own values
        kind: str
        endpoint: str

    @property
    def account(self) -> str:
        return str(getattr(self, self.ACCOUNT_FIELD))

    def consent_defaults(self) -> Consent | None:
        """The consent assumed for rows that carry none, where the network asks for it."""
        return None

    def refresh_days(self) -> int | None:
        """After how many days members are sent again before the network drops them."""
        return None

    def status_wait(self) -> float:
        """How long a pass waits for the statuses of requests the network processes later."""
        return 0.0

    def check_audience(self, segment: MappedSegment, audience: SyncedAudience, path: str) -> None:
        """The network's own rules on an audience of this destination and its segment, which
        no one section can check alone: raise ConfigRuleError at `path` (the audience's key,
        e.g. "audiences[2]") or below it. The config runs it for every audience."""

    def paced(self, pace: Pace) -> Pace:
        """The network's pace with this destination's knobs."""
        return dataclasses.replace(pace, max_in_flight=self.max_in_flight or pace.max_in_flight)

    @property
    def quota_owner(self) -> tuple[str, ...]:
        """Whose request budget this destination spends: by default its account on its
        endpoint (Meta counts per ad account). Destinations of one owner share a pacer."""
        return (self.kind, self.endpoint, self.account)

    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Members per request; defaults to (and cannot exceed) the network's limit "
        "of 10,000. Smaller batches mean smaller retries on flaky links.",
    )
    timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long one request may take before it is retried."
    )
    max_in_flight: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description="The most requests in flight at once to this destination; by default "
        "the network's (Meta 8, Data Manager 8 within its quota, Google Ads API 1: one job "
        "per list at a time). The window starts at half of it, widens while the network "
        "answers and halves when it throttles.",
    )

    @field_validator("endpoint", check_fields=False)
    @classmethod
    def _tls_unless_loopback(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme == "https" and url.hostname:
            return value.rstrip("/")
        if url.scheme == "http" and _is_loopback(url.hostname or ""):
            return value.rstrip("/")
        raise ValueError(
            "must be https:// (plain http:// is allowed only to 127.0.0.1, ::1 or localhost, "
            "for the sandbox)"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
