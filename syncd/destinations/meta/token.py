"""How long a Meta destination's access token has left: Graph's token debugger.

``GET /{version}/debug_token?input_token=<token>``
(https://developers.facebook.com/docs/graph-api/reference/debug_token) answers
``data.is_valid``, ``data.expires_at`` and ``data.data_access_expires_at`` (Unix seconds; 0
means never: a system user's non-expiring token), and for a dead token ``data.error``; a
caller it refuses gets Graph's top-level ``error`` (190: the token asking is dead itself).
The caller must be an app access token or a token of one of the app's developers, so a
destination may name its app's token (``app_access_token``); otherwise the token asks about
itself. One GET, no retries: the alert rule asks again an hour later.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import requests

from syncd.destinations.credentials import CredentialCheck
from syncd.destinations.meta.settings import MetaDestination
from syncd.destinations.meta.version import GRAPH_API_VERSION

__all__ = ["RENEW", "check_token", "read_answer"]

log = logging.getLogger(__name__)

#: How to renew a Meta token, for the alert's fix: a system user's token
#: (https://developers.facebook.com/docs/business-management-apis/system-users/install-apps-and-generate-tokens)
#: or a long-lived user token from the exchange of
#: https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
RENEW = (
    "make a new token and put it where access_token reads it (then reload syncd with "
    "SIGHUP): best a system user's token that never expires (Business Settings > System "
    "users > Generate new token, expiry Never, with ads_management), or exchange a user "
    "token for a long-lived one (GET /oauth/access_token?grant_type=fb_exchange_token&"
    "client_id=APP_ID&client_secret=APP_SECRET&fb_exchange_token=TOKEN; about 60 days)"
)
_TOKEN_DEAD = 190


def check_token(settings: MetaDestination) -> CredentialCheck:
    """Whether the destination's access token works, and until when."""
    token = settings.access_token.get_secret_value()
    caller = settings.app_access_token.get_secret_value() if settings.app_access_token else token
    version = settings.api_version or GRAPH_API_VERSION
    url = f"{settings.endpoint.rstrip('/')}/{version}/debug_token"
    try:
        response = requests.get(
            url,
            params={"input_token": token},
            headers={"Authorization": f"Bearer {caller}"},
            timeout=settings.timeout_seconds,
        )
        body: Any = response.json()
    except (requests.RequestException, ValueError) as error:
        log.warning("Meta token check: Graph did not answer (%s)", type(error).__name__)
        return CredentialCheck(valid=None, reason=f"Graph did not answer ({type(error).__name__})")
    if not isinstance(body, dict):
        return CredentialCheck(valid=None, reason="Graph's answer was not an object")
    return read_answer(body, asked_by_itself=caller == token)


def read_answer(body: dict[str, Any], *, asked_by_itself: bool) -> CredentialCheck:
    """What a debug_token answer says about the token. A refusal of the caller is about
    the token only when it asked about itself (an app token refused is not)."""
    refused = body.get("error")
    if isinstance(refused, dict):
        message = str(refused.get("message", ""))
        if refused.get("code") == _TOKEN_DEAD and asked_by_itself:
            return CredentialCheck(valid=False, reason=f"Graph refuses it: {message}", fix=RENEW)
        log.warning("Meta token check: Graph refused the question: %s", message)
        return CredentialCheck(valid=None, reason=message)
    data = body.get("data")
    if not isinstance(data, dict):
        return CredentialCheck(valid=None, reason="debug_token answered without data")
    if not data.get("is_valid", False):
        error = data.get("error")
        said = str(error.get("message", "")) if isinstance(error, dict) else ""
        return CredentialCheck(
            valid=False, reason=f"Graph says it is not valid: {said}".rstrip(": "), fix=RENEW
        )
    ends = {
        "the token expires": _moment(data.get("expires_at")),
        "the app's access to data expires": _moment(data.get("data_access_expires_at")),
    }
    known = {what: when for what, when in ends.items() if when is not None}
    if not known:
        return CredentialCheck(valid=True, reason="the token never expires", fix=RENEW)
    what, when = min(known.items(), key=lambda item: item[1])
    return CredentialCheck(valid=True, expires_at=when, reason=what, fix=RENEW)


def _moment(value: object) -> dt.datetime | None:
    """A debug_token time: Unix seconds, 0 (or absent) for never."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return dt.datetime.fromtimestamp(value, dt.UTC)
