"""Google Ads API errors -> what the runner does, decided on ``error_code``, not gRPC status.

A ``GoogleAdsException`` holds a ``GoogleAdsFailure`` whose errors each carry one field of the
``ErrorCode`` oneof (``database_error: CONCURRENT_MODIFICATION``); the gRPC status says little
(Google returns INVALID_ARGUMENT for most refusals). ``RULES`` maps (kind, code) -- or (kind,
"*") for a whole kind -- to a class and a message with the fix. Errors the client library does
not wrap (RESOURCE_EXHAUSTED, INTERNAL, and any call without a failure) reach syncd as the
``google.api_core`` exception the generated client makes of the plain ``grpc.RpcError``
(``ResourceExhausted``, ``InternalServerError``), holding that call as ``response``; they
still carry the failure in its trailing metadata, read from there, and the gRPC status
decides only when there is no failure at all (a connection that dropped, a deadline that
passed: ``DeadlineExceeded``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncd.destinations.base import DestinationError, ErrorClass

__all__ = [
    "RULES",
    "AdsRule",
    "classify_ads_error",
    "error_codes",
    "failure_of",
    "is_ads_api_error",
]

_FAIL, _RETRY, _LIMITED = ErrorClass.FAIL_AUDIENCE, ErrorClass.RETRY, ErrorClass.RATE_LIMITED

#: Seconds to wait before retrying a job run that collided with another job on the list.
CONCURRENT_MODIFICATION_WAIT = 30.0


@dataclass(frozen=True)
class AdsRule:
    error_class: ErrorClass
    meaning: str
    retry_after: float | None = None


#: Every (kind, code) exists, not deprecated, in the ErrorCode of API_VERSION (google-ads,
#: google/ads/googleads/v25/errors/types/*.py); tests/test_ads_contract.py checks it.
RULES: dict[tuple[str, str], AdsRule] = {
    ("not_allowlisted_error", "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE"): AdsRule(
        _FAIL,
        "Customer Match uploads through the Google Ads API are refused to callers that were "
        "not using them before 2026-04-01: switch this destination to "
        "`kind: google_data_manager`",
    ),
    ("database_error", "CONCURRENT_MODIFICATION"): AdsRule(
        _RETRY,
        "another job is running on this user list (Google runs one at a time); retrying once "
        "it is done",
        CONCURRENT_MODIFICATION_WAIT,
    ),
    ("authentication_error", "*"): AdsRule(
        _FAIL,
        "the OAuth credentials were refused: renew the access token or refresh token, or "
        "make a new key for the service account",
    ),
    ("authorization_error", "USER_PERMISSION_DENIED"): AdsRule(
        _FAIL,
        "permission denied: the credentials' user must have access to customer_id; when "
        "that access comes through a manager (MCC) account, set login_customer_id to it",
    ),
    # Access levels belong to the Cloud project of the OAuth credentials since developer
    # tokens were sunset (2026-09-09); a Test-level project reaches test accounts only:
    # https://developers.google.com/google-ads/api/docs/api-policy/developer-token and
    # https://developers.google.com/google-ads/api/docs/api-policy/access-levels
    ("authorization_error", "CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION"): AdsRule(
        _FAIL,
        "the Google Cloud project of these OAuth credentials has Test access, which reaches "
        "test accounts only: apply for Explorer access (up to 2,880 operations a day on "
        "production accounts, most often approved automatically) or Basic access (15,000) "
        "for that Cloud project on the Google Ads API Overview page of the Cloud Console, "
        "https://console.cloud.google.com/google/ads-apis/overview",
    ),
    ("authorization_error", "*"): AdsRule(_FAIL, "the request is not authorized"),
    ("offline_user_data_job_error", "INVALID_USER_LIST_ID"): AdsRule(
        _FAIL, "no such user list in customer_id: check audience_id"
    ),
    ("mutate_error", "RESOURCE_NOT_FOUND"): AdsRule(_FAIL, "not found in customer_id"),
    ("user_list_error", "NAME_ALREADY_USED"): AdsRule(
        _FAIL, "a user list with this name already exists"
    ),
    ("range_error", "TOO_HIGH"): AdsRule(
        _FAIL, "a value is above Google's range (membership_life_span is 0-540 days)"
    ),
    ("range_error", "TOO_LOW"): AdsRule(
        _FAIL, "a value is below Google's range (membership_life_span is 0-540 days)"
    ),
    ("quota_error", "*"): AdsRule(_LIMITED, "the Google Ads API rate limit was reached"),
    ("internal_error", "*"): AdsRule(_RETRY, "Google reported an internal error"),
}

#: gRPC status name -> class, only for calls that failed without a GoogleAdsFailure. Google
#: counts transient failures as retryable "after a short pause", with exponential backoff
#: (https://developers.google.com/google-ads/api/docs/best-practices/error-types). A
#: DEADLINE_EXCEEDED without a failure is the caller's own deadline (timeout_seconds) that
#: passed; it "may be returned even if the operation has completed successfully"
#: (https://grpc.io/docs/guides/status-codes/), which a retried upload tolerates: a new job
#: carries the same adds or removals, and applying them twice leaves the same list.
_STATUS_CLASSES = {
    "UNAVAILABLE": _RETRY,
    "DEADLINE_EXCEEDED": _RETRY,
    "INTERNAL": _RETRY,
    "ABORTED": _RETRY,
    "RESOURCE_EXHAUSTED": _LIMITED,
}


def is_ads_api_error(error: Exception) -> bool:
    """Whether a Google Ads call failed at Google (or on the way there): the library's
    ``GoogleAdsException``, a plain ``grpc.RpcError``, or the ``google.api_core`` exception the
    generated client makes of one (``DeadlineExceeded`` for a deadline that passed)."""
    import grpc
    from google.ads.googleads.errors import GoogleAdsException
    from google.api_core.exceptions import GoogleAPICallError

    return isinstance(error, GoogleAdsException | grpc.RpcError | GoogleAPICallError)


def error_codes(failure: Any) -> list[tuple[str, str]]:
    """(kind, enum name) of each error of a ``GoogleAdsFailure`` (proto-plus)."""
    codes = []
    for error in failure.errors:
        kind = type(error.error_code).pb(error.error_code).WhichOneof("error_code") or ""
        value = getattr(error.error_code, kind, None) if kind else None
        codes.append((kind, getattr(value, "name", str(value))))
    return codes


def failure_of(error: Exception, client: Any) -> Any | None:
    """The ``GoogleAdsFailure`` of an exception: wrapped by the library, or in the trailing
    metadata of a plain ``grpc.RpcError`` (or of the one an api_core exception holds); None
    when there is none."""
    failure = getattr(error, "failure", None)
    if failure is not None:
        return failure
    call = error if hasattr(error, "trailing_metadata") else getattr(error, "response", None)
    trailing = getattr(call, "trailing_metadata", None)
    try:
        metadata = trailing() if callable(trailing) else ()
    except Exception:  # a call that never started has no metadata to read
        metadata = ()
    for key, value in metadata or ():
        if key.endswith("googleadsfailure-bin") and isinstance(value, bytes):
            failure_type = type(client.get_type("GoogleAdsFailure"))
            return failure_type.deserialize(value)
    return None


def _retry_delay(failure: Any) -> float | None:
    for error in failure.errors:
        delay = error.details.quota_error_details.retry_delay
        seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else 0.0
        if seconds > 0:
            return float(seconds)
    return None


def classify_ads_error(error: Exception, client: Any, what: str) -> DestinationError:
    """One ``DestinationError`` for a failed Google Ads call (the first rule that matches)."""
    failure = failure_of(error, client)
    if failure is None:
        code = getattr(error, "code", None)  # a grpc.RpcError's, or api_core's HTTP status
        grpc_status = code() if callable(code) else getattr(error, "grpc_status_code", None)
        status = getattr(grpc_status, "name", "")
        error_class = _STATUS_CLASSES.get(status, _FAIL)
        return DestinationError(error_class, f"{what}: Google Ads API call failed ({status})")
    codes = error_codes(failure)
    for kind, code in codes:
        rule = RULES.get((kind, code)) or RULES.get((kind, "*"))
        if rule is not None:
            retry_after = _retry_delay(failure) if rule.error_class is _LIMITED else None
            shown = f"{kind}: {code}"
            return DestinationError(
                rule.error_class,
                f"{what}: {rule.meaning} ({shown})",
                retry_after=retry_after if retry_after is not None else rule.retry_after,
            )
    shown = ", ".join(f"{kind}: {code}" for kind, code in codes[:5])
    return DestinationError(_FAIL, f"{what}: refused by the Google Ads API ({shown})")
