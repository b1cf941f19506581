"""A ``GoogleAdsClient`` for a Google Ads API connection: its credentials, endpoint and the
API version syncd speaks.

Both Google destinations use it: the legacy upload path (``ads_client``) and spend reports
(``syncd.spend.google``), which a Data Manager destination reads through its ``reporting``
connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncd.destinations.google.settings import GoogleAdsConnection

if TYPE_CHECKING:
    from google.ads.googleads.client import GoogleAdsClient

__all__ = ["ADS_SCOPE", "API_VERSION", "build_client", "oauth_credentials"]

ADS_SCOPE = "https://www.googleapis.com/auth/adwords"
#: The Google Ads API version syncd speaks, whatever the google-ads library defaults to. v25 is
#: the first to report a Test-level Cloud project as CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION
#: (older versions say ACTION_NOT_PERMITTED:
#: https://developers.google.com/google-ads/api/docs/api-policy/developer-token), and the
#: default of google-ads 31.2.0, the floor in pyproject.toml. Live until about a year after
#: its release (https://developers.google.com/google-ads/api/docs/sunset-dates).
API_VERSION = "v25"
_TOKEN_URI = "https://oauth2.googleapis.com/token"


def build_client(config: GoogleAdsConnection) -> GoogleAdsClient:
    """A ``GoogleAdsClient`` built with its constructor: ``load_from_dict`` would refresh
    OAuth credentials against Google at once, even for an emulator. ``config`` is a
    google_ads destination or any other connection (a Data Manager destination's
    ``reporting``)."""
    from google.ads.googleads.client import GoogleAdsClient

    token = config.developer_token
    return GoogleAdsClient(
        credentials=oauth_credentials(config),
        # Optional since the 2026-09-09 sunset: the library leaves the header out for None.
        developer_token=token.get_secret_value() if token is not None else None,
        endpoint=config.endpoint,
        login_customer_id=config.login_customer_id,
        version=API_VERSION,
        use_proto_plus=True,
    )


def oauth_credentials(config: GoogleAdsConnection) -> Any:
    """The connection's google-auth credentials (also refreshed alone by the credential
    check, `syncd.destinations.google.credential_check`)."""
    import google.auth
    from google.oauth2.credentials import Credentials

    if config.access_token is not None:
        return Credentials(token=config.access_token.get_secret_value())  # type: ignore[no-untyped-call]
    if config.refresh_token is not None and config.client_secret is not None:
        return Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=config.refresh_token.get_secret_value(),
            client_id=config.client_id,
            client_secret=config.client_secret.get_secret_value(),
            token_uri=_TOKEN_URI,
            scopes=[ADS_SCOPE],
        )
    credentials, _ = google.auth.load_credentials_from_file(
        str(config.credentials_file), scopes=[ADS_SCOPE]
    )
    return credentials
