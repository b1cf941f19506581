"""The spend rules after real pulls from the Meta emulator: spend on an audience syncd holds
no members of, and spend that stopped, each one firing and one resolved message naming the
audience and the fix; a failed pull changes nothing."""

from __future__ import annotations

import datetime as dt

from conftest import META_AUDIENCE, Workspace

from syncd.alerts.spend import EMPTY, STOPPED
from syncd.config.alerts import Webhook
from syncd.config.models import SyncdConfig
from syncd.spend.pull import pull_spend
from syncd.state import open_state

TODAY = dt.date.today()
PEOPLE = [(f"p{i}@example.com", None, "US", None, None, None) for i in range(20)]


def meta_only(workspace: Workspace, **rules: object) -> SyncdConfig:
    """The Meta audience alone; `rules` change the alert settings (spend_on_empty off keeps
    a stop test from needing a sync to fill the audience)."""
    data = workspace.config_data()
    del data["destinations"]["google"]
    data["audiences"] = data["audiences"][:1]
    config = workspace.config(data)
    settings = {"webhooks": [Webhook(url="http://127.0.0.1:9/")], **rules}
    return config.model_copy(update={"alerts": config.alerts.model_copy(update=settings)})


def alerts(config: SyncdConfig, rule: str) -> list[tuple]:
    with open_state(config.state) as state:
        return state.backend.execute(
            "SELECT audience, message, fix, resolved_at IS NULL FROM alerts WHERE rule = ?",
            [rule],
        )


def events(config: SyncdConfig, rule: str) -> list[str]:
    with open_state(config.state) as state:
        rows = state.backend.execute(
            "SELECT event FROM alert_outbox JOIN alerts USING (alert_key) WHERE rule = ? "
            "ORDER BY created_at",
            [rule],
        )
    return [row[0] for row in rows]


def test_spend_on_an_audience_with_no_members(workspace: Workspace) -> None:
    config = meta_only(workspace)
    workspace.sandbox.meta.generate_spend(TODAY - dt.timedelta(days=5), TODAY, [META_AUDIENCE])
    # Never synced: syncd holds no members of it.
    assert not pull_spend(config, today=TODAY).failed
    [(audience, message, fix, open_)] = alerts(config, EMPTY)
    assert (audience, open_) == ("people->meta", True)
    assert "spent on it" in message and "holds no members" in message
    assert "syncd plan CONFIG --audience people->meta" in fix
    assert alerts(config, STOPPED) == []

    pull_spend(config, today=TODAY)  # the same condition: nothing new
    workspace.write_people(PEOPLE)
    workspace.sync()
    pull_spend(config, today=TODAY)
    assert events(config, EMPTY) == ["firing", "resolved"]


def test_spend_that_stopped(workspace: Workspace) -> None:
    config = meta_only(workspace, spend_on_empty=False)
    meta = workspace.sandbox.meta
    meta.generate_spend(TODAY - dt.timedelta(days=9), TODAY - dt.timedelta(days=3), [META_AUDIENCE])
    pull_spend(config, today=TODAY)
    [(audience, message, fix, _)] = alerts(config, STOPPED)
    assert audience == "people->meta"
    assert f"no spend since {TODAY - dt.timedelta(days=3)}" in message
    assert "paused" in fix and "clears when spend resumes" in fix

    meta.generate_spend(TODAY - dt.timedelta(days=1), TODAY, [META_AUDIENCE])
    pull_spend(config, today=TODAY)
    assert events(config, STOPPED) == ["firing", "resolved"]


def test_a_stop_shorter_than_the_setting_is_quiet(workspace: Workspace) -> None:
    config = meta_only(workspace, spend_on_empty=False)
    workspace.sandbox.meta.generate_spend(
        TODAY - dt.timedelta(days=9), TODAY - dt.timedelta(days=1), [META_AUDIENCE]
    )
    pull_spend(config, today=TODAY)
    assert alerts(config, STOPPED) == []


def test_a_failed_pull_changes_nothing(workspace: Workspace) -> None:
    config = meta_only(workspace, spend_on_empty=False)
    meta = workspace.sandbox.meta
    meta.generate_spend(TODAY - dt.timedelta(days=9), TODAY - dt.timedelta(days=3), [META_AUDIENCE])
    pull_spend(config, today=TODAY)
    meta.generate_spend(TODAY - dt.timedelta(days=1), TODAY, [META_AUDIENCE])
    meta.expire_token()
    assert pull_spend(config, today=TODAY).failed
    assert [row[3] for row in alerts(config, STOPPED)] == [True]
