"""Meta Custom Audiences: the light part here, the facebook-business client on first use.

``CAPABILITIES`` and the schema mapping (``schema``), the error table (``errors``) and the
throttle (``throttle``) import no SDK, so the planner can read capabilities without it;
``MetaCustomAudiences`` (``client``) loads facebook-business when first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncd.destinations.meta.errors import ReplaceNotAllowed
from syncd.destinations.meta.schema import CAPABILITIES, SCHEMA_KEYS
from syncd.destinations.meta.throttle import MetaThrottle

if TYPE_CHECKING:
    from syncd.destinations.meta.client import MetaCustomAudiences

__all__ = [
    "CAPABILITIES",
    "SCHEMA_KEYS",
    "MetaCustomAudiences",
    "MetaThrottle",
    "ReplaceNotAllowed",
]


def __getattr__(name: str) -> Any:
    if name == "MetaCustomAudiences":
        from syncd.destinations.meta.client import MetaCustomAudiences

        return MetaCustomAudiences
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
