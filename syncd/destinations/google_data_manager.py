"""Google Customer Match through the Data Manager API (see ``syncd.destinations.google``).

This module keeps the import path the destination registry uses.
"""

from __future__ import annotations

from syncd.destinations.google.auth import SCOPE
from syncd.destinations.google.data_manager import (
    CAPABILITIES,
    DataManagerAudiences,
    UserListRef,
)
from syncd.destinations.google.dm_members import CONSENT_COLUMNS, consented_rows

__all__ = [
    "CAPABILITIES",
    "CONSENT_COLUMNS",
    "SCOPE",
    "DataManagerAudiences",
    "UserListRef",
    "consented_rows",
]
