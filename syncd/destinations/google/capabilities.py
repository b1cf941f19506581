"""What Customer Match takes, whichever API carries it (Data Manager or Google Ads)."""

from __future__ import annotations

from syncd.destinations.base import Capabilities
from syncd.identity import IdentifierKind, Network

CAPABILITIES = Capabilities(
    network=Network.GOOGLE,
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
)
