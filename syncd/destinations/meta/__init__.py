"""Meta Custom Audiences: the light part here, the facebook-business client on first use.

``CAPABILITIES`` and the schema mapping (``schema``), the error table (``errors``), the
usage headers (``throttle``) and the pinned Graph API version (``version``) import no SDK, so the
planner can read capabilities without it; ``MetaCustomAudiences`` (``client``) loads
facebook-business when first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncd.destinations.base import Destination
from syncd.destinations.meta.errors import ReplaceNotAllowed
from syncd.destinations.meta.schema import CAPABILITIES, SCHEMA_KEYS
from syncd.destinations.meta.settings import MetaDestination
from syncd.destinations.meta.version import GRAPH_API_VERSION
from syncd.destinations.network import Network, Opening

if TYPE_CHECKING:
    from syncd.destinations.meta.client import MetaCustomAudiences

__all__ = [
    "CAPABILITIES",
    "GRAPH_API_VERSION",
    "META",
    "SCHEMA_KEYS",
    "MetaCustomAudiences",
    "MetaDestination",
    "ReplaceNotAllowed",
]


def __getattr__(name: str) -> Any:
    if name == "MetaCustomAudiences":
        from syncd.destinations.meta.client import MetaCustomAudiences

        return MetaCustomAudiences
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _open(settings: MetaDestination, opening: Opening) -> Destination:
    from syncd.destinations.meta.client import MetaCustomAudiences

    return MetaCustomAudiences(settings, sleep=opening.sleep, pacer=opening.pacer)


META = Network(
    kind="meta",
    settings=MetaDestination,
    capabilities=CAPABILITIES,
    open=_open,
    spend_puller="syncd.spend.meta:pull_meta",
    emulator="syncd.destinations.meta.sandbox.emulated:EmulatedMeta",
    credential_check="syncd.destinations.meta.token:check_token",
)
