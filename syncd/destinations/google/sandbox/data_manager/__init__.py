"""Google Data Manager API emulator: audience members, request status and user lists.

syncd pushes Customer Match lists through this REST API with httpx, so the emulator speaks its
JSON (camelCase request fields, ``Authorization: Bearer``) and enforces its limits -- 10
destinations, 10,000 members, 10 identifiers per member, SHA-256 in the declared encoding,
accepted Customer Match terms, one member data type per request, the project's quotas --
with Google's error model: a status object whose ``details`` hold an ``ErrorInfo`` and a
``BadRequest`` whose field violations name the field path (with the member index) and the
specific ``ErrorReason``. The API is fast-fail: one bad member fails the whole request, and
nothing is applied.

Modules: ``emulator`` (the server and its rules), ``controls`` (its helpers for tests and
the demo), ``credentials`` (the Bearer check and the OAuth token endpoint), ``members``
(parsing audience members), ``request_status`` (what ``requestStatus:retrieve`` answers),
``user_lists`` (the v1.5 ``userLists`` resource), ``quota`` (per-minute and daily budgets),
``errors`` (the error model).
"""

from __future__ import annotations

from syncd.destinations.google.sandbox.data_manager.emulator import (
    MAX_DESTINATIONS,
    MAX_MEMBERS,
    DataManagerEmulator,
)
from syncd.destinations.google.sandbox.data_manager.members import MAX_IDENTIFIERS, Address, Member

__all__ = [
    "MAX_DESTINATIONS",
    "MAX_IDENTIFIERS",
    "MAX_MEMBERS",
    "Address",
    "DataManagerEmulator",
    "Member",
]
