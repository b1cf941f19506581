"""Conformance: how changes go out to each network. A segment larger than a request splits
into requests none over the limit, as few as the limit allows; adds and removes are
idempotent, so a pass that sends again what the network already has (its state lost, or
an older copy of it restored) still leaves the audience exact; and a pass that both adds and
removes sends every removal first (`syncd.push.Pusher.incremental`: on Meta a removal
matches by any key, so a removal after an add could take the person out again)."""

from __future__ import annotations

import math

from conftest import Workspace, sha
from support.conformance import emails, network_fixture, sync
from support.networks import Network

network = network_fixture()
PEOPLE = [f"buyer{i}" for i in range(10)]
BATCH = 3


def hashed(names: list[str]) -> set[str]:
    return {sha(f"{name}@example.com") for name in names}


def test_a_segment_larger_than_a_request_is_split_within_the_limit(
    workspace: Workspace, network: Network
) -> None:
    result = sync(workspace, network, emails(*PEOPLE), batch_size=BATCH)

    assert result.status == "ok", result.error
    adds = [count for operation, count in network.pushes() if operation == "add"]
    assert len(adds) == math.ceil(len(PEOPLE) / BATCH) == result.requests
    assert max(adds) <= BATCH and sum(adds) == len(PEOPLE)
    assert network.emails() == hashed(PEOPLE)


def test_adds_sent_again_leave_the_audience_exact(workspace: Workspace, network: Network) -> None:
    """A second state that knows nothing sends every add again."""
    sync(workspace, network, emails(*PEOPLE))
    again = sync(workspace, network, emails(*PEOPLE), state="lost.duckdb")

    assert (again.status, again.adds) == ("ok", len(PEOPLE)), again.error
    assert network.emails() == hashed(PEOPLE)


def test_removing_someone_already_gone_is_harmless(workspace: Workspace, network: Network) -> None:
    """An older copy of the state still holds a member another pass has removed since: its
    pass removes that member again, from an audience that no longer has them."""
    sync(workspace, network, emails(*PEOPLE), state="old.duckdb")
    sync(workspace, network, emails(*PEOPLE), state="new.duckdb")
    sync(workspace, network, emails(*PEOPLE[1:]), state="new.duckdb")
    assert network.emails() == hashed(PEOPLE[1:])

    stale = sync(workspace, network, emails(*PEOPLE[1:]), state="old.duckdb")

    assert (stale.status, stale.removes, stale.adds) == ("ok", 1, 0), stale.error
    assert network.emails() == hashed(PEOPLE[1:])


def test_a_pass_that_adds_and_removes_sends_every_removal_first(
    workspace: Workspace, network: Network
) -> None:
    sync(workspace, network, emails(*PEOPLE[:6]))
    first = len(network.pushes())

    result = sync(workspace, network, emails(*PEOPLE[3:]), batch_size=1)

    assert (result.status, result.removes, result.adds) == ("ok", 3, 4), result.error
    order = [operation for operation, _ in network.pushes()[first:]]
    assert order == ["remove"] * 3 + ["add"] * 4
    assert network.emails() == hashed(PEOPLE[3:])
