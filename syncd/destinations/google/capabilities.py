"""What Customer Match takes, whichever API carries it (Data Manager or Google Ads)."""

from __future__ import annotations

import dataclasses

from syncd.destinations.base import Capabilities
from syncd.identity import GOOGLE, IdentifierKind
from syncd.pacing import Pace

CAPABILITIES = Capabilities(
    network="google",
    dialect=GOOGLE,
    max_members_per_request=10_000,
    identifier_kinds=frozenset(
        {
            IdentifierKind.EMAIL,
            IdentifierKind.PHONE,
            IdentifierKind.FIRST_NAME,
            IdentifierKind.LAST_NAME,
            IdentifierKind.COUNTRY,
            IdentifierKind.ZIP,
            IdentifierKind.EXTERNAL_ID,
        }
    ),
    min_serving_size=100,
    needs_consent=True,
    # Data Manager: 300 requests a minute per Cloud project
    # (https://developers.google.com/data-manager/api/devguides/limits); no published cap
    # on requests in flight, so the window stays within what the quota can use.
    pace=Pace(requests_per_minute=300, max_in_flight=8),
    processes_later=True,
    validates_only=True,
)
#: The Google Ads API path: one offline user data job per list at a time, applied when the
#: job is done (`GoogleAdsAudiences` waits for it).
ADS_CAPABILITIES = dataclasses.replace(
    CAPABILITIES, pace=Pace(max_in_flight=1), processes_later=False, validates_only=False
)
