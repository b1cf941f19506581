"""The Graph API emulator as `syncd demo` and `syncd sandbox` drive it (`META.emulator`):
one emulator for every Meta destination, each audience on its destination's ad account."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from syncd.destinations.meta.sandbox.emulator import MetaGraphEmulator
from syncd.sandbox.emulated import Emulation, OneServerPerNetwork

__all__ = ["EmulatedMeta"]

#: Graph's schema keys -> syncd's identifier columns, for the verdict.
_COLUMNS = {"EMAIL": "email", "PHONE": "phone"}


class EmulatedMeta(OneServerPerNetwork[MetaGraphEmulator]):
    """`syncd.sandbox.emulated.Emulated` (and `SeedsSpend`) over one `MetaGraphEmulator`.
    Spend is four ad sets per ad account, over up to three of its audiences (one shared by
    two ad sets, one excluded by another: `spend.build_ad_sets`), with daily Insights."""

    kind = "meta"
    api = "Meta Graph API"

    def __init__(self, emulation: Emulation) -> None:
        super().__init__(emulation, MetaGraphEmulator(port=emulation.ports["meta"]))

    def identifiers(self, destination: str, audience_id: str) -> Mapping[str, frozenset[str]]:
        members = self.emulator.members(audience_id)
        return {
            column: frozenset(v for member in members for k, v in member if k == key)
            for key, column in _COLUMNS.items()
        }

    def _add_audience(self, audience_id: str, account: str) -> None:
        self.emulator.add_audience(audience_id, ad_account_id=account)

    def _generate_spend(
        self, first: dt.date, last: dt.date, audience_ids: list[str], seed: int, account: str
    ) -> None:
        self.emulator.generate_spend(first, last, audience_ids, seed=seed, ad_account_id=account)
