"""Segment queries that never end (issue 27, item 7): each read has a timeout, a pass asked to
stop interrupts its query, and a read the warehouse does not stop makes syncd unready.

Real warehouses throughout: DuckDB files and the tests' PostgreSQL server. A backend that
does not answer its cancel is made by stopping its process (SIGSTOP), as a frozen server
would behave."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace, sha
from postgres_server import PostgresServer
from support.held_proxy import HeldProxy

from syncd.config import load_config
from syncd.health import Health
from syncd.pipeline import AudienceResult, PassOptions, sync_all
from syncd.sources import SourceError
from syncd.sources.duckdb import DuckDBSource
from syncd.sources.postgres import PostgresSource
from syncd.sources.watch import WatchedSource, overdue_reads

#: Bounds that prove a hang ended; the timeouts under test are 1 s.
ENDS_WITHIN = 20.0
#: Never ends: a cross join of 10^20 rows, filtered to none.
DUCKDB_FOREVER = (
    "select 'x' || a.range as email from range(10000000000) a, range(10000000000) b "
    "where a.range + b.range < 0"
)
POSTGRES_FOREVER = "select email, phone, country from people, pg_sleep(60)"
EMAILS = ["a@example.com", "b@example.com", "c@example.com"]


def finished(call: Callable[[], object], within: float = ENDS_WITHIN) -> object:
    """`call`'s result (or its exception), run on a thread; fails, leaving the thread
    behind, if it hangs."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(within)
    assert outcome, f"still running after {within:.0f}s: the query was never stopped"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def two_segments(workspace: Workspace, forever_sql: str, timeout: int | None) -> dict:
    """`people` syncs to Google; `forever`, whose query never ends, to Meta."""
    workspace.write_people([(email, None, "US", None, None, None) for email in EMAILS])
    data = workspace.config_data()
    forever = {"sql": forever_sql, "identifiers": {"email": "email"}}
    if timeout is not None:
        forever["timeout_seconds"] = timeout
    data["segments"] = {
        "forever": forever,
        "people": {"sql": "select * from people", "identifiers": {"email": "email"}},
    }
    data["audiences"] = [
        {"segment": "forever", "destination": "meta", "audience_id": META_AUDIENCE},
        {"segment": "people", "destination": "google", "audience_id": GOOGLE_LIST},
    ]
    return data


def assert_fails_alone(workspace: Workspace, results: list[AudienceResult]) -> None:
    forever, people = results
    assert (forever.audience, forever.status) == ("forever->meta", "failed")
    assert forever.error is not None
    assert "segment forever: the query ran longer than its 1s timeout and was stopped" in (
        forever.error
    )
    assert "raise segments.forever.timeout_seconds" in forever.error
    assert (people.status, people.adds) == ("ok", 3)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(email))}) for email in EMAILS
    }
    assert workspace.sandbox.meta.members(META_AUDIENCE) == set()


# -- config -------------------------------------------------------------------------------------


def test_a_segment_timeout_defaults_to_the_warehouses(workspace: Workspace) -> None:
    data = two_segments(workspace, DUCKDB_FOREVER, timeout=1)
    config = workspace.config(data)
    assert config.warehouse.statement_timeout_seconds == 900
    assert config.segments["forever"].timeout_seconds == 1
    assert config.segments["people"].timeout_seconds is None

    data["warehouse"]["statement_timeout_seconds"] = 60
    assert workspace.config(data).warehouse.statement_timeout_seconds == 60


# -- a query past its timeout fails its audience alone ----------------------------------------


def test_a_duckdb_query_that_never_ends_fails_its_audience_alone(workspace: Workspace) -> None:
    config = workspace.config(two_segments(workspace, DUCKDB_FOREVER, timeout=1))

    results = finished(lambda: sync_all(config, PassOptions(destinations_at_once=1)))

    assert isinstance(results, list)
    assert_fails_alone(workspace, results)


def load_people(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.uri, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS people")
        db.execute("CREATE TABLE people (email text, phone text, country text)")
        for email in EMAILS:
            db.execute("INSERT INTO people VALUES (%s, NULL, 'US')", (email,))


def test_a_postgres_query_that_never_ends_fails_its_audience_alone(
    workspace: Workspace, postgres: PostgresServer
) -> None:
    load_people(postgres)
    data = two_segments(workspace, POSTGRES_FOREVER, timeout=1)
    data["warehouse"] = {"kind": "postgres", "dsn": "${PG_DSN}"}
    config = load_config(
        workspace.write_config(data), environ={"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri}
    )

    results = finished(lambda: sync_all(config, PassOptions(destinations_at_once=1)))

    assert isinstance(results, list)
    assert_fails_alone(workspace, results)


def test_a_query_pushed_down_to_postgres_that_never_ends_fails_its_audience_alone(
    workspace: Workspace, postgres: PostgresServer
) -> None:
    """With pushdown the warehouse runs the segment inside syncd's own queries, on a
    connection of their own: they get the segment's timeout too."""
    load_people(postgres)
    data = two_segments(workspace, POSTGRES_FOREVER, timeout=1)
    data["warehouse"] = {"kind": "postgres", "dsn": "${PG_DSN}", "pushdown": True}
    data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": "pushdown_timeouts"}
    data["segments"]["people"]["sql"] = "select email, country from people"
    data["destinations"]["google"]["settle_seconds"] = 0
    config = load_config(
        workspace.write_config(data), environ={"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri}
    )

    results = finished(lambda: sync_all(config, PassOptions(destinations_at_once=1)))

    assert isinstance(results, list)
    forever, people = results
    assert forever.status == "failed"
    assert "segment forever: pushdown: the query ran longer than its 1s timeout" in (
        forever.error or ""
    )
    assert (people.status, people.adds) == ("ok", 3)


def test_postgres_stops_a_read_past_its_own_timeout(postgres: PostgresServer) -> None:
    """The warehouse's own timeout, per read, without any watcher."""
    source = PostgresSource(postgres.uri)  # the session has no statement timeout
    try:
        with pytest.raises(SourceError) as caught:
            finished(lambda: list(source.read("select pg_sleep(30)", timeout_seconds=1)))
    finally:
        source.close()
    assert "SQLSTATE 57014" in str(caught.value)
    assert "statement timeout (1s:" in str(caught.value)


# -- a pass asked to stop interrupts its query --------------------------------------------------


def test_stop_interrupts_a_running_duckdb_query(workspace: Workspace) -> None:
    config = workspace.config(two_segments(workspace, DUCKDB_FOREVER, timeout=600))
    stop = threading.Event()
    options = PassOptions(stop=stop, destinations_at_once=1)
    threading.Timer(0.5, stop.set).start()

    results = finished(lambda: sync_all(config, options))

    assert isinstance(results, list)
    (forever,) = results  # the next audience was never started
    assert forever.status == "stopped"  # not a warehouse failure
    assert forever.error is not None and "syncd is stopping" in forever.error


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_interrupt_ends_a_running_read(
    warehouse: str, workspace: Workspace, postgres: PostgresServer
) -> None:
    if warehouse == "duckdb":
        workspace.write_people([])
        source: DuckDBSource | PostgresSource = DuckDBSource(workspace.warehouse)
        sql = DUCKDB_FOREVER
    else:
        source = PostgresSource(postgres.uri)
        sql = "select pg_sleep(60)"
    threading.Timer(0.5, source.interrupt).start()
    try:
        with pytest.raises(SourceError, match="the query failed"):
            finished(lambda: list(source.read(sql)))
    finally:
        source.close()


def test_a_cancel_that_lands_late_never_fails_a_later_read(postgres: PostgresServer) -> None:
    """A cancel stops whatever its connection runs when the request lands. One that landed
    on the ROLLBACK of a read its own statement timeout had just ended left that transaction
    open and aborted, and every later read on the connection failed. That window is
    microseconds wide; here a proxy holds the request back until the next read runs."""
    with HeldProxy(postgres.host, postgres.port) as proxy:
        source = PostgresSource(
            f"postgresql://{postgres.user}:{postgres.password}@127.0.0.1:{proxy.port}/"
            f"{postgres.dbname}"
        )
        try:
            proxy.hold_next()
            cancel = threading.Thread(target=source.interrupt, daemon=True)
            cancel.start()
            assert proxy.holding.wait(ENDS_WITHIN)
            threading.Thread(
                target=lambda: (segment_backend(postgres), proxy.release()), daemon=True
            ).start()
            read = finished(
                lambda: [b.to_pylist() for b in source.read("select 1 as one from pg_sleep(1)")]
            )
            cancel.join(ENDS_WITHIN)
        finally:
            source.close()
    assert read == [[{"one": 1}]]
    assert not cancel.is_alive()


# -- a read the warehouse does not stop makes syncd unready ---------------------------------------


def segment_backend(postgres: PostgresServer) -> int:
    """The pid of the server process fetching a segment for syncd (there is one)."""
    deadline = time.monotonic() + ENDS_WITHIN
    with psycopg.connect(postgres.uri, autocommit=True) as db:
        while time.monotonic() < deadline:
            row = db.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'syncd' "
                "AND state = 'active' AND query LIKE 'FETCH%syncd_segment%'"
            ).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("no backend fetched a segment")


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The backend stops answering anything, its cancel included, until the block ends."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_read_past_its_deadline_that_does_not_stop_makes_syncd_unready(
    postgres: PostgresServer,
) -> None:
    health = Health(unready_after_failures=3)
    health.config_loaded({"slow->meta"}, 3)
    health.state_checked(None)
    source = PostgresSource(postgres.uri)
    watched = WatchedSource(source, "slow", 3, threading.Event())
    errors: list[BaseException] = []

    def read() -> None:
        try:
            list(watched.read("select pg_sleep(60)"))
        except SourceError as error:
            errors.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        with frozen(segment_backend(postgres)):
            deadline = time.monotonic() + ENDS_WITHIN
            while not overdue_reads() and time.monotonic() < deadline:
                time.sleep(0.05)
            problems = health.problems()
            time.sleep(1.0)  # the watcher has cancelled; the frozen backend has not heard
            assert reader.is_alive()
        reader.join(ENDS_WITHIN)
    finally:
        source.close()

    (problem,) = problems
    assert problem.startswith("a pass is stuck: segment slow: its query has run ")
    assert problem.endswith("past its 3s timeout, and the warehouse has not stopped it")
    assert not reader.is_alive()
    assert "ran longer than its 3s timeout" in str(errors[0])
    assert health.problems() == []
