"""What every network in the registry must do, run against each one's emulator through the
whole pipeline: a first sync leaves the audience exactly the segment, a second sends
nothing, a removal takes exactly the people who left, and no raw identifier reaches the
network's request log.

The rest of the suite is in the `test_conformance_*.py` files (hash formats, batches and
their order, error classes, throttling, crashes, consent), every scenario over every
registered network (`support.conformance.network_fixture`). A network added to
`syncd.destinations.registry.NETWORKS` without an entry in `support.networks.NETWORKS`
fails them all, and `test_every_registered_network_is_covered` says why.
"""

from __future__ import annotations

from conftest import Workspace, sha
from support.conformance import emails, network_fixture, sync
from support.networks import NETWORKS, Network

from syncd.destinations.registry import NETWORKS as REGISTERED

network = network_fixture()
NAMES = [f"shopper.{i}" for i in range(6)]


def hashed(names: list[str]) -> set[str]:
    return {sha(f"{name}@example.com") for name in names}


def test_every_registered_network_is_covered() -> None:
    assert sorted(NETWORKS) == sorted(network.kind for network in REGISTERED)


def test_a_first_sync_is_exact_and_a_second_sends_nothing(
    workspace: Workspace, network: Network
) -> None:
    first = sync(workspace, network, emails(*NAMES))
    assert (first.status, first.adds, first.error) == ("ok", len(NAMES), None)
    assert network.emails() == hashed(NAMES)

    second = sync(workspace, network, emails(*NAMES))
    assert (second.status, second.adds, second.removes, second.requests) == ("ok", 0, 0, 0)


def test_a_removal_takes_exactly_the_people_who_left_and_no_value_leaks(
    workspace: Workspace, network: Network
) -> None:
    sync(workspace, network, emails(*NAMES))
    result = sync(workspace, network, emails(*NAMES[:4]))

    assert (result.status, result.removes) == ("ok", 2)
    assert network.emails() == hashed(NAMES[:4])
    logged = " ".join(repr(record) for record in network.requests).lower()
    assert not any(f"{name}@example.com" in logged for name in NAMES)
