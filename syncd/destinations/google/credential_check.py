"""Whether a Google destination's OAuth credentials still refresh.

Google never says when a refresh token will die: it answers a refresh with ``invalid_grant``
once it has ("Token has been expired or revoked"), and a pass then fails on its first
request. Refreshing once an hour outside the passes turns that into an alert with the fix.
The common cause is an OAuth app whose consent screen is External and in "Testing": its
refresh tokens expire after 7 days ("Refresh token expiration",
https://developers.google.com/identity/protocols/oauth2#expiration). Fixed access tokens
cannot be refreshed, so there is nothing to ask about them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from syncd.destinations.credentials import CredentialCheck
from syncd.destinations.google.settings import (
    GoogleAdsConnection,
    GoogleAdsDestination,
    GoogleDataManagerDestination,
)

__all__ = ["check_data_manager", "check_google_ads", "read_refusal"]

log = logging.getLogger(__name__)

#: The fix for a grant Google no longer honours (RFC 6749's invalid_grant: expired, revoked).
REAUTHORIZE = (
    "authorize again to get a new refresh token (or make a new key for the service account) "
    "and put it where the config reads it, then reload syncd (SIGHUP). If it recurs every 7 "
    "days, the OAuth consent screen is External and in Testing, whose refresh tokens expire "
    "after 7 days: publish the app (In production) or use a service account "
    "(https://developers.google.com/identity/protocols/oauth2#expiration)"
)
_CLIENT_FIX = (
    "the OAuth client itself was refused: check client_id and client_secret (or the key "
    "file's client), or make a new OAuth client in the Google Cloud console"
)
#: OAuth error codes (RFC 6749 section 5.2) that no retry will change, with their fix.
_FINAL = {
    "invalid_grant": REAUTHORIZE,
    "invalid_client": _CLIENT_FIX,
    "unauthorized_client": _CLIENT_FIX,
}


def check_data_manager(settings: GoogleDataManagerDestination) -> CredentialCheck:
    """Its credentials_file, then its `reporting` connection's credentials (spend)."""
    from syncd.destinations.google.auth import SCOPE

    tried: list[tuple[str, Callable[[], Any]]] = []
    if settings.credentials_file is not None:
        path = str(settings.credentials_file)
        tried.append(("credentials_file", lambda: _from_file(path, SCOPE)))
    if settings.reporting is not None and settings.reporting.access_token is None:
        reporting = settings.reporting
        tried.append(("reporting", lambda: _connection_credentials(reporting)))
    return _first_problem(tried, settings.timeout_seconds)


def check_google_ads(settings: GoogleAdsDestination) -> CredentialCheck:
    """Its refresh token or credentials_file (a fixed access_token is not asked about)."""
    if settings.access_token is not None:
        return CredentialCheck(valid=None, reason="a fixed access token cannot be refreshed")
    return _first_problem(
        [("credentials", lambda: _connection_credentials(settings))], settings.timeout_seconds
    )


def _first_problem(tried: list[tuple[str, Callable[[], Any]]], timeout: float) -> CredentialCheck:
    """Refresh each in turn: the first refused is the answer; all fine is valid; any that
    could not be asked (and none refused) leaves the answer unknown."""
    if not tried:
        return CredentialCheck(valid=None, reason="fixed access tokens cannot be refreshed")
    answers = [_refreshed(which, build, timeout) for which, build in tried]
    refused = [answer for answer in answers if answer.valid is False]
    if refused:
        return refused[0]
    unknown = [answer for answer in answers if answer.valid is None]
    return unknown[0] if unknown else CredentialCheck(valid=True, reason="refreshed")


def _refreshed(which: str, build: Callable[[], Any], timeout: float) -> CredentialCheck:
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        credentials = build()
        request = google.auth.transport.requests.Request()
        credentials.refresh(
            lambda *args, **kwargs: request(*args, **{**kwargs, "timeout": timeout})
        )
    except google.auth.exceptions.RefreshError as error:
        return read_refusal(which, error)
    except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as error:
        # Unreachable, or a key file that cannot be read: the pass reports the latter.
        log.warning("Google credential check (%s): %s", which, type(error).__name__)
        return CredentialCheck(valid=None, reason=f"could not refresh ({type(error).__name__})")
    return CredentialCheck(valid=True, reason="refreshed")


def read_refusal(which: str, error: Exception) -> CredentialCheck:
    """What a google-auth ``RefreshError`` says: its second argument is the token
    endpoint's JSON answer (``{"error": ..., "error_description": ...}``)."""
    answer = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], dict) else {}
    code = str(answer.get("error", ""))
    if getattr(error, "retryable", False) or code not in _FINAL:
        log.warning("Google credential check (%s): refresh failed: %s", which, code or error)
        return CredentialCheck(valid=None, reason=f"the refresh failed ({code or 'no answer'})")
    said = str(answer.get("error_description") or "").strip()
    reason = f"Google refused to refresh {which}: {code}" + (f" ({said})" if said else "")
    return CredentialCheck(valid=False, reason=reason, fix=_FINAL[code])


def _from_file(path: str, scope: str) -> Any:
    import google.auth

    credentials, _ = google.auth.load_credentials_from_file(path, scopes=[scope])
    return credentials


def _connection_credentials(connection: GoogleAdsConnection) -> Any:
    from syncd.destinations.google.ads_connection import oauth_credentials

    return oauth_credentials(connection)
