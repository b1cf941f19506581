"""TikTok API for Business errors as the emulator answers them: TikTok's envelope and codes.

Every answer of the Marketing API, success or failure, is one JSON envelope
``{"code", "message", "request_id", "data"}`` with ``code`` 0 for success (the response
schema of every endpoint in the official SDK, tiktok/tiktok-business-api-sdk
``yml_files/dmp_custom_audience_*.yml``, which points to "Appendix - Return Codes",
https://business-api.tiktok.com/portal/docs?id=1737172488964097). Failures come back with
HTTP 200 and a non-zero ``code``: clients must read the body, never only the status. (Seen in
real answers quoted by connectors: airbytehq/airbyte ``source-tiktok-marketing``, whose
``manifest.yaml`` maps ``code == 40100`` to RATE_LIMITED on 200 answers and whose
``unit_tests/integration/test_service_error_retry.py`` retries an HTTP 200 ``code`` 50000.)

The return-codes page itself is not reachable from here, so each code below names where its
meaning and message were seen. ``RETURN_CODES`` is the table syncd's TikTok destination is
meant to mirror; its ``retry`` column is the emulator's reading, explained in docs/tiktok.md.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from syncd.sandbox.messages import Response

__all__ = [
    "INVALID_PARAMS",
    "NO_PERMISSION",
    "OK",
    "RATE_LIMITED",
    "RETURN_CODES",
    "SERVICE_ERROR",
    "SYSTEM_ERROR",
    "TOKEN_INVALID",
    "ReturnCode",
    "TikTokError",
    "envelope",
    "error_response",
    "request_id",
]

RETURN_CODES_URL = "https://business-api.tiktok.com/portal/docs?id=1737172488964097"

OK = 0
#: The token may not act for this advertiser (or the advertiser is not authorized to the app).
NO_PERMISSION = 40001
#: A parameter is missing, malformed, out of range, or names an object that does not exist.
INVALID_PARAMS = 40002
#: The app went past its calls per second (QPS): "Once the rate limit is met, the server
#: returns "code": 40100" (airbytehq/airbyte source-tiktok-marketing ``streams.py``, citing
#: https://business-api.tiktok.com/marketing_api/docs?id=1701890997610497).
RATE_LIMITED = 40100
#: The ``Access-Token`` is missing, wrong, or revoked.
TOKEN_INVALID = 40105
#: TikTok's generic internal failure, answered with HTTP 200; retried by connectors.
SYSTEM_ERROR = 50000
#: A backend service failed; airbyte's ``streams.py`` retries it as "a server error".
SERVICE_ERROR = 50002


@dataclass(frozen=True, slots=True)
class ReturnCode:
    """One return code: the message the emulator answers with, what a client should do
    (``retry``: "fix" = fix the request, do not resend it; "backoff" = wait and resend it;
    "reauth" = get a new token, "permission" = fix the advertiser's authorization), and where
    the code and message were seen."""

    message: str
    retry: str
    source: str


RETURN_CODES: dict[int, ReturnCode] = {
    OK: ReturnCode(
        "OK",
        "none",
        "every success envelope; segmentio/action-destinations tiktok-"
        "audiences checks message == 'OK'",
    ),
    NO_PERMISSION: ReturnCode(
        "No permission to operate advertiser.",
        "permission",
        f"{RETURN_CODES_URL}; meaning as a third party lists the API for Business codes "
        "(https://help.sleekflow.io/en_US/tiktok-business-messaging/troubleshooting-your-"
        "tiktok-business-messaging-channels): 'You don't have permission to perform this action'",
    ),
    INVALID_PARAMS: ReturnCode(
        "Invalid parameters.",
        "fix",
        f"{RETURN_CODES_URL}; 'There's a problem with the parameters in your request' (same list)",
    ),
    RATE_LIMITED: ReturnCode(
        "Due to too many requests, requests from App are temporarily restricted.",
        "backoff",
        "message as logged by a live sync in airbytehq/airbyte issue #70992 "
        "(https://github.com/airbytehq/airbyte/issues/70992); other live messages for the same "
        "code: 'App reaches the QPS limit.', 'Too many requests. Please retry in some time.'",
    ),
    TOKEN_INVALID: ReturnCode(
        "Access token is incorrect or has been revoked.",
        "reauth",
        "airbytehq/airbyte source-tiktok-marketing unit_tests/test_source.py and several live "
        "reports; " + RETURN_CODES_URL,
    ),
    SYSTEM_ERROR: ReturnCode(
        "System error.",
        "backoff",
        "airbytehq/airbyte source-tiktok-marketing unit_tests/integration/"
        "test_service_error_retry.py (HTTP 200, retried)",
    ),
    SERVICE_ERROR: ReturnCode(
        "Service error.",
        "backoff",
        "airbytehq/airbyte source-tiktok-marketing streams.py should_retry (code retried; the "
        "message here is the emulator's)",
    ),
}


class TikTokError(Exception):
    """A refusal in TikTok's envelope. ``status`` is the HTTP status (200, as TikTok answers
    API errors); ``count`` only feeds the request log."""

    def __init__(
        self, code: int, message: str | None = None, *, status: int = 200, count: int = 0
    ) -> None:
        text = message if message is not None else RETURN_CODES[code].message
        super().__init__(text)
        self.code = code
        self.message = text
        self.status = status
        self.count = count


def request_id() -> str:
    """A request id shaped like TikTok's: a UTC timestamp to the second then digits (e.g.
    ``2026061015295501023125104093255``), unique per answer so logs can quote it."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return stamp + "".join(str(secrets.randbelow(10)) for _ in range(17))


def envelope(
    code: int,
    message: str,
    data: dict[str, Any] | None = None,
    *,
    status: int = 200,
    operation: str = "",
    count: int = 0,
) -> Response:
    """The HTTP response of one envelope; ``data`` is ``{}`` when there is nothing to say, as
    TikTok answers."""
    body = {"code": code, "message": message, "request_id": request_id(), "data": data or {}}
    payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return Response(status, payload, operation=operation, count=count)


def error_response(error: TikTokError, operation: str = "") -> Response:
    """The answer to a refusal."""
    return envelope(
        error.code, error.message, status=error.status, operation=operation, count=error.count
    )
