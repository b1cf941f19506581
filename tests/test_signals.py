"""Signals that arrive while syncd is still starting, and a state that fails at the end of a
run: each stays with what it concerns, never taking the whole process down."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import duckdb
import pytest
from conftest import Workspace
from support.daemon import RunningDaemon

from syncd.state import StateStore


def wait_until_catching(pid: int, signum: int, seconds: float = 10.0) -> None:
    """Until the process has a handler for `signum` (Linux: the SigCgt mask of
    /proc/PID/status)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        (caught,) = [line.split()[1] for line in status.splitlines() if line.startswith("SigCgt")]
        if int(caught, 16) >> (signum - 1) & 1:
            return
        time.sleep(0.002)
    raise AssertionError(f"process {pid} never caught signal {signum}")


def test_a_sighup_while_the_daemon_starts_reloads_instead_of_killing_it(
    workspace: Workspace,
) -> None:
    workspace.write_people([("a@example.com", None, "US", None, None, None)])
    data = workspace.config_data()
    data["schedule"] = {"every": "1h", "jitter_seconds": 0}
    workspace.write_config(data)
    daemon = RunningDaemon(workspace, "daemon", wait=False)
    log = daemon.log_path
    try:
        # Inside the CLI's imports, before the daemon's own handlers: as soon as the first
        # lines (`syncd.launch`) catch SIGHUP. A fixed 50 ms sleep was sometimes shorter than
        # Python's own start on a busy machine, and the signal then came before any handler.
        wait_until_catching(daemon.process.pid, signal.SIGHUP)
        daemon.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "config reloaded" not in log.read_text():
            code = daemon.process.poll()
            assert code is None, f"syncd died of SIGHUP: {code}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert daemon.get("/healthz").status_code == 200
        assert daemon.stop() == 0
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


def test_a_run_record_the_state_cannot_take_fails_its_audience_alone(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state refusing the end of one run (disk full, connection gone) fails that
    audience with the reason; the other audience's pass still reports ok."""
    workspace.write_people([("a@example.com", None, "US", None, None, None)])
    finish_run = StateStore.finish_run

    def refuse_meta(self: StateStore, run_id: str, status: str, summary, error=None) -> None:
        if summary["network"] == "meta":
            raise duckdb.IOException("No space left on device")
        finish_run(self, run_id, status, summary, error)

    monkeypatch.setattr(StateStore, "finish_run", refuse_meta)
    meta, google = workspace.sync()

    assert meta.status == "failed"
    assert "could not record the run: No space left on device" in (meta.error or "")
    assert google.status == "ok"
