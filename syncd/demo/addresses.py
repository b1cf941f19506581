"""Where `syncd sandbox` serves each registered network's emulator, and the environment
variable that carries its address: the i-th kind in registry order on `port_base + i`, its
address in `SYNCD_SANDBOX_<KIND>`. The demo's config defaults to these addresses, so it runs
against `syncd sandbox` as it is, and the demo sets the variables to its own emulators."""

from __future__ import annotations

from collections.abc import Sequence

from syncd.destinations.network import Network
from syncd.destinations.registry import NETWORKS

__all__ = ["DEFAULT_PORT_BASE", "endpoint_variable", "sandbox_port"]

#: Where `syncd sandbox` binds its first server, and what the demo's config defaults to.
DEFAULT_PORT_BASE = 18001


def endpoint_variable(kind: str) -> str:
    """The environment variable that carries the address of a kind's emulator."""
    return f"SYNCD_SANDBOX_{kind.upper()}"


def sandbox_port(kind: str, port_base: int, networks: Sequence[Network] = NETWORKS) -> int:
    """The port a kind's emulator binds: `port_base` plus the kind's place in the registry,
    or 0 (a free port) when `port_base` is 0."""
    kinds = [network.kind for network in networks]
    return port_base + kinds.index(kind) if port_base else 0
