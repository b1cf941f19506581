"""`syncd status` after real passes against the emulators: what each audience holds, how its
last pass ended, when it runs next, its open alerts and pending erasures, as text and JSON;
read without writing the state, beside a process that holds it, and drawn again by --watch."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys

import duckdb
import psycopg
import pytest
from click.testing import CliRunner, Result
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace, sha
from postgres_server import PostgresServer
from support.daemon import RunningDaemon, wait_for
from support.erasure import forget, synced
from support.people import PEOPLE, rows

from syncd.alerts.engine import WHOLE, Condition, observe
from syncd.cli import main
from syncd.config import load_config
from syncd.pipeline import sync_all
from syncd.state import open_state
from syncd.status import reading

MISSING_AUDIENCE = "23859999999999999"
#: An alert rule of this test's own, apart from those syncd's rules open by themselves.
RULE = "status_test"


def status(workspace: Workspace, *args: str, env: dict[str, str] | None = None) -> Result:
    config = str(workspace.root / "syncd.yaml")
    return CliRunner().invoke(
        main, ["status", config, *args], env={"TEST_TOKEN": TOKEN, **(env or {})}
    )


def document(workspace: Workspace, env: dict[str, str] | None = None) -> dict:
    result = status(workspace, "--json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def by_name(found: dict) -> dict[str, dict]:
    return {audience["audience"]: audience for audience in found["audiences"]}


def identifiers() -> set[str]:
    """Every raw identifier of the fixture, its normalized forms and their hashes."""
    values: set[str] = set()
    for (email, phone, _country), expected in PEOPLE:
        values |= {raw.strip() for raw in (email, phone) if raw and len(raw.strip()) > 3}
        values |= {value for value in expected or () if value}
    return values | {sha(value) for value in values}


def failing_meta(workspace: Workspace) -> dict:
    """The workspace's config with Meta's audience missing from the ad account: its passes
    fail, Google's succeed."""
    data = workspace.config_data()
    data["audiences"][0]["audience_id"] = MISSING_AUDIENCE
    data["audiences"][1]["schedule"] = {"cron": "15 */2 * * *"}
    workspace.write_config(data)
    return data


def test_text_and_json_show_each_audience_after_real_passes(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    data = failing_meta(workspace)
    before = dt.datetime.now(dt.UTC)
    meta, google = workspace.sync(data)
    assert (meta.status, google.status) == ("failed", "ok")

    found = document(workspace)
    assert found["version"] == 1 and found["state"]["exists"] is True
    assert found["state"]["location"] == str(workspace.root / "state.duckdb")
    audiences = by_name(found)
    failed, done = audiences["people->meta"], audiences["people->google"]
    assert failed["last_pass"]["status"] == "failed"
    assert f"Meta audience {MISSING_AUDIENCE}" in failed["last_pass"]["error"]
    # Its members were sent and refused: never acknowledged, so in flight, not held.
    assert (failed["members_held"], failed["members_in_flight"]) == (0, 5)
    assert failed["match_rate"] is None
    assert failed["refresh_due"] is None  # Meta keeps members for good
    assert done["last_pass"]["status"] == "ok" and done["last_pass"]["error"] is None
    assert (done["members_held"], done["members_in_flight"]) == (5, 0) == (google.members, 0)
    assert done["audience_id"] == GOOGLE_LIST and done["network"] == "google"
    assert done["last_pass"]["seconds"] >= 0

    # Meta's on the default interval: an hour after its pass started; Google's on its cron.
    started = dt.datetime.fromisoformat(failed["last_pass"]["started_at"])
    assert before <= started <= dt.datetime.now(dt.UTC)
    assert failed["schedule"] == "every 1h" and not failed["due_now"]
    assert dt.datetime.fromisoformat(failed["next_run"]) == started + dt.timedelta(hours=1)
    cron_next = dt.datetime.fromisoformat(done["next_run"])
    assert done["schedule"] == "cron 15 */2 * * *" and not done["due_now"]
    assert (cron_next.minute, cron_next.hour % 2, cron_next.second) == (15, 0, 0)
    assert dt.timedelta(0) < cron_next - before <= dt.timedelta(hours=2)
    # Google drops members after 540 days; syncd sends them again after 450.
    refresh = dt.datetime.fromisoformat(done["refresh_due"])
    assert (
        before + dt.timedelta(days=450)
        <= refresh
        <= dt.datetime.now(dt.UTC) + dt.timedelta(days=450)
    )
    assert not done["refresh_overdue"]
    # Only the failed audience can have an alert open (syncd's own rules open them).
    assert {alert["audience"] for alert in found["alerts"]} <= {"people->meta"}
    assert failed["open_alerts"] == len(found["alerts"]) and done["open_alerts"] == 0
    assert found["erasure_requests_pending"] == 0

    screen = status(workspace)
    assert screen.exit_code == 0, screen.output
    lines = screen.output.splitlines()
    assert "2 audiences" in lines[1] and str(workspace.root / "state.duckdb") in lines[1]
    row = next(line for line in lines if line.startswith("people->google "))
    assert " ok " in row and " 5 " in row and "in 450 d" in row
    failed_row = next(line for line in lines if line.startswith("people->meta "))
    assert " failed " in failed_row and " 0 (5 in flight) " in failed_row
    assert "in 60 min" in failed_row
    assert f"  people->meta failed: Meta audience {MISSING_AUDIENCE}" in screen.output
    for value in identifiers():
        assert value not in screen.output and value not in json.dumps(found)


def test_an_overdue_audience_is_due_now_and_the_match_rate_shows(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    workspace.write_config()
    workspace.sync()
    with duckdb.connect(str(workspace.root / "state.duckdb")) as state:  # three hours ago
        state.execute("UPDATE runs SET started_at = started_at - INTERVAL 3 HOUR")
        state.execute(
            "UPDATE runs SET summary = json_merge_patch(summary, "
            """'{"audience_info": {"matched_members": 4}, "members": 5}')"""
        )

    audiences = by_name(document(workspace))
    for audience in audiences.values():
        assert audience["due_now"] and audience["match_rate"] == 0.8
        assert audience["matched_members"] == 4
    row = next(line for line in status(workspace).output.splitlines() if "people->meta" in line)
    assert "due now" in row and "80%" in row and "3 h ago" in row


def test_open_alerts_show_per_audience_and_whole(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    config = workspace.config()
    assert [r.status for r in sync_all(config)] == ["ok", "ok"]
    with open_state(config.state) as state:  # as the alert rules open them
        observe(
            config,
            state,
            RULE,
            ["people->meta", "people->google", WHOLE],
            [
                Condition(RULE, "people->google", "a status test condition", "resolve it"),
                Condition(RULE, WHOLE, "destination meta: a status test", "renew it"),
            ],
        )

    found = document(workspace)
    mine = [a for a in found["alerts"] if a["rule"] == RULE]
    assert sorted((a["audience"], a["message"], a["fix"]) for a in mine) == [
        ("*", "destination meta: a status test", "renew it"),
        ("people->google", "a status test condition", "resolve it"),
    ]
    audiences = by_name(found)
    assert audiences["people->google"]["open_alerts"] == len(
        [a for a in found["alerts"] if a["audience"] == "people->google"]
    )
    screen = status(workspace).output
    assert f"open alerts: {len(found['alerts'])} ·" in screen
    assert f"  people->google  {RULE}  since just now: a status test condition" in screen
    assert "    fix: resolve it" in screen and f"  *  {RULE}  since" in screen

    with open_state(config.state) as state:  # the conditions clear
        observe(config, state, RULE, ["people->meta", "people->google", WHOLE], [])
    assert not [a for a in document(workspace)["alerts"] if a["rule"] == RULE]


def test_pending_and_failed_erasures_show(workspace: Workspace) -> None:
    synced(workspace)
    data = workspace.config_data()
    data["destinations"]["google"]["settle_seconds"] = 0.2
    workspace.write_config(data)
    workspace.sandbox.meta.flag_audience(META_AUDIENCE)  # Meta refuses the removal
    workspace.sandbox.google.processing_polls = 1_000  # Google is still processing it
    assert forget(workspace, "--kind", "email", text="p6@example.com\n").exit_code == 1

    found = document(workspace)
    assert found["erasure_requests_pending"] == 1
    audiences = by_name(found)
    assert audiences["people->meta"]["erasures"] == {"pending": 0, "failed": 1}
    assert audiences["people->google"]["erasures"] == {"pending": 1, "failed": 0}
    screen = status(workspace).output
    assert "erasure requests pending: 1" in screen
    meta_row = next(line for line in screen.splitlines() if line.startswith("people->meta "))
    assert " 1 (1 failed) " in meta_row
    for value in ("p6@example.com", sha("p6@example.com")):
        assert value not in screen and value not in json.dumps(found)


def test_no_state_yet_creates_none(workspace: Workspace) -> None:
    data = workspace.config_data()
    data["state"] = {"path": "not/made/state.duckdb"}
    workspace.write_config(data)

    screen = status(workspace)
    assert screen.exit_code == 0, screen.output
    assert f"no state yet: run `syncd sync {workspace.root / 'syncd.yaml'}`" in screen.output
    found = document(workspace)
    assert found["state"]["exists"] is False
    assert [a["last_pass"] for a in found["audiences"]] == [None, None]
    assert all(a["due_now"] and a["members_held"] == 0 for a in found["audiences"])
    assert not (workspace.root / "not").exists()


def test_a_state_held_by_another_process_is_said_busy(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.write_people(rows(PEOPLE))
    workspace.write_config()
    workspace.sync()
    hold = (
        "import duckdb, sys, time; db = duckdb.connect(sys.argv[1]); print('held'); time.sleep(60)"
    )
    with subprocess.Popen(
        [sys.executable, "-u", "-c", hold, str(workspace.root / "state.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            monkeypatch.setattr(reading, "WAIT_SECONDS", 0.3)
            screen = status(workspace)
        finally:
            holder.kill()
    assert screen.exit_code == 1
    assert "is busy: a pass of `syncd sync` or `syncd run` has it open" in screen.output
    assert "Traceback" not in screen.output


def test_status_reads_the_state_while_a_daemon_runs(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    data = workspace.config_data()
    data["schedule"] = {"every": "1h", "jitter_seconds": 0}
    workspace.write_config(data)
    daemon = RunningDaemon(workspace, "daemon")

    def both_ok() -> bool:
        result = status(workspace, "--json")
        if result.exit_code:  # busy while a pass holds the file: said, not a crash
            assert "is busy" in result.stderr, result.output
            return False
        audiences = json.loads(result.stdout)["audiences"]
        return all(a["last_pass"] and a["last_pass"]["status"] == "ok" for a in audiences)

    try:
        wait_for(both_ok, "status to show both passes done while the daemon runs")
        assert daemon.process.poll() is None
    finally:
        assert daemon.stop() == 0


def test_watch_draws_until_interrupted(workspace: Workspace) -> None:
    workspace.write_config()  # no state yet: every audience is drawn all the same
    output = workspace.root / "watch.out"
    with output.open("w") as sink:
        watcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syncd",
                "status",
                str(workspace.root / "syncd.yaml"),
                "--watch",
                "0.2",
            ],
            stdout=sink,
            stderr=subprocess.PIPE,
            env={"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        )
        try:
            wait_for(lambda: output.read_text().count("syncd status of") >= 2, "two draws", 30)
        finally:
            watcher.send_signal(signal.SIGINT)
            _, errors = watcher.communicate(timeout=10)
    assert watcher.returncode == 0, errors
    drawn = output.read_text()
    assert "\x1b[" not in drawn  # not a terminal: no screen clearing
    assert drawn.count("people->google ") >= 2


def test_a_postgres_state_is_read_without_creating_its_schema(
    workspace: Workspace, postgres: PostgresServer
) -> None:
    data = workspace.config_data()
    data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": "syncd_status"}
    workspace.write_config(data)
    env = {"PG_DSN": postgres.uri}

    assert document(workspace, env)["state"]["exists"] is False
    with psycopg.connect(postgres.uri) as db:
        made = db.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'syncd_status'")
        assert made.fetchall() == []

    workspace.write_people(rows(PEOPLE))
    config = load_config(workspace.root / "syncd.yaml", environ={"TEST_TOKEN": TOKEN, **env})
    assert [r.status for r in sync_all(config)] == ["ok", "ok"]
    found = document(workspace, env)
    assert found["state"]["exists"] is True and "schema syncd_status" in found["state"]["location"]
    assert [a["members_held"] for a in found["audiences"]] == [5, 5]
    password = psycopg.conninfo.conninfo_to_dict(postgres.uri)["password"]
    assert str(password) not in found["state"]["location"]


def test_status_loads_neither_the_daemon_nor_the_pipeline() -> None:
    """`syncd status` reads; the scheduler, the daemon and the pipeline are what writes."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, syncd.status.command; "
            "print(sorted(m for m in sys.modules if m in "
            "('syncd.daemon', 'syncd.pipeline', 'apscheduler.schedulers')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_an_erasure_run_is_not_the_last_pass(workspace: Workspace) -> None:
    """An erasure's run (summary "erasure" set; written here until `syncd forget` writes
    one) reads no segment: the last pass and the next run stay those of the passes."""
    workspace.write_people(rows(PEOPLE))
    workspace.write_config()
    workspace.sync()
    with duckdb.connect(str(workspace.root / "state.duckdb")) as state:  # three hours ago
        state.execute(
            "UPDATE runs SET started_at = started_at - INTERVAL 3 HOUR, "
            "finished_at = finished_at - INTERVAL 3 HOUR"
        )
        state.execute(
            "INSERT INTO runs SELECT md5(run_id), audience, destination, audience_id, holder, "
            "now(), now(), 'ok', json_merge_patch(summary, '{\"erasure\": \"e-1\"}'), NULL "
            "FROM runs"
        )
    audiences = by_name(document(workspace))
    assert audiences and all(audience["due_now"] for audience in audiences.values())
    row = next(line for line in status(workspace).output.splitlines() if "people->meta" in line)
    assert "due now" in row and "3 h ago" in row
