"""Network destinations behind one protocol; each module imports its heavy SDK itself."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from syncd.config.models import (
    GoogleAdsDestination,
    GoogleDataManagerDestination,
    MetaDestination,
)
from syncd.destinations.base import (
    Capabilities,
    Destination,
    DestinationError,
    ErrorClass,
    PushResult,
)
from syncd.identity import Dialect
from syncd.pacing import Pace, Pacer, shared_pacer

__all__ = [
    "Capabilities",
    "Destination",
    "DestinationError",
    "ErrorClass",
    "PushResult",
    "capabilities_of",
    "dialects",
    "open_destination",
    "pace_of",
    "pacer_of",
]


AnyDestination = MetaDestination | GoogleDataManagerDestination | GoogleAdsDestination


def open_destination(
    config: AnyDestination,
    *,
    validate_only: bool = False,
    sleep: Callable[[float], object] = time.sleep,
) -> Destination:
    """A connected client for a destination config. `sleep` is what its own waits use
    (Meta's throttle), so a stopping daemon can cut them short."""
    if isinstance(config, MetaDestination):
        from syncd.destinations.meta import MetaCustomAudiences

        return MetaCustomAudiences(config, sleep=sleep)
    if isinstance(config, GoogleAdsDestination):
        from syncd.destinations.google_ads import GoogleAdsAudiences

        return GoogleAdsAudiences(config, sleep=sleep)
    from syncd.destinations.google_data_manager import DataManagerAudiences

    return DataManagerAudiences(config, validate_only=validate_only)


def capabilities_of(config: AnyDestination) -> Capabilities:
    """A network's limits and identifier kinds, without opening a connection."""
    if isinstance(config, MetaDestination):
        from syncd.destinations.meta import CAPABILITIES
    elif isinstance(config, GoogleAdsDestination):
        from syncd.destinations.google_ads import CAPABILITIES
    else:
        from syncd.destinations.google_data_manager import CAPABILITIES
    return CAPABILITIES


def dialects() -> dict[str, Dialect]:
    """Each network's identity rules by its name, for tools that take a network's name
    rather than a destination (`syncd hash`)."""
    from syncd.destinations.google.capabilities import CAPABILITIES as GOOGLE
    from syncd.destinations.meta.schema import CAPABILITIES as META

    return {capabilities.network: capabilities.dialect for capabilities in (GOOGLE, META)}


def pace_of(config: AnyDestination) -> Pace:
    """How fast and how wide this destination's requests go: its network's pace, with the
    config's window and, for Data Manager, the project's quota."""
    pace = capabilities_of(config).pace
    quota = (
        config.requests_per_minute
        if isinstance(config, GoogleDataManagerDestination)
        else pace.requests_per_minute
    )
    window = config.max_in_flight or pace.max_in_flight
    return dataclasses.replace(pace, requests_per_minute=quota, max_in_flight=window)


def pacer_of(config: AnyDestination) -> Pacer:
    """The process's pacer for this destination's quota owner: every request it sends
    (pushes, status reads, lookups, spend pulls) waits on it, across audiences and passes."""
    return shared_pacer(config.quota_owner, pace_of(config))
