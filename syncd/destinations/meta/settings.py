"""The settings of a Meta destination (`kind: meta`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from syncd.destinations.settings import DestinationSettings

__all__ = ["MetaDestination"]


class MetaDestination(DestinationSettings):
    ACCOUNT_FIELD: ClassVar[str] = "ad_account_id"

    kind: Literal["meta"] = Field(description="Meta Custom Audiences through the Graph API.")
    ad_account_id: str = Field(
        pattern=r"^act_\d+$", description="The ad account, written act_<digits>."
    )
    access_token: SecretStr = Field(
        description="A system-user token with ads_management; use ${META_ACCESS_TOKEN} or "
        "${file:/path/to/token}, never the token itself."
    )
    app_access_token: SecretStr | None = Field(
        default=None,
        description="Optional: the app's access token (app_id|app_secret, e.g. "
        "${META_APP_ACCESS_TOKEN}) syncd reads access_token's expiry with: Graph's "
        "debug_token needs an app token or a token of one of the app's developers "
        "(https://developers.facebook.com/docs/graph-api/reference/debug_token). Without it, "
        "access_token asks about itself.",
    )
    endpoint: str = Field(
        default="https://graph.facebook.com",
        description="Graph API base URL; point it at the sandbox for tests and demos.",
    )
    api_version: str | None = Field(
        default=None,
        pattern=r"^v\d+\.\d+$",
        description="Graph API version, e.g. v26.0; defaults to the one syncd is pinned to "
        "(syncd.destinations.meta.GRAPH_API_VERSION).",
    )
