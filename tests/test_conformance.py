"""What every network in the registry must do, run against each one's emulator through the
whole pipeline: a first sync leaves the audience exactly the segment, a second sends
nothing, a removal takes exactly the people who left, and no raw identifier reaches the
network's request log. A network added to `syncd.destinations.registry.NETWORKS` without
an entry in `NETWORKS` here fails `test_every_registered_network_is_covered`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import TOKEN, Workspace

from syncd.destinations.google.sandbox.ads import GoogleAdsEmulator
from syncd.destinations.registry import NETWORKS as REGISTERED
from syncd.destinations.tiktok.sandbox.emulator import TikTokEmulator
from syncd.pipeline import AudienceResult
from syncd.sandbox import DataManagerEmulator, MetaGraphEmulator

EMAILS = [f"Shopper.{i}@Example.com" for i in range(6)]
ADVERTISER = "7000000000000000001"
CUSTOMER = "1234567890"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hashed(emails: list[str]) -> set[str]:
    return {sha(email.strip().lower()) for email in emails}


@dataclass
class Network:
    """One network's emulator, as the suite drives it: the destination's settings, the
    audience it syncs, and the email hashes the network holds."""

    emulator: Any
    settings: dict[str, Any]
    audience_id: str
    held: Callable[[], set[str]]


def meta() -> Network:
    emulator = MetaGraphEmulator(["23850000000000001"], TOKEN).start()
    return Network(
        emulator,
        {"kind": "meta", "ad_account_id": "act_1000", "endpoint": emulator.base_url},
        "23850000000000001",
        lambda: {v for m in emulator.members("23850000000000001") for k, v in m if k == "EMAIL"},
    )


def data_manager() -> Network:
    emulator = DataManagerEmulator(["9000001"], access_token=TOKEN).start()
    return Network(
        emulator,
        {
            "kind": "google_data_manager",
            "operating_account_id": CUSTOMER,
            "endpoint": emulator.base_url,
            "requests_per_minute": 60_000,
            "settle_seconds": 5,
        },
        "9000001",
        lambda: {v for m in emulator.members("9000001") for k, v in m if k == "emailAddress"},
    )


def google_ads() -> Network:
    emulator = GoogleAdsEmulator(customers=[CUSTOMER], access_token=TOKEN, job_delay=0.05)
    emulator.start()
    list_id = emulator.add_user_list("shoppers", customer_id=CUSTOMER)
    return Network(
        emulator,
        {"kind": "google_ads", "customer_id": CUSTOMER, "endpoint": emulator.endpoint},
        str(list_id),
        lambda: {v for m in emulator.members(list_id) for k, v in m if k == "emailAddress"},
    )


def tiktok() -> Network:
    emulator = TikTokEmulator(TOKEN, advertisers=[ADVERTISER]).start()
    audience_id = emulator.add_audience(advertiser=ADVERTISER, name="shoppers")
    return Network(
        emulator,
        {"kind": "tiktok", "advertiser_id": ADVERTISER, "endpoint": emulator.base_url},
        audience_id,
        lambda: emulator.hashes(audience_id),
    )


NETWORKS: dict[str, Callable[[], Network]] = {
    "meta": meta,
    "google_data_manager": data_manager,
    "google_ads": google_ads,
    "tiktok": tiktok,
}


def test_every_registered_network_is_covered() -> None:
    assert sorted(NETWORKS) == sorted(network.kind for network in REGISTERED)


@pytest.fixture(params=sorted(NETWORKS))
def network(request: pytest.FixtureRequest) -> Iterator[Network]:
    started = NETWORKS[request.param]()
    yield started
    started.emulator.stop()


def sync(workspace: Workspace, network: Network, emails: list[str]) -> AudienceResult:
    workspace.write_people([(email, None, "US", None, None, None) for email in emails])
    data = workspace.config_data()
    data["destinations"] = {"net": {**network.settings, "access_token": "${TEST_TOKEN}"}}
    data["audiences"] = [
        {"segment": "people", "destination": "net", "audience_id": network.audience_id}
    ]
    data["guardrails"] = {"max_removal_fraction": 1.0}
    (result,) = workspace.sync(data)
    return result


def test_a_first_sync_is_exact_and_a_second_sends_nothing(
    workspace: Workspace, network: Network
) -> None:
    first = sync(workspace, network, EMAILS)
    assert (first.status, first.adds, first.error) == ("ok", len(EMAILS), None)
    assert network.held() == hashed(EMAILS)

    second = sync(workspace, network, EMAILS)
    assert (second.status, second.adds, second.removes, second.requests) == ("ok", 0, 0, 0)


def test_a_removal_takes_exactly_the_people_who_left_and_no_value_leaks(
    workspace: Workspace, network: Network
) -> None:
    sync(workspace, network, EMAILS)
    result = sync(workspace, network, EMAILS[:4])

    assert (result.status, result.removes) == ("ok", 2)
    assert network.held() == hashed(EMAILS[:4])
    logged = " ".join(repr(record) for record in network.emulator.requests).lower()
    assert not any(email.lower() in logged for email in EMAILS)
