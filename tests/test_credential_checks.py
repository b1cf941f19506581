"""Each network's credential check against its emulator: Meta's token debugger (expiry,
never, invalid, the app token it may need) and a Google OAuth refresh Google refuses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TOKEN
from support.google_keys import service_account_file

from syncd.config.models import GoogleAdsDestination, GoogleDataManagerDestination
from syncd.destinations.credentials import CredentialCheck
from syncd.destinations.meta import MetaDestination
from syncd.destinations.meta.sandbox import MetaGraphEmulator
from syncd.destinations.registry import network_of
from syncd.destinations.settings import DestinationSettings
from syncd.logs import scrub

APP_TOKEN = "900000000000001|sandbox-secret"


@pytest.fixture
def graph() -> Iterator[MetaGraphEmulator]:
    with MetaGraphEmulator(access_token=TOKEN) as emulator:
        yield emulator


def meta(emulator: MetaGraphEmulator, **fields: object) -> MetaDestination:
    settings = {"kind": "meta", "ad_account_id": "act_1000", "access_token": TOKEN}
    return MetaDestination.model_validate(
        {**settings, "endpoint": emulator.base_url, "timeout_seconds": 5, **fields}
    )


def check(settings: DestinationSettings) -> CredentialCheck:
    checker = network_of(settings).check_credentials()
    assert checker is not None
    return checker(settings)


def test_a_token_that_never_expires(graph: MetaGraphEmulator) -> None:
    answer = check(meta(graph))
    assert (answer.valid, answer.expires_at) == (True, None)
    assert [r.operation for r in graph.requests] == ["debug_token"]


def test_the_earliest_of_the_two_expiries(graph: MetaGraphEmulator) -> None:
    soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
    graph.token_expires(soon + dt.timedelta(days=30), data_access_at=soon)
    answer = check(meta(graph))
    assert (answer.valid, answer.expires_at) == (True, soon)
    assert "access to data" in answer.reason


def test_an_expired_token_asking_about_itself_is_invalid(graph: MetaGraphEmulator) -> None:
    graph.expire_token()
    answer = check(meta(graph))
    assert answer.valid is False
    assert "expired" in answer.reason and "system user" in answer.fix
    assert TOKEN not in answer.reason


def test_a_token_past_its_expiry_is_refused_everywhere(graph: MetaGraphEmulator) -> None:
    graph.token_expires(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert check(meta(graph)).valid is False
    graph.require_app_token(APP_TOKEN)
    answer = check(meta(graph, app_access_token=APP_TOKEN))
    assert answer.valid is False and "not valid" in answer.reason


def test_the_app_token_asks_when_graph_requires_it(graph: MetaGraphEmulator) -> None:
    graph.require_app_token(APP_TOKEN)
    assert check(meta(graph)).valid is None  # refused the question: no verdict on the token
    assert check(meta(graph, app_access_token=APP_TOKEN)).valid is True


def test_an_unreachable_graph_says_nothing() -> None:
    with MetaGraphEmulator(access_token=TOKEN) as emulator:
        settings = meta(emulator)
    assert check(settings).valid is None


def test_input_tokens_are_scrubbed_from_logs() -> None:
    assert TOKEN not in scrub(f"GET /v25.0/debug_token?input_token={TOKEN} HTTP/1.1")


def test_google_refuses_a_revoked_grant(tmp_path: Path) -> None:
    from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator

    with DataManagerEmulator() as dm:
        key = service_account_file(tmp_path / "key.json", dm.token_uri)
        settings = GoogleDataManagerDestination.model_validate(
            {
                "kind": "google_data_manager",
                "operating_account_id": "1234567890",
                "credentials_file": str(key),
                "endpoint": dm.base_url,
            }
        )
        assert check(settings).valid is True
        dm.revoke_grants()
        answer = check(settings)
        assert answer.valid is False
        assert "invalid_grant" in answer.reason and "expired or revoked" in answer.reason
        assert "7 days" in answer.fix and "oauth2#expiration" in answer.fix
        dm.revoke_grants(False)
        assert check(settings).valid is True
        assert {r.operation for r in dm.requests} == {"oauth_token"}


def test_google_fixed_access_tokens_are_not_asked_about() -> None:
    settings = GoogleAdsDestination.model_validate(
        {"kind": "google_ads", "customer_id": "1234567890", "access_token": TOKEN}
    )
    assert check(settings).valid is None
