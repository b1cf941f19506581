"""Two takers of one lease at the same moment, on both state backends: the daemon's lease
renewal and its pass (one holder, two stores of one state), or two processes (two holders).
Neither may fail: the lease is held by one, and the other is told so."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd.state import StateStore
from syncd.state.backends import PostgresBackend

#: Fresh leases raced for per test: the race is lost in a few of them at most.
LEASES = 60


@pytest.fixture(params=["duckdb", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StateStore]:
    """Opens the same state each call, as each of the daemon's jobs does."""
    if request.param == "duckdb":
        return lambda: StateStore.at(tmp_path / "state.duckdb")
    uri = request.getfixturevalue("postgres_uri")
    schema = f"leases_{uuid.uuid4().hex[:12]}"
    return lambda: StateStore(PostgresBackend(uri, schema))


def race(make_store: Callable[[], StateStore], holders: list[str]) -> list[list[bool]]:
    """Each holder, on a store and thread of its own, takes leases 0..LEASES-1, every one
    at the same moment as the others; what each got, in order (an error fails the test)."""
    stores = [make_store() for _ in holders]
    start = threading.Barrier(len(holders))
    taken: list[list[bool]] = [[] for _ in holders]
    failures: list[BaseException] = []

    def take(store: StateStore, holder: str, got: list[bool]) -> None:
        for n in range(LEASES):
            start.wait(10)
            try:
                got.append(store.hold_lease(f"audience-{n}", holder, 300))
            except Exception as error:
                failures.append(error)
                got.append(False)

    threads = [
        threading.Thread(target=take, args=(store, holder, got))
        for store, holder, got in zip(stores, holders, taken, strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for store in stores:
            store.close()
    assert failures == [], failures
    return taken


def test_one_holder_taking_a_lease_twice_at_once_gets_it_both_times(
    make_store: Callable[[], StateStore],
) -> None:
    """The daemon's renewal job and a pass of the same process claim a fresh lease together,
    then renew it together."""
    for _ in ("take", "renew"):
        renewal, claim = race(make_store, ["daemon", "daemon"])

        assert renewal == claim == [True] * LEASES


def test_two_holders_taking_a_lease_at_once_one_gets_it(
    make_store: Callable[[], StateStore],
) -> None:
    first, second = race(make_store, ["first", "second"])

    assert [a != b for a, b in zip(first, second, strict=True)] == [True] * LEASES
    with make_store() as state:
        winners = [state.lease_holder(f"audience-{n}") for n in range(LEASES)]
    assert winners == ["first" if won else "second" for won in first]
