"""Google's error model as the Data Manager API sends it, and the checks that raise it.

An error is a ``google.rpc.Status`` in JSON: ``{"error": {"code", "message", "status",
"details"}}``. ``details`` always holds an ``ErrorInfo`` (its ``reason`` is the API's
``ErrorReason``, or the canonical status when field violations carry the reasons); a refusal
of specific fields adds a ``BadRequest`` whose field violations name the proto field path --
``audience_members.audience_members[3].user_data.user_identifiers`` (see ``members``) -- and
the reason, never the value. Quota refusals add ``RetryInfo`` and ``QuotaFailure``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Any

from syncd.sandbox.messages import Response, json_response

__all__ = [
    "DOMAIN",
    "ApiError",
    "Violation",
    "check_enum",
    "error_response",
    "not_found",
    "require",
    "snake",
]

DOMAIN = "datamanager.googleapis.com"
_TYPE = "type.googleapis.com/google.rpc."
_VIOLATION = ("field", "description", "reason")


@dataclass(frozen=True, slots=True)
class Violation:
    """One ``BadRequest.FieldViolation``: a field path and an ``ErrorReason``, never a value."""

    field: str
    description: str
    reason: str


class ApiError(Exception):
    """A Google API error.

    ``field`` and ``reason`` make one field violation; ``violations`` several (one per bad
    audience member, say). ``details`` are extra detail objects (``RetryInfo``,
    ``QuotaFailure``) and ``metadata`` the ``ErrorInfo`` metadata. ``error_info=False`` for
    the front-end's refusals, which carry none.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "INVALID_ARGUMENT",
        field: str | None = None,
        status: int = 400,
        grpc_status: str = "INVALID_ARGUMENT",
        domain: str = DOMAIN,
        count: int = 0,
        violations: Sequence[Violation] = (),
        details: Sequence[dict[str, Any]] = (),
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        error_info: bool = True,
    ) -> None:
        super().__init__(message)
        self.message, self.reason, self.status = message, reason, status
        self.grpc_status, self.domain, self.count = grpc_status, domain, count
        if field is not None:
            violations = [Violation(field, message, reason), *violations]
            self.message = f"{message} (field: {field})"
        self.violations: list[Violation] = list(violations)
        self.details = list(details)
        self.metadata = dict(metadata or {})
        self.headers = dict(headers or {})
        self.error_info = error_info

    @property
    def field(self) -> str | None:
        """The first violation's field, if the error names fields at all."""
        return self.violations[0].field if self.violations else None


def error_response(error: ApiError, operation: str = "") -> Response:
    """The JSON response of an error, as Google's front-end writes it."""
    info: dict[str, Any] = {
        "@type": f"{_TYPE}ErrorInfo",
        "reason": error.grpc_status if error.violations else error.reason,
        "domain": error.domain,
    }
    if error.metadata:
        info["metadata"] = error.metadata
    details: list[dict[str, Any]] = [info] if error.error_info else []
    if error.violations:
        # Empty parts are left out, as proto3 JSON leaves out empty strings: the quickstart's
        # INVALID_SHA256_FORMAT violation has no description, the front-end's no reason.
        violations = [
            {name: value for name, value in zip(_VIOLATION, astuple(v), strict=True) if value}
            for v in error.violations
        ]
        details.append({"@type": f"{_TYPE}BadRequest", "fieldViolations": violations})
    details.extend(error.details)
    body = {"code": error.status, "message": error.message, "status": error.grpc_status}
    headers = dict(error.headers)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return json_response(
        error.status,
        {"error": {**body, "details": details}},
        operation=operation,
        count=error.count,
        headers=headers or None,
    )


def require(value: Any, kind: type, field: str) -> Any:
    """Return ``value`` if it is a non-empty ``kind``; fail like Google on missing/mistyped."""
    if value is None or value == "" or value == [] or value == {}:
        raise ApiError("Required field is missing.", reason="REQUIRED_FIELD_MISSING", field=field)
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        raise ApiError(f"Expected a {kind.__name__} value.", reason="INVALID_FORMAT", field=field)
    return value


def check_enum(value: Any, allowed: frozenset[str], field: str) -> None:
    if value not in allowed:
        raise ApiError("Enum value cannot be used.", reason="INVALID_ENUM_VALUE", field=field)


def not_found(message: str, reason: str = "NOT_FOUND", field: str | None = None) -> ApiError:
    return ApiError(message, reason=reason, field=field, status=404, grpc_status="NOT_FOUND")


def snake(name: str) -> str:
    """Google reports proto (snake_case) field paths even for camelCase JSON input."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
