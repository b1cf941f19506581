"""`syncd forget` on both state backends, with a kind the networks take in clear (an external
id): the record holds its SHA-256 (`rehashed`), and the held members are found by hashing
their column in the state's own SQL (DuckDB's sha256, PostgreSQL's)."""

from __future__ import annotations

import uuid

import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace, sha
from support.erasure import forget

from syncd.config import load_config
from syncd.destinations.registry import NETWORKS
from syncd.pipeline import sync_all
from syncd.state import erasures, open_state

IDS = [f"crm-{i}" for i in range(8)]


def held_ids(workspace: Workspace) -> dict[str, set[str]]:
    """The ids each emulator's audience holds, whatever the network calls the key."""
    meta = workspace.sandbox.meta.members(META_AUDIENCE)
    google = workspace.sandbox.google.members(GOOGLE_LIST)
    return {
        name: {value for member in members for _, value in member}
        for name, members in (("meta", meta), ("google", google))
    }


@pytest.mark.parametrize("state", ["duckdb", "postgres"])
def test_an_external_id_is_erased_by_its_hash(
    workspace: Workspace, state: str, request: pytest.FixtureRequest
) -> None:
    data = workspace.config_data()
    data["segments"]["people"]["identifiers"] = {"external_id": "first_name"}
    env = {"TEST_TOKEN": TOKEN}
    if state == "postgres":
        env["PG_DSN"] = request.getfixturevalue("postgres").uri
        schema = f"forget_{uuid.uuid4().hex[:8]}"
        data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": schema}
    workspace.write_people([(None, None, "US", crm_id, None, None) for crm_id in IDS])
    config = load_config(workspace.write_config(data), environ=env)
    assert [r.status for r in sync_all(config)] == ["ok", "ok"]
    assert held_ids(workspace) == {"meta": set(IDS), "google": set(IDS)}

    result = forget(workspace, "--kind", "external_id", text="crm-3\n crm-5 \n", env=env)
    assert result.exit_code == 0, result.output
    kept = set(IDS) - {"crm-3", "crm-5"}
    assert held_ids(workspace) == {"meta": kept, "google": kept}
    with open_state(config.state) as store:
        values = store.backend.execute("SELECT network, kind, digest, rehashed FROM erasure_values")
        assert not erasures.unfinished(store.backend)  # done
    assert {(kind, digest, rehashed) for _, kind, digest, rehashed in values} == {
        ("external_id", sha("crm-3"), True),
        ("external_id", sha("crm-5"), True),
    }
    # Every network of the registry, not only the config's: one added later is covered too.
    assert {network for network, *_ in values} == {network.kind for network in NETWORKS}
