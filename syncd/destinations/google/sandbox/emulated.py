"""Google's two emulators as `syncd demo` and `syncd sandbox` drive them (`DATA_MANAGER.emulator`
and `GOOGLE_ADS.emulator`, one factory for both kinds): the Data Manager API for its
destinations, and one Google Ads API emulator for the `google_ads` destinations and for the
spend reports of every Data Manager destination with `reporting` (the Data Manager API has
none). On Google one user list has one id in both APIs, so each list the config names exists
in both, on its destination's account.

The Google Ads emulator starts first: it points grpc's trusted roots at the sandbox CA, and
grpc reads them once per process, at its first secure channel (`ads.tls`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from syncd.destinations.google.sandbox.ads import ROOTS_ENV, GoogleAdsEmulator
from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator, Member
from syncd.sandbox.emulated import Emulation, Endpoint

__all__ = ["EmulatedGoogle"]

DATA_MANAGER = "google_data_manager"
GOOGLE_ADS = "google_ads"
#: The fields of both APIs' members -> syncd's identifier columns, for the verdict.
_COLUMNS = {"emailAddress": "email", "phoneNumber": "phone"}


class EmulatedGoogle:
    """`syncd.sandbox.emulated.Emulated` (and `SeedsSpend`) over a `DataManagerEmulator`
    and a `GoogleAdsEmulator`, each started only when a kind served needs it."""

    def __init__(self, emulation: Emulation) -> None:
        self._destinations = emulation.destinations
        self._lists = {
            (settings.account, int(audience_id))
            for name, settings in emulation.destinations.items()
            for audience_id in emulation.audiences.get(name, ())
        }
        self.data_manager: DataManagerEmulator | None = None
        if DATA_MANAGER in emulation.kinds:
            self.data_manager = DataManagerEmulator(port=emulation.ports[DATA_MANAGER])
            for name, ids in emulation.audiences.items():
                if self._destinations[name].kind == DATA_MANAGER:
                    for audience_id in ids:
                        self.data_manager.add_user_list(audience_id, account_id=self._account(name))
        self.ads: GoogleAdsEmulator | None = None
        reported = any(getattr(s, "reporting", None) for s in emulation.destinations.values())
        if GOOGLE_ADS in emulation.kinds or reported:
            customers = sorted({account for account, _ in self._lists})
            self.ads = GoogleAdsEmulator(
                customers=customers or ["1234567890"], port=emulation.ports[GOOGLE_ADS]
            )
            for account, list_id in sorted(self._lists):
                self.ads.add_user_list(
                    f"User list {list_id}", customer_id=account, user_list_id=list_id
                )

    def start(self) -> None:
        if self.ads is not None:
            self.ads.start()
        try:
            if self.data_manager is not None:
                self.data_manager.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        try:
            if self.data_manager is not None:
                self.data_manager.stop()
        finally:
            if self.ads is not None:
                self.ads.stop()

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        if self.data_manager is not None:
            self.data_manager.set_latency(seconds, jitter, seed=seed)
        if self.ads is not None:
            self.ads.set_latency(seconds, jitter, seed=seed + 1)

    def endpoints(self) -> Sequence[Endpoint]:
        served = []
        if self.data_manager is not None:
            served.append(Endpoint(DATA_MANAGER, "Data Manager API", self.data_manager.base_url))
        if self.ads is not None:
            served.append(Endpoint(GOOGLE_ADS, "Google Ads API (gRPC over TLS)", self.ads.endpoint))
        return served

    def environment(self) -> Mapping[str, str]:
        """The sandbox CA, for a gRPC client in another process to trust the Ads emulator."""
        return {ROOTS_ENV: str(self.ads.ca_file)} if self.ads is not None else {}

    def identifiers(self, destination: str, audience_id: str) -> Mapping[str, frozenset[str]]:
        settings = self._destinations[destination]
        members: set[Member]
        if settings.kind == DATA_MANAGER and self.data_manager is not None:
            members = self.data_manager.members(audience_id)
        elif self.ads is not None:
            members = self.ads.members(int(audience_id), customer_id=settings.account)
        else:
            raise KeyError(f"{destination} is not served here")
        return {
            column: frozenset(str(v) for member in members for k, v in member if k == field)
            for field, column in _COLUMNS.items()
        }

    def seed_spend(
        self, first: dt.date, last: dt.date, audiences: Mapping[str, Sequence[str]], *, seed: int
    ) -> None:
        """Campaigns bidding per click and per thousand impressions over the given lists, on
        each account (`ads.spend`), read back through the Google Ads API."""
        if self.ads is None:
            return
        by_customer: dict[str, list[int]] = {}
        for name, ids in audiences.items():
            by_customer.setdefault(self._account(name), []).extend(int(i) for i in ids)
        for customer, lists in by_customer.items():
            if lists:
                self.ads.generate_spend(
                    first, last, customer_id=customer, user_list_ids=lists, seed=seed
                )

    def _account(self, destination: str) -> str:
        return self._destinations[destination].account
