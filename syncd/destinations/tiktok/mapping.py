"""Members (SENT_SCHEMA rows) -> the JSON body of one ``/segment/mapping/`` request.

One row is one person and becomes one row of ``batch_data``: one object per ``id_schema``
entry, ``{"id": <hash>, "audience_ids": [<audience>]}``, or ``{}`` where the person has no
id of that type ("Add or delete audience segment mappings",
https://business-api.tiktok.com/portal/docs?id=1739940585975809, fields as bububa/tiktok-business
``model/dmp/segment_mapping.go`` mirrors them; ``{}`` is what segmentio/action-destinations
tiktok-audiences sends). ``id_schema`` names only the types some row of the batch has.

Every value sent must be a SHA-256 hex digest: TikTok's streaming types take hashes only, and
a value of any other shape could be an identifier in clear (a dialect that does not hash
device ids, say). Such rows are never sent: they come back as ``MemberErrors`` naming their
rows, value-free, for the caller to quarantine, and nothing of the batch is sent.

The body is joined with Arrow string kernels, as Meta's and Google's are: a Python object per
member cost more than hashing the member did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.destinations.arrow_text import joined
from syncd.destinations.base import MemberErrors

__all__ = ["MOBILE_ID_TYPES", "MappingBody", "id_columns", "mapping_body"]

#: A mobile id type as the settings name it -> TikTok's SHA-256 ``id_schema`` type.
MOBILE_ID_TYPES = {"IDFA": "IDFA_SHA256", "AAID": "AAID_SHA256"}
_SHA256_HEX = r"^[0-9a-f]{64}$"


@dataclass(frozen=True)
class MappingBody:
    """One request's body, and how many batch rows it carries and leaves out."""

    content: bytes
    #: Rows of ``batch_data``: the batch's rows with at least one id TikTok takes.
    sent: int
    #: Rows with no id TikTok takes (names only, say): not sent.
    unusable: int


def id_columns(mobile_id_types: Sequence[str]) -> list[tuple[str, str]]:
    """(member column, TikTok ID type), in the order ``id_schema`` lists them: a device id
    goes once per mobile type the destination names."""
    columns = [("email", "EMAIL_SHA256"), ("phone", "PHONE_SHA256")]
    return columns + [("madid", MOBILE_ID_TYPES[kind]) for kind in mobile_id_types]


def mapping_body(
    members: pa.Table,
    *,
    advertiser_id: str,
    audience_id: str,
    action: str,
    mobile_id_types: Sequence[str],
    subject: str,
) -> MappingBody | None:
    """The body that adds (``action`` "add") or deletes ("delete") the batch's members of
    one audience, or None when no row has an id TikTok takes."""
    values = {column: _values(members, column) for column in ("email", "phone", "madid")}
    _refuse_unhashed(values, subject)
    present = [(c, t) for c, t in id_columns(mobile_id_types) if values[c] is not None]
    if not present:
        return None
    usable = pc.is_valid(values[present[0][0]])
    for column, _ in present[1:]:
        usable = pc.or_(usable, pc.is_valid(values[column]))
    rows = pc.indices_nonzero(usable)
    if len(rows) == 0:
        return None
    tail = ',"audience_ids":[' + json.dumps(str(audience_id)) + "]}"
    cells = []
    for column, _ in present:
        chosen = pc.take(values[column], rows)
        cell = pc.binary_join_element_wise('{"id":"', chosen, '"' + tail, "")
        cells.append(pc.fill_null(cell, "{}"))
    row = pc.binary_join_element_wise(*cells, ",") if len(cells) > 1 else cells[0]
    row = pc.binary_join_element_wise("[", row, "]", "")
    head = json.dumps(
        {
            "advertiser_ids": [advertiser_id],
            "action": action,
            "id_schema": [id_type for _, id_type in present],
        },
        separators=(",", ":"),
    )
    content = b"".join(
        (head[:-1].encode(), b',"batch_data":[', joined(row, ",").to_pybytes(), b"]}")
    )
    return MappingBody(content, len(rows), members.num_rows - len(rows))


def _values(members: pa.Table, column: str) -> pa.Array | None:
    """A column's values, null where absent or empty; None when no row has one."""
    if column not in members.column_names or members[column].null_count == members.num_rows:
        return None
    values = members[column].combine_chunks().cast(pa.string())
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    return values if values.null_count < len(values) else None


def _refuse_unhashed(values: dict[str, pa.Array | None], subject: str) -> None:
    """MemberErrors for rows holding anything but SHA-256 hex: nothing is sent."""
    reasons: dict[int, str] = {}
    for column, array in values.items():
        if array is None:
            continue
        hashed = pc.fill_null(pc.match_substring_regex(array, _SHA256_HEX), True)
        for row in pc.indices_nonzero(pc.invert(hashed)).to_pylist():
            reasons.setdefault(row, f"{column}_not_sha256_hex")
    if reasons:
        raise MemberErrors(
            reasons,
            f"{subject}: {len(reasons)} member(s) carry a value that is not a SHA-256 hex "
            "digest, which TikTok's streaming ID types require (a syncd bug: the identity "
            "dialect must hash it); nothing was sent: quarantine those rows and send the rest",
        )
