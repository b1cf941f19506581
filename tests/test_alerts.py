"""Alert rules end to end: each condition started in the emulators, passes run, and the
local webhook receiver sees exactly one firing message, then, once the condition clears,
exactly one resolved message, each naming the audience and the fix. Delivery never holds a
pass up, and what one run could not deliver the next one sends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FAST_RETRIES, GOOGLE_LIST, TOKEN, Workspace
from support.webhooks import Receiver

from syncd.alerts import overdue
from syncd.alerts.delivery import COURIER, settle
from syncd.config import SyncdConfig, load_config
from syncd.pipeline import AudienceResult, PassOptions, sync_all
from syncd.state import open_state

GOOGLE = "people->google"
PEOPLE = [(f"person{i}@example.com", None, "US", None, None, None) for i in range(200)]


@pytest.fixture(autouse=True)
def _courier_stopped() -> Iterator[None]:
    """Each test starts with no courier thread, and leaves none behind."""
    yield
    COURIER.stop(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def config(workspace: Workspace, url: str, fmt: str = "json", **rules: Any) -> SyncdConfig:
    """The workspace's Google audience, alerts going to `url` through ${ALERTS_URL}."""
    data = workspace.config_data()
    data["audiences"] = [a for a in data["audiences"] if a["destination"] == "google"]
    data["alerts"] = {"webhooks": [{"url": "${ALERTS_URL}", "format": fmt}], **rules}
    path = workspace.write_config(data)
    return load_config(path, environ={"TEST_TOKEN": TOKEN, "ALERTS_URL": url})


def sync(config: SyncdConfig) -> AudienceResult:
    [result] = sync_all(config, PassOptions(retry_policy=FAST_RETRIES))
    return result


def delivered(config: SyncdConfig, receiver: Receiver, rule: str) -> list[tuple[str, str]]:
    """(status, text) of every message of `rule` the receiver has, once the outbox is
    empty."""
    assert settle(config, 10) == 0
    return [(b["status"], b["text"]) for b in receiver.received() if b["rule"] == rule]


def check_texts(messages: list[tuple[str, str]], fix: str) -> None:
    """One firing, then one resolved message, both naming the audience and the fix, and no
    identifier of anyone."""
    assert [status for status, _ in messages] == ["firing", "resolved"]
    for _, text in messages:
        assert f"audience {GOOGLE}" in text and fix in text
        assert "@example.com" not in text


def test_a_failed_audience(workspace: Workspace, receiver: Receiver) -> None:
    workspace.write_people(PEOPLE)
    alerting = config(workspace, receiver.url)
    workspace.sandbox.google.set_access_token("rotated-elsewhere")
    assert [sync(alerting).status for _ in range(2)] == ["failed", "failed"]
    [(status, text)] = delivered(alerting, receiver, "audience_failed")
    assert status == "firing" and "its pass ended failed" in text
    workspace.sandbox.google.set_access_token(TOKEN)
    assert [sync(alerting).status for _ in range(2)] == ["ok", "ok"]
    check_texts(delivered(alerting, receiver, "audience_failed"), "do what the error says")


def test_an_audience_held_by_a_guardrail(workspace: Workspace, receiver: Receiver) -> None:
    workspace.write_people(PEOPLE)
    alerting = config(workspace, receiver.url)
    assert sync(alerting).status == "ok"
    workspace.write_people([])  # an empty segment would empty the audience: held
    assert [sync(alerting).status for _ in range(2)] == ["refused", "refused"]
    workspace.write_people(PEOPLE)
    assert sync(alerting).status == "ok"
    messages = delivered(alerting, receiver, "audience_failed")
    check_texts(messages, "do what the guardrail says")
    assert "--allow-mass-removal" in messages[0][1]  # the guardrail's own fix


def test_members_refused_above_the_share(workspace: Workspace, receiver: Receiver) -> None:
    workspace.write_people(PEOPLE)
    alerting = config(workspace, receiver.url)
    workspace.sandbox.google.refuse_members(30)
    first = sync(alerting)
    assert first.refused_members > 0.2 * first.adds
    sync(alerting)  # refused again: the same alert, no message
    assert len(delivered(alerting, receiver, "members_refused")) == 1
    workspace.sandbox.google.refuse_members(0)
    assert sync(alerting).refused_members == 0
    check_texts(delivered(alerting, receiver, "members_refused"), "fix the segment's identifiers")


def test_match_rate_fell(workspace: Workspace, receiver: Receiver) -> None:
    workspace.write_people(PEOPLE)
    alerting = config(workspace, receiver.url)
    emulator = workspace.sandbox.google
    emulator.match_rate_percentage = 60
    sync(alerting)
    emulator.match_rate_percentage = 25
    sync(alerting)
    sync(alerting)  # still low against the pass before the drop: no second message
    [(status, text)] = delivered(alerting, receiver, "match_rate_drop")
    assert status == "firing" and "down from 5" in text  # 60% as the hash falls
    emulator.match_rate_percentage = 58
    sync(alerting)
    check_texts(delivered(alerting, receiver, "match_rate_drop"), "normalization rules")


def test_size_drifted_from_what_syncd_holds(workspace: Workspace, receiver: Receiver) -> None:
    workspace.write_people(PEOPLE)
    alerting = config(workspace, receiver.url)
    sync(alerting)
    emulator = workspace.sandbox.google
    outside = [frozenset({("emailAddress", f"{i:064x}")}) for i in range(150)]
    emulator.add_members(GOOGLE_LIST, outside)  # another tool uploads to the list
    sync(alerting)
    sync(alerting)
    [(status, text)] = delivered(alerting, receiver, "size_drift")
    assert status == "firing" and "syncd holds 200" in text
    emulator.remove_members(GOOGLE_LIST, outside)
    sync(alerting)
    check_texts(delivered(alerting, receiver, "size_drift"), "make syncd the only writer")


def test_refresh_overdue(workspace: Workspace, receiver: Receiver) -> None:
    """Checked on the daemon's clock as well as after passes: the clock here is moved on
    while the network refuses every pass."""
    workspace.write_people(PEOPLE)
    alerting = config(workspace, receiver.url, audience_failed=False)
    assert sync(alerting).status == "ok"
    workspace.sandbox.google.set_access_token("rotated-elsewhere")
    workspace.write_people([*PEOPLE, ("new@example.com", None, "US", None, None, None)])
    assert sync(alerting).status == "failed"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=4)  # the schedule: every 1h
    with open_state(alerting.state) as state:
        overdue.check(alerting, state, later)
        overdue.check(alerting, state, later + dt.timedelta(hours=1))
    [(status, text)] = delivered(alerting, receiver, "refresh_overdue")
    assert status == "firing" and "due at least every 3h" in text
    workspace.sandbox.google.set_access_token(TOKEN)
    assert sync(alerting).status == "ok"  # the pass checks it too: on time again
    check_texts(delivered(alerting, receiver, "refresh_overdue"), "`syncd run` is running")


def test_slack_format(workspace: Workspace, receiver: Receiver) -> None:
    workspace.write_people(PEOPLE)
    alerting = config(workspace, receiver.url, fmt="slack")
    workspace.sandbox.google.set_access_token("rotated-elsewhere")
    sync(alerting)
    settle(alerting, 10)
    [body] = receiver.received()
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("FIRING audience_failed on audience people-&gt;google:")
    assert [block["type"] for block in body["blocks"]] == ["section", "section", "context"]
    headline = body["blocks"][0]["text"]
    assert headline["type"] == "mrkdwn" and "*FIRING* `audience_failed`" in headline["text"]
    fix = body["blocks"][2]["elements"][0]
    assert fix["type"] == "mrkdwn" and fix["text"].startswith("*Fix:* do what the error says")


def test_a_pass_never_waits_on_delivery(workspace: Workspace, receiver: Receiver) -> None:
    """The receiver holds the first message's request; the next pass returns meanwhile."""
    workspace.write_people(PEOPLE)
    alerting = config(workspace, receiver.url)
    receiver.hold.set()
    workspace.sandbox.google.set_access_token("rotated-elsewhere")
    sync(alerting)
    assert receiver.holding.wait(10)  # the courier is inside its POST of "firing"
    workspace.sandbox.google.set_access_token(TOKEN)
    assert sync(alerting).status == "ok"  # queues "resolved" behind it, and returns
    assert receiver.holding.is_set() and receiver.received() == []
    receiver.release()
    statuses = [body["status"] for body in receiver.wait_for(2)]
    assert statuses == ["firing", "resolved"]  # in order, each once


def test_what_one_run_could_not_deliver_the_next_sends(
    workspace: Workspace, receiver: Receiver
) -> None:
    workspace.write_people(PEOPLE)
    alerting = config(workspace, receiver.url)
    receiver.status = 503  # the receiver is failing while `syncd sync --once` runs
    workspace.sandbox.google.set_access_token("rotated-elsewhere")
    sync(alerting)
    assert settle(alerting, 0.5) == 1  # it exits with the message in the outbox
    receiver.status = 200
    sync(alerting)  # the next run: still failing (no new message), and sends the old one
    assert settle(alerting, 10) == 0
    assert [body["status"] for body in receiver.received()] == ["firing"]
