"""The spend rules after real pulls from the Meta emulator, at a local webhook receiver:
spend on an audience syncd holds no members of, and spend that stopped, each send one
firing and one resolved message naming the audience and the fix; a failed pull changes
nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import META_AUDIENCE, Workspace
from support.alert_checks import delivered, to_receiver
from support.webhooks import Receiver

from syncd.alerts.delivery import COURIER
from syncd.alerts.spend import EMPTY, STOPPED
from syncd.config.models import SyncdConfig
from syncd.spend.pull import pull_spend

TODAY = dt.date.today()
PEOPLE = [(f"p{i}@example.com", None, "US", None, None, None) for i in range(20)]
META = "audience people->meta"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running
    COURIER.stop(10)


def meta_only(workspace: Workspace, receiver: Receiver, **rules: Any) -> SyncdConfig:
    """The Meta audience alone; `rules` change the alert settings (spend_on_empty off keeps
    a stop test from needing a sync to fill the audience)."""
    data = workspace.config_data()
    del data["destinations"]["google"]
    data["audiences"] = data["audiences"][:1]
    return to_receiver(workspace.config(data), receiver, **rules)


def days_ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


def test_spend_on_an_audience_with_no_members(workspace: Workspace, receiver: Receiver) -> None:
    config = meta_only(workspace, receiver)
    workspace.sandbox.meta.generate_spend(days_ago(5), TODAY, [META_AUDIENCE])
    assert not pull_spend(config, today=TODAY).failed  # never synced: syncd holds nobody
    pull_spend(config, today=TODAY)  # the same condition: nothing new
    [(status, text)] = delivered(config, receiver, EMPTY)
    assert status == "firing" and META in text
    assert "spent on it" in text and "holds no members" in text
    assert "syncd plan CONFIG --audience people->meta" in text
    assert delivered(config, receiver, STOPPED) == []

    workspace.write_people(PEOPLE)
    workspace.sync()
    pull_spend(config, today=TODAY)
    messages = delivered(config, receiver, EMPTY)
    assert [status for status, _ in messages] == ["firing", "resolved"]
    assert META in messages[1][1] and "syncd plan" in messages[1][1]


def test_spend_that_stopped(workspace: Workspace, receiver: Receiver) -> None:
    config = meta_only(workspace, receiver, spend_on_empty=False)
    meta = workspace.sandbox.meta
    meta.generate_spend(days_ago(9), days_ago(3), [META_AUDIENCE])
    pull_spend(config, today=TODAY)
    meta.generate_spend(days_ago(1), TODAY, [META_AUDIENCE])
    pull_spend(config, today=TODAY)
    messages = delivered(config, receiver, STOPPED)
    assert [status for status, _ in messages] == ["firing", "resolved"]
    for _, text in messages:
        assert META in text and f"no spend since {days_ago(3)}" in text
        assert "paused" in text and "clears when spend resumes" in text


def test_a_stop_shorter_than_the_setting_is_quiet(workspace: Workspace, receiver: Receiver) -> None:
    config = meta_only(workspace, receiver, spend_on_empty=False)
    workspace.sandbox.meta.generate_spend(days_ago(9), days_ago(1), [META_AUDIENCE])
    pull_spend(config, today=TODAY)
    assert delivered(config, receiver, STOPPED) == []


def test_a_failed_pull_changes_nothing(workspace: Workspace, receiver: Receiver) -> None:
    config = meta_only(workspace, receiver, spend_on_empty=False)
    meta = workspace.sandbox.meta
    meta.generate_spend(days_ago(9), days_ago(3), [META_AUDIENCE])
    pull_spend(config, today=TODAY)
    meta.generate_spend(days_ago(1), TODAY, [META_AUDIENCE])
    meta.expire_token()
    assert pull_spend(config, today=TODAY).failed
    assert [status for status, _ in delivered(config, receiver, STOPPED)] == ["firing"]
