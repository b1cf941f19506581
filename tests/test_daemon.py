"""`syncd run` as a subprocess: endpoints, scheduled passes, SIGTERM, SIGHUP, leases."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import duckdb
import psycopg
import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace, sha
from postgres_server import PostgresServer
from support.daemon import RunningDaemon, wait_for


@pytest.fixture
def daemons() -> Iterator[list[RunningDaemon]]:
    started: list[RunningDaemon] = []
    yield started
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


def configure(workspace: Workspace, emails: list[str], **extra: object) -> dict:
    workspace.write_people([(email, None, "US", None, None, None) for email in emails])
    data = workspace.config_data()
    data["schedule"] = {"every": "1s", "jitter_seconds": 0}
    data.update(extra)
    workspace.write_config(data)
    return data


def audience_is(workspace: Workspace, emails: list[str]) -> bool:
    return workspace.sandbox.meta.members(META_AUDIENCE) == {
        frozenset({("EMAIL", sha(e))}) for e in emails
    } and workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(e))}) for e in emails
    }


def runs(workspace: Workspace) -> list[tuple]:
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        return state.execute(
            "SELECT audience, holder, status FROM runs ORDER BY started_at"
        ).fetchall()


def test_serves_endpoints_and_syncs_on_schedule(workspace: Workspace, daemons: list) -> None:
    emails = [f"d{i}@example.com" for i in range(5)]
    configure(workspace, emails)
    daemon = RunningDaemon(workspace, "a")
    daemons.append(daemon)

    wait_for(lambda: audience_is(workspace, emails), "the first scheduled pass")
    more = [*emails, "late@example.com"]
    configure(workspace, more)
    wait_for(lambda: audience_is(workspace, more), "a later scheduled pass")

    assert daemon.get("/healthz").text == "ok\n"
    ready = daemon.get("/readyz")
    assert (ready.status_code, ready.text) == (200, "ready\n"), ready.text
    metrics = daemon.get("/metrics").text
    assert 'syncd_syncs_total{audience="people->meta",status="ok"}' in metrics
    assert 'syncd_requests_total{network="google",outcome="ok"}' in metrics
    assert "syncd_sync_duration_seconds_bucket" in metrics
    assert 'syncd_last_success_timestamp_seconds{audience="people->google"}' in metrics
    assert daemon.stop() == 0

    passes = [line for line in daemon.logs() if line["message"].startswith("people->")]
    assert any(line.get("status") == "ok" and line.get("adds") == 1 for line in passes)
    assert all("d0@example.com" not in json.dumps(line) for line in daemon.logs())


def test_sigterm_mid_pass_exits_0_and_the_next_pass_completes(
    workspace: Workspace, daemons: list
) -> None:
    emails = [f"big{i}@example.com" for i in range(300)]
    data = configure(workspace, emails, schedule={"every": "1h", "jitter_seconds": 0})
    for destination in data["destinations"].values():
        destination["batch_size"] = 5
    workspace.write_config(data)
    workspace.sandbox.meta.latency = 0.05  # 60 batches: a window of seconds to stop in
    daemon = RunningDaemon(workspace, "a")
    daemons.append(daemon)
    wait_for(lambda: len(workspace.sandbox.meta.members(META_AUDIENCE)) >= 25, "some batches")

    assert daemon.stop() == 0
    statuses = [status for _, _, status in runs(workspace)]
    assert "stopped" in statuses
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) < 300

    workspace.sandbox.meta.latency = 0.0
    completed = subprocess.run(
        [sys.executable, "-m", "syncd", "sync", "--once", str(workspace.root / "syncd.yaml")],
        env={"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert audience_is(workspace, emails)


def test_two_daemons_never_push_the_same_audience(workspace: Workspace, daemons: list) -> None:
    emails = [f"pair{i}@example.com" for i in range(4)]
    configure(workspace, emails, daemon={"lease_seconds": 3})
    first = RunningDaemon(workspace, "first")
    daemons.append(first)
    wait_for(lambda: len(passes(first, "ok")) >= 2, "the first daemon's passes")
    second = RunningDaemon(workspace, "second")
    daemons.append(second)
    wait_for(lambda: len(passes(second, "skipped")) >= 4, "the second daemon's attempts")

    assert passes(second, "ok") == []  # every audience was leased to the first one
    first.process.kill()  # a crash: its leases are not released, they expire
    first.process.wait()
    wait_for(lambda: len(passes(second, "ok")) >= 2, "the takeover after the lease expired")
    assert second.stop() == 0

    holders = [holder for _, holder, _ in runs(workspace)]
    switch = next(i for i, holder in enumerate(holders) if holder != holders[0])
    assert len(set(holders[:switch])) == len(set(holders[switch:])) == 1  # one writer at a time


def passes(daemon: RunningDaemon, status: str) -> list[dict]:
    return [line for line in daemon.logs() if line.get("status") == status]


def test_sighup_reloads_a_valid_config_and_keeps_the_old_one_otherwise(
    workspace: Workspace, daemons: list
) -> None:
    emails = [f"hup{i}@example.com" for i in range(3)]
    configure(workspace, emails)
    daemon = RunningDaemon(workspace, "a")
    daemons.append(daemon)
    wait_for(lambda: audience_is(workspace, emails), "the first pass")

    config_path = workspace.root / "syncd.yaml"
    good = config_path.read_text()
    config_path.write_text(good + "unknown_key: 1\n")
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(
        lambda: any("reload refused" in line["message"] for line in daemon.logs()),
        "the refusal",
    )
    assert daemon.get("/readyz").status_code == 200

    narrowed = good.replace("select * from people", "select * from people where email < 'hup1'")
    config_path.write_text(narrowed)
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(lambda: audience_is(workspace, emails[:1]), "a pass with the reloaded config")
    assert daemon.stop() == 0


def test_spend_is_pulled_on_its_own_schedule(workspace: Workspace, daemons: list) -> None:
    today = dt.date.today()
    generated = workspace.sandbox.meta.generate_spend(today - dt.timedelta(days=4), today)
    emails = [f"spend{i}@example.com" for i in range(3)]
    configure(workspace, emails, spend={"every": "1s", "lookback_days": 2})
    daemon = RunningDaemon(workspace, "a")
    daemons.append(daemon)

    wait_for(lambda: len(spend_pulls(daemon)) >= 2, "two scheduled spend pulls")
    wait_for(lambda: audience_is(workspace, emails), "the audience passes beside them")
    metrics = daemon.get("/metrics").text
    assert 'syncd_spend_pulls_total{destination="meta",status="ok"}' in metrics
    assert 'syncd_spend_pulls_total{destination="google",status="skipped"}' in metrics
    assert re.search(r'syncd_spend_rows_total\{destination="meta",network="meta"\} [1-9]', metrics)
    assert 'syncd_spend_last_pull_timestamp_seconds{destination="meta"}' in metrics
    assert daemon.stop() == 0

    assert any("no `reporting` block" in line["message"] for line in daemon.logs())
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        held = state.execute(
            "SELECT date, ad_set_id, audience_id, cost FROM spend ORDER BY date, ad_set_id"
        ).fetchall()
    want = sorted(
        (row.day, row.ad_set.id, META_AUDIENCE, row.spend_cents / 100) for row in generated
    )
    assert [(d, a, i, round(c, 2)) for d, a, i, c in held] == want


def spend_pulls(daemon: RunningDaemon) -> list[dict]:
    return [line for line in daemon.logs() if line["message"].startswith("spend pulled")]


# -- segment queries that never end (issue 27, item 7) ------------------------------------------

#: Never ends: a cross join of 10^20 rows, filtered to none.
ENDLESS_DUCKDB = (
    "select 'x' || a.range as email from range(10000000000) a, range(10000000000) b "
    "where a.range + b.range < 0"
)
#: SIGTERM must stop `syncd run` this fast, mid-query (the watcher looks every 0.1 s).
STOPS_WITHIN = 10.0


def endless(workspace: Workspace, sql: str, timeout: int) -> dict:
    """One audience, to Meta, whose segment query does not end by itself."""
    data = configure(workspace, ["a@example.com"])
    data["segments"] = {
        "endless": {"sql": sql, "identifiers": {"email": "email"}, "timeout_seconds": timeout}
    }
    data["audiences"] = [
        {"segment": "endless", "destination": "meta", "audience_id": META_AUDIENCE}
    ]
    workspace.write_config(data)
    return data


def reading(daemon: RunningDaemon, segment: str) -> bool:
    return any(line["message"].startswith(f"segment {segment}: reading") for line in daemon.logs())


def test_sigterm_interrupts_a_segment_query_that_never_ends(
    workspace: Workspace, daemons: list
) -> None:
    endless(workspace, ENDLESS_DUCKDB, timeout=600)
    daemon = RunningDaemon(workspace, "endless")
    daemons.append(daemon)
    wait_for(lambda: reading(daemon, "endless"), "the segment query to start")

    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=STOPS_WITHIN) == 0

    stopped = [line for line in daemon.logs() if line.get("status") == "stopped"]
    assert "interrupted because syncd is stopping" in daemon.log_path.read_text()
    assert [line["audience"] for line in stopped] == ["endless->meta"]


def test_readyz_is_unready_while_a_query_runs_past_its_timeout(
    workspace: Workspace, daemons: list, postgres: PostgresServer
) -> None:
    """A PostgreSQL backend that does not answer its cancel (stopped, as a frozen server):
    the pass is stuck past the segment's deadline until it answers."""
    with psycopg.connect(postgres.uri, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS people")
        db.execute("CREATE TABLE people AS SELECT 'a@example.com' AS email")
    data = endless(workspace, "select email from people, pg_sleep(60)", timeout=3)
    data["warehouse"] = {"kind": "postgres", "dsn": "${PG_DSN}"}
    workspace.write_config(data)
    daemon = RunningDaemon(workspace, "stuck", env={"PG_DSN": postgres.uri})
    daemons.append(daemon)
    wait_for(lambda: reading(daemon, "endless"), "the segment query to start")

    backend = segment_backend(postgres)
    os.kill(backend, signal.SIGSTOP)
    try:
        wait_for(lambda: daemon.get("/readyz").status_code == 503, "/readyz to say unready")
        body = daemon.get("/readyz").text
    finally:
        os.kill(backend, signal.SIGCONT)
    assert "a pass is stuck: segment endless: its query has run" in body
    assert "past its 3s timeout, and the warehouse has not stopped it" in body

    assert daemon.stop() == 0
    assert "ran longer than its 3s timeout" in daemon.log_path.read_text()


def segment_backend(postgres: PostgresServer) -> int:
    """The pid of the server process fetching a segment for syncd."""
    query = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'syncd' "
        "AND state = 'active' AND query LIKE 'FETCH%syncd_segment%'"
    )
    found: list[int] = []

    def running() -> bool:
        with psycopg.connect(postgres.uri, autocommit=True) as db:
            found.extend(int(row[0]) for row in db.execute(query).fetchall())
        return bool(found)

    wait_for(running, "a backend fetching the segment")
    return found[0]
