"""Network destinations behind one protocol (`base`), found by their settings through the
registry (`registry`); each network's folder imports its heavy SDK itself, when a client
is opened."""

from __future__ import annotations

from syncd.destinations.base import (
    Capabilities,
    Destination,
    DestinationError,
    ErrorClass,
    PushResult,
)

__all__ = [
    "Capabilities",
    "Destination",
    "DestinationError",
    "ErrorClass",
    "PushResult",
]
