"""Several requests in flight per destination (issue 22): the window fills, answers are
journaled in whatever order they come, removals still all go before adds, and the window
narrows when the network throttles."""

from __future__ import annotations

import json
import threading
import time

from conftest import GOOGLE_LIST, META_AUDIENCE, Workspace, sha

from syncd.pacing import Pace, Pacer
from syncd.sandbox.server import Fault

GRAPH_THROTTLED = json.dumps(
    {"error": {"message": "(#80003) throttled", "type": "OAuthException", "code": 80003}}
).encode()


def emails(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}@example.com" for i in range(count)]


def write(workspace: Workspace, people: list[str]) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in people])


def config(workspace: Workspace, in_flight: int) -> dict:
    data = workspace.config_data()
    data["guardrails"] = {"max_removal_fraction": 1.0}
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
        destination["max_in_flight"] = in_flight
    return data


def test_a_push_keeps_several_requests_in_flight_and_stays_exact(workspace: Workspace) -> None:
    """With a latency and jitter (answers overtake each other), both networks see several
    requests at once, and the audiences hold exactly the segment after each pass."""
    first = emails("a", 60)
    write(workspace, first)
    for emulator in (workspace.sandbox.meta, workspace.sandbox.google):
        emulator.set_latency(0.02, 0.03, seed=7)
        emulator.in_flight.reset_peak()

    assert [(r.status, r.requests) for r in workspace.sync(config(workspace, 4))] == [
        ("ok", 30),
        ("ok", 30),
    ]
    assert workspace.sandbox.meta.in_flight.peak == 4
    assert workspace.sandbox.google.in_flight.peak == 4

    second = first[20:] + emails("b", 20)  # 20 leave, 20 join
    write(workspace, second)
    workspace.sandbox.meta.clear_requests()
    results = workspace.sync(config(workspace, 4))

    assert [(r.status, r.adds, r.removes) for r in results] == [("ok", 20, 20), ("ok", 20, 20)]
    operations = [
        r.operation for r in workspace.sandbox.meta.requests if r.operation in ("add", "remove")
    ]
    assert operations == ["remove"] * 10 + ["add"] * 10  # every removal before any add
    assert workspace.sandbox.meta.members(META_AUDIENCE) == {
        frozenset({("EMAIL", sha(email))}) for email in second
    }
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(email))}) for email in second
    }
    assert [r.requests for r in workspace.sync(config(workspace, 4))] == [0, 0]


def test_a_throttled_push_narrows_its_window_and_converges(workspace: Workspace) -> None:
    people = emails("t", 40)
    write(workspace, people)
    workspace.sandbox.meta.latency = 0.01
    workspace.sandbox.meta.inject(*[Fault.error(400, body=GRAPH_THROTTLED)] * 2)

    meta, _ = workspace.sync(config(workspace, 8))

    assert meta.status == "ok"
    assert workspace.sandbox.meta.pending_faults() == 0
    assert workspace.sandbox.meta.members(META_AUDIENCE) == {
        frozenset({("EMAIL", sha(email))}) for email in people
    }


def test_the_window_is_shared_by_every_push_to_a_destination() -> None:
    """Two pushes of one destination (two audiences) hold at most the window together."""
    pacer = Pacer(Pace(max_in_flight=3, start_in_flight=3))
    inside, peak, lock = 0, 0, threading.Lock()

    def request() -> None:
        nonlocal inside, peak
        with pacer.sending(time.sleep):
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert peak == 3


def test_audiences_of_one_destination_share_its_window(workspace: Workspace) -> None:
    """Three audiences of one Meta account, one request each, push at once (one at a time,
    the peak would be 1), and together never hold more than the window of 2 (each with a
    window of its own, it would be 3)."""
    write(workspace, emails("w", 12))
    data = workspace.config_data()
    data["destinations"]["meta"]["max_in_flight"] = 2
    data["audiences"] = []
    for number in range(3):
        audience_id = f"2385000000000010{number}"
        workspace.sandbox.meta.add_audience(audience_id)
        data["segments"][f"copy{number}"] = data["segments"]["people"]
        data["audiences"].append(
            {"segment": f"copy{number}", "destination": "meta", "audience_id": audience_id}
        )
    workspace.sandbox.meta.latency = 0.2
    workspace.sandbox.meta.in_flight.reset_peak()

    results = workspace.sync(data)

    assert [(r.status, r.requests) for r in results] == [("ok", 1)] * 3
    assert workspace.sandbox.meta.in_flight.peak == 2
