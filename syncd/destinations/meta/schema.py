"""Meta's multi-key schema as data: which member column becomes which Graph key.

The mapping is keyed by identifier kind *value* ("email", "city", ...), the column names of
MEMBER_SCHEMA, rather than by enum member: a kind the identity layer does not define (yet)
has no column, and is simply never sent. That keeps this module right before and after new
kinds (city, state, birth year, gender) land in ``syncd.identity.IdentifierKind``.
"""

from __future__ import annotations

import pyarrow as pa

from syncd.destinations.base import Capabilities
from syncd.identity import IdentifierKind, Network

__all__ = ["CAPABILITIES", "MAX_ROWS", "SCHEMA_KEYS", "payload"]

#: Member column (an identifier kind's value) -> Meta's multi-key schema name, in the order
#: syncd sends them.
SCHEMA_KEYS: dict[str, str] = {
    "email": "EMAIL",
    "phone": "PHONE",
    "first_name": "FN",
    "last_name": "LN",
    "city": "CT",
    "state": "ST",
    "zip": "ZIP",
    "country": "COUNTRY",
    "birth_year": "DOBY",
    "gender": "GEN",
    "madid": "MADID",
    "external_id": "EXTERN_ID",
}
#: Rows Graph takes in one users or usersreplace request.
MAX_ROWS = 10_000

CAPABILITIES = Capabilities(
    network=Network.META,
    max_members_per_request=MAX_ROWS,
    identifier_kinds=frozenset(kind for kind in IdentifierKind if kind.value in SCHEMA_KEYS),
    min_serving_size=100,
)


def payload(members: pa.Table) -> dict[str, object]:
    """Meta's ``{"schema": [...], "data": [[...]]}``: one key per identifier column some
    member has; a member without one of them sends an empty string in its place."""
    if members.num_rows > MAX_ROWS:
        raise ValueError(f"{members.num_rows} members in one request; Meta takes {MAX_ROWS}")
    columns = [
        column
        for column in SCHEMA_KEYS
        if column in members.column_names and members[column].null_count < members.num_rows
    ]
    values = [[value or "" for value in members[column].to_pylist()] for column in columns]
    return {
        "schema": [SCHEMA_KEYS[column] for column in columns],
        "data": [list(row) for row in zip(*values, strict=True)],
    }
