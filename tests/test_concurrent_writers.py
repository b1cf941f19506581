"""Several processes writing one PostgreSQL state: leases taken atomically on the database's
clock, and a one-shot sync beside another writer leaves that writer's audiences alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace, sha

from syncd.claims import Claims, Lease, lease_name, process_name
from syncd.state import AudienceRef, StateStore, journal
from syncd.state.backends import PostgresBackend

LEASES = 300

_RACER = textwrap.dedent(
    """
    import sys
    from syncd.state import StateStore
    from syncd.state.backends import PostgresBackend

    uri, schema, holder, count = sys.argv[1:]
    with StateStore(PostgresBackend(uri, schema)) as state:
        print("ready", flush=True)
        sys.stdin.readline()  # start together
        won = [n for n in range(int(count)) if state.hold_lease(f"audience-{n}", holder, 300)]
    print(" ".join(map(str, won)))
    """
)


def test_two_processes_never_both_take_one_lease(postgres_uri: str) -> None:
    schema = f"leases_{uuid.uuid4().hex[:8]}"
    StateStore(PostgresBackend(postgres_uri, schema)).close()  # tables made before the race
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, postgres_uri, schema, holder, str(LEASES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for holder in ("first", "second")
    ]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    won = [set(racer.communicate(timeout=60)[0].split()) for racer in racers]

    assert won[0] & won[1] == set()
    assert len(won[0] | won[1]) == LEASES


def test_a_client_clock_ahead_does_not_take_a_live_lease(
    postgres_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expiry is the database's time, so a replica whose clock runs an hour ahead sees a
    fresh lease as fresh."""
    with StateStore(PostgresBackend(postgres_uri, f"clock_{uuid.uuid4().hex[:8]}")) as state:
        assert state.hold_lease("people->meta", "on-time", 300)
        ahead = datetime.now(UTC) + timedelta(hours=1)
        monkeypatch.setattr(journal, "now", lambda: ahead)
        assert not state.hold_lease("people->meta", "an-hour-ahead", 300)
        assert state.lease_holder("people->meta") == "on-time"


def _pushed(workspace: Workspace, operation: str) -> int:
    return sum(
        1
        for record in workspace.sandbox.meta.requests
        if record.operation == operation and record.status == 200
    )


def _sync(workspace: Workspace, postgres_uri: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "sync", "--once", str(workspace.root / "syncd.yaml")],
        env={"TEST_TOKEN": TOKEN, "PG_DSN": postgres_uri, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_second_writer_leaves_a_live_pass_alone(workspace: Workspace, postgres_uri: str) -> None:
    """Two `sync --once` on one PostgreSQL state, the segment changing between their
    starts: the second skips the audiences the first is pushing (its recovery would mark
    the first's batches interrupted and drop its staged members), every batch is sent
    once, and one more pass makes each audience exactly the new segment."""
    data = workspace.config_data()
    data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": f"w_{uuid.uuid4().hex[:8]}"}
    data["guardrails"] = {"max_removal_fraction": 1.0}
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
        destination["max_in_flight"] = 1  # a first sync of 4 s: the second starts inside it
    workspace.write_config(data)
    workspace.sandbox.meta.latency = workspace.sandbox.google.latency = 0.1
    before = [f"early{i}@example.com" for i in range(80)]
    after = before[:40] + [f"late{i}@example.com" for i in range(40)]
    workspace.write_people([(email, None, "US", None, None, None) for email in before])

    first = _sync(workspace, postgres_uri)
    deadline = time.monotonic() + 60
    while _pushed(workspace, "add") < 5:
        assert first.poll() is None, "the first sync ended before the second started"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    workspace.write_people([(email, None, "US", None, None, None) for email in after])
    second = _sync(workspace, postgres_uri)
    second_output = second.communicate(timeout=120)[0]
    first_output = first.communicate(timeout=120)[0]
    assert first.returncode == 0, first_output

    assert second.returncode == 1  # it did not complete those audiences
    assert second_output.count("holds its lease") == 2, second_output
    assert _pushed(workspace, "add") == 40  # the first sync's batches, each sent once

    final = _sync(workspace, postgres_uri)
    final_output = final.communicate(timeout=120)[0]
    assert final.returncode == 0, final_output
    assert workspace.sandbox.meta.members(META_AUDIENCE) == {
        frozenset({("EMAIL", sha(email))}) for email in after
    }
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(email))}) for email in after
    }


def test_the_lease_of_a_process_of_this_host_that_ended_is_taken_over(tmp_path: Path) -> None:
    """A one-shot killed with SIGKILL never releases its lease: the next one on the same
    machine sees that its process is gone and takes the lease at once; a live holder's
    lease is left alone."""
    ended = subprocess.run(
        [sys.executable, "-c", "from syncd.claims import process_name; print(process_name())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    audience = AudienceRef("meta:act_1", "42")
    with StateStore.at(tmp_path / "state.duckdb") as state:
        assert state.hold_lease(lease_name(audience), ended, 300)
        with Claims(state, Lease(process_name(), 300)) as claims:
            assert claims.take("people->meta", audience) is None
        assert state.hold_lease(lease_name(audience), "a-live-peer", 300)
        with Claims(state, Lease(process_name(), 300)) as claims:
            refused = claims.take("people->meta", audience)
        assert refused == "a-live-peer holds its lease and is syncing it"
