"""What TikTok's streaming audiences take, as data the planner and the identity layer read
without loading an HTTP client: the identity dialect, the batch limit, the identifier kinds,
the serving floor and the pace. Every value cites where it comes from (docs/tiktok.md holds
the research behind them); what no source confirms is said beside it.
"""

from __future__ import annotations

import dataclasses

from syncd.destinations.base import Capabilities
from syncd.identity import GOOGLE, IdentifierKind
from syncd.identity.dialects import ALWAYS_HASHED
from syncd.pacing import Pace

__all__ = ["CAPABILITIES", "DIALECT", "MAX_MAPPING_ROWS", "MIN_SERVING_SIZE"]

#: TikTok's identity rules, built from Google's because TikTok's phones are Google's:
#:
#: * phone: E.164 with its "+", e.g. "+1231234567", then SHA-256 (PHONE_SHA256 in "Add or
#:   delete audience segment mappings", https://business-api.tiktok.com/portal/docs?id=1739940585975809,
#:   as bububa/tiktok-business ``model/dmp/segment_mapping.go`` mirrors it; Segment's TikTok
#:   Audiences docs, https://segment.com/docs/connections/destinations/catalog/actions-tiktok-audiences/).
#:   Meta's digits-without-"+" would match nobody.
#: * email: trimmed, lower case, then SHA-256 (EMAIL_SHA256, same page). UNCONFIRMED: Segment
#:   drops a "+tag" and every dot of the local part of every address before hashing, citing
#:   TikTok's "Customer File API vs Streaming API - Important Notes"
#:   (https://business-api.tiktok.com/portal/docs?id=1739566528222210, not readable from
#:   here); whether TikTok asks that of all domains or of Gmail only is not known. A Dialect
#:   can say it of gmail.com/googlemail.com only, so Google's Gmail rules stay: on Gmail they
#:   agree with Segment, and on every other domain with the plain trim-and-lowercase rule.
#:   Google's removal of whitespace inside an address only rescues addresses that would
#:   otherwise be refused.
#: * mobile advertising ids (madid): trimmed, lower case, then SHA-256, since TikTok takes
#:   device ids hashed only (IDFA_SHA256, AAID_SHA256; its MD5 types are not used). Lower
#:   case before hashing is UNCONFIRMED: it is Tealium's rule for TikTok
#:   (https://docs.tealium.com/server-side-connectors/tiktok-audiences-tealium-provided-credentials-connector/),
#:   while Segment hashes the id as the device wrote it.
#:
#: Names, country and postal code keep Google's values: TikTok takes none of them
#: (``CAPABILITIES.identifier_kinds``), and the country only decides how a phone is read.
DIALECT = dataclasses.replace(GOOGLE, hashed=ALWAYS_HASHED | {IdentifierKind.MADID})

#: Rows of ``batch_data`` in one /segment/mapping/ request. UNCONFIRMED: no source reachable
#: from here states TikTok's limit (docs/tiktok.md, section 9); 10,000 is what the other
#: networks take and what the emulator enforces. A destination's ``batch_size`` lowers it.
MAX_MAPPING_ROWS = 10_000
#: Matched users an audience needs before an ad group can target it (Treasure Data,
#: https://docs.treasuredata.com/int/tiktok-marketing-api-export-integration; Simon Data,
#: https://docs.simondata.com/users/docs/tiktok-add-to-custom-audience: "at least 1000").
MIN_SERVING_SIZE = 1_000

CAPABILITIES = Capabilities(
    network="tiktok",
    dialect=DIALECT,
    max_members_per_request=MAX_MAPPING_ROWS,
    # What the streaming API's id_schema takes: EMAIL_SHA256, PHONE_SHA256 and device ids
    # (IDFA_*, AAID_*), https://business-api.tiktok.com/portal/docs?id=1739940585975809.
    identifier_kinds=frozenset({IdentifierKind.EMAIL, IdentifierKind.PHONE, IdentifierKind.MADID}),
    min_serving_size=MIN_SERVING_SIZE,
    # TikTok counts calls per second per developer app: 10 at the Basic level every app
    # starts at (https://business-api.tiktok.com/marketing_api/docs?id=1701890997610497);
    # past it, code 40100 until the second slides on. So the pace counts a one-second window
    # (10 calls a second, i.e. 600 a minute, none of them bunched into one second), of which
    # syncd uses 90%: the budget is the whole app's (spend reads and any other tool on the
    # same app spend it too), and TikTok counts a call when it arrives, a little after the
    # pacer lets it leave. A destination's ``calls_per_second`` and ``max_in_flight``
    # change them (`TikTokDestination.paced`).
    pace=Pace(
        requests_per_minute=600.0,
        window_seconds=1.0,
        until_answered=True,
        max_in_flight=4,
        margin=0.9,
    ),
)
