"""Google Ads API emulator: gRPC with TLS on 127.0.0.1, for the real ``GoogleAdsClient``.

syncd keeps the Google Ads API for what the Data Manager API does not cover -- lists and
their size and match rate through GAQL, the legacy Customer Match upload through offline user
data jobs for allowlisted accounts, and spend through ``ad_group_audience_view``. The
emulator serves exactly that, built on the google-ads library's own protos, so the client
library runs unchanged against it::

    with GoogleAdsEmulator(access_token="ya29.token") as ads:
        client = ads.client(access_token="ya29.token")  # GoogleAdsClient(endpoint=...)
        list_id = ads.add_user_list("buyers")
        ...
        assert ads.members(list_id) == {...}

Modules: ``tls`` (the process CA and ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``), ``server`` (gRPC,
routing, log), ``access`` (token, customers, access level), ``emulator`` (the public class),
``controls`` and ``spend_controls`` (its levers for tests and the demo), ``gaql`` and
``search`` (queries), ``resources`` (what can be queried), ``user_lists``, ``jobs`` and
``user_data`` (Customer Match writes), ``state``, ``spend`` (the spend generator), ``errors``
and ``protos`` (the wire types).
"""

from __future__ import annotations

from syncd.destinations.google.sandbox.ads.emulator import DEFAULT_CUSTOMER_ID, GoogleAdsEmulator
from syncd.destinations.google.sandbox.ads.spend import CPM_BIDDING
from syncd.destinations.google.sandbox.ads.state import Address, Member, SpendRow
from syncd.destinations.google.sandbox.ads.tls import ROOTS_ENV, sandbox_ca_file, trust_sandbox_ca
from syncd.destinations.google.sandbox.ads.user_data import (
    MAX_IDENTIFIERS_PER_OPERATION,
    MAX_IDENTIFIERS_PER_REQUEST,
)

__all__ = [
    "CPM_BIDDING",
    "DEFAULT_CUSTOMER_ID",
    "MAX_IDENTIFIERS_PER_OPERATION",
    "MAX_IDENTIFIERS_PER_REQUEST",
    "ROOTS_ENV",
    "Address",
    "GoogleAdsEmulator",
    "Member",
    "SpendRow",
    "sandbox_ca_file",
    "trust_sandbox_ca",
]
