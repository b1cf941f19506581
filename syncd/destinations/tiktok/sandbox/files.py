"""The Customer File API's inputs: the multipart upload of a data file and the bodies of
``/dmp/custom_audience/create/`` and ``update/``, validated as the emulator enforces them.

Rules, from the official SDK's specs (tiktok/tiktok-business-api-sdk ``yml_files/
dmp_custom_audience_file_upload.yml``, ``_create.yml``, ``_update.yml``) and TikTok's guide
"Create a Customer File Audience" (https://business-api.tiktok.com/portal/docs?id=1747012327159809):

* the upload is ``multipart/form-data`` with ``advertiser_id``, ``calculate_type``, ``file``
  (a ``.csv`` or ``.txt`` file) and ``file_signature`` (the file's MD5, checked by the server);
* a single-type file holds one hash per line; a ``MULTIPLE_TYPES`` file starts with a header
  row of case-insensitive column names (``email_SHA256``, ``phone_SHA256``, ``MAID_SHA256``,
  ``MAID_MD5``; TikTok also takes an unhashed ``MAID`` column, which the emulator refuses
  because syncd never sends an unhashed id);
* ``calculate_type`` must match the data "or your upload will fail or you will not be able
  to create a valid audience": lines that do not parse are counted and reported in the
  audience history (``msg``: "failure info on partial success, e.g. some data in the file
  failed to parse"), and a file with no valid line at all is refused;
* ``create`` takes ``custom_audience_name`` (1-128 characters), ``calculate_type`` and 1-500
  ``file_paths``; ``update`` takes a new name and/or ``file_paths`` with ``action`` APPEND,
  REMOVE or REPLACE (default REPLACE). Files must have the audience's ``calculate_type``.

Limits: 50 MB per file and 500 files per audience are what Treasure Data's integration
states (https://docs.treasuredata.com/int/tiktok-marketing-api-export-integration); the
emulator's server takes bodies up to ``server.MAX_BODY_BYTES`` and files up to ``MAX_FILE_BYTES``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any

from syncd.destinations.tiktok.sandbox.errors import INVALID_PARAMS, TikTokError
from syncd.destinations.tiktok.sandbox.payload import MemberId, advertiser_id, valid_hash

__all__ = [
    "CALCULATE_TYPES",
    "MAX_FILE_BYTES",
    "MAX_FILE_PATHS",
    "MULTIPLE_TYPES",
    "Upload",
    "calculate_type_of",
    "file_paths_of",
    "name_of",
    "parse_upload",
    "read_file",
    "retention_of",
    "update_action",
]

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILE_PATHS = 500
MAX_NAME = 128
#: ``calculate_type`` (encryption type) -> (member ID type, digest); ``FIRST_*`` are older
#: names of ``MAID_*`` with the same enum values (7 and 6) in the SDK's spec.
CALCULATE_TYPES: dict[str, tuple[str, str]] = {
    "EMAIL_SHA256": ("EMAIL_SHA256", "sha256"),
    "PHONE_SHA256": ("PHONE_SHA256", "sha256"),
    "IDFA_SHA256": ("IDFA_SHA256", "sha256"),
    "GAID_SHA256": ("GAID_SHA256", "sha256"),
    "IDFA_MD5": ("IDFA_MD5", "md5"),
    "GAID_MD5": ("GAID_MD5", "md5"),
    "MAID_SHA256": ("MAID_SHA256", "sha256"),
    "FIRST_SHA256": ("MAID_SHA256", "sha256"),
    "MAID_MD5": ("MAID_MD5", "md5"),
    "FIRST_MD5": ("MAID_MD5", "md5"),
}
MULTIPLE_TYPES = "MULTIPLE_TYPES"
_HEADERS = {
    "email_sha256": ("EMAIL_SHA256", "sha256"),
    "phone_sha256": ("PHONE_SHA256", "sha256"),
    "maid_sha256": ("MAID_SHA256", "sha256"),
    "maid_md5": ("MAID_MD5", "md5"),
}
_ACTIONS = ("APPEND", "REMOVE", "REPLACE")


@dataclass(frozen=True, slots=True)
class Upload:
    """A validated upload: whose file, of which type, its members, and the lines of it that
    did not parse (TikTok reports them in the audience history rather than refusing)."""

    advertiser: str
    calculate_type: str
    members: frozenset[MemberId]
    invalid: int


def parse_upload(content_type: str, body: bytes) -> Upload:
    """Validate a ``multipart/form-data`` upload and read its file."""
    fields = _multipart(content_type, body)
    advertiser = advertiser_id(_text(fields, "advertiser_id"))
    calculate_type = calculate_type_of(_text(fields, "calculate_type"))
    if "file" not in fields or fields["file"][0] is None:
        raise TikTokError(INVALID_PARAMS, "file: This field is required.")
    filename, content = fields["file"]
    if not str(filename).lower().endswith((".csv", ".txt")):
        raise TikTokError(INVALID_PARAMS, "file: Only .csv and .txt files are supported.")
    if len(content) > MAX_FILE_BYTES:
        raise TikTokError(INVALID_PARAMS, "file: The file is larger than 50 MB.")
    signature = _text(fields, "file_signature").lower()
    if signature != hashlib.md5(content, usedforsecurity=False).hexdigest():
        raise TikTokError(INVALID_PARAMS, "file_signature: Does not match the file's MD5.")
    members, invalid = read_file(content, calculate_type)
    return Upload(advertiser, calculate_type, members, invalid)


def calculate_type_of(raw: object) -> str:
    """A known ``calculate_type`` (upper case), else code 40002."""
    name = raw.upper() if isinstance(raw, str) else ""
    if name != MULTIPLE_TYPES and name not in CALCULATE_TYPES:
        raise TikTokError(INVALID_PARAMS, "calculate_type: Not a valid encryption type.")
    return name


def read_file(content: bytes, calculate_type: str) -> tuple[frozenset[MemberId], int]:
    """The file's members and its count of lines that did not parse; a file with nothing
    valid is refused (the type does not match the data)."""
    try:
        lines = [line.strip() for line in content.decode("utf-8-sig").splitlines()]
    except UnicodeDecodeError:
        raise TikTokError(INVALID_PARAMS, "file: The file is not UTF-8 text.") from None
    lines = [line for line in lines if line]
    if calculate_type == MULTIPLE_TYPES:
        members, invalid = _read_columns(lines)
    else:
        id_type, digest = CALCULATE_TYPES[calculate_type]
        members = {(id_type, line) for line in lines if valid_hash(line, digest)}
        invalid = sum(1 for line in lines if not valid_hash(line, digest))
    if not members:
        raise TikTokError(
            INVALID_PARAMS, f"file: No line of the file is a valid {calculate_type} value."
        )
    return frozenset(members), invalid


def _read_columns(lines: list[str]) -> tuple[set[MemberId], int]:
    if not lines:
        return set(), 0
    names = [name.strip().lower() for name in lines[0].split(",")]
    if "maid" in names:
        raise TikTokError(INVALID_PARAMS, "file: The emulator takes hashed MAID columns only.")
    if any(name not in _HEADERS for name in names) or len(set(names)) != len(names):
        raise TikTokError(INVALID_PARAMS, "file: The header must name each of its ID types once.")
    columns = [_HEADERS[name] for name in names]
    members: set[MemberId] = set()
    invalid = 0
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.split(",")]
        good = len(cells) == len(columns) and all(
            not cell or valid_hash(cell, digest)
            for cell, (_, digest) in zip(cells, columns, strict=False)
        )
        if not good or not any(cells):
            invalid += 1
            continue
        members.update(
            (id_type, cell) for cell, (id_type, _) in zip(cells, columns, strict=True) if cell
        )
    return members, invalid


def name_of(raw: object, field: str = "custom_audience_name") -> str:
    """An audience name of 1-128 characters."""
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_NAME:
        raise TikTokError(INVALID_PARAMS, f"{field}: Length must be between 1 and {MAX_NAME}.")
    return raw


def file_paths_of(raw: object) -> list[str]:
    """1-500 file paths as returned by the upload."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_FILE_PATHS:
        raise TikTokError(
            INVALID_PARAMS, f"file_paths: Length must be between 1 and {MAX_FILE_PATHS}."
        )
    if not all(isinstance(path, str) for path in raw):
        raise TikTokError(INVALID_PARAMS, "file_paths: Each value must be a string.")
    return list(raw)


def retention_of(raw: object) -> int | None:
    """``retention_in_days``: absent, or 1-365."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 365:
        raise TikTokError(INVALID_PARAMS, "retention_in_days: Must be between 1 and 365.")
    return raw


def update_action(body: dict[str, Any]) -> str:
    """``action`` of an update with files: APPEND, REMOVE or REPLACE (the default)."""
    action = body.get("action", "REPLACE")
    if not isinstance(action, str) or action.upper() not in _ACTIONS:
        raise TikTokError(INVALID_PARAMS, "action: Must be one of APPEND, REMOVE, REPLACE.")
    return action.upper()


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    if "multipart/form-data" not in content_type.lower():
        raise TikTokError(INVALID_PARAMS, "Content-Type must be multipart/form-data.")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise TikTokError(INVALID_PARAMS, "The multipart body could not be parsed.")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename(), payload)
    return fields


def _text(fields: dict[str, tuple[str | None, bytes]], name: str) -> str:
    if name not in fields:
        raise TikTokError(INVALID_PARAMS, f"{name}: This field is required.")
    try:
        return fields[name][1].decode("utf-8").strip()
    except UnicodeDecodeError:
        raise TikTokError(INVALID_PARAMS, f"{name}: Not valid UTF-8.") from None
