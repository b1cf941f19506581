"""The TikTok emulator as `syncd demo` and `syncd sandbox` drive it (`TIKTOK.emulator`): one
emulator for every TikTok destination, each audience a streaming audience of its
destination's advertiser, with ad groups and daily spend over them (`seed_spend`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from syncd.destinations.tiktok.sandbox.emulator import TikTokEmulator
from syncd.sandbox.emulated import Emulation, Endpoint

__all__ = ["EmulatedTikTok"]

#: TikTok's ID types -> syncd's identifier columns, for the verdict.
_COLUMNS = {"EMAIL_SHA256": "email", "PHONE_SHA256": "phone"}


class EmulatedTikTok:
    """`syncd.sandbox.emulated.Emulated` (and `SeedsSpend`) over one `TikTokEmulator`."""

    def __init__(self, emulation: Emulation) -> None:
        self._destinations = emulation.destinations
        self.emulator = TikTokEmulator(port=emulation.ports["tiktok"])
        for name, ids in emulation.audiences.items():
            advertiser = emulation.destinations[name].account
            for audience_id in ids:
                self.emulator.add_audience(audience_id, advertiser=advertiser)

    def start(self) -> None:
        self.emulator.start()

    def stop(self) -> None:
        self.emulator.stop()

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        self.emulator.set_latency(seconds, jitter, seed=seed)

    def endpoints(self) -> Sequence[Endpoint]:
        return [Endpoint("tiktok", "TikTok API for Business", self.emulator.base_url)]

    def environment(self) -> Mapping[str, str]:
        return {}

    def identifiers(self, destination: str, audience_id: str) -> Mapping[str, frozenset[str]]:
        """What TikTok has applied: changes still processing are not in it."""
        members = self.emulator.members(audience_id)
        return {
            column: frozenset(value for kind, value in members if kind == id_type)
            for id_type, column in _COLUMNS.items()
        }

    def seed_spend(
        self, first: dt.date, last: dt.date, audiences: Mapping[str, Sequence[str]], *, seed: int
    ) -> None:
        """Four ad groups per advertiser over its audiences (one shared by two audiences, one
        excluding another: `delivery.build_ad_groups`), with daily report rows."""
        by_advertiser: dict[str, list[str]] = {}
        for name, ids in audiences.items():
            by_advertiser.setdefault(self._destinations[name].account, []).extend(ids)
        for advertiser, ids in by_advertiser.items():
            if ids:
                self.emulator.generate_spend(first, last, ids, seed=seed, advertiser_id=advertiser)
