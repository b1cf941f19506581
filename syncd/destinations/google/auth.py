"""OAuth for the Data Manager API over httpx: a fixed token, or google-auth credentials.

google-auth credentials (service account or authorized user) are refreshed when stale, and
once more when the API answers 401 anyway -- a token revoked or rotated early -- before the
401 is reported. A fixed access token cannot be refreshed: its 401 is final.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import httpx

from syncd.destinations.base import DestinationError, ErrorClass

__all__ = ["SCOPE", "BearerAuth", "GoogleCredentialsAuth"]

SCOPE = "https://www.googleapis.com/auth/datamanager"


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer`` with the token ``token()`` returns."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request


class GoogleCredentialsAuth(httpx.Auth):
    """A service-account or authorized-user JSON file through google-auth."""

    def __init__(self, credentials_file: Path | str, scopes: tuple[str, ...] = (SCOPE,)) -> None:
        import google.auth
        import google.auth.transport.requests

        credentials, _ = google.auth.load_credentials_from_file(
            str(credentials_file), scopes=list(scopes)
        )
        self._credentials: Any = credentials
        self._refresh_request = google.auth.transport.requests.Request()
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token(force=False)}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self._token(force=True)}"
            yield request

    def _token(self, *, force: bool) -> str:
        import google.auth.exceptions

        with self._lock:
            try:
                if force or not self._credentials.valid:
                    self._credentials.refresh(self._refresh_request)
            except google.auth.exceptions.RefreshError as error:
                if getattr(error, "retryable", False):  # the token endpoint had a bad moment
                    raise DestinationError(
                        ErrorClass.RETRY, "the OAuth token endpoint failed; retrying"
                    ) from None
                raise DestinationError(
                    ErrorClass.FAIL_AUDIENCE,
                    "Google refused to refresh the credentials of credentials_file: the key "
                    "or refresh token was revoked or is wrong; make a new one",
                ) from None
            except google.auth.exceptions.TransportError as error:
                raise DestinationError(
                    ErrorClass.RETRY,
                    f"the OAuth token endpoint is unreachable ({type(error).__name__})",
                ) from None
            return str(self._credentials.token)
