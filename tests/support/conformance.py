"""What the conformance files share: the `network` fixture over the registry, and one pass of
the `people` segment to that network's audience, in-process or as `syncd sync --once`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from conftest import FAST_RETRIES, TOKEN, Workspace

from support.networks import NETWORKS, Network
from syncd.destinations.google.sandbox.ads import ROOTS_ENV
from syncd.destinations.registry import NETWORKS as REGISTERED
from syncd.destinations.retry import RetryPolicy
from syncd.pipeline import AudienceResult

__all__ = ["config_data", "emails", "network_fixture", "start_sync", "sync"]


def network_fixture() -> Any:
    """The `network` fixture a conformance file binds (`network = network_fixture()`): each
    registered network in turn, its emulator started for the test and stopped after it. A
    registered network without a class in `support.networks` fails every scenario."""

    @pytest.fixture(params=[network.kind for network in REGISTERED])
    def network(request: pytest.FixtureRequest) -> Iterator[Network]:
        if request.param not in NETWORKS:
            pytest.fail(f"{request.param} has no entry in tests/support/networks.py")
        started = NETWORKS[request.param]()
        try:
            yield started
        finally:
            started.stop()

    return network


def emails(*names: str) -> list[tuple[str | None, ...]]:
    """People rows with an email only (one identifier per member, so every network's log
    counts members alike)."""
    return [(f"{name}@example.com", None, "US", None, None, None) for name in names]


def config_data(
    workspace: Workspace, network: Network, *, state: str = "state.duckdb", **destination: Any
) -> dict[str, Any]:
    """The workspace's config with the `people` segment synced to the network's audience
    alone; `destination` adds settings (batch_size, max_in_flight)."""
    data = workspace.config_data()
    settings = {**network.settings, "access_token": "${TEST_TOKEN}", **destination}
    data["destinations"] = {"net": settings}
    data["audiences"] = [
        {"segment": "people", "destination": "net", "audience_id": network.audience_id}
    ]
    data["guardrails"] = {"max_removal_fraction": 1.0}
    data["state"] = {"path": state}
    return data


def sync(
    workspace: Workspace,
    network: Network,
    people: Sequence[Sequence[object]],
    *,
    retry_policy: RetryPolicy = FAST_RETRIES,
    state: str = "state.duckdb",
    **destination: Any,
) -> AudienceResult:
    """Write `people` to the warehouse and run one pass to the network, in-process."""
    workspace.write_people(people)
    data = config_data(workspace, network, state=state, **destination)
    (result,) = workspace.sync(data, retry_policy=retry_policy)
    return result


def start_sync(workspace: Workspace) -> subprocess.Popen[bytes]:
    """`syncd sync --once` on the workspace's written config, as a process a test may kill;
    it trusts the Google Ads emulator's CA as this process does."""
    env = {"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    if ROOTS_ENV in os.environ:
        env[ROOTS_ENV] = os.environ[ROOTS_ENV]
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "sync", "--once", str(workspace.root / "syncd.yaml")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
