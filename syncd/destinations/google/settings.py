"""The settings of Google destinations: Customer Match through the Data Manager API
(`kind: google_data_manager`) and through the Google Ads API (`kind: google_ads`), and the
Google Ads API connection both use for spend reports."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.destinations.settings import (
    ConfigRuleError,
    Consent,
    DestinationSettings,
    MappedSegment,
    StrictModel,
    SyncedAudience,
)
from syncd.identity import IdentifierKind
from syncd.pacing import Pace

__all__ = ["GoogleAdsConnection", "GoogleAdsDestination", "GoogleDataManagerDestination"]


#: The identifiers Data Manager sends as contact data (a CONTACT_ID list's members).
_CONTACT_KINDS = frozenset(
    {
        IdentifierKind.EMAIL,
        IdentifierKind.PHONE,
        IdentifierKind.FIRST_NAME,
        IdentifierKind.LAST_NAME,
    }
)

_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$")


def _customer_digits(value: str | None) -> str | None:
    """A Google Ads customer id without its dashes; 10 digits or a ValueError."""
    if value is None:
        return None
    digits = value.replace("-", "")
    if not digits.isdigit() or len(digits) != 10:
        raise ValueError("a Google Ads customer id has 10 digits, e.g. 123-456-7890")
    return digits


class GoogleAdsConnection(StrictModel):
    """How syncd reaches the Google Ads API (gRPC): one kind of OAuth credential and the
    endpoint. The google_ads destination is built on it, and a google_data_manager
    destination names one as `reporting` to have its spend pulled."""

    login_customer_id: str | None = Field(
        default=None,
        description="The manager (MCC) account the credentials log in through, sent as the "
        "login-customer-id header; leave it out when the credentials are a user of the "
        "customer itself.",
    )
    # https://developers.google.com/google-ads/api/docs/api-policy/developer-token
    developer_token: SecretStr | None = Field(
        default=None,
        description="Optional, and ignored by Google since developer tokens were sunset on "
        "2026-09-09: API access now belongs to the Google Cloud project of the OAuth "
        "credentials. Still sent when given.",
    )
    access_token: SecretStr | None = Field(
        default=None,
        description="An OAuth access token with the adwords scope, e.g. ${GOOGLE_ACCESS_TOKEN}; "
        "it is never refreshed. Or give client_id, client_secret and refresh_token, or "
        "credentials_file.",
    )
    client_id: str | None = Field(
        default=None, description="OAuth client id, with client_secret and refresh_token."
    )
    client_secret: SecretStr | None = Field(
        default=None, description="OAuth client secret, e.g. ${GOOGLE_ADS_CLIENT_SECRET}."
    )
    refresh_token: SecretStr | None = Field(
        default=None,
        description="OAuth refresh token of a user of the account, e.g. "
        "${GOOGLE_ADS_REFRESH_TOKEN}; google-auth refreshes access tokens from it.",
    )
    credentials_file: Path | None = Field(
        default=None,
        description="A service account or authorized-user JSON file (google-auth); relative "
        "to the config file's folder.",
    )
    endpoint: str = Field(
        default="googleads.googleapis.com:443",
        description="The Google Ads API host:port (gRPC over TLS); point it at the sandbox "
        "emulator for tests and demos.",
    )

    @field_validator("login_customer_id")
    @classmethod
    def _login_customer_id(cls, value: str | None) -> str | None:
        return _customer_digits(value)

    @field_validator("endpoint")
    @classmethod
    def _tls_unless_loopback(cls, value: str) -> str:
        """Named as DestinationSettings' URL rule so that it replaces it in the google_ads
        destination: gRPC takes host:port, and the connection is always TLS."""
        if "://" in value or not _HOST_PORT.match(value):
            raise ValueError(
                "write host:port without a scheme, e.g. googleads.googleapis.com:443 (the "
                "connection is always TLS)"
            )
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        refresh = (self.client_id, self.client_secret, self.refresh_token)
        given = [
            self.access_token is not None,
            any(part is not None for part in refresh),
            self.credentials_file is not None,
        ]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of access_token, client_id + client_secret + "
                "refresh_token, or credentials_file"
            )
        if given[1] and any(part is None for part in refresh):
            raise ValueError("client_id, client_secret and refresh_token go together")
        return self


class GoogleDataManagerDestination(DestinationSettings):
    ACCOUNT_FIELD: ClassVar[str] = "operating_account_id"
    kind: Literal["google_data_manager"] = Field(
        description="Google Customer Match through the Data Manager API."
    )
    operating_account_id: str = Field(
        description="The Google Ads customer id that owns the lists (digits, dashes allowed)."
    )
    login_account_id: str | None = Field(
        default=None, description="The manager (MCC) account the credentials log in through."
    )
    access_token: SecretStr | None = Field(
        default=None,
        description="An OAuth access token with the datamanager scope, e.g. "
        "${GOOGLE_ACCESS_TOKEN}; or give credentials_file instead.",
    )
    credentials_file: Path | None = Field(
        default=None,
        description="A service account or authorized-user JSON file (google-auth); relative "
        "to the config file's folder.",
    )
    endpoint: str = Field(
        default="https://datamanager.googleapis.com",
        description="Data Manager API base URL; point it at the sandbox for tests and demos.",
    )
    consent: Consent = Field(
        default_factory=Consent,
        description="Consent for rows whose segment has no consent columns (EU rules).",
    )
    membership_duration_days: int = Field(
        default=540,
        ge=1,
        le=540,
        description="How long members stay in user lists that syncd creates (Google's cap: 540).",
    )
    refresh_after_days: int = Field(
        default=450,
        ge=1,
        le=539,
        description="Members not re-sent for this many days are ingested again, before "
        "Google's 540-day membership expiry drops them.",
    )
    requests_per_minute: float = Field(
        default=300.0,
        gt=0,
        description="Your Google Cloud project's Data Manager request quota: 300 a minute by "
        "default (https://developers.google.com/data-manager/api/devguides/limits). syncd "
        "paces to 97% of it; raise it only if Google raised yours.",
    )
    settle_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a pass waits for Google to process its requests, to record "
        "each request's status in the run record (0: do not wait).",
    )

    reporting: GoogleAdsConnection | None = Field(
        default=None,
        description="A Google Ads API connection to pull this destination's spend with "
        "(GAQL on the operating account; the Data Manager API has no reports). "
        "login_customer_id defaults to login_account_id. Without it, `syncd spend` skips "
        "this destination and says so.",
    )

    @field_validator("operating_account_id", "login_account_id")
    @classmethod
    def _customer_id(cls, value: str | None) -> str | None:
        return _customer_digits(value)

    @model_validator(mode="after")
    def _one_credential(self) -> GoogleDataManagerDestination:
        if (self.access_token is None) == (self.credentials_file is None):
            raise ValueError("give exactly one of access_token or credentials_file")
        return self

    def consent_defaults(self) -> Consent:
        return self.consent

    def refresh_days(self) -> int:
        return self.refresh_after_days

    def check_audience(self, segment: MappedSegment, audience: SyncedAudience, path: str) -> None:
        """A Customer Match list holds one kind of key: the google-ads package's
        CrmBasedUserListInfo.upload_key_type says "Mixed data types are not allowed on the
        same list", and the Data Manager API refuses members of another type with
        INVALID_USER_LIST_TYPE ("the user list type is not applicable for this request",
        https://developers.google.com/data-manager/api/reference/rest/v1/ErrorReason). Rows
        with only a user ID go as userIdData (a USER_ID list); every other row as contact
        data (a CONTACT_ID list, the kind syncd creates)."""
        kinds = set(segment.identifiers)
        if IdentifierKind.EXTERNAL_ID not in kinds:
            return
        if kinds & _CONTACT_KINDS:
            raise ConfigRuleError(
                f"{path}.segment",
                f"segment {audience.segment!r} maps external_id beside contact identifiers "
                "for Google, whose lists hold one key type: rows with only a user ID would "
                "be refused by a contact list (INVALID_USER_LIST_TYPE)",
                "sync the user IDs as their own audience: a segment mapping only "
                "external_id, whose audience_id is a USER_ID list; drop external_id here",
            )
        if audience.audience_id is None:
            raise ConfigRuleError(
                f"{path}.audience_name",
                "a segment of user IDs needs a USER_ID list, and the lists syncd creates "
                "by name are contact (CONTACT_ID) lists",
                "create a Customer Match list of user IDs in Google Ads and give its id "
                "as audience_id",
            )

    def status_wait(self) -> float:
        return self.settle_seconds

    def paced(self, pace: Pace) -> Pace:
        """Paced to the project's quota as configured, not the published default."""
        return dataclasses.replace(
            super().paced(pace), requests_per_minute=self.requests_per_minute
        )

    @property
    def quota_owner(self) -> tuple[str, ...]:
        """Data Manager's quota is per Google Cloud project, the credentials' own; syncd
        knows the project only as the credentials (a file, or a digest of the token, which
        stays in memory)."""
        if self.credentials_file is not None:
            credentials = str(self.credentials_file)
        else:
            token = self.access_token.get_secret_value() if self.access_token else ""
            credentials = hashlib.sha256(token.encode()).hexdigest()
        return (self.kind, self.endpoint, credentials)


class GoogleAdsDestination(GoogleAdsConnection, DestinationSettings):
    ACCOUNT_FIELD: ClassVar[str] = "customer_id"
    kind: Literal["google_ads"] = Field(
        description="Google Customer Match through the Google Ads API (gRPC), for accounts "
        "allowlisted on the legacy upload path; otherwise use google_data_manager."
    )
    customer_id: str = Field(
        description="The Google Ads customer id that owns the user lists (10 digits, dashes "
        "allowed)."
    )
    consent: Consent = Field(
        default_factory=Consent,
        description="Consent assumed for members whose rows carry none (EU rules); members "
        "without both consents granted are never uploaded.",
    )
    job_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How long to wait for an offline user data job to finish before the "
        "batch is retried; Google runs jobs in minutes to hours.",
    )
    # UserList.membership_life_span "must be between 0 and 540 inclusive" (google-ads,
    # google/ads/googleads/v25/resources/types/user_list.py).
    membership_life_span: int = Field(
        default=540,
        ge=0,
        le=540,
        description="Days a member stays in the user lists syncd creates after it was last "
        "added (Google allows 0-540).",
    )

    @field_validator("customer_id")
    @classmethod
    def _customer_id(cls, value: str) -> str:
        digits = _customer_digits(value)
        assert digits is not None
        return digits

    def consent_defaults(self) -> Consent:
        return self.consent
