"""Every network syncd can sync to, and the lookups the rest of syncd makes by a
destination's settings. Adding a network: its folder exports a `Network`, and it gets a
line in `NETWORKS`; the config's `destinations:` section, opening clients, pacing, spend
and `syncd hash` follow from the record."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from syncd.destinations.base import Capabilities, Destination
from syncd.destinations.google import DATA_MANAGER, GOOGLE_ADS
from syncd.destinations.meta import META
from syncd.destinations.network import Network, Opening
from syncd.destinations.tiktok import TIKTOK
from syncd.identity import Dialect
from syncd.pacing import Pace, Pacer, shared_pacer

if TYPE_CHECKING:
    from syncd.destinations.settings import DestinationSettings

__all__ = [
    "NETWORKS",
    "capabilities_of",
    "dialects",
    "network_of",
    "open_destination",
    "pace_of",
    "pacer_of",
]

NETWORKS: tuple[Network, ...] = (META, DATA_MANAGER, GOOGLE_ADS, TIKTOK)

_BY_KIND = {network.kind: network for network in NETWORKS}


def network_of(settings: DestinationSettings) -> Network:
    """The network a destination's settings are for."""
    return _BY_KIND[settings.kind]


def capabilities_of(settings: DestinationSettings) -> Capabilities:
    """A network's limits, identity dialect and pace, without opening a connection."""
    return network_of(settings).capabilities


def pace_of(settings: DestinationSettings) -> Pace:
    """How fast and how wide this destination's requests go: its network's pace, with the
    destination's own knobs (`DestinationSettings.paced`)."""
    return settings.paced(capabilities_of(settings).pace)


def pacer_of(settings: DestinationSettings) -> Pacer:
    """The process's pacer for this destination's quota owner: every request it sends
    (pushes, status reads, lookups) waits on it, across audiences and passes."""
    return shared_pacer(settings.quota_owner, pace_of(settings))


def open_destination(
    settings: DestinationSettings,
    *,
    validate_only: bool = False,
    sleep: Callable[[float], object] = time.sleep,
) -> Destination:
    """A connected client. `sleep` is what its own waits use, so a stopping daemon can cut
    them short; `validate_only` asks the network to check requests and apply nothing
    (`Capabilities.validates_only`)."""
    opening = Opening(pacer=pacer_of(settings), sleep=sleep, validate_only=validate_only)
    return network_of(settings).open(settings, opening)


def dialects() -> dict[str, Dialect]:
    """Each network's identity rules by its name, for tools that take a network's name
    rather than a destination (`syncd hash`)."""
    return {network.name: network.capabilities.dialect for network in NETWORKS}
