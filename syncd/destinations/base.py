"""The one interface every network implements, like an httpx transport: small on purpose.

A destination pushes one batch of members at a time and says, through the class of any
error it raises, what the runner should do next. It never decides on retries itself:
that policy lives in one place (`syncd.destinations.retry`) for every network.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import pyarrow as pa

from syncd.identity import IdentifierKind, Network


@dataclass(frozen=True)
class Capabilities:
    """What the planner needs to know about a network, as data rather than branches."""

    network: Network
    max_members_per_request: int
    identifier_kinds: frozenset[IdentifierKind]
    min_serving_size: int


@dataclass(frozen=True)
class PushResult:
    """A network's acknowledgement of one request."""

    received: int
    invalid: int = 0
    request_id: str | None = None


class ErrorClass(StrEnum):
    """What to do about a failed request."""

    RETRY = "retry"  # a passing fault: try the same request again after a backoff
    RATE_LIMITED = "rate_limited"  # the network asked us to slow down: wait as long as it says
    FAIL_AUDIENCE = "fail_audience"  # retrying cannot help: stop this audience, say why


class DestinationError(Exception):
    """A failed push, classified once, where the network's error codes are known."""

    def __init__(
        self, error_class: ErrorClass, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (HTTP also allows a date; networks send seconds)."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


class Destination(Protocol):
    capabilities: Capabilities

    def add(self, audience_id: str, members: pa.Table) -> PushResult:
        """Add up to `max_members_per_request` members (MEMBER_SCHEMA) in one request."""
        ...

    def remove(self, audience_id: str, members: pa.Table) -> PushResult:
        """Remove up to `max_members_per_request` members in one request."""
        ...

    def close(self) -> None: ...
