"""An erasure reaches networks the config takes up after it: its values are hashed for every
network of the registry, so a TikTok audience added a month later never receives the person."""

from __future__ import annotations

from conftest import Workspace, sha
from support.erasure import PEOPLE, forget, synced
from support.networks import TikTok


def test_a_network_added_after_the_erasure_never_receives_the_person(
    workspace: Workspace,
) -> None:
    synced(workspace)
    assert forget(workspace, "--kind", "email", text="p1@example.com\n").exit_code == 0
    tiktok = TikTok()
    try:
        data = workspace.config_data()
        data["destinations"]["tiktok"] = {**tiktok.settings, "access_token": "${TEST_TOKEN}"}
        data["audiences"].append(
            {"segment": "people", "destination": "tiktok", "audience_id": tiktok.audience_id}
        )
        results = workspace.sync(data)
        assert [r.status for r in results] == ["ok", "ok", "ok"]
        tiktok.emulator.process_pending()
        held = tiktok.emulator.hashes(tiktok.audience_id)
        assert held == {sha(f"{name}@example.com") for name in PEOPLE if name != "p1"}
        assert results[2].suppressed == 1
    finally:
        tiktok.emulator.stop()
