"""No raw identifier leaves the process: not in logs, output, state or the emulators' logs.

The sync runs as a real `syncd` subprocess at DEBUG level, so every library's logging
(facebook-business, urllib3, httpx) is included, and its whole output is scanned for every
raw and normalized form of the fixture's emails and phones, and for the access token.
"""

from __future__ import annotations

import subprocess
import sys

import duckdb
from conftest import TOKEN, Workspace
from support.daemon import RunningDaemon, wait_for
from support.people import PEOPLE, rows


def forbidden_strings() -> set[str]:
    """Raw values, their trimmed and lowercased forms, and every normalized form."""
    values: set[str] = set()
    for (email, phone, _country), expected in PEOPLE:
        for raw in (email, phone):
            if raw and len(raw.strip()) > 3:
                values |= {raw, raw.strip(), raw.strip().lower()}
        values |= {value for value in expected or () if value}
    return values


def test_a_sync_writes_no_identifier_anywhere(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    config_path = workspace.write_config()
    completed = subprocess.run(
        [sys.executable, "-m", "syncd", "--log-level", "debug", "sync", "--once", str(config_path)],
        capture_output=True,
        text=True,
        env={"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout + completed.stderr
    assert "DEBUG" in output  # the libraries' own logging was on
    assert "acknowledged" in completed.stderr

    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        stored = [
            str(value)
            for table in ("members", "runs", "quarantine")
            for row in state.execute(f"SELECT * FROM {table}").fetchall()
            for value in row
        ]
    emulator_logs = [
        repr(record)
        for record in workspace.sandbox.meta.requests + workspace.sandbox.google.requests
    ]
    haystacks = {
        "output": output,
        "state": "\n".join(stored),
        "emulators": "\n".join(emulator_logs),
    }

    for where, text in haystacks.items():
        leaked = sorted(value for value in forbidden_strings() if value in text)
        assert leaked == [], f"raw identifiers in {where}"
        assert TOKEN not in text, f"access token in {where}"
    assert len(stored) > 20  # the state was really read


def daemon_outputs(workspace: Workspace) -> dict[str, str]:
    """The daemon's JSON logs and its /metrics after a scheduled pass over the same data."""
    data = workspace.config_data()
    data["schedule"] = {"every": "1h", "jitter_seconds": 0}
    workspace.write_config(data)
    daemon = RunningDaemon(workspace, "privacy")
    try:
        wait_for(lambda: "people->google: pass" in daemon.log_path.read_text(), "a pass")
        metrics = daemon.get("/metrics").text
        assert 'syncd_invalid_values_total{audience="people->meta"' in metrics
    finally:
        assert daemon.stop() == 0
    return {"daemon logs": daemon.log_path.read_text(), "metrics": metrics}
