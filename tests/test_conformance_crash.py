"""Conformance: a pass killed mid-push (SIGKILL, as tests/test_crash.py does, once a few of
its requests have been applied) leaves the journal such that the next pass makes the
audience exactly the segment, on every network: the members it had sent and those it never
got to, and the removal of a member sent by the dead pass who has left the segment since."""

from __future__ import annotations

import time

from conftest import Workspace, sha
from support.conformance import config_data, emails, network_fixture, start_sync, sync
from support.networks import Network

network = network_fixture()
PEOPLE = [f"buyer{i}" for i in range(12)]
#: Member requests applied before the kill: some, never all.
KILL_AFTER = 3
#: Each answer's latency, so the push is still going when the kill lands.
LATENCY = 0.1


def test_a_pass_killed_mid_push_is_completed_exactly_by_the_next(
    workspace: Workspace, network: Network
) -> None:
    workspace.write_people(emails(*PEOPLE))
    workspace.write_config(config_data(workspace, network, batch_size=1, max_in_flight=1))
    network.emulator.set_latency(LATENCY)

    process = start_sync(workspace)
    deadline = time.monotonic() + 30
    while len(network.pushes()) < KILL_AFTER:
        assert process.poll() is None, "the pass ended before it could be killed"
        assert time.monotonic() < deadline, "the pass never got its first requests out"
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=10)
    sent = len(network.pushes())
    assert KILL_AFTER <= sent < len(PEOPLE)

    network.emulator.set_latency(0.0)
    staying = PEOPLE[1:]  # the first member, sent by the dead pass, has left since
    result = sync(workspace, network, emails(*staying))

    assert result.status == "ok", result.error
    assert network.emails() == {sha(f"{name}@example.com") for name in staying}
