"""The emulator's credentials: the Bearer check every API call passes first, and the OAuth
token endpoint (``POST /token``) google-auth refreshes against in tests.

Refresh tokens and service-account JWTs are exchanged for the access token the emulator
currently accepts; JWT signatures are not checked.
"""

from __future__ import annotations

import secrets

from syncd.destinations.google.sandbox.data_manager.errors import ApiError
from syncd.sandbox.messages import Request, Response, json_response

__all__ = ["check_bearer", "token_response"]

_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def check_bearer(token: str | None, expected: str | None) -> None:
    """Refuse a missing token, or one other than ``expected`` (any passes without it)."""
    if token is None:
        raise ApiError(
            "Request is missing required authentication credential. Expected OAuth 2 "
            "access token, login cookie or other valid authentication credential.",
            reason="CREDENTIALS_MISSING",
            status=401,
            grpc_status="UNAUTHENTICATED",
            domain="googleapis.com",
        )
    if expected is not None and not secrets.compare_digest(token.encode(), expected.encode()):
        raise ApiError(
            "Request had invalid authentication credentials. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential.",
            reason="ACCESS_TOKEN_TYPE_UNSUPPORTED",
            status=401,
            grpc_status="UNAUTHENTICATED",
            domain="googleapis.com",
        )


def token_response(
    request: Request, refresh_token: str | None, access_token: str, *, revoked: bool = False
) -> Response:
    """Exchange a refresh token (only ``refresh_token`` when given), or a service account's
    signed JWT (not verified here), for ``access_token``; refuse every grant when
    ``revoked``, with the words Google's token endpoint answers a revoked or expired one."""
    form = request.form()
    grant = form.get("grant_type")
    if revoked:
        # 400 with error "invalid_grant": https://datatracker.ietf.org/doc/html/rfc6749#section-5.2;
        # Google's words for an expired or revoked grant (a Testing app's refresh tokens last 7
        # days): https://developers.google.com/identity/protocols/oauth2#expiration
        body = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        return json_response(400, body, operation="oauth_token")
    if grant == "refresh_token":
        given = form.get("refresh_token", "")
        valid = bool(given) and (
            refresh_token is None or secrets.compare_digest(given.encode(), refresh_token.encode())
        )
    else:
        valid = grant == _JWT_GRANT and form.get("assertion", "").count(".") == 2
    if not valid:
        body = {"error": "invalid_grant", "error_description": "Bad Request"}
        return json_response(400, body, operation="oauth_token")
    body = {"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"}
    return json_response(200, body, operation="oauth_token")
