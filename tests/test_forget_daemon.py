"""`syncd forget` beside a running daemon, which holds every audience's lease all the time:
the command leaves the erasure pending and says the daemon applies it, and the daemon does,
within seconds, not at the audience's next scheduled pass (a daily cron here)."""

from __future__ import annotations

import duckdb
from conftest import GOOGLE_LIST, META_AUDIENCE, Workspace, sha
from support.daemon import RunningDaemon, wait_for
from support.erasure import erasure_id, forget, synced

from syncd.state import open_state


def leased(workspace: Workspace) -> int:
    """The leases held (the state's own open waits while the daemon has the file open)."""
    with open_state(workspace.config().state) as state:
        ((count,),) = state.backend.execute("SELECT count(*) FROM leases WHERE name LIKE '%/%'")
        return int(count)


def held(workspace: Workspace, email: str) -> bool:
    digest = sha(email)
    meta = {
        value for member in workspace.sandbox.meta.members(META_AUDIENCE) for _, value in member
    }
    google = {
        value for member in workspace.sandbox.google.members(GOOGLE_LIST) for _, value in member
    }
    return digest in meta or digest in google


def test_a_running_daemon_applies_an_erasure_long_before_the_next_pass(
    workspace: Workspace,
) -> None:
    data = workspace.config_data()
    data["schedule"] = {"cron": "0 3 * * *", "jitter_seconds": 0}  # daily: no pass in this test
    data["daemon"] = {"lease_seconds": 3}  # it looks for erasures every second
    synced(workspace, data=data)
    daemon = RunningDaemon(workspace, "eraser")
    try:
        wait_for(lambda: leased(workspace) == 2, "the daemon's leases")
        result = forget(workspace, "--kind", "email", text="p4@example.com\n")
        assert result.exit_code == 1, result.output
        assert result.stderr.count("a running syncd daemon applies it") == 2, result.stderr
        wait_for(lambda: not held(workspace, "p4@example.com"), "the daemon's erasure", 20)
        assert held(workspace, "p5@example.com")
        status = forget(workspace, "--status", erasure_id(result))
        assert status.exit_code == 0, status.output
        assert status.stdout.count(" done ") == 2
        assert daemon.stop() == 0
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        runs = state.execute("SELECT summary::JSON->>'erasure' FROM runs").fetchall()
    assert sorted(runs, key=str) == [(erasure_id(result),)] * 2 + [(None,)] * 2  # no pass ran
