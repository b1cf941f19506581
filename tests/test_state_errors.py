"""A state that cannot be opened is one line naming the place and the fix, never a traceback:
a PostgreSQL schema several processes create at once, a DuckDB file locked, empty, not DuckDB
or in a read-only directory, and a PostgreSQL server that does not answer."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

from syncd.state import StateStore
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
