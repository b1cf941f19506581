"""Meta Graph API emulator: the custom-audience ``users`` edge and the audience node.

It speaks what facebook-business sends (``access_token`` in the query string, form-encoded
POST params whose dict/list values are JSON) and enforces what Graph enforces on that edge:
10,000 rows per request, known schema keys, SHA-256 hex for hashed keys, and Graph's error
shape and codes, so syncd's Meta destination and its error table are tested against the wire
format rather than against our own assumptions. Removals arrive either as ``DELETE`` with the
payload in the query string (what the SDK's ``remove_users`` does, and what the 8 KB URL limit
breaks for big batches) or as ``POST`` with ``method=DELETE`` and the payload in the body.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

from syncd.sandbox.server import EmulatorServer, Request, Response, json_response

__all__ = [
    "HASHED_KEYS",
    "MAX_ROWS",
    "PLAIN_KEYS",
    "SCHEMA_KEYS",
    "Member",
    "MetaGraphEmulator",
]

#: Rows accepted by one ``users`` request.
MAX_ROWS = 10_000
#: Multi-key schema keys that must be SHA-256 hex (or empty in a multi-key row).
HASHED_KEYS = frozenset(
    (
        "EMAIL",
        "PHONE",
        "FN",
        "LN",
        "CT",
        "ST",
        "ZIP",
        "COUNTRY",
        "DOBY",
        "DOBM",
        "DOBD",
        "GEN",
        "FI",
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

_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")  # echo a client-sent name only if it looks like one
_PATH = re.compile(r"/v\d+\.\d+/(?P<id>[^/]+)(?P<edge>/users)?/?")
_NODE_FIELDS = (
    "id",
    "name",
    "subtype",
    "approximate_count_lower_bound",
    "approximate_count_upper_bound",
    "operation_status",
    "delivery_status",
)

#: One audience member: its non-empty (schema key, value) pairs.
Member = frozenset[tuple[str, str]]


class GraphError(Exception):
    """A Graph API error, rendered in Graph's ``{"error": {...}}`` shape."""

    def __init__(
        self,
        message: str,
        *,
        code: int = 100,
        subcode: int | None = None,
        status: int = 400,
        count: int = 0,
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.subcode, self.status, self.count = (
            message,
            code,
            subcode,
            status,
            count,
        )


def _graph_error(error: GraphError, operation: str = "") -> Response:
    body: dict[str, Any] = {
        "message": error.message,
        "type": "OAuthException",
        "code": error.code,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if error.subcode is not None:
        body["error_subcode"] = error.subcode
    headers = {}
    if error.code == 190:
        headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token"'
    return json_response(
        error.status, {"error": body}, operation=operation, count=error.count, headers=headers
    )


def _parse_json_param(params: dict[str, str], name: str) -> Any:
    try:
        return json.loads(params[name])
    except ValueError:
        raise GraphError(f"(#100) param {name} must be valid JSON") from None


def _parse_schema(raw: Any) -> tuple[list[str], bool]:
    """Return the canonical schema keys and whether the schema was a single-key string."""
    single = isinstance(raw, str)
    names = [raw] if single else raw
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise GraphError("(#100) payload.schema must be a key name or a non-empty array of them")
    keys = [_SCHEMA_ALIASES.get(name, name) for name in names]
    for position, key in enumerate(keys):
        if key not in SCHEMA_KEYS:
            shown = f" {key!r}" if _NAME.fullmatch(key) else ""
            raise GraphError(f"(#100) Invalid schema key{shown} at schema position {position}")
    if len(set(keys)) != len(keys):
        raise GraphError("(#100) payload.schema repeats a key")
    return keys, single


def _parse_rows(payload: Any) -> tuple[list[Member], int, int]:
    """Validate a ``payload``; return its members, rows received and rows with no value."""
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
    members: list[Member] = []
    empty = 0
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
        for key, value in zip(keys, values, strict=True):
            if not isinstance(value, str):
                raise GraphError(
                    f"(#100) Row {index}: the {key} value must be a string", count=received
                )
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
        member = frozenset((k, v) for k, v in zip(keys, values, strict=True) if v)
        if member:
            members.append(member)
        else:
            empty += 1  # Graph counts a row with nothing to match on as an invalid entry
    return members, received, empty


class MetaGraphEmulator(EmulatorServer):
    """Emulates Graph's ``/vX.Y/{audience_id}/users`` edge and ``/vX.Y/{audience_id}`` node.

    ``audiences`` are the custom audience ids that exist; any other id answers Graph's
    "object does not exist" error. With ``access_token`` given, requests must carry exactly
    that token; without it, any non-empty token is accepted.
    """

    def __init__(
        self,
        audiences: Iterable[str] = (),
        access_token: str | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(port)
        self._access_token = access_token
        self._audiences: dict[str, set[Member]] = {str(a): set() for a in audiences}

    # -- test helpers ----------------------------------------------------------------------

    def add_audience(self, audience_id: str) -> None:
        """Create an (empty) audience, as if it had been made in Ads Manager."""
        with self._lock:
            self._audiences.setdefault(str(audience_id), set())

    def members(self, audience_id: str) -> set[Member]:
        """A copy of an audience's members; raises ``KeyError`` for an unknown audience."""
        with self._lock:
            return set(self._audiences[str(audience_id)])

    # -- HTTP ------------------------------------------------------------------------------

    def internal_error_response(self) -> Response:
        """An emulator bug surfaces as Graph's 500 with its generic, transient code 1."""
        return _graph_error(GraphError("An unknown error occurred", code=1, status=500))

    def handle(self, request: Request) -> Response:
        """Route one request; every failure becomes a Graph-shaped error response."""
        match = _PATH.fullmatch(request.path)
        if match is None:
            return _graph_error(GraphError("Unknown path components", code=2500))
        params = {**request.query, **request.form()}
        method = request.method
        if method == "POST" and params.get("method", "").upper() == "DELETE":
            method = "DELETE"  # Graph's method override: a removal with its payload in the body
        is_edge = match["edge"] is not None
        operation = {"POST": "add", "DELETE": "remove"}.get(method, "") if is_edge else "read"
        try:
            self._check_token(params.get("access_token") or request.bearer_token())
            audience_id = match["id"]
            with self._lock:
                exists = audience_id in self._audiences
            supported = method in ("POST", "DELETE") if is_edge else method == "GET"
            if not exists or not supported:
                raise GraphError(
                    f"Unsupported {method.lower()} request. Object with ID '{audience_id}' does "
                    "not exist, cannot be loaded due to missing permissions, or does not "
                    "support this operation.",
                    subcode=33,
                )
            if not is_edge:
                return self._read(audience_id, params.get("fields"))
            return self._mutate(audience_id, params, remove=method == "DELETE")
        except GraphError as error:
            return _graph_error(error, operation)

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise GraphError("An access token is required to request this resource.", code=190)
        if self._access_token is not None and not secrets.compare_digest(
            token.encode(), self._access_token.encode()
        ):
            raise GraphError("Invalid OAuth access token - Cannot parse access token", code=190)

    def _mutate(self, audience_id: str, params: dict[str, str], *, remove: bool) -> Response:
        if "payload" not in params:
            raise GraphError("(#100) The parameter payload is required")
        members, received, empty = _parse_rows(_parse_json_param(params, "payload"))
        session_id: Any = secrets.randbits(62)
        if "session" in params:
            session = _parse_json_param(params, "session")
            if not isinstance(session, dict):
                raise GraphError("(#100) param session must be a JSON object", count=received)
            session_id = session.get("session_id", session_id)
        with self._lock:
            audience = self._audiences[audience_id]
            if remove:
                audience.difference_update(members)
            else:
                audience.update(members)
        return json_response(
            200,
            {
                "audience_id": audience_id,
                "session_id": session_id,
                "num_received": received,
                "num_invalid_entries": empty,
                "invalid_entry_samples": {},
            },
            operation="remove" if remove else "add",
            count=received,
        )

    def _read(self, audience_id: str, fields: str | None) -> Response:
        with self._lock:
            size = len(self._audiences[audience_id])
        node: dict[str, Any] = {
            "id": audience_id,
            "name": f"sandbox audience {audience_id}",
            "subtype": "CUSTOM",
            "approximate_count_lower_bound": size,
            "approximate_count_upper_bound": size,
            "operation_status": {"code": 200, "description": "Normal"},
            "delivery_status": {"code": 200, "description": "This audience is ready for use."},
        }
        if fields:
            wanted = [name.strip() for name in fields.split(",") if name.strip()]
            for name in wanted:
                if name not in _NODE_FIELDS:
                    shown = f" ({name})" if _NAME.fullmatch(name) else ""
                    raise GraphError(
                        f"(#100) Tried accessing nonexisting field{shown} on node type "
                        "(CustomAudience)"
                    )
            node = {name: node[name] for name in ("id", *wanted)}
        return json_response(200, node, operation="read", count=size)
