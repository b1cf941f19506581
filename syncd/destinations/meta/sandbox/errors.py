"""Graph API errors as the emulator answers them: Graph's ``{"error": {...}}`` shape and codes.

Codes and subcodes that Meta documents are used as documented: 190 with subcode 463 (expired
token) or 460 (password changed), 10 and 200 (permissions), the throttling codes of
``THROTTLES``, and 100 with subcode 1713230 ("Audience Upload Blocked") for edits of an
audience flagged with operation_status 471. Every body has Graph's keys: ``message``,
``type`` ("OAuthException"), ``code``, ``error_subcode`` where there is one,
``error_user_title``/``error_user_msg`` where Meta words one, ``is_transient`` (which
facebook-business reads, ``FacebookRequestError.api_transient_error``) and ``fbtrace_id``.
The usersreplace session errors have no documented subcodes; the emulator assigns its own
(``REPLACE_*`` below) under code 2650 (the custom-audience operation is refused) or 100 (a
bad parameter).
"""

from __future__ import annotations

import secrets
from typing import Any

from syncd.sandbox.messages import Response, json_response

__all__ = [
    "FLAGGED_DESCRIPTION",
    "FLAGGED_UPLOAD_BLOCKED",
    "REPLACE_IN_PROGRESS",
    "REPLACE_OUT_OF_ORDER",
    "REPLACE_REFUSED",
    "REPLACE_SESSION_EXPIRED",
    "THROTTLES",
    "USE_CASE_THROTTLES",
    "GraphError",
    "flagged_upload_blocked",
    "graph_error",
    "permission_error",
    "throttle_error",
    "token_error",
]

#: Meta's documented error for user edits of a 471-flagged customer-file audience.
FLAGGED_UPLOAD_BLOCKED = (100, 1713230)
#: ``operation_status.description`` of a flagged audience, as Meta words it.
FLAGGED_DESCRIPTION = (
    "The custom audience or lookalike is blocked because it suggests the use of information "
    "(e.g., health, financial) not allowed under Meta's terms, and is restricted from running "
    "ads. Review the audience and remove prohibited information, or choose a different one."
)
#: Emulator-assigned (code, subcode) pairs of the usersreplace session errors.
REPLACE_REFUSED = (2650, 1870145)
REPLACE_IN_PROGRESS = (2650, 1870146)
REPLACE_SESSION_EXPIRED = (100, 1870147)
REPLACE_OUT_OF_ORDER = (100, 1870148)

_RATE_LIMITING = "https://developers.facebook.com/docs/graph-api/overview/rate-limiting"
_TOO_MANY_FROM_APP = "There have been too many calls from this app. Wait a bit and try again."
#: The throttling errors the emulator can answer with, (code, subcode) -> message. Codes and
#: subcodes: "Rate Limiting", https://developers.facebook.com/docs/marketing-api/overview/rate-limiting
#: (17/2446079, 613/1487742, and 4/1504022 or 4/1504039 for Insights) and the Business Use
#: Case rate limits of the Graph API's page (80000 ads_insights, 80003 custom_audience, 80004
#: ads_management). Messages as Graph words them: the 80000 and 80004 bodies as quoted from
#: real answers (airbytehq/airbyte #10655 and #8773), Graph's "(#code) " before each.
THROTTLES: dict[tuple[int, int | None], str] = {
    (4, None): "(#4) Application request limit reached",
    (4, 1504022): f"(#4) {_TOO_MANY_FROM_APP}",
    (4, 1504039): f"(#4) {_TOO_MANY_FROM_APP}",
    (17, 2446079): "(#17) User request limit reached",
    (32, None): "(#32) Page request limit reached",
    (613, None): "(#613) Calls to this api have exceeded the rate limit.",
    (613, 1487742): "(#613) There have been too many calls from this ad-account. Please wait a "
    "bit and try again.",
    (80000, 2446079): "(#80000) There have been too many calls from this ad-account. Wait a bit "
    f"and try again. For more info, please refer to {_RATE_LIMITING}.",
    (80003, 2446079): "(#80003) There have been too many calls to this ad-account. Wait a bit "
    f"and try again. For more info, please refer to {_RATE_LIMITING}#custom-audience.",
    (80004, 2446079): "(#80004) There have been too many calls to this ad-account. Wait a bit "
    f"and try again. For more info, please refer to {_RATE_LIMITING}.",
}
#: The business use case of each edge the emulator serves, and what it answers once that
#: use case's budget is spent: each use case has a budget of its own per ad account.
USE_CASE_THROTTLES: dict[str, tuple[int, int | None]] = {
    "custom_audience": (80003, 2446079),
    "ads_insights": (80000, 2446079),
    "ads_management": (80004, 2446079),
}
_TOKEN_MESSAGES = {
    463: "Error validating access token: Session has expired. The current time is later than "
    "the token's expiry.",
    460: "Error validating access token: The session has been invalidated because the user "
    "changed their password or Facebook has changed the session for security reasons.",
}
_PERMISSION_MESSAGES = {
    10: "(#10) Application does not have permission for this action",
    200: "(#200) Permissions error",
}


class GraphError(Exception):
    """A Graph API error, rendered in Graph's ``{"error": {...}}`` shape."""

    def __init__(
        self,
        message: str,
        *,
        code: int = 100,
        subcode: int | None = None,
        status: int = 400,
        count: int = 0,
        user_title: str | None = None,
        user_message: str | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.status = status
        self.count = count
        self.user_title = user_title
        self.user_message = user_message
        self.transient = transient


def graph_error(
    error: GraphError, operation: str = "", headers: dict[str, str] | None = None
) -> Response:
    """The HTTP response of a Graph error, with the given (usage) headers added."""
    body: dict[str, Any] = {
        "message": error.message,
        "type": "OAuthException",
        "code": error.code,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if error.subcode is not None:
        body["error_subcode"] = error.subcode
    if error.user_title is not None:
        body["error_user_title"] = error.user_title
    if error.user_message is not None:
        body["error_user_msg"] = error.user_message
    body["is_transient"] = error.transient
    all_headers = dict(headers or {})
    if error.code == 190:
        all_headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token"'
    return json_response(
        error.status, {"error": body}, operation=operation, count=error.count, headers=all_headers
    )


def token_error(subcode: int | None) -> GraphError:
    """Code 190: no token, a wrong one, or (with a subcode) an expired or invalidated one."""
    if subcode is None:
        return GraphError("Invalid OAuth access token - Cannot parse access token", code=190)
    return GraphError(_TOKEN_MESSAGES.get(subcode, _TOKEN_MESSAGES[463]), code=190, subcode=subcode)


def permission_error(code: int) -> GraphError:
    """Code 10 or 200: the token lacks a permission or a role on the object."""
    return GraphError(
        _PERMISSION_MESSAGES.get(code, _PERMISSION_MESSAGES[200]), code=code, status=403
    )


def throttle_error(code: int, subcode: int | None, count: int = 0) -> GraphError:
    """A throttling error of ``THROTTLES``; the wait itself travels in the usage headers."""
    return GraphError(
        THROTTLES[(code, subcode)], code=code, subcode=subcode, count=count, transient=True
    )


def flagged_upload_blocked(count: int = 0) -> GraphError:
    """Meta's answer to any user edit of an audience flagged with operation_status 471."""
    code, subcode = FLAGGED_UPLOAD_BLOCKED
    return GraphError(
        "Invalid parameter",
        code=code,
        subcode=subcode,
        count=count,
        user_title="Audience Upload Blocked",
        user_message="Before updating user memberships, you must resolve integrity "
        "restrictions on this Data File Custom Audience. Go to Audience Manager to appeal the "
        "restrictions or create a new audience with updated data",
    )
