"""The settings of a TikTok destination (`kind: tiktok`), each field documented where it is
declared so that `syncd validate` and the exported JSON schema explain it to a growth team.

TikTok counts calls per developer app, not per advertiser: the app's budget is what the
quota owner and the pace below describe (docs/tiktok.md, section 5).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from syncd.destinations.settings import DestinationSettings
from syncd.pacing import Pace

__all__ = ["DEFAULT_ENDPOINT", "TikTokDestination"]

#: TikTok API for Business, production (the official SDK's ``servers``; bububa/tiktok-business
#: ``core/const.go``). TikTok's sandbox accounts answer on https://sandbox-ads.tiktok.com.
DEFAULT_ENDPOINT = "https://business-api.tiktok.com"
#: The API version syncd speaks: every path below is ``/open_api/v1.3/...``
#: (https://business-api.tiktok.com/portal/docs?id=1739940583739393).
API_VERSION = "v1.3"
#: Calls per second of an app at TikTok's Basic call limit level, where "All apps are set ...
#: by default" ("Rate limits", https://business-api.tiktok.com/marketing_api/docs?id=1701890997610497,
#: as quoted by airbytehq/airbyte source-tiktok-marketing ``streams.py``).
BASIC_CALLS_PER_SECOND = 10


class TikTokDestination(DestinationSettings):
    ACCOUNT_FIELD: ClassVar[str] = "advertiser_id"

    kind: Literal["tiktok"] = Field(
        description="TikTok custom audiences through the TikTok API for Business "
        "(streaming audiences: members are added and removed as hashed ids)."
    )
    advertiser_id: str = Field(
        pattern=r"^\d{1,20}$",
        description="The TikTok advertiser (ad account) id, digits only, as TikTok Ads "
        "Manager shows it beside the account name.",
    )
    access_token: SecretStr = Field(
        description="A TikTok API for Business access token of an app the advertiser "
        "authorized (Operator or Admin); use ${TIKTOK_ACCESS_TOKEN} or "
        "${file:/path/to/token}, never the token itself. It goes bare in the Access-Token "
        "header, with no 'Bearer ' prefix.",
    )
    endpoint: str = Field(
        default=DEFAULT_ENDPOINT,
        description="TikTok API for Business base URL, without /open_api; "
        "https://sandbox-ads.tiktok.com for TikTok's sandbox accounts, or the local "
        "emulator for tests and demos.",
    )
    api_version: str = Field(
        default=API_VERSION,
        pattern=r"^v\d+\.\d+$",
        description="TikTok API version in the path (/open_api/<version>/); syncd is "
        f"written against {API_VERSION}.",
    )
    mobile_id_types: tuple[Literal["IDFA", "AAID"], ...] = Field(
        default=("IDFA", "AAID"),
        min_length=1,
        description="What TikTok ID type a segment's mobile advertising id (madid) is sent "
        "as, SHA-256 hashed: IDFA (iOS) and/or AAID (Android's advertising id, also called "
        "GAID). Both are UUIDs, so syncd cannot tell them apart: by default each id goes as "
        "both and only the right one can match. Name one type when the segment holds only "
        "iOS or only Android devices.",
    )
    calls_per_second: int = Field(
        default=BASIC_CALLS_PER_SECOND,
        ge=1,
        le=1000,
        description="Your TikTok developer app's call limit level: 10 calls a second at Basic "
        "(every app starts there), 20 at Advanced, 30 at Premium "
        "(https://business-api.tiktok.com/marketing_api/docs?id=1701890997610497). syncd "
        "paces to 90% of it; raise it only when TikTok raised your app's level.",
    )
    app_id: str | None = Field(
        default=None,
        pattern=r"^\d{1,20}$",
        description="Your TikTok developer app's id. TikTok counts calls per app, shared by "
        "every advertiser it acts for: destinations with the same app_id share one pace. "
        "Without it, destinations share a pace when they share an access token.",
    )

    @property
    def base_url(self) -> str:
        """Where the API's paths start: the endpoint, then ``/open_api/<version>``."""
        return f"{self.endpoint.rstrip('/')}/open_api/{self.api_version}"

    @property
    def quota_owner(self) -> tuple[str, ...]:
        """TikTok's budget is the developer app's: syncd knows the app by ``app_id``, else
        by a digest of the token (which stays in memory), never by the advertiser."""
        owner = self.app_id
        if owner is None:
            owner = hashlib.sha256(self.access_token.get_secret_value().encode()).hexdigest()
        return (self.kind, self.endpoint, owner)

    def paced(self, pace: Pace) -> Pace:
        """TikTok's pace with this app's call limit, counted over the second TikTok counts
        it in (``BASIC_CALLS_PER_SECOND``'s page), and this destination's window."""
        return dataclasses.replace(
            pace,
            requests_per_minute=float(self.calls_per_second * 60),
            window_seconds=1.0,
            max_in_flight=self.max_in_flight or pace.max_in_flight,
        )
