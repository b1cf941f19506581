"""The TikTok emulator as `syncd demo` and `syncd sandbox` drive it (`TIKTOK.emulator`): one
emulator for every TikTok destination, each audience a streaming audience of its
destination's advertiser, with ad groups and daily spend over them (`seed_spend`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from syncd.destinations.tiktok.sandbox.emulator import TikTokEmulator
from syncd.sandbox.emulated import Emulation, OneServerPerNetwork

__all__ = ["EmulatedTikTok"]

#: TikTok's ID types -> syncd's identifier columns, for the verdict.
_COLUMNS = {"EMAIL_SHA256": "email", "PHONE_SHA256": "phone"}


class EmulatedTikTok(OneServerPerNetwork[TikTokEmulator]):
    """`syncd.sandbox.emulated.Emulated` (and `SeedsSpend`) over one `TikTokEmulator`.
    Spend is four ad groups per advertiser over its audiences (one shared by two audiences,
    one excluding another: `delivery.build_ad_groups`), with daily report rows."""

    kind = "tiktok"
    api = "TikTok API for Business"

    def __init__(self, emulation: Emulation) -> None:
        super().__init__(emulation, TikTokEmulator(port=emulation.ports["tiktok"]))

    def identifiers(self, destination: str, audience_id: str) -> Mapping[str, frozenset[str]]:
        """What TikTok has applied: changes still processing are not in it."""
        members = self.emulator.members(audience_id)
        return {
            column: frozenset(value for kind, value in members if kind == id_type)
            for id_type, column in _COLUMNS.items()
        }

    def _add_audience(self, audience_id: str, account: str) -> None:
        self.emulator.add_audience(audience_id, advertiser=account)

    def _generate_spend(
        self, first: dt.date, last: dt.date, audience_ids: list[str], seed: int, account: str
    ) -> None:
        self.emulator.generate_spend(first, last, audience_ids, seed=seed, advertiser_id=account)
