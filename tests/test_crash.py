"""SIGKILL at random points of multi-batch syncs: the next pass still makes every audience
exactly its segment, with no lost removal.

Between kills the segment changes, so members that were in flight when a process died may
have left the segment since: the journal must still remove them. Bounded: a fixed number of
kills, each within a few seconds; all traffic goes to the emulators on 127.0.0.1.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time

import duckdb
import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace, sha
from support.holdouts import google_emails, held_out, meta_emails

from syncd.sandbox.server import RequestRecord

KILLS = 6
POOL = [f"shopper{i}@example.com" for i in range(80)]


def segment(rng: random.Random) -> list[str]:
    return sorted(rng.sample(POOL, 40))


def write(workspace: Workspace, emails: list[str]) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in emails])


def start_sync(workspace: Workspace) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "sync", "--once", str(workspace.root / "syncd.yaml")],
        env={"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigkill_anywhere_never_loses_a_change(workspace: Workspace) -> None:
    rng = random.Random(20261126)
    data = workspace.config_data()
    data["guardrails"] = {"max_removal_fraction": 1.0}
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
    workspace.write_config(data)
    workspace.sandbox.meta.latency = workspace.sandbox.google.latency = 0.2

    emails = segment(rng)
    for _ in range(KILLS):
        emails = segment(rng)
        write(workspace, emails)
        process = start_sync(workspace)
        time.sleep(rng.uniform(0.5, 2.5))
        process.kill()
        process.wait(timeout=10)

    final = start_sync(workspace)
    assert final.wait(timeout=120) == 0

    assert workspace.sandbox.meta.members(META_AUDIENCE) == {
        frozenset({("EMAIL", sha(email))}) for email in emails
    }
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(email))}) for email in emails
    }
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        statuses = dict(state.execute("SELECT status, count(*) FROM runs GROUP BY 1").fetchall())
        in_flight = state.execute(
            "SELECT count(*) FROM batches WHERE status = 'unacknowledged'"
        ).fetchall()[0][0]
    # The kills really landed mid-pass, with requests in flight: otherwise this proves nothing.
    assert statuses.get("interrupted", 0) >= KILLS // 2
    assert in_flight >= 1


def test_sigkill_anywhere_never_sends_anyone_held_out(workspace: Workspace) -> None:
    """Issue 24: with a holdout, passes killed at random points never leave a held-out
    person in either audience (checked after every kill, before the next pass could remove
    one), and the pass after them leaves exactly the treated people."""
    rng = random.Random(20261206)
    data = workspace.config_data()
    data["guardrails"] = {"max_removal_fraction": 1.0}
    data["segments"]["people"]["holdout"] = {"fraction": 0.25}
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
    workspace.write_config(data)
    workspace.sandbox.meta.latency = workspace.sandbox.google.latency = 0.2
    out = {sha(email) for email in held_out("people", POOL, 0.25)}
    assert len(out) >= 10

    for _ in range(KILLS // 2):
        emails = segment(rng)
        write(workspace, emails)
        process = start_sync(workspace)
        time.sleep(rng.uniform(0.5, 2.5))
        process.kill()
        process.wait(timeout=10)
        assert not (meta_emails(workspace) | google_emails(workspace)) & out

    assert start_sync(workspace).wait(timeout=120) == 0
    treated = {sha(email) for email in emails} - out
    assert meta_emails(workspace) == google_emails(workspace) == treated


def _pushed(records: list[RequestRecord]) -> int:
    """Member batches a network has answered (adds and removes; not reads or statuses)."""
    return sum(1 for record in records if record.count and record.status == 200)


@pytest.mark.parametrize("in_flight", [1, 4])
def test_one_pass_after_a_kill_past_the_first_commit_group_is_exact(
    workspace: Workspace, in_flight: int
) -> None:
    """A first sync of 40 batches a network, killed once more than ten have gone out (one at
    a time, or four in flight at once): the dead pass leaves members staged for batches it
    never marked in flight, and batches in flight. The very next pass must send them, not
    only a further one (they were compared before the journal was folded, and so landed in
    neither the matched nor the unmatched rows)."""
    data = workspace.config_data()
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
        destination["max_in_flight"] = in_flight
    workspace.write_config(data)
    workspace.sandbox.meta.latency = workspace.sandbox.google.latency = 0.05 * in_flight
    emails = [f"buyer{i}@example.com" for i in range(80)]
    write(workspace, emails)

    process = start_sync(workspace)
    deadline = time.monotonic() + 60
    networks = (workspace.sandbox.meta, workspace.sandbox.google)
    while min(_pushed(network.requests) for network in networks) <= 12:
        assert process.poll() is None, "the first sync ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.kill()
    process.wait(timeout=10)
    assert all(_pushed(network.requests) < 40 for network in networks)

    assert start_sync(workspace).wait(timeout=120) == 0

    assert workspace.sandbox.meta.members(META_AUDIENCE) == {
        frozenset({("EMAIL", sha(email))}) for email in emails
    }
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(email))}) for email in emails
    }


def test_sigkill_anywhere_never_leaves_a_suppressed_person_in(workspace: Workspace) -> None:
    """Issue 25: people held in both audiences opt out (a suppressions list, written as a
    CRM does: other case, spaces) while the segment still returns them; passes killed at
    random points and resumed leave them out of every audience, on both networks."""
    rng = random.Random(20261212)
    data = workspace.config_data()
    data["guardrails"] = {"max_removal_fraction": 1.0}
    data["suppressions"] = {"sql": "select mail from opt_outs", "identifiers": {"email": "mail"}}
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
    workspace.write_config(data)

    def write_with(emails: list[str], opted_out: list[str]) -> None:
        write(workspace, emails)  # a new warehouse file: the list goes in again
        with duckdb.connect(str(workspace.warehouse)) as db:
            db.execute("CREATE TABLE opt_outs (mail VARCHAR)")
            for email in opted_out:
                db.execute("INSERT INTO opt_outs VALUES (?)", [f" {email.upper()} "])

    emails = segment(rng)
    write_with(emails, [])
    assert start_sync(workspace).wait(timeout=120) == 0
    opted_out = rng.sample(emails, 4)
    assert meta_emails(workspace) & google_emails(workspace) >= {sha(e) for e in opted_out}

    networks = (workspace.sandbox.meta, workspace.sandbox.google)
    workspace.sandbox.meta.latency = workspace.sandbox.google.latency = 0.05
    for _ in range(KILLS // 2):
        emails = sorted(set(segment(rng)) | set(opted_out))  # the segment still has them
        write_with(emails, opted_out)
        # Killed once a random number of batches went out: at any point of the pass, however
        # long the process takes to start.
        until = sum(_pushed(network.requests) for network in networks) + rng.randint(1, 12)
        process = start_sync(workspace)
        while sum(_pushed(network.requests) for network in networks) < until:
            assert process.poll() is None, "the pass ended before it could be killed"
            time.sleep(0.005)
        process.kill()
        process.wait(timeout=10)

    assert start_sync(workspace).wait(timeout=120) == 0
    kept = {sha(email) for email in emails if email not in opted_out}
    assert meta_emails(workspace) == google_emails(workspace) == kept
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        ((interrupted,),) = state.execute(
            "SELECT count(*) FROM runs WHERE status = 'interrupted'"
        ).fetchall()
    assert interrupted >= KILLS // 2  # the kills landed mid-pass
