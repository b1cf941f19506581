"""Who may call the Google Ads emulator, checked as the real API checks it before any
handler runs: the OAuth token, the customers the credentials reach (and the login customer),
and the access level of the caller's Cloud project.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from syncd.destinations.google.sandbox.ads.errors import AdsError, ErrorDetail
from syncd.destinations.google.sandbox.ads.protos import field_descriptor, protos

__all__ = ["ACCESS_LEVELS", "check_access"]

#: A Google Cloud project's Google Ads API access levels; a TEST project reaches test accounts
#: only (https://developers.google.com/google-ads/api/docs/api-policy/access-levels).
ACCESS_LEVELS = ("TEST", "EXPLORER", "BASIC", "STANDARD")
_CUSTOMER_ID = re.compile(r"\d{10}")


def check_access(
    metadata: dict[str, str],
    customer_id: str,
    version: str,
    *,
    access_token: str | None,
    access_level: str,
    customer_known: Callable[[str], bool],
    is_test_account: Callable[[str], bool],
) -> None:
    """The real API's checks, in its order: OAuth token, customers, access level.

    A ``developer-token`` header is not looked at: developer tokens were sunset on
    2026-09-09 and the servers ignore the header ("optional and ignored by the API
    servers": https://developers.google.com/google-ads/api/docs/api-policy/developer-token).
    """
    scheme, _, bearer = metadata.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not bearer.strip():
        raise AdsError(
            ErrorDetail(
                "authentication_error",
                "OAUTH_TOKEN_HEADER_INVALID",
                "OAuth token HTTP header is malformed.",
            )
        )
    if access_token is not None and not secrets.compare_digest(
        bearer.strip().encode(), access_token.encode()
    ):
        raise AdsError(
            ErrorDetail("authentication_error", "OAUTH_TOKEN_INVALID", "OAuth token is not valid.")
        )
    login = metadata.get("login-customer-id")
    for value in (login, customer_id) if login else (customer_id,):
        if not _CUSTOMER_ID.fullmatch(value):
            raise AdsError(
                ErrorDetail("request_error", "INVALID_CUSTOMER_ID", "Invalid customer ID.")
            )
        if not customer_known(value):
            raise AdsError(
                ErrorDetail(
                    "authorization_error",
                    "USER_PERMISSION_DENIED",
                    "User doesn't have permission to access customer. Note: If you're "
                    "accessing a client customer, the manager's customer ID must be set "
                    "in the 'login-customer-id' header.",
                )
            )
        if access_level == "TEST" and not is_test_account(value):
            raise AdsError(_not_approved_for_production(version))


def _not_approved_for_production(version: str) -> ErrorDetail:
    """What a Test-level project gets from a production account: from v25 on
    CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION, in older versions ACTION_NOT_PERMITTED
    (https://developers.google.com/google-ads/api/docs/api-policy/developer-token, "New error
    code"); the messages are the enum docs of google-ads'
    google/ads/googleads/v25/errors/types/authorization_error.py."""
    failure: Any = protos(version).failure()
    codes = field_descriptor(failure.errors.add().error_code.DESCRIPTOR, "authorization_error")
    if codes is not None and "CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION" in (
        codes.enum_type.values_by_name
    ):
        return ErrorDetail(
            "authorization_error",
            "CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION",
            "The Google Cloud project is only approved for use with test accounts. To access "
            "non-test accounts, apply for Explorer, Basic or Standard access.",
        )
    return ErrorDetail(
        "authorization_error",
        "ACTION_NOT_PERMITTED",
        "The user does not have permission to perform this action (for example, ADD, UPDATE, "
        "REMOVE) on the resource or call a method.",
    )
