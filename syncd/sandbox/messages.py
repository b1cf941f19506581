"""What an emulator's ``handle`` takes and returns: a parsed HTTP ``Request`` and a
``Response``, with the builders every network's error shapes start from.

Kept apart from the server (``server``) so a network's rules and error tables depend on these
values only, not on sockets and threads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs

__all__ = ["Request", "Response", "frontend_error", "json_response"]


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed HTTP request handed to an emulator's ``handle``."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON; raises ``ValueError`` when it is not valid JSON."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """Decode an ``application/x-www-form-urlencoded`` body (first value of each key)."""
        content_type = self.headers.get("Content-Type", "")
        if not self.body or "application/x-www-form-urlencoded" not in content_type:
            return {}
        parsed = parse_qs(
            _unescape_json_punctuation(self.body.decode("utf-8")), keep_blank_values=True
        )
        return {key: values[0] for key, values in parsed.items()}

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer``/``OAuth`` header, if there is one."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "oauth") and token.strip():
            return token.strip()
        return None


#: Escapes of the characters JSON is made of, as form encoding writes them (upper or lower
#: case hex). A 10,000-row Graph payload holds about 50,000 of them.
_JSON_ESCAPES = tuple(
    (escape, character)
    for character in '"[]{}:,'
    for hex_digits in {f"{ord(character):02X}", f"{ord(character):02x}"}
    for escape in (f"%{hex_digits}",)
)


def _unescape_json_punctuation(form: str) -> str:
    """Decode the escapes of JSON punctuation ahead of ``parse_qs``, with ``str.replace``
    in C rather than one Python step per escape. The result parses to the same values: an
    escape is ``%`` and two hex digits wherever it starts, so a replacement can neither
    start inside another escape nor make a new one (it writes no ``%`` and no hex digit),
    and ``&``, ``=`` and ``+`` are left for ``parse_qs``."""
    for escape, character in _JSON_ESCAPES:
        form = form.replace(escape, character)
    return form


@dataclass(slots=True)
class Response:
    """What an emulator answers; ``operation`` and ``count`` only feed the request log."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    operation: str = ""
    count: int = 0


def json_response(
    status: int,
    payload: Any,
    *,
    operation: str = "",
    count: int = 0,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build a compact JSON response."""
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return Response(status, body, headers=dict(headers or {}), operation=operation, count=count)


def frontend_error(status: int, reason: str) -> Response:
    """A refusal by the HTTP front-end (413, 414), before any API logic runs.

    Its code is the HTTP status, not an API error code (Graph's code 1, say, is transient
    and would be retried; a 414 never passes). It is JSON with an ``error`` key because
    facebook-business takes any body that is not such JSON for a success.
    """
    return json_response(status, {"error": {"code": status, "message": reason}})
