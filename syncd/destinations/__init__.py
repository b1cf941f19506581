"""Network destinations behind one protocol; each module imports its heavy SDK itself."""

from __future__ import annotations

from syncd.config.models import GoogleDataManagerDestination, MetaDestination
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
    "capabilities_of",
    "open_destination",
]


def open_destination(config: MetaDestination | GoogleDataManagerDestination) -> Destination:
    """A connected client for a destination config."""
    if isinstance(config, MetaDestination):
        from syncd.destinations.meta import MetaCustomAudiences

        return MetaCustomAudiences(config)
    from syncd.destinations.google_data_manager import DataManagerAudiences

    return DataManagerAudiences(config)


def capabilities_of(config: MetaDestination | GoogleDataManagerDestination) -> Capabilities:
    """A network's limits and identifier kinds, without opening a connection."""
    if isinstance(config, MetaDestination):
        from syncd.destinations.meta import CAPABILITIES
    else:
        from syncd.destinations.google_data_manager import CAPABILITIES
    return CAPABILITIES
