"""The Graph API emulator as `syncd demo` and `syncd sandbox` drive it (`META.emulator`):
one emulator for every Meta destination, each audience on its destination's ad account."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from syncd.destinations.meta.sandbox.emulator import MetaGraphEmulator
from syncd.sandbox.emulated import Emulation, Endpoint

__all__ = ["EmulatedMeta"]

#: Graph's schema keys -> syncd's identifier columns, for the verdict.
_COLUMNS = {"EMAIL": "email", "PHONE": "phone"}


class EmulatedMeta:
    """`syncd.sandbox.emulated.Emulated` (and `SeedsSpend`) over one `MetaGraphEmulator`."""

    def __init__(self, emulation: Emulation) -> None:
        self._destinations = emulation.destinations
        self.emulator = MetaGraphEmulator(port=emulation.ports["meta"])
        for name, ids in emulation.audiences.items():
            for audience_id in ids:
                self.emulator.add_audience(audience_id, ad_account_id=self._account(name))

    def start(self) -> None:
        self.emulator.start()

    def stop(self) -> None:
        self.emulator.stop()

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        self.emulator.set_latency(seconds, jitter, seed=seed)

    def endpoints(self) -> Sequence[Endpoint]:
        return [Endpoint("meta", "Meta Graph API", self.emulator.base_url)]

    def environment(self) -> Mapping[str, str]:
        return {}

    def identifiers(self, destination: str, audience_id: str) -> Mapping[str, frozenset[str]]:
        members = self.emulator.members(audience_id)
        return {
            column: frozenset(v for member in members for k, v in member if k == key)
            for key, column in _COLUMNS.items()
        }

    def seed_spend(
        self, first: dt.date, last: dt.date, audiences: Mapping[str, Sequence[str]], *, seed: int
    ) -> None:
        """Four ad sets per ad account, over up to three of its audiences (one shared by
        two ad sets, one excluded by another: `spend.build_ad_sets`), with daily Insights."""
        by_account: dict[str, list[str]] = {}
        for name, ids in audiences.items():
            by_account.setdefault(self._account(name), []).extend(ids)
        for account, ids in by_account.items():
            if ids:
                self.emulator.generate_spend(first, last, ids, seed=seed, ad_account_id=account)

    def _account(self, destination: str) -> str:
        return self._destinations[destination].account
