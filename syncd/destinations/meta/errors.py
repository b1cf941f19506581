"""Graph errors -> what to do, as a table, decided in this one place for Meta.

Throttling codes wait as long as Meta says (``estimated_time_to_regain_access`` in the usage
headers, else the ad account's ``reset_time_duration``, else Retry-After, else a minute; the
retry policy caps it). They are every code Meta documents as a rate limit, for audience edits,
ad set reads and Insights alike: a throttled spend pull waits and goes on like an audience
edit. Auth, permission and policy errors need a person -- a new token, a role on the ad
account, a rename -- and are never retried; their messages carry the fix. Anything unknown
on a 5xx is retried once the policy allows; an unknown 4xx is a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from syncd.destinations.base import (
    DestinationError,
    ErrorClass,
    ReplaceNotAllowed,
    retry_after_seconds,
)
from syncd.destinations.meta.throttle import parse_usage

__all__ = [
    "FLAGGED_POLICY",
    "THROTTLING_CODES",
    "ReplaceNotAllowed",
    "classify",
    "flagged",
]

#: The fix for an audience flagged with operation_status 471.
FLAGGED_POLICY = (
    "Meta flagged this audience (operation_status 471). Since September 2025 Meta blocks "
    "custom audiences whose name or description suggests a health condition (e.g. "
    "'diabetes') or financial status (e.g. 'credit score', 'high income'), and refuses "
    "edits and ads on them. Fix: rename the audience and reword its description in Ads "
    "Manager, then ask for a review in Audience Manager; or create a new audience with a "
    "neutral name. syncd does not retry it"
)
_TOKEN_FIX = "issue a new system-user token and update META_ACCESS_TOKEN"
_ROLE_FIX = (
    "in Business Settings give the system user the ad account (and this audience) with "
    "'Manage campaigns', and generate its token with ads_management"
)
#: Graph code for refused custom-audience operations: on usersreplace, replace is not possible.
_REPLACE_REFUSAL_CODES = frozenset({2650})
_DEFAULT_THROTTLE_WAIT = 60.0


@dataclass(frozen=True)
class _Rule:
    error_class: ErrorClass
    meaning: str


def _throttled(meaning: str) -> _Rule:
    return _Rule(ErrorClass.RATE_LIMITED, meaning)


#: Business-use-case (BUC) rate limits: each use case has its own budget per ad account and
#: its own code in 80000-80014 ("Business Use Case Rate Limits",
#: https://developers.facebook.com/docs/graph-api/overview/rate-limiting#buc-rate-limits).
#: Codes in the range with no use case named there are throttling all the same.
_BUSINESS_USE_CASES = {
    80000: "ads_insights",
    80001: "pages",
    80002: "instagram",
    80003: "custom_audience",
    80004: "ads_management",
    80005: "leadgen",
    80006: "messenger",
    80008: "whatsapp_business_management",
    80009: "catalog_management",
    80014: "catalog_batch",
}

# (code, subcode) first, then (code, None).
_RULES: dict[tuple[int, int | None], _Rule] = {
    (1, None): _Rule(ErrorClass.RETRY, "Meta reported an unknown, usually passing, error"),
    (2, None): _Rule(ErrorClass.RETRY, "Meta's service is temporarily unavailable"),
    # Throttling codes and subcodes of "Rate Limiting" (Marketing API),
    # https://developers.facebook.com/docs/marketing-api/overview/rate-limiting, and of the
    # Graph API's https://developers.facebook.com/docs/graph-api/overview/rate-limiting.
    (4, None): _throttled("application request limit reached"),
    (4, 1504022): _throttled("Insights: too many calls from this app"),
    (4, 1504039): _throttled("Insights: too many calls from this app"),
    (17, None): _throttled("user request limit reached"),
    (17, 2446079): _throttled("ad account API-level request limit reached"),
    (32, None): _throttled("page request limit reached"),
    (613, None): _throttled("calls to this API exceeded the rate limit"),
    (613, 1487742): _throttled("too many calls from this ad account"),
    **{
        (code, None): _throttled(
            f"business use case {_BUSINESS_USE_CASES.get(code, str(code))} throttled"
        )
        for code in range(80000, 80015)
    },
    (190, None): _Rule(
        ErrorClass.FAIL_AUDIENCE, f"the access token is invalid or expired: {_TOKEN_FIX}"
    ),
    (190, 463): _Rule(ErrorClass.FAIL_AUDIENCE, f"the access token expired: {_TOKEN_FIX}"),
    (190, 460): _Rule(
        ErrorClass.FAIL_AUDIENCE,
        f"the access token was invalidated by a password change or a security reset: {_TOKEN_FIX}",
    ),
    (10, None): _Rule(
        ErrorClass.FAIL_AUDIENCE,
        f"permission denied: the app or token lacks a permission: {_ROLE_FIX}",
    ),
    (200, None): _Rule(
        ErrorClass.FAIL_AUDIENCE,
        f"permission denied: the system user has no role on this object: {_ROLE_FIX}",
    ),
    # Edits of a 471-flagged audience: "Audience Upload Blocked", "Custom Audience Cannot Be
    # Edited", "Update Restricted Fields and Rule".
    (100, 1713230): _Rule(ErrorClass.FAIL_AUDIENCE, FLAGGED_POLICY),
    (100, 1713228): _Rule(ErrorClass.FAIL_AUDIENCE, FLAGGED_POLICY),
    (100, 1713231): _Rule(ErrorClass.FAIL_AUDIENCE, FLAGGED_POLICY),
}
#: Every Graph code that is a rate limit.
THROTTLING_CODES = frozenset(
    code for (code, _), rule in _RULES.items() if rule.error_class is ErrorClass.RATE_LIMITED
)


class GraphRequestError(Protocol):
    """What classification reads of facebook-business' FacebookRequestError."""

    def api_error_code(self) -> int | None: ...
    def api_error_subcode(self) -> int | None: ...
    def api_error_message(self) -> str | None: ...
    def http_status(self) -> int | None: ...
    def http_headers(self) -> Any: ...
    def body(self) -> Any: ...


def classify(error: GraphRequestError, subject: str, *, replace: bool = False) -> DestinationError:
    """The DestinationError for a Graph error on ``subject`` ("Meta audience 123")."""
    code, subcode = error.api_error_code(), error.api_error_subcode()
    status = error.http_status()
    detail = _user_message(error) or error.api_error_message() or ""
    shown = f"code {code}" + (f"/{subcode}" if subcode is not None else "")
    if replace and code in _REPLACE_REFUSAL_CODES:
        return ReplaceNotAllowed(
            f"{subject}: Meta refuses to replace its users ({shown}: {detail}); add and "
            "remove them instead",
            reason=detail,
        )
    rule = None
    if code is not None:
        rule = _RULES.get((code, subcode)) or _RULES.get((code, None))
    if rule is None and status == 429:
        rule = _Rule(ErrorClass.RATE_LIMITED, "too many requests (HTTP 429)")
    elif rule is None and status is not None and status >= 500:
        rule = _Rule(ErrorClass.RETRY, f"Graph API server error (HTTP {status})")
    elif rule is None:
        rule = _Rule(ErrorClass.FAIL_AUDIENCE, "the Graph API refused the request")
    retry_after = None
    if rule.error_class is ErrorClass.RATE_LIMITED:
        retry_after = _throttle_wait(error.http_headers())
    return DestinationError(
        rule.error_class, f"{subject}: {rule.meaning} ({shown}: {detail})", retry_after
    )


def flagged(subject: str, description: str) -> DestinationError:
    """The failure for an audience whose operation_status is 471."""
    return DestinationError(
        ErrorClass.FAIL_AUDIENCE, f"{subject}: {FLAGGED_POLICY} ({description})"
    )


def _throttle_wait(headers: Any) -> float:
    """Meta's own estimate of when access comes back, in seconds."""
    usage = parse_usage(dict(headers or {}))
    if usage is not None and usage.regain_seconds > 0:
        return usage.regain_seconds
    header = None
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            header = value
    return retry_after_seconds(header) or _DEFAULT_THROTTLE_WAIT


def _user_message(error: GraphRequestError) -> str | None:
    """Graph's ``error_user_msg``, written for people, when the error has one."""
    body = error.body()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("error_user_msg")
        return message if isinstance(message, str) else None
    return None
