"""Guardrails stop damaging syncs before anything is sent, and say how to go ahead."""

from __future__ import annotations

import subprocess
import sys

from conftest import GOOGLE_LIST, META_AUDIENCE, TOKEN, Workspace
from support.people import PEOPLE, rows

from syncd.pipeline import PassOptions, sync_all


def people(count: int, start: int = 0) -> list[tuple]:
    return [(f"member{i}@example.com", None, "US", None, None, None) for i in range(start, count)]


def test_an_empty_segment_never_empties_an_audience_unless_allowed(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    workspace.sync()
    workspace.write_people([])
    posts_before = len(workspace.sandbox.meta.requests)

    meta, google = workspace.sync()

    assert (meta.status, google.status) == ("refused", "refused")
    assert "--allow-mass-removal" in (meta.error or "")
    assert len(workspace.sandbox.meta.requests) == posts_before  # nothing was sent
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) == 5

    meta, google = sync_all(workspace.config(), PassOptions(allow_mass_removal=True))
    assert (meta.status, meta.removes) == ("ok", 5)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == set()


def test_removing_most_of_an_audience_is_refused(workspace: Workspace) -> None:
    workspace.write_people(people(150))
    workspace.sync()
    workspace.write_people(people(150, start=100))  # 100 of 150 would go: 67%

    meta, _ = workspace.sync()

    assert meta.status == "refused"
    assert "100 of 150 held (66.7%; limit 50%)" in (meta.error or "")
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) == 150

    data = workspace.config_data()
    data["guardrails"] = {"max_removal_fraction": 0.7}
    meta, _ = workspace.sync(data)
    assert (meta.status, meta.removes) == ("ok", 100)


def test_a_mostly_unreadable_segment_is_refused(workspace: Workspace) -> None:
    bad = [("not an email", "n/a", "US", None, None, None)] * 30
    workspace.write_people(people(70) + bad)

    meta, google = workspace.sync()

    assert (meta.status, google.status) == ("refused", "refused")
    assert "30 of 100 rows unusable (30.0%; limit 20%)" in (meta.error or "")
    assert workspace.sandbox.meta.members(META_AUDIENCE) == set()


def test_plan_shows_every_decision_and_sync_exits_1_on_refusal(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    config_path = workspace.write_config()
    env = {"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}

    plan = subprocess.run(
        [sys.executable, "-m", "syncd", "plan", str(config_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert plan.returncode == 0, plan.stderr
    for check in ("empty_segment: ok", "removal_share: ok", "invalid_rows: ok"):
        assert f"people->meta: {check}" in plan.stdout
    assert "people->meta: serving_size: warn (5 members" in plan.stdout

    workspace.sync()
    workspace.write_people([])
    sync = subprocess.run(
        [sys.executable, "-m", "syncd", "sync", "--once", str(config_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert sync.returncode == 1
    assert "refused" in sync.stdout and "empty_segment: refuse" in sync.stdout
