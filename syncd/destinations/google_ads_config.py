"""The `kind: google_ads` destination block: Customer Match through the Google Ads API.

Only for accounts already on the legacy path (`upload_api: google_ads`): since 2026-04-01
the Google Ads API refuses Customer Match uploads from developer tokens that were not using
it, and new integrations use `kind: google_data_manager`. The block is light on purpose: the
google-ads library is imported by `syncd.destinations.google_ads` only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.config.models import Consent, DestinationSettings

__all__ = ["GoogleAdsDestination"]

_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$")


class GoogleAdsDestination(DestinationSettings):
    kind: Literal["google_ads"] = Field(
        description="Google Customer Match through the Google Ads API (gRPC), for accounts "
        "allowlisted on the legacy upload path; otherwise use google_data_manager."
    )
    customer_id: str = Field(
        description="The Google Ads customer id that owns the user lists (10 digits, dashes "
        "allowed)."
    )
    login_customer_id: str | None = Field(
        default=None,
        description="The manager (MCC) account the credentials log in through, sent as the "
        "login-customer-id header; leave it out when the credentials are a user of "
        "customer_id itself.",
    )
    developer_token: SecretStr = Field(
        description="The Google Ads API developer token of your manager account, e.g. "
        "${GOOGLE_ADS_DEVELOPER_TOKEN}."
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

    @field_validator("customer_id", "login_customer_id")
    @classmethod
    def _customer_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace("-", "")
        if not digits.isdigit() or len(digits) != 10:
            raise ValueError("a Google Ads customer id has 10 digits, e.g. 123-456-7890")
        return digits

    @field_validator("endpoint")
    @classmethod
    def _tls_unless_loopback(cls, value: str) -> str:
        """Overrides the URL rule of DestinationSettings: gRPC takes host:port, always TLS."""
        if "://" in value or not _HOST_PORT.match(value):
            raise ValueError(
                "write host:port without a scheme, e.g. googleads.googleapis.com:443 (the "
                "connection is always TLS)"
            )
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> GoogleAdsDestination:
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
