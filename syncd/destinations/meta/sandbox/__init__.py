"""Meta Graph API emulator: custom audiences (create, list, read, add, remove, replace by
session), ad sets and Insights, with Graph's usage headers, throttling and errors.

It speaks what facebook-business sends (``access_token`` in the query string, form-encoded
POST params whose dict/list values are JSON) and enforces what Graph enforces: 10,000 rows
per request, known schema keys, SHA-256 hex for hashed keys, replace sessions that finish
within 90 minutes, a call budget per ad account, and Graph's error shape and codes, so
syncd's Meta destination and its error table are tested against the wire format rather than
against our own assumptions. Removals arrive either as ``DELETE`` with the payload in the
query string (what the SDK's ``remove_users`` does, and what the 8 KB URL limit breaks for big
batches) or as ``POST`` with ``method=DELETE`` and the payload in the body.

Modules: ``emulator`` (routing, access, the users edges), ``payload`` (payload and session
validation), ``edges`` (field selection, filtering, paging, Insights), ``usage`` (the call
budget and usage headers), ``spend`` (ad sets and daily spend), ``state``, ``errors``.
"""

from syncd.destinations.meta.sandbox.emulator import MetaGraphEmulator
from syncd.destinations.meta.sandbox.errors import THROTTLES, USE_CASE_THROTTLES, GraphError
from syncd.destinations.meta.sandbox.payload import (
    HASHED_KEYS,
    MAX_ROWS,
    PLAIN_KEYS,
    SCHEMA_KEYS,
    Member,
)
from syncd.destinations.meta.sandbox.spend import AdSet, InsightRow

__all__ = [
    "HASHED_KEYS",
    "MAX_ROWS",
    "PLAIN_KEYS",
    "SCHEMA_KEYS",
    "THROTTLES",
    "USE_CASE_THROTTLES",
    "AdSet",
    "GraphError",
    "InsightRow",
    "Member",
    "MetaGraphEmulator",
]
