"""The JSON bodies and query parameters of the audience endpoints, validated as the emulator
enforces them, and the identifier rules per ID type.

Identifier types and their hashes (``id_schema`` of ``/segment/mapping/``, "Add or delete
audience segment mappings", https://business-api.tiktok.com/portal/docs?id=1739940585975809,
as the docs' field list is mirrored in bububa/tiktok-business ``model/dmp/segment_mapping.go``
and ``enum/id_schema.go``): EMAIL_SHA256 (SHA-256 of the normalized email), PHONE_SHA256
(SHA-256 of the phone in E.164, "+1231234567"), IDFA_SHA256 and AAID_SHA256 (SHA-256 of the
device id; AAID stands for Android AAID or GAID), IDFA_MD5 and AAID_MD5 (MD5 of the device
id). No type may appear twice in one ``id_schema``; types may come in any order and in lower
case. The emulator takes a hash as valid only in lower-case hex of the digest's length (64 for
SHA-256, 32 for MD5), the form every client of the streaming API sends; TikTok documents no
answer for a malformed hash, so the emulator refuses the whole request with code 40002 naming
the row, column and type, never the value (syncd must not send one; see docs/tiktok.md).

Errors never echo an identifier: only positions, field names and ID types.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from syncd.destinations.tiktok.sandbox.errors import INVALID_PARAMS, TikTokError

__all__ = [
    "HEX_LENGTH",
    "MAX_MAPPING_ROWS",
    "SEGMENT_ID_TYPES",
    "Mapping",
    "MemberId",
    "advertiser_id",
    "id_list",
    "json_body",
    "parse_mapping",
    "parse_segment_audience",
    "valid_hash",
]

#: One audience member as the emulator holds it: (ID type, lower-case hex hash).
MemberId = tuple[str, str]

#: ``id_schema`` values of the streaming API and the digest each one carries.
SEGMENT_ID_TYPES: dict[str, str] = {
    "EMAIL_SHA256": "sha256",
    "PHONE_SHA256": "sha256",
    "IDFA_SHA256": "sha256",
    "AAID_SHA256": "sha256",
    "IDFA_MD5": "md5",
    "AAID_MD5": "md5",
}
#: Hex characters of each digest.
HEX_LENGTH = {"sha256": 64, "md5": 32}
#: Rows of ``batch_data`` accepted per request. TikTok's limit was not found in any source
#: reachable from here (docs/tiktok.md); 10,000 matches the other networks syncd speaks to and
#: is configurable on the emulator (``max_mapping_rows``).
MAX_MAPPING_ROWS = 10_000
#: "Please note that names over 70 characters will be truncated to 67 characters with '...'
#: appended" (/segment/audience/, https://business-api.tiktok.com/portal/docs?id=1739940583739393,
#: as quoted by segmentio/action-destinations tiktok-audiences ``properties.ts``).
SEGMENT_NAME_LIMIT, SEGMENT_NAME_KEPT = 70, 67

_HEX = {length: re.compile(f"[0-9a-f]{{{length}}}") for length in HEX_LENGTH.values()}
_DIGITS = re.compile(r"[0-9]{1,20}")


def valid_hash(value: object, digest: str) -> bool:
    """Whether ``value`` is the lower-case hex of one ``digest`` ("sha256" or "md5")."""
    return isinstance(value, str) and _HEX[HEX_LENGTH[digest]].fullmatch(value) is not None


def json_body(body: bytes) -> dict[str, Any]:
    """The request's JSON object; anything else is code 40002."""
    try:
        parsed = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        raise TikTokError(INVALID_PARAMS, "The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise TikTokError(INVALID_PARAMS, "The request body must be a JSON object.")
    return parsed


def advertiser_id(value: object, name: str = "advertiser_id") -> str:
    """An advertiser (or audience) id: digits, sent as a string or a number (TikTok converts
    both to int64, per ``x-open-convert: int64(%s)`` in the SDK's specs)."""
    if isinstance(value, bool) or value is None:
        raise TikTokError(INVALID_PARAMS, f"{name}: This field is required.")
    text = str(value) if isinstance(value, int) else value
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        raise TikTokError(INVALID_PARAMS, f"{name}: Not a valid int64 value.")
    return text


def id_list(raw: object, name: str, *, most: int = 100, required: bool = True) -> list[str]:
    """A list of ids from a JSON body, or from a query string where TikTok takes arrays as
    JSON text (``custom_audience_ids=["1","2"]``, as bububa/tiktok-business encodes them).

    Arrays sent as repeated keys (the official SDK's ``collection_formats = 'multi'``) reach
    the emulator as one value: a bare id is refused rather than read as a one-element list.
    """
    if raw is None or raw == "":
        if required:
            raise TikTokError(INVALID_PARAMS, f"{name}: This field is required.")
        return []
    values = raw
    if isinstance(raw, str):
        try:
            values = json.loads(raw)
        except ValueError:
            values = None
        if not isinstance(values, list):
            raise TikTokError(INVALID_PARAMS, f"{name}: Must be a JSON array of ids.")
    if not isinstance(values, list) or not 1 <= len(values) <= most:
        raise TikTokError(INVALID_PARAMS, f"{name}: Length must be between 1 and {most}.")
    return [advertiser_id(value, name) for value in values]


@dataclass
class Mapping:
    """A validated ``/segment/mapping/`` request: what to add to or delete from each audience."""

    advertiser_ids: list[str]
    action: str  # "add" or "delete"
    rows: int
    ids: int = 0
    changes: dict[str, set[MemberId]] = field(default_factory=dict)
    #: Each row's ids: one user's, which TikTok matches as one (``cover_num`` counts users).
    users: list[frozenset[MemberId]] = field(default_factory=list)


def parse_mapping(body: dict[str, Any], max_rows: int = MAX_MAPPING_ROWS) -> Mapping:
    """Validate ``advertiser_ids``, ``action``, ``id_schema`` and ``batch_data``.

    ``batch_data`` holds one row per user: one object per ``id_schema`` entry, in its order,
    each ``{"id": hash, "audience_ids": [...]}`` or ``{}`` where the user has no such id (as
    segmentio/action-destinations tiktok-audiences ``syncAudience/functions.ts`` sends it).
    """
    advertisers = id_list(body.get("advertiser_ids"), "advertiser_ids", most=1_000)
    action = body.get("action", "add")
    if not isinstance(action, str) or action.lower() not in ("add", "delete"):
        raise TikTokError(INVALID_PARAMS, "action: Must be one of add, delete.")
    schema = _id_schema(body.get("id_schema"))
    batch = body.get("batch_data")
    if not isinstance(batch, list) or not batch:
        raise TikTokError(INVALID_PARAMS, "batch_data: This field is required.")
    if len(batch) > max_rows:
        raise TikTokError(
            INVALID_PARAMS,
            f"batch_data: Length must be between 1 and {max_rows}; got {len(batch)}.",
            count=len(batch),
        )
    mapping = Mapping(advertisers, action.lower(), len(batch))
    for row_index, row in enumerate(batch):
        if not isinstance(row, list) or len(row) != len(schema):
            raise TikTokError(
                INVALID_PARAMS,
                f"batch_data[{row_index}]: Must hold {len(schema)} objects, one per id_schema "
                "entry.",
                count=len(batch),
            )
        user = [
            _add_item(mapping, f"batch_data[{row_index}][{column}]", id_type, item)
            for column, (id_type, item) in enumerate(zip(schema, row, strict=True))
        ]
        mapping.users.append(frozenset(member for member in user if member is not None))
    return mapping


def _id_schema(raw: object) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise TikTokError(INVALID_PARAMS, "id_schema: This field is required.")
    schema: list[str] = []
    for value in raw:
        name = value.upper() if isinstance(value, str) else None
        if name not in SEGMENT_ID_TYPES:
            allowed = ", ".join(SEGMENT_ID_TYPES)
            raise TikTokError(INVALID_PARAMS, f"id_schema: Each value must be one of {allowed}.")
        if name in schema:
            raise TikTokError(INVALID_PARAMS, f"id_schema: {name} is repeated.")
        schema.append(name)
    return schema


def _add_item(mapping: Mapping, where: str, id_type: str, item: object) -> MemberId | None:
    if not isinstance(item, dict):
        raise TikTokError(INVALID_PARAMS, f"{where}: Must be an object.", count=mapping.rows)
    if not item:
        return None  # the user has no id of this type
    digest = SEGMENT_ID_TYPES[id_type]
    if not valid_hash(item.get("id"), digest):
        raise TikTokError(
            INVALID_PARAMS,
            f"{where}.id: Not a valid {id_type} value (expected {HEX_LENGTH[digest]} lower-case "
            "hexadecimal characters).",
            count=mapping.rows,
        )
    audiences = id_list(item.get("audience_ids"), f"{where}.audience_ids", most=1_000)
    member = (id_type, str(item["id"]))
    for audience_id in audiences:
        mapping.changes.setdefault(audience_id, set()).add(member)
    mapping.ids += 1
    return member


def parse_segment_audience(body: dict[str, Any]) -> tuple[str, str, str]:
    """``/segment/audience/``: (advertiser_id, action, name or audience id to delete).

    ``create`` needs ``custom_audience_name`` (cut to 67 characters and "..." past 70);
    ``delete`` needs ``delete_audience_id`` (bububa/tiktok-business
    ``model/dmp/segment_audience.go``).
    """
    advertiser = advertiser_id(body.get("advertiser_id"))
    action = body.get("action", "create")
    if not isinstance(action, str) or action.lower() not in ("create", "delete"):
        raise TikTokError(INVALID_PARAMS, "action: Must be one of create, delete.")
    if action.lower() == "delete":
        return (
            advertiser,
            "delete",
            advertiser_id(body.get("delete_audience_id"), "delete_audience_id"),
        )
    name = body.get("custom_audience_name")
    if not isinstance(name, str) or not name.strip():
        raise TikTokError(INVALID_PARAMS, "custom_audience_name: This field is required.")
    if len(name) > SEGMENT_NAME_LIMIT:
        name = name[:SEGMENT_NAME_KEPT] + "..."
    return advertiser, "create", name
