"""TikTok's answers -> what the runner does, decided here and nowhere else for TikTok.

TikTok answers refusals with HTTP 200 and its envelope ``{"code", "message", "request_id",
"data"}`` with a non-zero ``code`` (every response schema of the official SDK,
tiktok/tiktok-business-api-sdk ``yml_files/``; airbytehq/airbyte source-tiktok-marketing
retries an HTTP 200 code 50000 in ``unit_tests/integration/test_service_error_retry.py``),
so the body is read first and the HTTP status only when there is no envelope. ``CODES`` is
the policy as data, one row per code with what it means, what fixes it, and where it was
seen; the return codes page itself (https://business-api.tiktok.com/portal/docs?id=1737172488964097)
could not be read, so rows resting on third parties say so. A code not in the table is read
by its range (4xxxx: the request, 5xxxx: TikTok's side), which is how every listed code
falls, not a rule TikTok states.

Messages keep TikTok's ``request_id`` (what TikTok support asks for) and TikTok's own words,
with anything shaped like an email or a phone number cut out: only hashes leave the process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncd.destinations.base import DestinationError, ErrorClass, retry_after_seconds

__all__ = ["CODES", "RATE_LIMIT_WAIT", "RETURN_CODES_URL", "Rule", "classify", "data_of"]

RETURN_CODES_URL = "https://business-api.tiktok.com/portal/docs?id=1737172488964097"
RATE_LIMITS_URL = "https://business-api.tiktok.com/marketing_api/docs?id=1701890997610497"
#: Seconds to wait on code 40100: TikTok's budget is per second and it sends no Retry-After
#: or usage header (docs/tiktok.md, section 5), so the wait is the second it counts in.
RATE_LIMIT_WAIT = 1.0

_FAIL, _RETRY, _RATE = ErrorClass.FAIL_AUDIENCE, ErrorClass.RETRY, ErrorClass.RATE_LIMITED
_TOKEN_FIX = (
    "have an Admin of the advertiser authorize syncd's TikTok app again (TikTok for "
    "Business > the app's authorization link, then /oauth2/access_token/), put the new "
    "token in TIKTOK_ACCESS_TOKEN, and give it bare: the Access-Token header takes no "
    "'Bearer ' prefix"
)
_PERMISSION_FIX = (
    "in TikTok Business Center give the user who authorized syncd's app Operator or Admin "
    "access to this advertiser (Analyst is not enough) and authorize the app for it again, "
    "or check advertiser_id"
)


@dataclass(frozen=True)
class Rule:
    """What to do about one return code, what it means with its fix, and where it was seen."""

    error_class: ErrorClass
    meaning: str
    source: str


CODES: dict[int, Rule] = {
    40001: Rule(
        _FAIL,
        f"the access token may not act for this advertiser: {_PERMISSION_FIX}",
        f"{RETURN_CODES_URL}; 'You don't have permission to perform this action' "
        "(https://help.sleekflow.io/en_US/tiktok-business-messaging/troubleshooting-your-"
        "tiktok-business-messaging-channels); Operator or Admin needed "
        "(https://docs.mparticle.com/integrations/tiktok/audience/)",
    ),
    40002: Rule(
        _FAIL,
        "TikTok refused a parameter of the request (its message names the field): check "
        "advertiser_id and the audience id; syncd pushes members only to streaming audiences "
        "(made by /segment/audience/, 'Partner' in Ads Manager), never to a Customer File "
        "audience",
        f"{RETURN_CODES_URL}; 'There's a problem with the parameters in your request' "
        "(sleekflow, above)",
    ),
    40100: Rule(
        _RATE,
        "the app passed its calls per second; lower calls_per_second or max_in_flight if "
        "this repeats",
        f"{RATE_LIMITS_URL} via airbytehq/airbyte source-tiktok-marketing streams.py and "
        "manifest.yaml (code 40100 -> RATE_LIMITED)",
    ),
    40102: Rule(
        _FAIL,
        f"the access token expired: {_TOKEN_FIX}",
        "third-party reports only (docs/tiktok.md, section 7): unconfirmed",
    ),
    40104: Rule(
        _FAIL,
        f"the request carried no access token: {_TOKEN_FIX}",
        "third-party reports only (docs/tiktok.md, section 7): unconfirmed",
    ),
    40105: Rule(
        _FAIL,
        f"the access token is wrong or was revoked: {_TOKEN_FIX}",
        "airbytehq/airbyte source-tiktok-marketing unit_tests/test_source.py; "
        "https://www.volcengine.com/article/1422075 (a 'Bearer ' prefix also gives 40105)",
    ),
    50000: Rule(
        _RETRY,
        "TikTok reported a system error",
        "airbytehq/airbyte source-tiktok-marketing test_service_error_retry.py (retried)",
    ),
    50002: Rule(
        _RETRY,
        "a TikTok service failed",
        "airbytehq/airbyte source-tiktok-marketing streams.py should_retry",
    ),
    51010: Rule(
        _RETRY,
        "a TikTok internal service timed out",
        "one public client's tests only (docs/tiktok.md, section 7): unconfirmed",
    ),
}

_EMAIL = re.compile(r"[^\s@\"'<>()\[\],;:]+@[^\s@\"'<>()\[\],;:]+")
_PHONE = re.compile(r"\+?\d[\d ().-]{7,}\d")
_DIGITS_ONLY = re.compile(r"\d+")
_MAX_MESSAGE = 300


def data_of(status: int, body: Any, headers: Mapping[str, str], subject: str) -> dict[str, Any]:
    """The ``data`` of a success envelope; any other answer raises its classified error."""
    if isinstance(body, dict) and body.get("code") == 0 and 200 <= status < 300:
        data = body.get("data")
        return dict(data) if isinstance(data, dict) else {}
    raise classify(status, body, headers, subject)


def classify(status: int, body: Any, headers: Mapping[str, str], subject: str) -> DestinationError:
    """The error for one refused or unreadable answer about ``subject`` ("TikTok audience
    180000001"): by the envelope's code when there is one, else by the HTTP status."""
    header_wait = retry_after_seconds(_header(headers, "Retry-After"))
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        rule = CODES.get(code) or _by_range(code)
        detail = _detail(body)
        shown = f"code {code}" + (f": {detail}" if detail else "")
        request_id = body.get("request_id")
        if request_id:
            shown += f"; request_id {request_id}"
        wait = None
        if rule.error_class is _RATE:
            wait = max(header_wait or 0.0, RATE_LIMIT_WAIT)
        elif header_wait is not None:
            wait = header_wait
        return DestinationError(rule.error_class, f"{subject}: {rule.meaning} ({shown})", wait)
    return _by_status(status, header_wait, subject)


def _by_range(code: int) -> Rule:
    if 50000 <= code < 60000:
        return Rule(_RETRY, "TikTok reported an error on its side", RETURN_CODES_URL)
    return Rule(
        _FAIL,
        f"TikTok refused the request with a code syncd does not know: see {RETURN_CODES_URL}",
        RETURN_CODES_URL,
    )


def _by_status(status: int, wait: float | None, subject: str) -> DestinationError:
    """An answer without TikTok's envelope: a front end's, a gateway's, or a broken body."""
    if status == 429:
        return DestinationError(
            _RATE, f"{subject}: too many requests (HTTP 429)", max(wait or 0.0, RATE_LIMIT_WAIT)
        )
    if status >= 500:
        return DestinationError(_RETRY, f"{subject}: TikTok server error (HTTP {status})", wait)
    if status == 404:
        return DestinationError(
            _FAIL,
            f"{subject}: no such TikTok API path (HTTP 404): check endpoint (the base URL, "
            "without /open_api) and api_version",
        )
    if 200 <= status < 300:
        return DestinationError(_RETRY, f"{subject}: unreadable TikTok answer (HTTP {status})")
    return DestinationError(_FAIL, f"{subject}: TikTok refused the request (HTTP {status})")


def _detail(body: Mapping[str, Any]) -> str:
    """TikTok's message, short, with emails and phone numbers cut out."""
    message = body.get("message")
    if not isinstance(message, str):
        return ""
    message = _EMAIL.sub("<email>", message)
    message = _PHONE.sub(_phone_or_id, message)
    return message[:_MAX_MESSAGE]


def _phone_or_id(match: re.Match[str]) -> str:
    """Advertiser and audience ids are digits alone and stay (they say which object is
    meant); anything written like a phone number goes."""
    text = match.group(0)
    return text if _DIGITS_ONLY.fullmatch(text) else "<phone>"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
