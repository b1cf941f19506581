"""Signals that arrive while syncd is still starting, and a state that fails at the end of a
run: each stays with what it concerns, never taking the whole process down."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import duckdb
import httpx
import pytest
from conftest import TOKEN, Workspace

from syncd.state import StateStore


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_sighup_while_the_daemon_starts_reloads_instead_of_killing_it(
    workspace: Workspace,
) -> None:
    workspace.write_people([("a@example.com", None, "US", None, None, None)])
    data = workspace.config_data()
    data["schedule"] = {"every": "1h", "jitter_seconds": 0}
    config = workspace.write_config(data)
    port = free_port()
    log = workspace.root / "daemon.log"
    listen = f"127.0.0.1:{port}"
    with log.open("wb") as stderr:
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syncd",
                "--log-level",
                "info",
                "run",
                "--listen",
                listen,
                config,
            ],
            env={"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        time.sleep(0.05)  # well inside the imports, before the daemon's own handlers
        daemon.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "config reloaded" not in log.read_text():
            assert daemon.poll() is None, f"syncd died of SIGHUP: {daemon.returncode}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


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
