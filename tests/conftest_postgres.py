"""The `postgres_uri` fixture: one real PostgreSQL server for the whole test session.

Registered from tests/conftest.py with `pytest_plugins = ["conftest_postgres"]`. A server
that cannot start fails the tests that need it, with the reason; it never skips them, so a
broken setup cannot pass as green.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from postgres_server import PostgresServer, PostgresServerError, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The running server: its superuser URI, and `uri_for` to reach it as other roles."""
    with contextlib.ExitStack() as stack:
        failure = ""
        try:
            server = stack.enter_context(postgres_server())
        except PostgresServerError as error:
            failure = f"the test PostgreSQL server did not start: {error}"
        if failure:  # failed outside the except block, so the report is the message alone
            pytest.fail(failure, pytrace=False)
        yield server


@pytest.fixture(scope="session")
def postgres_uri(postgres: PostgresServer) -> str:
    """A superuser libpq URI (password auth over TCP on 127.0.0.1) to a fresh server."""
    return postgres.uri
