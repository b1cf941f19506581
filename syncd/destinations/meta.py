"""Meta Custom Audiences through the Graph API, with the facebook-business SDK.

Removals go as a POST with `method=DELETE` and the payload in the body: the SDK's own
DELETE puts the payload in the query string, and 10,000 hashes make a ~700 KB URL that
HTTP front ends refuse, which would force tiny removal batches.
"""

from __future__ import annotations

import pyarrow as pa
import requests
from facebook_business.api import FacebookAdsApi, FacebookResponse
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from syncd.config.models import MetaDestination as MetaConfig
from syncd.destinations.base import (
    Capabilities,
    DestinationError,
    ErrorClass,
    PushResult,
    retry_after_seconds,
)
from syncd.identity import IdentifierKind, Network

#: Meta's multi-key schema names, in the order syncd sends them.
SCHEMA_KEYS: dict[IdentifierKind, str] = {
    IdentifierKind.EMAIL: "EMAIL",
    IdentifierKind.PHONE: "PHONE",
    IdentifierKind.FIRST_NAME: "FN",
    IdentifierKind.LAST_NAME: "LN",
    IdentifierKind.COUNTRY: "COUNTRY",
    IdentifierKind.ZIP: "ZIP",
    IdentifierKind.MADID: "MADID",
    IdentifierKind.EXTERNAL_ID: "EXTERN_ID",
}

CAPABILITIES = Capabilities(
    network=Network.META,
    max_members_per_request=10_000,
    identifier_kinds=frozenset(SCHEMA_KEYS),
    min_serving_size=100,
)

#: Graph error codes -> what to do. Throttling codes wait; auth and permission codes need a
#: person (a new token, a role on the ad account) and are never retried.
_ERROR_CLASSES: dict[int, tuple[ErrorClass, str]] = {
    1: (ErrorClass.RETRY, "Meta reported an unknown, usually passing, error"),
    2: (ErrorClass.RETRY, "Meta's service is temporarily unavailable"),
    4: (ErrorClass.RATE_LIMITED, "application request limit reached"),
    17: (ErrorClass.RATE_LIMITED, "user request limit reached"),
    32: (ErrorClass.RATE_LIMITED, "page request limit reached"),
    613: (ErrorClass.RATE_LIMITED, "calls to this API exceeded the rate limit"),
    80003: (ErrorClass.RATE_LIMITED, "custom audience API throttled"),
    190: (
        ErrorClass.FAIL_AUDIENCE,
        "the access token is invalid or expired: issue a new system-user token and update "
        "META_ACCESS_TOKEN",
    ),
    10: (
        ErrorClass.FAIL_AUDIENCE,
        "permission denied: the token needs ads_management on this ad account",
    ),
    200: (
        ErrorClass.FAIL_AUDIENCE,
        "permission denied: give the system user a role on the ad account and audience",
    ),
}
_THROTTLE_WAIT_SECONDS = 60.0


class MetaCustomAudiences:
    capabilities = CAPABILITIES

    def __init__(self, config: MetaConfig) -> None:
        session = FacebookSession(
            access_token=config.access_token.get_secret_value(), timeout=config.timeout_seconds
        )
        session.GRAPH = config.endpoint.rstrip("/")
        self._api = FacebookAdsApi(session, api_version=config.api_version)

    def add(self, audience_id: str, members: pa.Table) -> PushResult:
        return self._send(audience_id, {"payload": _payload(members)})

    def remove(self, audience_id: str, members: pa.Table) -> PushResult:
        return self._send(audience_id, {"method": "DELETE", "payload": _payload(members)})

    def close(self) -> None:
        self._api._session.requests.close()

    def _send(self, audience_id: str, params: dict[str, object]) -> PushResult:
        try:
            response: FacebookResponse = self._api.call("POST", (audience_id, "users"), params)
        except FacebookRequestError as error:
            raise _classify(error, audience_id) from None
        except requests.RequestException as error:
            raise DestinationError(
                ErrorClass.RETRY, f"Graph API unreachable: {type(error).__name__}"
            ) from None
        body = response.json()
        if not isinstance(body, dict):  # the SDK passes any non-error body through as success
            raise DestinationError(
                ErrorClass.RETRY, f"Meta audience {audience_id}: unreadable response body"
            )
        return PushResult(
            received=int(body.get("num_received", 0)),
            invalid=int(body.get("num_invalid_entries", 0)),
            request_id=body.get("session_id"),
        )


def _payload(members: pa.Table) -> dict[str, object]:
    """Meta's {"schema": [...], "data": [[...]]}: only the keys some member has; a member
    without one of them sends an empty string in its place."""
    kinds = [kind for kind in SCHEMA_KEYS if members[kind.value].null_count < len(members)]
    columns = [[value or "" for value in members[kind.value].to_pylist()] for kind in kinds]
    return {
        "schema": [SCHEMA_KEYS[kind] for kind in kinds],
        "data": [list(row) for row in zip(*columns, strict=True)],
    }


def _classify(error: FacebookRequestError, audience_id: str) -> DestinationError:
    code = error.api_error_code()
    status = error.http_status()
    known = _ERROR_CLASSES.get(code) if code is not None else None
    if known:
        error_class, meaning = known
    elif status == 429:
        error_class, meaning = ErrorClass.RATE_LIMITED, "too many requests (HTTP 429)"
    elif status is not None and status >= 500:
        error_class, meaning = ErrorClass.RETRY, f"Graph API server error (HTTP {status})"
    else:
        error_class, meaning = ErrorClass.FAIL_AUDIENCE, "the Graph API refused the request"
    retry_after = None
    if error_class is ErrorClass.RATE_LIMITED:
        headers = error.http_headers() or {}
        retry_after = retry_after_seconds(headers.get("Retry-After")) or _THROTTLE_WAIT_SECONDS
    detail = error.api_error_message() or ""
    return DestinationError(
        error_class,
        f"Meta audience {audience_id}: {meaning} (code {code}: {detail})",
        retry_after=retry_after,
    )
