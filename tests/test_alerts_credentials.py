"""The credential rule against the emulators, at a local webhook receiver: a Meta token that
expires soon or is refused, and a Google grant refused at the OAuth token endpoint, each
send one firing message naming the audience, the destination and the fix, and one resolved
message once renewed; a destination is asked at most hourly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TOKEN, Workspace
from support.alert_checks import delivered, to_receiver
from support.google_keys import service_account_file
from support.webhooks import Receiver

from syncd.alerts.credentials import RULE, check_credentials
from syncd.alerts.delivery import COURIER
from syncd.cli import main
from syncd.config.models import SyncdConfig
from syncd.state import open_state

NOW = dt.datetime.now(dt.UTC)
LATER = NOW + dt.timedelta(minutes=61)
META = "audience people->meta"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running
    COURIER.stop(10)


def meta_only(workspace: Workspace, receiver: Receiver) -> SyncdConfig:
    data = workspace.config_data()
    del data["destinations"]["google"]
    data["audiences"] = data["audiences"][:1]
    return to_receiver(workspace.config(data), receiver)


def debug_calls(workspace: Workspace) -> int:
    return sum(record.operation == "debug_token" for record in workspace.sandbox.meta.requests)


def test_a_meta_token_expiring_soon(workspace: Workspace, receiver: Receiver) -> None:
    config = meta_only(workspace, receiver)
    workspace.sandbox.meta.token_expires(NOW + dt.timedelta(days=3, hours=1))
    check_credentials(config, now=NOW)
    check_credentials(config, now=NOW + dt.timedelta(minutes=10))  # within the hour: not asked
    assert debug_calls(workspace) == 1
    [(status, text)] = delivered(config, receiver, RULE)
    assert status == "firing" and META in text
    assert "meta destination meta: the token expires on" in text and "in 3 day(s)" in text
    assert "system user" in text and "fb_exchange_token" in text

    workspace.sandbox.meta.token_expires(None)  # a new token that never expires
    check_credentials(config, now=LATER)
    messages = delivered(config, receiver, RULE)
    assert [status for status, _ in messages] == ["firing", "resolved"]
    assert META in messages[1][1] and "system user" in messages[1][1]


def test_a_token_further_out_is_quiet(workspace: Workspace, receiver: Receiver) -> None:
    config = meta_only(workspace, receiver)
    workspace.sandbox.meta.token_expires(NOW + dt.timedelta(days=30))
    check_credentials(config, now=NOW)
    assert debug_calls(workspace) == 1
    assert delivered(config, receiver, RULE) == []


def test_a_refused_meta_token(workspace: Workspace, receiver: Receiver) -> None:
    config = meta_only(workspace, receiver)
    workspace.sandbox.meta.expire_token()
    check_credentials(config, now=NOW)
    workspace.sandbox.meta.renew_token()
    check_credentials(config, now=LATER)
    messages = delivered(config, receiver, RULE)
    assert [status for status, _ in messages] == ["firing", "resolved"]
    for _, text in messages:
        assert META in text and "no longer work" in text and "Session has expired" in text
        assert "SIGHUP" in text


def test_an_unreachable_network_changes_nothing(workspace: Workspace, receiver: Receiver) -> None:
    config = meta_only(workspace, receiver)
    workspace.sandbox.meta.expire_token()
    check_credentials(config, now=NOW)
    workspace.sandbox.meta.stop()
    check_credentials(config, now=LATER)  # no answer: the alert stays open, nothing sent
    assert [status for status, _ in delivered(config, receiver, RULE)] == ["firing"]
    with open_state(config.state) as state:
        assert state.backend.execute("SELECT resolved_at FROM alerts") == [(None,)]


def test_google_refusing_the_grant(
    workspace: Workspace, receiver: Receiver, tmp_path: Path
) -> None:
    google = workspace.sandbox.google
    data = workspace.config_data()
    del data["destinations"]["meta"]
    data["audiences"] = data["audiences"][1:]
    destination = data["destinations"]["google"]
    del destination["access_token"]
    key = service_account_file(tmp_path / "key.json", google.token_uri)  # never Google's
    destination["credentials_file"] = str(key)
    config = to_receiver(workspace.config(data), receiver)

    google.revoke_grants()
    check_credentials(config, now=NOW)
    google.revoke_grants(False)
    check_credentials(config, now=LATER)
    messages = delivered(config, receiver, RULE)
    assert [status for status, _ in messages] == ["firing", "resolved"]
    for _, text in messages:
        assert "audience people->google" in text and "google destination google" in text
        assert "invalid_grant" in text and "7 days" in text and "service account" in text


def test_sync_once_asks_after_its_pass(workspace: Workspace, receiver: Receiver) -> None:
    data = workspace.config_data()
    del data["destinations"]["google"]
    data["audiences"] = data["audiences"][:1]
    data["alerts"] = {"webhooks": [{"url": receiver.url}], "credential_expiry_days": 5}
    path = workspace.write_config(data)
    workspace.write_people([("ada@example.com", None, "US", None, None, None)])
    workspace.sandbox.meta.token_expires(NOW + dt.timedelta(days=4))
    result = CliRunner().invoke(main, ["sync", str(path)], env={"TEST_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    [body] = receiver.wait_for(1)
    assert (body["status"], body["rule"], body["audience"]) == ("firing", RULE, "people->meta")
    operations = [record.operation for record in workspace.sandbox.meta.requests]
    assert operations[-1] == "debug_token" and "add" in operations  # after the pass
