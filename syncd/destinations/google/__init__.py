"""Google: Customer Match through the Data Manager API (``data_manager``), and the pieces it
is built from -- OAuth (``auth``), members and consent (``dm_members``), the error policy
(``dm_errors``) -- plus the Google Ads API's error policy (``ads_errors``) for the legacy
path in ``ads_client``."""

from __future__ import annotations

from syncd.destinations.base import Destination
from syncd.destinations.google.capabilities import ADS_CAPABILITIES, CAPABILITIES
from syncd.destinations.google.settings import GoogleAdsDestination, GoogleDataManagerDestination
from syncd.destinations.network import Network, Opening

__all__ = ["DATA_MANAGER", "GOOGLE_ADS"]


def _open_data_manager(settings: GoogleDataManagerDestination, opening: Opening) -> Destination:
    from syncd.destinations.google.data_manager import DataManagerAudiences

    return DataManagerAudiences(settings, validate_only=opening.validate_only)


def _open_google_ads(settings: GoogleAdsDestination, opening: Opening) -> Destination:
    from syncd.destinations.google.ads_client import GoogleAdsAudiences

    return GoogleAdsAudiences(settings, sleep=opening.sleep)


#: Both read spend through the Google Ads API (a Data Manager destination's `reporting`).
_SPEND = "syncd.spend.google:pull_google"
#: One emulator for both: the Google Ads API emulator serves the Data Manager's reports too.
_EMULATOR = "syncd.destinations.google.sandbox.emulated:EmulatedGoogle"

DATA_MANAGER = Network(
    kind="google_data_manager",
    settings=GoogleDataManagerDestination,
    capabilities=CAPABILITIES,
    open=_open_data_manager,
    spend_puller=_SPEND,
    emulator=_EMULATOR,
    credential_check="syncd.destinations.google.credential_check:check_data_manager",
)
GOOGLE_ADS = Network(
    kind="google_ads",
    settings=GoogleAdsDestination,
    capabilities=ADS_CAPABILITIES,
    open=_open_google_ads,
    spend_puller=_SPEND,
    emulator=_EMULATOR,
    credential_check="syncd.destinations.google.credential_check:check_google_ads",
)
