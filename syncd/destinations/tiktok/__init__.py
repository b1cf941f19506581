"""TikTok custom audiences: the light part here, the httpx client on first use.

``CAPABILITIES`` and ``DIALECT`` (``capabilities``), the settings model (``settings``) and the
error table (``errors``) load no HTTP client, so the planner and the config can read them
alone; ``TikTokAudiences`` (``client``) loads httpx when first asked for. docs/tiktok.md is
the research behind every value here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncd.destinations.base import Destination
from syncd.destinations.network import Network, Opening
from syncd.destinations.tiktok.capabilities import CAPABILITIES, DIALECT
from syncd.destinations.tiktok.settings import TikTokDestination

if TYPE_CHECKING:
    from syncd.destinations.tiktok.client import TikTokAudiences

__all__ = ["CAPABILITIES", "DIALECT", "TIKTOK", "TikTokAudiences", "TikTokDestination"]


def __getattr__(name: str) -> Any:
    if name == "TikTokAudiences":
        from syncd.destinations.tiktok.client import TikTokAudiences

        return TikTokAudiences
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _open(settings: TikTokDestination, opening: Opening) -> Destination:
    from syncd.destinations.tiktok.client import TikTokAudiences

    return TikTokAudiences(settings)


TIKTOK = Network(
    kind="tiktok",
    settings=TikTokDestination,
    capabilities=CAPABILITIES,
    open=_open,
    spend_puller="syncd.destinations.tiktok.spend:pull_spend",
    emulator="syncd.destinations.tiktok.sandbox.emulated:EmulatedTikTok",
)
