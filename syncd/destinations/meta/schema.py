"""Meta's multi-key schema as data: which member column becomes which Graph key.

The mapping is keyed by identifier kind *value* ("email", "city", ...), the column names of
MEMBER_SCHEMA, rather than by enum member: a kind the identity layer does not define (yet)
has no column, and is simply never sent. That keeps this module right before and after new
kinds (city, state, birth year, gender) land in ``syncd.identity.IdentifierKind``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from syncd.destinations.arrow_text import joined, plain
from syncd.destinations.base import Capabilities
from syncd.destinations.meta.form import FormEncoded, quoted
from syncd.identity import META, IdentifierKind
from syncd.pacing import Pace

__all__ = ["CAPABILITIES", "MAX_ROWS", "SCHEMA_KEYS", "form_payload", "payload"]

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
    network="meta",
    dialect=META,
    max_members_per_request=MAX_ROWS,
    identifier_kinds=frozenset(kind for kind in IdentifierKind if kind.value in SCHEMA_KEYS),
    min_serving_size=100,
    # Graph publishes no fixed rate for audience edits: it says how close the business use
    # case is to its limit in x-business-use-case-usage, and the window halves when it
    # throttles (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
    pace=Pace(max_in_flight=8),
    replaces=True,
)


def payload(members: pa.Table) -> str:
    """Meta's ``{"schema": [...], "data": [[...]]}``, as the JSON text facebook-business
    would send for it (keys sorted, no spaces): one key per identifier column some member
    has; a member without one of them sends an empty string in its place.

    Written with Arrow string kernels: a list per member and the json module took 7.6 ms for
    10,000 members, this 4.3 ms."""
    columns = _columns(members)
    if not columns:
        data = ",".join(["[]"] * members.num_rows)
        return f'{{"data":[{data}],"schema":[]}}'
    cells = [_json_strings(members[column]) for column in columns]
    return _written(columns, cells, lambda text: text)


def form_payload(members: pa.Table) -> str:
    """`payload` as it goes in the request's form. When every value is a plain hash, it is
    written form-encoded already, byte for byte what `form_encode` makes of `payload`, and
    marked `FormEncoded` so that it is sent as it is: quoting 700 KB of JSON text after the
    fact took 4 ms per 10,000 members. Otherwise it is the JSON text, quoted as usual."""
    columns = _columns(members)
    values = [
        pc.fill_null(members[column].combine_chunks().cast(pa.string()), "") for column in columns
    ]
    if not values or not all(plain(value) for value in values):
        return payload(members)
    quote = quoted('"')
    cells = [pc.binary_join_element_wise(quote, value, quote, "") for value in values]
    return FormEncoded(_written(columns, cells, quoted))


def _columns(members: pa.Table) -> list[str]:
    """The identifier columns some member has, in the order sent."""
    if members.num_rows > MAX_ROWS:
        raise ValueError(f"{members.num_rows} members in one request; Meta takes {MAX_ROWS}")
    return [
        column
        for column in SCHEMA_KEYS
        if column in members.column_names and members[column].null_count < members.num_rows
    ]


def _written(columns: list[str], cells: list[pa.Array], mark: Callable[[str], str]) -> str:
    """The payload of these members' `cells` (JSON strings, one array per column), its own
    punctuation written by `mark`: as itself in JSON, quoted in a form."""
    row = pc.binary_join_element_wise(*cells, mark(","))
    rows = pc.binary_join_element_wise(mark("["), row, mark("]"), "")
    data = joined(rows, mark(",")).to_pybytes().decode()
    schema = json.dumps([SCHEMA_KEYS[column] for column in columns], separators=(",", ":"))
    return mark('{"data":[') + data + mark(f'],"schema":{schema}}}')


def _json_strings(column: pa.ChunkedArray) -> pa.Array:
    """Each value as a JSON string literal, as json.dumps writes it ("" for null). Hashes
    need no escaping; a value with anything but printable ASCII, a quote or a backslash
    goes through json.dumps itself."""
    values = pc.fill_null(column.combine_chunks().cast(pa.string()), "")
    if (
        not plain(values)
        and pc.any(pc.match_substring_regex(values, r'[^\x20-\x7e]|["\\]')).as_py()
    ):
        return pa.array([json.dumps(value) for value in values.to_pylist()], pa.string())
    return pc.binary_join_element_wise('"', values, '"', "")
