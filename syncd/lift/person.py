"""A person's key: who a segment row (or an outcome row) is, the same on every network.

Members are keyed per network, by that network's identity rules (Google drops a gmail
address's dots, Meta keeps them), so one person is a different member on each. A holdout
shared by a segment's audiences, and outcomes matched to people, need one key whatever the
network: the first of the person's email, phone, external id and mobile ad id that is
valid, normalized by one fixed set of rules (`PERSON`, Google's, the strictest) and hashed.
The key is `kind:sha256-hex`, so only hashes leave the read, as for members; a row with none
of those identifiers has no key (null).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from syncd.identity import IdentifierKind
from syncd.identity.columns import normalize_column
from syncd.identity.dialects import GOOGLE
from syncd.identity.hashing import sha256_hex_array
from syncd.members import SegmentShape, row_countries

#: The identifiers a person is known by, in the order the key takes the first valid one.
PERSON_KINDS = (
    IdentifierKind.EMAIL,
    IdentifierKind.PHONE,
    IdentifierKind.EXTERNAL_ID,
    IdentifierKind.MADID,
)

#: The rules a person key is normalized by, whatever the network: fixed, so a key never
#: changes with the networks a segment goes to.
PERSON = GOOGLE


def person_keys(batch: pa.RecordBatch | pa.Table, shape: SegmentShape) -> pa.Array:
    """Each row's person key (`kind:hex`), null where the row has none of PERSON_KINDS valid."""
    countries = row_countries(batch, shape)
    keys = pa.nulls(len(batch), pa.string())
    for kind in reversed(PERSON_KINDS):  # the first kind wins: it is applied last
        column = shape.identifiers.get(kind)
        if column is None:
            continue
        values = normalize_column(PERSON, kind, batch.column(column), countries).values
        if kind not in PERSON.hashed:
            values = pc.if_else(pc.is_valid(values), sha256_hex_array(values), values)
        keyed = pc.binary_join_element_wise(f"{kind.value}", values, ":")
        keys = pc.if_else(pc.is_valid(keyed), keyed, keys)
    return keys
