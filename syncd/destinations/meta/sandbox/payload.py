"""The ``payload`` and ``session`` params of the users edges, validated as Graph does.

Fatal problems (an unknown schema key, a row of the wrong length, a hashed key that is not
SHA-256 hex, more than 10,000 rows) refuse the whole request with code 100, naming the row
and key but never the value. Non-fatal ones are counted, as Graph counts them, in
``num_invalid_entries``: a row with nothing to match on, or a MADID that is not a device id
(that value is dropped and the rest of the row kept). Graph returns samples of such entries
in ``invalid_entry_samples``, values included, so the emulator does too: clients must count
them and never log them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from syncd.destinations.meta.sandbox.errors import GraphError

__all__ = [
    "HASHED_KEYS",
    "MAX_ROWS",
    "PLAIN_KEYS",
    "SCHEMA_KEYS",
    "Member",
    "ParsedRows",
    "Session",
    "parse_creation",
    "parse_json_param",
    "parse_rows",
    "parse_session",
]

#: Rows accepted by one ``users`` or ``usersreplace`` request.
MAX_ROWS = 10_000
#: Multi-key schema keys that must be SHA-256 hex (or empty in a multi-key row).
HASHED_KEYS = frozenset(
    (
        "EMAIL",
        "PHONE",
        "FN",
        "LN",
        "FI",
        "CT",
        "ST",
        "ZIP",
        "COUNTRY",
        "DOBY",
        "DOBM",
        "DOBD",
        "GEN",
    )
)
#: Keys sent as they are (not hashed), at most ``_MAX_PLAIN_LEN`` characters.
PLAIN_KEYS = frozenset({"MADID", "EXTERN_ID"})
SCHEMA_KEYS = HASHED_KEYS | PLAIN_KEYS
#: Single-key schema names the SDK's ``CustomAudience.Schema`` uses; Graph accepts them too.
_SCHEMA_ALIASES = {
    "EMAIL_SHA256": "EMAIL",
    "PHONE_SHA256": "PHONE",
    "MOBILE_ADVERTISER_ID": "MADID",
}
_MAX_PLAIN_LEN = 256
_MAX_SAMPLES = 5

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DEVICE_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
NAME = re.compile(r"[A-Za-z0-9_]{1,40}")  # echo a client-sent name only if it looks like one

#: One audience member: its non-empty (schema key, value) pairs.
Member = frozenset[tuple[str, str]]


@dataclass
class ParsedRows:
    """A validated payload: its members, rows received, and the invalid entries counted."""

    members: list[Member]
    received: int
    invalid: int = 0
    samples: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    """The ``session`` param that ties the batches of one upload (or replace) together."""

    session_id: int
    batch_seq: int
    last_batch_flag: bool
    estimated_num_total: int | None = None


def parse_json_param(params: dict[str, str], name: str) -> Any:
    try:
        return json.loads(params[name])
    except ValueError:
        raise GraphError(f"(#100) param {name} must be valid JSON") from None


def parse_session(params: dict[str, str], count: int = 0) -> Session | None:
    """The ``session`` param, or None when absent; a malformed one is a code 100 error."""
    if "session" not in params:
        return None
    raw = parse_json_param(params, "session")
    if not isinstance(raw, dict):
        raise GraphError("(#100) param session must be a JSON object", count=count)
    session_id, batch_seq = raw.get("session_id"), raw.get("batch_seq", 1)
    last, total = raw.get("last_batch_flag", False), raw.get("estimated_num_total")
    if not _is_int(session_id) or session_id < 0:
        raise GraphError("(#100) session.session_id must be a positive integer", count=count)
    if not _is_int(batch_seq) or batch_seq < 1:
        raise GraphError("(#100) session.batch_seq must be an integer from 1", count=count)
    if not isinstance(last, bool):
        raise GraphError("(#100) session.last_batch_flag must be a boolean", count=count)
    if total is not None and (not _is_int(total) or total < 0):
        raise GraphError("(#100) session.estimated_num_total must be an integer", count=count)
    return Session(session_id, batch_seq, last, total)


#: ``customer_file_source`` values Graph accepts for customer-list audiences.
CUSTOMER_FILE_SOURCES = frozenset(
    {"USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"}
)


def parse_creation(params: dict[str, str]) -> tuple[str, str, str]:
    """Name, description and customer_file_source of a customer-list audience to create."""
    name = params.get("name", "").strip()
    if not name:
        raise GraphError("(#100) The parameter name is required")
    if len(name) > 255:
        raise GraphError("(#100) param name must be at most 255 characters long")
    if params.get("subtype") != "CUSTOM":
        raise GraphError("(#100) The sandbox creates customer-list audiences: subtype=CUSTOM")
    source = params.get("customer_file_source", "")
    if source not in CUSTOMER_FILE_SOURCES:
        raise GraphError(
            "(#100) customer_file_source must be one of " + ", ".join(sorted(CUSTOMER_FILE_SOURCES))
        )
    return name, params.get("description", ""), source


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_schema(raw: Any) -> tuple[list[str], bool]:
    """Return the canonical schema keys and whether the schema was a single-key string."""
    single = isinstance(raw, str)
    names = [raw] if single else raw
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise GraphError("(#100) payload.schema must be a key name or a non-empty array of them")
    keys = [_SCHEMA_ALIASES.get(name, name) for name in names]
    for position, key in enumerate(keys):
        if key not in SCHEMA_KEYS:
            shown = f" {key!r}" if NAME.fullmatch(key) else ""
            raise GraphError(f"(#100) Invalid schema key{shown} at schema position {position}")
    if len(set(keys)) != len(keys):
        raise GraphError("(#100) payload.schema repeats a key")
    return keys, single


def parse_rows(payload: Any) -> ParsedRows:
    """Validate a ``payload``; return its members and the counts Graph reports."""
    if not isinstance(payload, dict):
        raise GraphError("(#100) param payload must be a JSON object with schema and data")
    keys, single = _parse_schema(payload.get("schema"))
    data = payload.get("data")
    if not isinstance(data, list) or not data:
        raise GraphError("(#100) payload.data must be a non-empty array")
    received = len(data)
    if received > MAX_ROWS:
        raise GraphError(
            f"(#100) Too many rows in payload.data: {received} (at most {MAX_ROWS} per request)",
            count=received,
        )
    fast = _parse_hashed_rows(keys, single, data)
    if fast is not None:
        return fast
    parsed = ParsedRows([], received)
    for index, row in enumerate(data):
        values = [row] if single and not isinstance(row, list) else row
        if not isinstance(values, list):
            raise GraphError(f"(#100) Row {index} of payload.data is not an array", count=received)
        if len(values) != len(keys):
            raise GraphError(
                f"(#100) Row {index} of payload.data has {len(values)} values "
                f"but the schema has {len(keys)} keys",
                count=received,
            )
        pairs = []
        for key, value in zip(keys, values, strict=True):
            _check_value(index, key, value, received)
            if key == "MADID" and value and not _DEVICE_ID.fullmatch(value):
                if len(parsed.samples) < _MAX_SAMPLES:
                    parsed.samples[value] = "Invalid MADID: not a device advertising id"
                continue
            if value:
                pairs.append((key, value))
        if pairs:
            parsed.members.append(frozenset(pairs))
        else:
            parsed.invalid += 1  # Graph counts a row with nothing to match on as invalid
    return parsed


_HASHED_VALUES = re.compile(r"(?:[0-9a-f]{64})?(?:\n(?:[0-9a-f]{64})?)*")


def _parse_hashed_rows(keys: list[str], single: bool, data: list[Any]) -> ParsedRows | None:
    """The common payload -- hashed keys only, every row a list of strings of the schema's
    length -- checked with one regex over all values instead of one per value. Returns None
    for anything else (and for any problem), so the row-by-row path decides and names the
    row at fault; for payloads it accepts, both give the same result."""
    if single or not all(key in HASHED_KEYS for key in keys):
        return None
    width = len(keys)
    values: list[Any] = []
    for row in data:
        if type(row) is not list or len(row) != width:
            return None
        values.extend(row)
    if not all(type(value) is str for value in values):
        return None
    joined = "\n".join(values)  # a value holding a newline would pass for two: refuse it
    if joined.count("\n") != len(values) - 1 or not _HASHED_VALUES.fullmatch(joined):
        return None
    parsed = ParsedRows([], len(data))
    if width == 1:
        key = keys[0]
        parsed.members = [frozenset(((key, value),)) for value in values if value]
        parsed.invalid = len(values) - len(parsed.members)
        return parsed
    for start in range(0, len(values), width):
        pairs = [(k, v) for k, v in zip(keys, values[start : start + width], strict=True) if v]
        if pairs:
            parsed.members.append(frozenset(pairs))
        else:
            parsed.invalid += 1
    return parsed


def _check_value(index: int, key: str, value: Any, received: int) -> None:
    if not isinstance(value, str):
        raise GraphError(f"(#100) Row {index}: the {key} value must be a string", count=received)
    if key in HASHED_KEYS:
        if value and not _HEX64.fullmatch(value):
            raise GraphError(
                f"(#100) Row {index}: the {key} value is not a SHA-256 hash "
                "(64 lowercase hex characters)",
                count=received,
            )
    elif len(value) > _MAX_PLAIN_LEN:
        raise GraphError(
            f"(#100) Row {index}: the {key} value is longer than {_MAX_PLAIN_LEN}",
            count=received,
        )
