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

from syncd.pipeline import sync_all


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


#: Opt-outs as a CRM writes them: Alice (in the segment) in other spellings, and a person
#: the segment never had. Their raw and normalized forms must appear nowhere either.
OPT_OUTS = [("ALICE.SMITH@gmail.com", "+1 415-555-0132"), (" Zed.Opt@Example.net", "650 555 0199")]
OPT_OUT_FORMS = {"Zed.Opt@Example.net", "zed.opt@example.net", "16505550199", "+16505550199"}


def test_a_sync_with_suppressions_writes_no_identifier_anywhere(workspace: Workspace) -> None:
    """Issue 25: the suppressions list is read, normalized per network and matched, and the
    suppressed person removed; none of its values, raw or normalized, is logged or kept."""
    workspace.write_people(rows(PEOPLE))
    sync_all(workspace.config())  # Alice is held on both networks before she opts out
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute("CREATE TABLE opt_outs (mail VARCHAR, tel VARCHAR)")
        db.executemany("INSERT INTO opt_outs VALUES (?, ?)", [list(row) for row in OPT_OUTS])
    data = workspace.config_data()
    data["suppressions"] = {
        "sql": "select * from opt_outs",
        "identifiers": {"email": "mail", "phone": "tel"},
        "default_country": "US",
    }
    config_path = workspace.write_config(data)
    completed = subprocess.run(
        [sys.executable, "-m", "syncd", "--log-level", "debug", "sync", "--once", str(config_path)],
        capture_output=True,
        text=True,
        env={"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "suppressed: 1 members left out" in completed.stdout  # Alice left both audiences
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        tables = [
            name for (name,) in state.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        ]
        stored = [
            str(value)
            for table in tables
            for row in state.execute(f"SELECT * FROM {table}").fetchall()
            for value in row
        ]
    emulators = [
        repr(r) for r in workspace.sandbox.meta.requests + workspace.sandbox.google.requests
    ]
    forbidden = forbidden_strings() | OPT_OUT_FORMS | {v.strip() for row in OPT_OUTS for v in row}
    for where, text in {
        "output": completed.stdout + completed.stderr,
        "state": "\n".join(stored),
        "emulators": "\n".join(emulators),
    }.items():
        leaked = sorted(value for value in forbidden if value in text)
        assert leaked == [], f"raw identifiers in {where}"
    assert "runs" in tables and len(stored) > 20


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
