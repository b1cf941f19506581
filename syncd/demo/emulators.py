"""Every emulator a config needs, built from the registry: what `syncd demo` and `syncd
sandbox` start, fill, read and seed, without naming a network.

Each record's emulator factory (`Network.emulator`) is asked for the config's destinations
of its kinds; records naming the same factory share one emulator. Servers bind the ports
and name their addresses in the variables of `syncd.demo.addresses`. A destination whose
network has no emulator is left out and listed in `unemulated`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import NamedTuple, Self

from syncd.config import SyncdConfig
from syncd.demo.addresses import endpoint_variable, sandbox_port
from syncd.destinations.network import Network
from syncd.destinations.registry import NETWORKS
from syncd.destinations.settings import DestinationSettings
from syncd.sandbox.emulated import Emulated, Emulation, Endpoint, SeedsSpend
from syncd.sandbox.latency import Latency

__all__ = ["Emulators"]


class _Built(NamedTuple):
    emulated: Emulated
    destinations: frozenset[str]  # the names of the destinations it serves
    seed: int  # of its latency: its first kind's place in the registry


class Emulators:
    """The emulators of a set of destinations, started and stopped together."""

    def __init__(self, built: Sequence[_Built], unemulated: list[str]) -> None:
        self._built = list(built)
        #: Destinations whose network has no emulator: nothing serves them.
        self.unemulated = unemulated

    @classmethod
    def for_config(cls, config: SyncdConfig, *, port_base: int = 0) -> Emulators:
        """Emulators for every destination of the config, holding the audiences it names."""
        audiences: dict[str, list[str]] = {}
        for audience in config.audiences:
            if audience.audience_id is not None:
                audiences.setdefault(audience.destination, []).append(audience.audience_id)
        return cls.for_destinations(config.destinations, audiences, port_base=port_base)

    @classmethod
    def for_destinations(
        cls,
        destinations: Mapping[str, DestinationSettings],
        audiences: Mapping[str, Sequence[str]],
        *,
        port_base: int = 0,
        networks: Sequence[Network] = NETWORKS,
        every_kind: bool = False,
    ) -> Emulators:
        """Emulators for these destinations (`audiences`: destination -> the audience ids
        to create); with `every_kind`, every network's emulator, destinations or not."""
        wanted = {network.kind for network in networks} if every_kind else set()
        wanted |= {settings.kind for settings in destinations.values()}
        groups: dict[str, list[Network]] = {}
        for network in networks:
            if network.emulator is not None:
                groups.setdefault(network.emulator, []).append(network)
        built = []
        for group in groups.values():
            kinds = frozenset(n.kind for n in group) & wanted
            if not kinds:
                continue
            mine = {name: s for name, s in destinations.items() if s.kind in kinds}
            factory = group[0].emulator_factory()
            assert factory is not None  # grouped by their factory
            emulation = Emulation(
                kinds=kinds,
                destinations=mine,
                audiences={name: tuple(audiences.get(name, ())) for name in mine},
                ports={n.kind: sandbox_port(n.kind, port_base, networks) for n in group},
            )
            first = networks.index(group[0])
            built.append(_Built(factory(emulation), frozenset(mine), first))
        served = {name for one in built for name in one.destinations}
        return cls(built, [name for name in destinations if name not in served])

    def start(self) -> Self:
        """Start every emulator, in registry order; if one cannot, the others stop again."""
        started: list[Emulated] = []
        try:
            for one in self._built:
                one.emulated.start()
                started.append(one.emulated)
        except BaseException:
            for emulated in reversed(started):
                emulated.stop()
            raise
        return self

    def stop(self) -> None:
        for one in reversed(self._built):
            one.emulated.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def set_latency(self, latency: Latency) -> None:
        """Every server answers after the latency; each draws its own seeded sequence."""
        for one in self._built:
            one.emulated.set_latency(latency.seconds, latency.jitter, seed=one.seed)

    def endpoints(self) -> list[Endpoint]:
        """The running servers, in registry order."""
        return [endpoint for one in self._built for endpoint in one.emulated.endpoints()]

    def environment(self) -> dict[str, str]:
        """What a process syncing against these emulators exports: each kind's address in
        its variable, and what the emulators need besides (a CA to trust)."""
        variables = {endpoint_variable(e.kind): e.address for e in self.endpoints()}
        for one in self._built:
            variables.update(one.emulated.environment())
        return variables

    def identifiers(self, destination: str, audience_id: str) -> Mapping[str, frozenset[str]]:
        """The hashed emails and phones an emulated audience holds (`KeyError` for an
        audience, or a destination, no emulator holds)."""
        for one in self._built:
            if destination in one.destinations:
                return one.emulated.identifiers(destination, audience_id)
        raise KeyError(destination)

    def seed_spend(
        self,
        first: dt.date,
        last: dt.date,
        audiences: Mapping[str, Iterable[str]],
        *,
        seed: int = 2026,
    ) -> list[str]:
        """Spend from `first` to `last` on the given audiences (destination -> ids), in every
        emulator that can hold spend; returns the destinations whose emulator took it."""
        seeded = []
        for one in self._built:
            if isinstance(one.emulated, SeedsSpend):
                mine = {n: list(ids) for n, ids in audiences.items() if n in one.destinations}
                one.emulated.seed_spend(first, last, mine, seed=seed)
                seeded.extend(mine)
        return seeded
