"""What Customer Match takes, whichever API carries it (Data Manager or Google Ads)."""

from __future__ import annotations

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
)
