"""Identity: normalization and hashing of identifiers, by each network's published rules.

`rules` holds one small function per identifier kind and network: the reference path, which
defines what syncd sends. `normalize_column` applies them to Arrow columns, through a
vectorized path where one exists (`emails`, `phones`, `hashing`) and the reference path for
every row the vectorized path is not sure of. Both give bit-identical values and reasons.
"""

from syncd.identity.columns import (
    IdentifierColumn,
    normalize_column,
    normalize_column_reference,
)
from syncd.identity.hashing import md5_uuid, sha256_hex_array
from syncd.identity.kinds import IdentifierKind
from syncd.identity.rules import (
    MAX_VALUE_CHARS,
    RULES,
    IdentifierRule,
    InvalidIdentifier,
    Network,
    as_text,
    normalize_country,
    send_value,
    sha256_hex,
)

__all__ = [
    "MAX_VALUE_CHARS",
    "RULES",
    "IdentifierColumn",
    "IdentifierKind",
    "IdentifierRule",
    "InvalidIdentifier",
    "Network",
    "as_text",
    "md5_uuid",
    "normalize_column",
    "normalize_column_reference",
    "normalize_country",
    "send_value",
    "sha256_hex",
    "sha256_hex_array",
]
