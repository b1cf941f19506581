"""The credential rule against the emulators: a Meta token that expires soon or is refused,
and a Google grant refused at the OAuth token endpoint, each open one alert (one firing
message) naming the audience, the destination and the fix, and one resolved message once
renewed; asked at most hourly per destination."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import Workspace
from support.google_keys import service_account_file

from syncd.alerts.credentials import RULE, check_credentials
from syncd.config.models import SyncdConfig
from syncd.state import open_state

NOW = dt.datetime.now(dt.UTC)
LATER = NOW + dt.timedelta(minutes=61)


def meta_only(workspace: Workspace) -> SyncdConfig:
    data = workspace.config_data()
    del data["destinations"]["google"]
    data["audiences"] = data["audiences"][:1]
    return workspace.config(data)


def alerts(config: SyncdConfig) -> list[tuple]:
    with open_state(config.state) as state:
        return state.backend.execute(
            "SELECT audience, message, fix, resolved_at IS NULL FROM alerts WHERE rule = ? "
            "ORDER BY opened_at",
            [RULE],
        )


def events(config: SyncdConfig) -> list[str]:
    with open_state(config.state) as state:
        rows = state.backend.execute(
            "SELECT event FROM alert_outbox JOIN alerts USING (alert_key) WHERE rule = ? "
            "ORDER BY created_at",
            [RULE],
        )
    return [row[0] for row in rows]


def debug_calls(workspace: Workspace) -> int:
    return sum(record.operation == "debug_token" for record in workspace.sandbox.meta.requests)


def test_a_meta_token_expiring_soon(workspace: Workspace) -> None:
    config = meta_only(workspace)
    config = config.model_copy(update={"alerts": _with_webhook(config)})
    workspace.sandbox.meta.token_expires(NOW + dt.timedelta(days=3, hours=1))
    check_credentials(config, now=NOW)
    [(audience, message, fix, open_)] = alerts(config)
    assert (audience, open_) == ("people->meta", True)
    assert "meta destination meta: the token expires on" in message and "in 3 day(s)" in message
    assert "system user" in fix and "fb_exchange_token" in fix

    check_credentials(config, now=NOW + dt.timedelta(minutes=10))  # within the hour: not asked
    assert debug_calls(workspace) == 1
    workspace.sandbox.meta.token_expires(None)  # a new token that never expires
    check_credentials(config, now=LATER)
    assert debug_calls(workspace) == 2
    assert [row[3] for row in alerts(config)] == [False]
    assert events(config) == ["firing", "resolved"]


def test_a_token_further_out_is_quiet(workspace: Workspace) -> None:
    config = meta_only(workspace)
    workspace.sandbox.meta.token_expires(NOW + dt.timedelta(days=30))
    check_credentials(config, now=NOW)
    assert alerts(config) == [] and debug_calls(workspace) == 1


def test_a_refused_meta_token(workspace: Workspace) -> None:
    config = meta_only(workspace)
    config = config.model_copy(update={"alerts": _with_webhook(config)})
    workspace.sandbox.meta.expire_token()
    check_credentials(config, now=NOW)
    [(_, message, fix, _)] = alerts(config)
    assert "no longer work" in message and "Session has expired" in message
    assert "SIGHUP" in fix
    workspace.sandbox.meta.renew_token()
    check_credentials(config, now=LATER)
    assert events(config) == ["firing", "resolved"]


def test_an_unreachable_network_changes_nothing(workspace: Workspace) -> None:
    config = meta_only(workspace)
    workspace.sandbox.meta.expire_token()
    check_credentials(config, now=NOW)
    workspace.sandbox.meta.stop()
    check_credentials(config, now=LATER)  # no answer: the alert stays open, nothing queued
    assert [row[3] for row in alerts(config)] == [True]


def test_google_refusing_the_grant(workspace: Workspace, tmp_path: Path) -> None:
    google = workspace.sandbox.google
    data = workspace.config_data()
    del data["destinations"]["meta"]
    data["audiences"] = data["audiences"][1:]
    destination = data["destinations"]["google"]
    del destination["access_token"]
    destination["credentials_file"] = str(
        service_account_file(tmp_path / "key.json", google.token_uri)
    )
    config = workspace.config(data)
    config = config.model_copy(update={"alerts": _with_webhook(config)})

    google.revoke_grants()
    check_credentials(config, now=NOW)
    [(audience, message, fix, _)] = alerts(config)
    assert audience == "people->google"
    assert "google destination google" in message and "invalid_grant" in message
    assert "7 days" in fix and "service account" in fix
    google.revoke_grants(False)
    check_credentials(config, now=LATER)
    assert events(config) == ["firing", "resolved"]


def _with_webhook(config: SyncdConfig) -> object:
    from syncd.config.alerts import Webhook

    return config.alerts.model_copy(update={"webhooks": [Webhook(url="http://127.0.0.1:9/")]})
