"""A state that cannot be opened is one line naming the place and the fix, never a traceback:
a PostgreSQL schema several processes create at once, a DuckDB file locked, empty, not DuckDB
or in a read-only directory, and a PostgreSQL server that does not answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest
import yaml
from click.testing import CliRunner
from conftest import TOKEN
from postgres_server import PostgresServer

from syncd.cli import main
from syncd.state import StateStore
from syncd.state import backends as backends_module
from syncd.state.backends import PostgresBackend

#: Processes opening one fresh PostgreSQL schema at the same moment.
OPENERS = 6
PASSWORD = "s3cret-pw-4f1d"

_OPENER = textwrap.dedent(
    """
    import sys
    from syncd.state import StateStore
    from syncd.state.backends import PostgresBackend

    uri, schema = sys.argv[1:]
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    StateStore(PostgresBackend(uri, schema)).close()
    """
)


def test_processes_creating_one_fresh_schema_at_once_all_succeed(postgres_uri: str) -> None:
    for _ in range(3):  # the race is narrow: a few fresh schemas make losing it certain
        schema = f"fresh_{uuid.uuid4().hex[:8]}"
        openers = [
            subprocess.Popen(
                [sys.executable, "-c", _OPENER, postgres_uri, schema],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(OPENERS)
        ]
        for opener in openers:
            assert opener.stdout is not None and opener.stdout.readline().strip() == "ready"
        for opener in openers:
            assert opener.stdin is not None
            opener.stdin.write("go\n")
            opener.stdin.flush()
        errors = [opener.communicate(timeout=60)[1] for opener in openers]

        assert [opener.returncode for opener in openers] == [0] * OPENERS, "\n".join(errors)
        with StateStore(PostgresBackend(postgres_uri, schema)) as state:
            assert state.runs() == []


def write_config(root: Path, state: dict[str, str]) -> Path:
    """A config whose state is `state`; its warehouse and network are never reached, as the
    state is opened first."""
    with duckdb.connect(str(root / "shop.duckdb")) as warehouse:
        warehouse.execute("CREATE OR REPLACE TABLE people AS SELECT 'a@example.com' AS email")
    config = {
        "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
        "segments": {"people": {"sql": "select * from people", "identifiers": {"email": "email"}}},
        "destinations": {
            "meta": {
                "kind": "meta",
                "ad_account_id": "act_1000",
                "access_token": "${TEST_TOKEN}",
                "endpoint": "http://127.0.0.1:9",
            }
        },
        "audiences": [{"segment": "people", "destination": "meta", "audience_id": "1"}],
        "state": state,
    }
    path = root / "syncd.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def invoke(command: str, config: Path, env: dict[str, str] | None = None) -> str:
    """Run a command that must fail on its state: exit 1 and one line on stderr, returned."""
    extra = ["--listen", "127.0.0.1:0"] if command == "run" else []
    result = CliRunner().invoke(
        main, [command, str(config), *extra], env={"TEST_TOKEN": TOKEN, **(env or {})}
    )
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.fixture
def make_read_only() -> Iterator[Callable[[Path], None]]:
    """Makes a directory one nobody, root included, can create files in: immutable
    (chattr +i) as root, who ignores permission bits, else mode 555. Each is made writable
    again afterwards, so that it can be deleted."""
    made: list[Path] = []

    def read_only(directory: Path) -> None:
        if os.geteuid() != 0:
            directory.chmod(0o555)
        else:
            done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.fail(f"chattr +i {directory} failed: {done.stderr}", pytrace=False)
        made.append(directory)

    yield read_only
    for directory in made:
        if os.geteuid() != 0:
            directory.chmod(0o755)
        else:
            subprocess.run(["chattr", "-i", str(directory)], check=True)


@pytest.mark.parametrize("command", ["sync", "plan", "report", "spend", "run"])
def test_a_file_that_is_not_duckdb_is_one_line_for_every_command(
    tmp_path: Path, command: str
) -> None:
    (tmp_path / "state.duckdb").write_text("not a database\n" * 100)
    line = invoke(command, write_config(tmp_path, {"path": "state.duckdb"}))
    assert f"{tmp_path / 'state.duckdb'} is not a DuckDB database" in line
    assert "restore it from a backup" in line


def test_an_empty_state_file_is_one_line_that_says_it_holds_nothing(tmp_path: Path) -> None:
    (tmp_path / "state.duckdb").touch()
    line = invoke("sync", write_config(tmp_path, {"path": "state.duckdb"}))
    assert f"{tmp_path / 'state.duckdb'} is empty (0 bytes" in line
    assert "delete it and sync again" in line


def test_a_state_file_locked_past_the_wait_names_its_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, {"path": "state.duckdb"})
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "state.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        monkeypatch.setattr(backends_module, "LOCK_WAIT_SECONDS", 1.0)
        line = invoke("sync", config)
    finally:
        holder.communicate("release\n", timeout=30)
    assert f"{tmp_path / 'state.duckdb'} is in use by process {holder.pid} (waited 1 s" in line
    assert "let that sync finish" in line


_HOLDER = textwrap.dedent(
    """
    import sys
    import duckdb

    with duckdb.connect(sys.argv[1]):
        print("holding", flush=True)
        sys.stdin.readline()
    """
)


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_a_read_only_state_directory_is_one_line_before_anything_is_written(
    tmp_path: Path, make_read_only: Callable[[Path], None], existing: bool
) -> None:
    config = write_config(tmp_path, {"path": "state/state.duckdb"})
    directory = tmp_path / "state"
    directory.mkdir()
    if existing:  # DuckDB opens the file, and failed at the first commit, mid-pass
        StateStore.at(directory / "state.duckdb").close()
    make_read_only(directory)
    line = invoke("sync", config)
    assert f"the state directory {directory} cannot be created or written" in line
    assert "set state.path to a file in a writable directory" in line


def test_a_state_path_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the state's directory should be")
    line = invoke("sync", write_config(tmp_path, {"path": "state/state.duckdb"}))
    assert f"the state directory {tmp_path / 'state'} cannot be created or written" in line


@pytest.mark.parametrize("command", ["sync", "plan"])
def test_an_unreachable_postgresql_state_is_one_line_without_the_password(
    tmp_path: Path, command: str
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dsn = f"postgresql://syncd:{PASSWORD}@127.0.0.1:{port}/syncd"
    state = {"kind": "postgres", "dsn": "${STATE_DSN}"}
    line = invoke(command, write_config(tmp_path, state), env={"STATE_DSN": dsn})
    assert f"cannot reach PostgreSQL at postgresql://syncd@127.0.0.1:{port}/syncd" in line
    assert "Connection refused" in line and "that the server is up" in line
    assert PASSWORD not in line


def test_a_dsn_libpq_cannot_parse_is_not_quoted(tmp_path: Path) -> None:
    """libpq's own parse error quotes the word it stopped at: here, the password."""
    state = {"kind": "postgres", "dsn": "${STATE_DSN}"}
    line = invoke("sync", write_config(tmp_path, state), env={"STATE_DSN": f"host=x {PASSWORD}"})
    assert "the PostgreSQL dsn is neither a libpq URI" in line
    assert PASSWORD not in line


def test_a_role_that_may_not_create_the_schema_is_told_what_to_grant(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    role = f"weak_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.uri, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    state = {"kind": "postgres", "dsn": "${STATE_DSN}", "schema": "syncd_state"}
    env = {"STATE_DSN": postgres.uri_for(role, PASSWORD)}
    line = invoke("sync", write_config(tmp_path, state), env=env)
    assert f"PostgreSQL at postgresql://{role}@" in line
    assert "refused to set up schema syncd_state: permission denied" in line
    assert "grant syncd's role CREATE on the database" in line
    assert PASSWORD not in line


def test_the_executable_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "state.duckdb").touch()
    config = write_config(tmp_path, {"path": "state.duckdb"})
    done = subprocess.run(
        [sys.executable, "-m", "syncd", "sync", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "TEST_TOKEN": TOKEN},
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: the state file") and done.stderr.count("\n") == 1
