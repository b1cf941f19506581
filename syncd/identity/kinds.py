"""The kinds of identifier a segment column may hold: what the rules and each network's
`Dialect` are written in terms of, on its own so both can import it."""

from __future__ import annotations

from enum import StrEnum


class IdentifierKind(StrEnum):
    """What a segment column holds; the config maps each kind to a column."""

    EMAIL = "email"
    PHONE = "phone"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    COUNTRY = "country"
    ZIP = "zip"
    MADID = "madid"
    EXTERNAL_ID = "external_id"
