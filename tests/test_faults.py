"""Faults injected by the emulators (all on 127.0.0.1): every sync still converges exactly.

Batches of two members make every fault land in the middle of a multi-batch sync. After the
faulty pass (and, where the fault outlasts the retries, one clean pass) the emulator must
hold exactly the segment: no member lost, none left behind.
"""

from __future__ import annotations

import json

import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, Workspace
from support.people import PEOPLE, google_members, meta_members, rows

from syncd.destinations import DestinationError, ErrorClass
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.sandbox.server import Fault

GRAPH_THROTTLED = json.dumps(
    {"error": {"message": "(#80003) throttled", "type": "OAuthException", "code": 80003}}
).encode()
GRAPH_INVALID = json.dumps(
    {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}
).encode()

FAULTS = {
    "429 with Retry-After": [Fault.error(429, retry_after=0.01)],
    "Graph throttling code 80003": [Fault.error(400, body=GRAPH_THROTTLED)],
    "two 503s": [Fault.error(503), Fault.error(503)],
    "connection reset": [Fault.reset()],
    "answer after the client's timeout": [Fault.delay(1.5)],
    "malformed body after applying": [Fault.malformed()],
    "a fault on every batch": [Fault.error(500), Fault.reset(), Fault.malformed()],
}


def faulty_config(workspace: Workspace) -> dict:
    data = workspace.config_data()
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
        destination["timeout_seconds"] = 0.5
    return data


def converged(workspace: Workspace, people: list) -> bool:
    return workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(
        people
    ) and workspace.sandbox.google.members(GOOGLE_LIST) == google_members(people)


@pytest.mark.parametrize("name", FAULTS)
@pytest.mark.parametrize("network", ["meta", "google"])
def test_a_transient_fault_is_retried_and_the_sync_converges(
    workspace: Workspace, network: str, name: str
) -> None:
    workspace.write_people(rows(PEOPLE))
    data = faulty_config(workspace)
    workspace.sync(data)
    changed = [PEOPLE[1], PEOPLE[4], PEOPLE[5]]  # removals and kept members
    workspace.write_people(rows(changed))
    emulator = getattr(workspace.sandbox, network)
    if network == "meta" and "Graph" in name:
        faults = FAULTS[name]
    else:
        faults = [f for f in FAULTS[name] if f.body is None]
    emulator.inject(*faults)

    patient = RetryPolicy(attempts=5, base_delay=0.0, max_delay=0.0)
    results = {r.network: r for r in workspace.sync(data, retry_policy=patient)}

    assert emulator.pending_faults() == 0  # every fault was really met
    assert results[network].status == "ok", results[network].error
    assert converged(workspace, changed)


def test_persistent_failure_marks_the_run_failed_then_the_next_pass_converges(
    workspace: Workspace,
) -> None:
    workspace.write_people(rows(PEOPLE))
    data = faulty_config(workspace)
    data["destinations"]["meta"]["max_in_flight"] = 1  # all three faults meet one request
    workspace.sandbox.meta.inject(*[Fault.error(503)] * 3)  # FAST_RETRIES gives 3 attempts

    meta, google = workspace.sync(data)

    assert meta.status == "failed"
    assert "server error (HTTP 503)" in (meta.error or "")
    assert meta.requests == 3
    assert google.status == "ok"
    again, _ = workspace.sync(data)
    assert again.status == "ok"
    assert converged(workspace, PEOPLE)


@pytest.mark.parametrize("network", ["meta", "google"])
def test_a_refusal_is_not_retried(workspace: Workspace, network: str) -> None:
    workspace.write_people(rows(PEOPLE))
    body = GRAPH_INVALID if network == "meta" else None
    getattr(workspace.sandbox, network).inject(Fault.error(400, body=body))

    data = faulty_config(workspace)
    data["destinations"][network]["max_in_flight"] = 1  # no other batch is out beside it
    results = {r.network: r for r in workspace.sync(data)}

    assert results[network].status == "failed"
    assert results[network].requests == 1


def test_backoff_honours_the_network_wait_and_caps_jitter() -> None:
    waits: list[float] = []
    errors = iter(
        [
            DestinationError(ErrorClass.RATE_LIMITED, "slow down", retry_after=7.0),
            DestinationError(ErrorClass.RATE_LIMITED, "slow down", retry_after=900.0),
            DestinationError(ErrorClass.RETRY, "blip"),
            DestinationError(ErrorClass.RETRY, "blip"),
        ]
    )

    def request() -> str:
        error = next(errors, None)
        if error:
            raise error
        return "done"

    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=60.0)
    assert call_with_retries(request, policy, "test", sleep=waits.append) == "done"
    assert waits[:2] == [7.0, 60.0]  # the network's word, capped
    assert 0 <= waits[2] <= 4.0 and 0 <= waits[3] <= 8.0  # full jitter under 2**attempt
    assert len(waits) == 4


def test_jitter_spreads_retries() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    error = DestinationError(ErrorClass.RETRY, "blip")
    delays = {round(policy.delay(3, error), 6) for _ in range(50)}
    assert len(delays) > 40 and max(delays) <= 8.0
