"""Identity: normalization and hashing of identifiers, by each network's published rules.

Each network's rules are one `Dialect` value (`dialects`: GOOGLE, META, or a network's own).
`rules` holds one small function per identifier kind, reading the dialect where networks
differ: the reference path, which defines what syncd sends. `normalize_column` applies them
to Arrow columns, through a vectorized path where one exists (`emails`, `phones`, `hashing`)
and the reference path for every row the vectorized path is not sure of. Both give
bit-identical values and reasons, for any dialect.
"""

from syncd.identity.columns import (
    IdentifierColumn,
    normalize_column,
    normalize_column_reference,
)
from syncd.identity.dialects import GOOGLE, META, Dialect, NameForm, ZipForm
from syncd.identity.hashing import md5_uuid, sha256_hex_array
from syncd.identity.kinds import IdentifierKind
from syncd.identity.rules import (
    MAX_VALUE_CHARS,
    IdentifierRule,
    InvalidIdentifier,
    as_text,
    normalize_country,
    rule_of,
    send_value,
    sha256_hex,
)

__all__ = [
    "GOOGLE",
    "MAX_VALUE_CHARS",
    "META",
    "Dialect",
    "IdentifierColumn",
    "IdentifierKind",
    "IdentifierRule",
    "InvalidIdentifier",
    "NameForm",
    "ZipForm",
    "as_text",
    "md5_uuid",
    "normalize_column",
    "normalize_column_reference",
    "normalize_country",
    "rule_of",
    "send_value",
    "sha256_hex",
    "sha256_hex_array",
]
