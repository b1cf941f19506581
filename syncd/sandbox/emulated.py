"""What `syncd demo` and `syncd sandbox` ask of a network's emulator, so that they start,
fill, read and seed every registered network without naming one.

A network's record names the factory of its emulator (`Network.emulator`, "module:function",
an `EmulatorFactory`), which lives in the network's `sandbox/` folder beside the emulator
itself. The factory gets an `Emulation` -- the config's destinations of its kinds, the
audience ids they name, the ports to bind -- and returns an `Emulated`. The audiences are
created before anything syncs, so a typo'd id fails as it would on the real network.
Records that name the same factory share one emulator: both Google kinds read spend through
one Google Ads API emulator.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from syncd.destinations.settings import DestinationSettings
    from syncd.sandbox.server import EmulatorServer

__all__ = [
    "Emulated",
    "Emulation",
    "EmulatorFactory",
    "Endpoint",
    "OneServerPerNetwork",
    "SeedsSpend",
]

_Server = TypeVar("_Server", bound="EmulatorServer")


@dataclass(frozen=True)
class Emulation:
    """What one factory is asked to emulate."""

    #: The kinds to serve: those of the config's destinations, or all of the factory's.
    kinds: frozenset[str]
    #: The config's destinations of those kinds, by name.
    destinations: Mapping[str, DestinationSettings]
    #: Destination name -> the audience ids the config names there, to exist from the start.
    audiences: Mapping[str, Sequence[str]]
    #: Every kind of the factory -> the port its server binds (0: a free one), so a server
    #: another kind's destinations need (a Data Manager destination's reports) has its own.
    ports: Mapping[str, int]


@dataclass(frozen=True)
class Endpoint:
    """One running server: the kind whose destinations point at it, what it emulates (for
    people), and the address a destination's `endpoint` setting takes."""

    kind: str
    api: str
    address: str


class Emulated(Protocol):
    """One network's emulator, as the demo and `syncd sandbox` drive it."""

    def start(self) -> None:
        """Bind and serve every server; stops those already started if one cannot."""
        ...

    def stop(self) -> None:
        """Stop every server (a no-op for one that is not running)."""
        ...

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        """Answer each request after `seconds` plus up to `jitter` more (seeded; servers of
        one emulator draw from seeds of their own, from `seed` up)."""
        ...

    def endpoints(self) -> Sequence[Endpoint]:
        """The running servers, one per kind served."""
        ...

    def environment(self) -> Mapping[str, str]:
        """Variables another process needs to reach these servers, besides their addresses
        (the CA a gRPC client must trust)."""
        ...

    def identifiers(self, destination: str, audience_id: str) -> Mapping[str, frozenset[str]]:
        """The hashed emails and phones the audience holds, by syncd's identifier column
        ("email", "phone"): what the demo's verdict compares with the state."""
        ...


@runtime_checkable
class SeedsSpend(Protocol):
    """An emulator that can hold realistic daily spend, for `syncd demo` and `syncd sandbox`
    to pull back."""

    def seed_spend(
        self, first: dt.date, last: dt.date, audiences: Mapping[str, Sequence[str]], *, seed: int
    ) -> None:
        """Campaigns over the given audiences (destination name -> audience ids) with spend
        on every day from `first` to `last`, the same for the same `seed`."""
        ...


EmulatorFactory = Callable[[Emulation], Emulated]


class OneServerPerNetwork(ABC, Generic[_Server]):
    """`Emulated` (and `SeedsSpend`) over one HTTP emulator that serves every destination of
    its network, each audience and its spend on the destination's account (Meta's ad
    account, TikTok's advertiser). A network supplies the server, its kind and API name, and
    the three calls whose names differ from one emulator to the next."""

    kind: ClassVar[str]
    api: ClassVar[str]

    def __init__(self, emulation: Emulation, emulator: _Server) -> None:
        self._destinations = emulation.destinations
        self.emulator = emulator
        for name, ids in emulation.audiences.items():
            for audience_id in ids:
                self._add_audience(audience_id, self._account(name))

    def start(self) -> None:
        self.emulator.start()

    def stop(self) -> None:
        self.emulator.stop()

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        self.emulator.set_latency(seconds, jitter, seed=seed)

    def endpoints(self) -> Sequence[Endpoint]:
        return [Endpoint(self.kind, self.api, self.emulator.base_url)]

    def environment(self) -> Mapping[str, str]:
        return {}

    @abstractmethod
    def identifiers(self, destination: str, audience_id: str) -> Mapping[str, frozenset[str]]:
        """What `Emulated.identifiers` says, from the emulator's own member records."""

    def seed_spend(
        self, first: dt.date, last: dt.date, audiences: Mapping[str, Sequence[str]], *, seed: int
    ) -> None:
        """Spend on each account over all its audiences at once, whichever destinations
        name them, as one account's campaigns target audiences regardless of who made them."""
        by_account: dict[str, list[str]] = {}
        for name, ids in audiences.items():
            by_account.setdefault(self._account(name), []).extend(ids)
        for account, ids in by_account.items():
            if ids:
                self._generate_spend(first, last, ids, seed, account)

    @abstractmethod
    def _add_audience(self, audience_id: str, account: str) -> None:
        """Create the audience on the account."""

    @abstractmethod
    def _generate_spend(
        self, first: dt.date, last: dt.date, audience_ids: list[str], seed: int, account: str
    ) -> None:
        """Campaigns over the account's audiences with spend on every day, first to last."""

    def _account(self, destination: str) -> str:
        return self._destinations[destination].account
