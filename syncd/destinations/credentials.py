"""What a network says about a destination's credentials, asked outside any pass.

A token that expires over a weekend fails every pass after it; asking the network ahead
(Meta's token debugger, a Google OAuth refresh) turns that into an alert days before. Each
network that can be asked names its check in its `Network` record (`credential_check`); the
alert rule (`syncd.alerts.credentials`) reads only this shape, never a network's name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["CredentialCheck", "CredentialChecker"]


@dataclass(frozen=True)
class CredentialCheck:
    """One answer about one destination's credentials.

    ``valid`` is None when the network could not say (unreachable, or the credentials may
    not ask): an open alert then stays as it is, neither resolved nor repeated.
    """

    valid: bool | None
    #: When the credentials stop working, where the network says; None: never, or unknown.
    expires_at: dt.datetime | None = None
    #: What the network said, in words for the alert (never the token itself).
    reason: str = ""
    #: How to renew or replace the credentials, for the alert's fix.
    fix: str = ""


class CredentialChecker(Protocol):
    """Ask the network about a destination's credentials (one cheap request, no retries);
    ``settings`` is the destination's settings model."""

    def __call__(self, settings: Any) -> CredentialCheck: ...
