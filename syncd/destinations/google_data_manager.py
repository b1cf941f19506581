"""Google Customer Match through the Data Manager API, over httpx.

Since 2026-04-01 the Google Ads API refuses Customer Match uploads from developer tokens that
were not already using it, so this is the path for new integrations. Ingestion is
asynchronous: the response's requestId is kept in the run record.
"""

from __future__ import annotations

from typing import Any

import httpx
import pyarrow as pa

from syncd.config.models import GoogleDataManagerDestination as GoogleConfig
from syncd.destinations.base import (
    Capabilities,
    DestinationError,
    ErrorClass,
    PushResult,
    retry_after_seconds,
)
from syncd.identity import IdentifierKind, Network

SCOPE = "https://www.googleapis.com/auth/datamanager"

CAPABILITIES = Capabilities(
    network=Network.GOOGLE,
    max_members_per_request=10_000,
    identifier_kinds=frozenset(
        {
            IdentifierKind.EMAIL,
            IdentifierKind.PHONE,
            IdentifierKind.FIRST_NAME,
            IdentifierKind.LAST_NAME,
            IdentifierKind.COUNTRY,
            IdentifierKind.ZIP,
        }
    ),
    min_serving_size=100,
)

_CONSENT = {"granted": "CONSENT_GRANTED", "denied": "CONSENT_DENIED"}

#: google.rpc status -> what to do; HTTP statuses decide where the body says nothing.
_STATUS_CLASSES: dict[str, tuple[ErrorClass, str]] = {
    "UNAUTHENTICATED": (
        ErrorClass.FAIL_AUDIENCE,
        "the credentials were refused: renew GOOGLE_ACCESS_TOKEN or check credentials_file",
    ),
    "PERMISSION_DENIED": (
        ErrorClass.FAIL_AUDIENCE,
        "permission denied: the credentials need access to the operating account "
        "(set login_account_id when access goes through a manager account)",
    ),
    "NOT_FOUND": (ErrorClass.FAIL_AUDIENCE, "no such user list in the operating account"),
    "INVALID_ARGUMENT": (ErrorClass.FAIL_AUDIENCE, "the request was refused as invalid"),
    "RESOURCE_EXHAUSTED": (ErrorClass.RATE_LIMITED, "quota or rate limit reached"),
    "UNAVAILABLE": (ErrorClass.RETRY, "the service is temporarily unavailable"),
    "INTERNAL": (ErrorClass.RETRY, "Google reported an internal error"),
    "DEADLINE_EXCEEDED": (ErrorClass.RETRY, "the request timed out at Google"),
}


class DataManagerAudiences:
    capabilities = CAPABILITIES

    def __init__(self, config: GoogleConfig, transport: httpx.BaseTransport | None = None) -> None:
        self._config = config
        self._client = httpx.Client(
            base_url=config.endpoint.rstrip("/"),
            auth=_auth(config),
            timeout=httpx.Timeout(config.timeout_seconds, connect=10.0),
            transport=transport,
        )

    def add(self, audience_id: str, members: pa.Table) -> PushResult:
        body = self._body(audience_id, members)
        body["consent"] = {
            "adUserData": _CONSENT[self._config.consent.ad_user_data],
            "adPersonalization": _CONSENT[self._config.consent.ad_personalization],
        }
        body["termsOfService"] = {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
        return self._post("/v1/audienceMembers:ingest", audience_id, body, len(members))

    def remove(self, audience_id: str, members: pa.Table) -> PushResult:
        body = self._body(audience_id, members)
        return self._post("/v1/audienceMembers:remove", audience_id, body, len(members))

    def close(self) -> None:
        self._client.close()

    def _body(self, audience_id: str, members: pa.Table) -> dict[str, Any]:
        destination: dict[str, Any] = {
            "operatingAccount": {
                "accountType": "GOOGLE_ADS",
                "accountId": self._config.operating_account_id,
            },
            "productDestinationId": audience_id,
        }
        if self._config.login_account_id:
            destination["loginAccount"] = {
                "accountType": "GOOGLE_ADS",
                "accountId": self._config.login_account_id,
            }
        return {
            "destinations": [destination],
            "audienceMembers": [_member(row) for row in members.to_pylist()],
            "encoding": "HEX",
        }

    def _post(self, path: str, audience_id: str, body: dict[str, Any], count: int) -> PushResult:
        try:
            response = self._client.post(path, json=body)
        except httpx.TransportError as error:
            raise DestinationError(
                ErrorClass.RETRY, f"Data Manager API unreachable: {type(error).__name__}"
            ) from None
        if not response.is_success:
            raise _classify(response, audience_id)
        try:
            request_id = response.json()["requestId"]
        except (ValueError, KeyError, TypeError):
            raise DestinationError(
                ErrorClass.RETRY, f"Google user list {audience_id}: unreadable response body"
            ) from None
        return PushResult(received=count, request_id=str(request_id))


def _member(row: dict[str, str | None]) -> dict[str, Any]:
    """One person: every identifier syncd has for them, in one member."""
    identifiers: list[dict[str, Any]] = []
    if row["email"]:
        identifiers.append({"emailAddress": row["email"]})
    if row["phone"]:
        identifiers.append({"phoneNumber": row["phone"]})
    if row["first_name"]:
        identifiers.append(
            {
                "address": {
                    "givenName": row["first_name"],
                    "familyName": row["last_name"],
                    "regionCode": row["country"],
                    "postalCode": row["zip"],
                }
            }
        )
    return {"userData": {"userIdentifiers": identifiers}}


def _auth(config: GoogleConfig) -> httpx.Auth:
    if config.access_token is not None:
        return _BearerAuth(lambda: config.access_token.get_secret_value())  # type: ignore[union-attr]
    return _GoogleCredentialsAuth(str(config.credentials_file))


class _BearerAuth(httpx.Auth):
    def __init__(self, token: Any) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request


class _GoogleCredentialsAuth(_BearerAuth):
    """Service account or authorized-user JSON through google-auth, refreshed when stale."""

    def __init__(self, credentials_file: str) -> None:
        import google.auth
        import google.auth.transport.requests

        credentials, _ = google.auth.load_credentials_from_file(credentials_file, scopes=[SCOPE])
        refresh_request = google.auth.transport.requests.Request()

        def token() -> str:
            if not credentials.valid:
                credentials.refresh(refresh_request)
            return str(credentials.token)

        super().__init__(token)


def _classify(response: httpx.Response, audience_id: str) -> DestinationError:
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    status = error.get("status") or ""
    known = _STATUS_CLASSES.get(status)
    if response.status_code == 429:
        known = _STATUS_CLASSES["RESOURCE_EXHAUSTED"]
    if known is None:
        if response.status_code >= 500:
            known = (ErrorClass.RETRY, f"server error (HTTP {response.status_code})")
        else:
            known = (ErrorClass.FAIL_AUDIENCE, f"refused (HTTP {response.status_code})")
    error_class, meaning = known
    retry_after = response.headers.get("Retry-After")
    detail = error.get("message", "")
    return DestinationError(
        error_class,
        f"Google user list {audience_id}: {meaning}" + (f" ({detail})" if detail else ""),
        retry_after=retry_after_seconds(retry_after),
    )
