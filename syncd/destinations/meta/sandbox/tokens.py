"""The emulator's token debugger, ``GET /debug_token?input_token=...``, and the token's life.

Answered as the reference (https://developers.facebook.com/docs/graph-api/reference/debug_token)
and the access token guide
(https://developers.facebook.com/docs/facebook-login/guides/access-tokens/debugging) show it:
``{"data": {"app_id", "type", "application", "expires_at", "data_access_expires_at",
"is_valid", "issued_at", "scopes", "user_id"}}``, times in Unix seconds, ``expires_at`` 0 for
a token that never expires (a system user's non-expiring token; the Access Token Debugger
shows it as "Never"), and ``is_valid`` false with an ``error`` object inside ``data`` for a
token that no longer works. The caller must hold "an app access token or an app developer's
user access token for the app associated with the input_token": with an app token set
(``MetaGraphEmulator.require_app_token``) only that one may ask, else any token the emulator
accepts (its user stands for a developer of the app).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from syncd.destinations.meta.sandbox.errors import GraphError, token_error
from syncd.sandbox.messages import Response, json_response

__all__ = ["APP_ID", "TokenLife", "debug_token"]

APP_ID = "900000000000001"
_SCOPES = ["ads_management", "ads_read", "business_management"]
_NOT_ALLOWED = (
    "(#100) You must provide an app access token, or a user access token that is an owner "
    "or developer of the app"
)


@dataclass
class TokenLife:
    """When the emulator's token stops working, in Unix seconds (0: never)."""

    expires_at: int = 0
    data_access_expires_at: int = 0
    issued_at: int = 0
    #: The app access token ("app_id|app_secret") the debugger requires, if set.
    app_token: str | None = None

    def expired_subcode(self, now: float) -> int | None:
        """463 (expired) once either time has passed, else None."""
        ends = [t for t in (self.expires_at, self.data_access_expires_at) if t]
        return 463 if ends and now >= min(ends) else None


def debug_token(
    input_token: str | None,
    caller: str | None,
    *,
    expected: str | None,
    life: TokenLife,
    refused_subcode: int | None,
    now: float,
) -> Response:
    """The debugger's answer about ``input_token``, asked with ``caller``'s token.

    ``expected`` is the one token the emulator accepts (None: any non-empty one);
    ``refused_subcode`` is the subcode every token is refused with (``expire_token``).
    """
    if not caller:
        raise GraphError("An access token is required to request this resource.", code=190)
    if not input_token:
        raise GraphError("(#100) The parameter input_token is required")
    if life.app_token is not None:
        if not secrets.compare_digest(caller.encode(), life.app_token.encode()):
            raise GraphError(_NOT_ALLOWED)
    elif caller == input_token:
        subcode = refused_subcode or life.expired_subcode(now)
        if subcode is not None or not _accepted(caller, expected):
            raise token_error(subcode)
    elif not _accepted(caller, expected):
        raise GraphError(_NOT_ALLOWED)
    data: dict[str, object] = {
        "app_id": APP_ID,
        "type": "USER",
        "application": "syncd sandbox app",
        "data_access_expires_at": life.data_access_expires_at,
        "expires_at": life.expires_at,
        "is_valid": True,
        "issued_at": life.issued_at,
        "scopes": _SCOPES,
        "user_id": "100000000000001",
    }
    refused = _refusal(input_token, expected, refused_subcode or life.expired_subcode(now))
    if refused is not None:
        data["is_valid"] = False
        error: dict[str, object] = {"code": refused.code, "message": refused.message}
        if refused.subcode is not None:
            error["subcode"] = refused.subcode
        data["error"] = error
    return json_response(200, {"data": data}, operation="debug_token")


def _refusal(token: str, expected: str | None, subcode: int | None) -> GraphError | None:
    """How Graph would refuse ``token`` now (a wrong one, or expired), or None."""
    if not _accepted(token, expected):
        return token_error(None)
    return token_error(subcode) if subcode is not None else None


def _accepted(token: str, expected: str | None) -> bool:
    return expected is None or secrets.compare_digest(token.encode(), expected.encode())
