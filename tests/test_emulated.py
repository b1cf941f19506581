"""The demo's and `syncd sandbox`'s emulators, built from the registry: every registered
network's emulator holds the config's audiences and shows what a sync left in them, and the
machinery serves a network it has never heard of, or leaves out one without an emulator,
with no line naming either."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import pytest
from conftest import FAST_RETRIES, TOKEN, Workspace, sha

from syncd.config import load_config
from syncd.demo.addresses import endpoint_variable
from syncd.demo.emulators import Emulators
from syncd.destinations.meta import META
from syncd.destinations.network import Network
from syncd.destinations.registry import NETWORKS
from syncd.destinations.settings import DestinationSettings
from syncd.pipeline import PassOptions, sync_all
from syncd.sandbox.emulated import Emulation, Endpoint

CUSTOMER = "1234567890"
#: One destination and one audience id per registered kind, endpoints from the sandbox.
DESTINATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "meta": ({"ad_account_id": "act_1000"}, "23850000000000001"),
    "google_data_manager": (
        {"operating_account_id": CUSTOMER, "requests_per_minute": 60_000, "settle_seconds": 5},
        "9000001",
    ),
    "google_ads": ({"customer_id": CUSTOMER}, "9000002"),
    "tiktok": ({"advertiser_id": "7000000000000000001"}, "180000001"),
}
EMAILS = [f"Shopper.{i}@Example.com" for i in range(5)]
#: Where a destination points until the emulators run (gRPC's endpoint has no scheme).
PLACEHOLDERS = {"google_ads": "127.0.0.1:1"}


def placeholder(kind: str) -> str:
    default = PLACEHOLDERS.get(kind, "http://127.0.0.1:1")
    return f"${{{endpoint_variable(kind)}:-{default}}}"


def config_data(workspace: Workspace, id_offset: int = 0) -> dict[str, Any]:
    data = workspace.config_data()
    data["destinations"] = {
        kind: {
            "kind": kind,
            **settings,
            "access_token": "${TEST_TOKEN}",
            # A placeholder until the emulators run: the config names its audiences first.
            "endpoint": placeholder(kind),
        }
        for kind, (settings, _) in DESTINATIONS.items()
    }
    data["audiences"] = [
        {"segment": "people", "destination": kind, "audience_id": str(int(audience) + id_offset)}
        for kind, (_, audience) in DESTINATIONS.items()
    ]
    return data


def test_every_registered_network_has_an_emulator_holding_what_a_sync_sent(
    workspace: Workspace,
) -> None:
    assert sorted(DESTINATIONS) == sorted(network.kind for network in NETWORKS)
    workspace.write_people(
        [(email, f"+1 415 555 01{i:02}", "US", None, None, None) for i, email in enumerate(EMAILS)]
    )
    path = workspace.write_config(config_data(workspace))
    with Emulators.for_config(load_config(path, environ={"TEST_TOKEN": TOKEN})) as emulators:
        assert emulators.unemulated == []
        environ = {**emulators.environment(), "TEST_TOKEN": TOKEN}
        assert {endpoint_variable(kind) for kind in DESTINATIONS} <= set(environ)
        config = load_config(path, environ=environ)
        results = sync_all(config, PassOptions(retry_policy=FAST_RETRIES))
        assert [(r.status, r.adds) for r in results] == [("ok", len(EMAILS))] * len(DESTINATIONS)
        for kind, (_, audience_id) in DESTINATIONS.items():
            held = emulators.identifiers(kind, audience_id)
            assert held["email"] == {sha(email.lower()) for email in EMAILS}, kind
            assert len(held["phone"]) == len(EMAILS), kind

        # Only the config's audiences exist: an id it does not name fails as on the network.
        workspace.write_config(config_data(workspace, id_offset=7))
        typo = load_config(path, environ=environ)
        results = sync_all(typo, PassOptions(retry_policy=FAST_RETRIES))
        assert [r.status for r in results] == ["failed"] * len(DESTINATIONS)


class FakeSettings(DestinationSettings):
    """A destination of a network syncd's registry does not have."""

    ACCOUNT_FIELD: ClassVar[str] = "account_id"
    kind: Literal["fake", "fake_reports", "bare"]
    account_id: str
    endpoint: str = "http://127.0.0.1:1"


class FakeEmulated:
    """An emulator of the fake network: it serves nothing, and keeps what it was asked."""

    built: ClassVar[list[FakeEmulated]] = []

    def __init__(self, emulation: Emulation) -> None:
        self.emulation = emulation
        self.running = False
        self.latency: tuple[float, float, int] | None = None
        self.seeded: dict[str, list[str]] = {}
        FakeEmulated.built.append(self)

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        self.latency = (seconds, jitter, seed)

    def endpoints(self) -> Sequence[Endpoint]:
        return [
            Endpoint(kind, "Fake API", f"http://127.0.0.1:{self.emulation.ports[kind]}")
            for kind in sorted(self.emulation.kinds)
        ]

    def environment(self) -> Mapping[str, str]:
        return {"FAKE_CA": "/ca.pem"}

    def identifiers(self, destination: str, audience_id: str) -> Mapping[str, frozenset[str]]:
        if audience_id not in self.emulation.audiences[destination]:
            raise KeyError(audience_id)
        return {"email": frozenset({f"{destination}/{audience_id}"})}

    def seed_spend(
        self, first: dt.date, last: dt.date, audiences: Mapping[str, Sequence[str]], *, seed: int
    ) -> None:
        self.seeded = {name: list(ids) for name, ids in audiences.items()}


def fake_network(kind: str, emulator: str | None) -> Network:
    return Network(
        kind=kind, settings=FakeSettings, capabilities=META.capabilities, open=META.open,
        emulator=emulator,
    )  # fmt: skip


#: Two fake kinds share one factory, as Google's two do; a third has no emulator at all.
FACTORY = f"{__name__}:FakeEmulated"
FAKE_NETWORKS = (
    fake_network("fake", FACTORY),
    fake_network("bare", None),
    fake_network("fake_reports", FACTORY),
)


@pytest.fixture
def fakes() -> list[FakeEmulated]:
    FakeEmulated.built.clear()
    return FakeEmulated.built


def test_a_network_is_served_by_its_records_factory_and_one_without_is_left_out(
    fakes: list[FakeEmulated],
) -> None:
    destinations = {
        "shop": FakeSettings(kind="fake", account_id="1"),
        "outlet": FakeSettings(kind="fake", account_id="2"),
        "offline": FakeSettings(kind="bare", account_id="3"),
    }
    emulators = Emulators.for_destinations(
        destinations,
        {"shop": ["11", "12"], "offline": ["31"]},
        port_base=20_000,
        networks=FAKE_NETWORKS,
    )
    (fake,) = fakes
    assert fake.emulation == Emulation(
        kinds=frozenset({"fake"}),
        destinations={"shop": destinations["shop"], "outlet": destinations["outlet"]},
        audiences={"shop": ("11", "12"), "outlet": ()},
        ports={"fake": 20_000, "fake_reports": 20_002},  # bare keeps 20_001
    )
    assert emulators.unemulated == ["offline"]

    with emulators:
        assert fake.running
        assert emulators.environment() == {
            "SYNCD_SANDBOX_FAKE": "http://127.0.0.1:20000",
            "FAKE_CA": "/ca.pem",
        }
        assert emulators.identifiers("shop", "12") == {"email": {"shop/12"}}
        with pytest.raises(KeyError):
            emulators.identifiers("offline", "31")
        seeded = emulators.seed_spend(
            dt.date(2026, 1, 1), dt.date(2026, 1, 14), {"shop": ["11"], "offline": ["31"]}
        )
        assert seeded == ["shop"] and fake.seeded == {"shop": ["11"]}
    assert not fake.running


def test_every_kind_is_served_when_no_config_names_any(fakes: list[FakeEmulated]) -> None:
    """`syncd sandbox` without --config: one emulator per factory, serving all its kinds."""
    Emulators.for_destinations({}, {}, networks=FAKE_NETWORKS, every_kind=True)
    (fake,) = fakes
    assert fake.emulation.kinds == {"fake", "fake_reports"}
    assert fake.emulation.ports == {"fake": 0, "fake_reports": 0}


def test_the_registry_names_an_emulator_factory_that_loads() -> None:
    for network in NETWORKS:
        assert callable(network.emulator_factory()), network.kind
    assert FAKE_NETWORKS[1].emulator_factory() is None


def test_the_cli_and_the_registry_import_no_emulator() -> None:
    """The records name their emulators: `syncd run` and `syncd sync` never load one."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, syncd.cli, syncd.destinations.registry; "
            "print(sorted(m for m in sys.modules if 'sandbox' in m))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


class Unbindable(FakeEmulated):
    def start(self) -> None:
        raise OSError("address in use")


def test_an_emulator_that_cannot_start_leaves_nothing_running(fakes: list[FakeEmulated]) -> None:
    """The second emulator failing to bind stops the first again."""
    networks = (fake_network("fake", FACTORY), fake_network("bare", f"{__name__}:Unbindable"))
    emulators = Emulators.for_destinations({}, {}, networks=networks, every_kind=True)
    with pytest.raises(OSError, match="in use"), emulators:
        pass
    assert len(fakes) == 2 and not any(fake.running for fake in fakes)
