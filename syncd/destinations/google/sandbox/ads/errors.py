"""Google Ads API errors as the real API sends them: a ``GoogleAdsFailure`` in trailing metadata.

The client's ``ExceptionInterceptor`` looks for the trailing metadata key
``google.ads.googleads.{version}.errors.googleadsfailure-bin``; when it is there (and the status
is not INTERNAL or RESOURCE_EXHAUSTED) it raises ``GoogleAdsException`` whose ``failure.errors``
hold each error's ``error_code`` (one field of the ``ErrorCode`` oneof, e.g.
``query_error: UNRECOGNIZED_FIELD``), message and field-path location. Partial failures travel
instead inside the response, as a ``google.rpc.Status`` whose detail is the same failure.

Messages never carry identifier values or tokens: the real API would echo a bad value as the
error's ``trigger``, but syncd may log errors, and the sandbox must not hand it PII to log.

The gRPC status of a failure follows the first error's kind. Google documents the broad codes
(INVALID_ARGUMENT for validation, UNAUTHENTICATED, PERMISSION_DENIED); ABORTED for
``CONCURRENT_MODIFICATION`` is the emulator's choice (gRPC's code for a concurrency conflict).
Clients should classify on ``error_code``, not on the status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2

from syncd.destinations.google.sandbox.ads.protos import field_descriptor, protos

__all__ = [
    "HTTP_EQUIVALENT",
    "AdsError",
    "ErrorDetail",
    "Location",
    "failure_message",
    "failure_metadata_key",
    "partial_failure_status",
    "raise_or_partial",
    "serialize_failure",
]

#: A field path: (field name, index or None) from the request's root, e.g. operations[3].create.
Location = tuple[tuple[str, int | None], ...]

_STATUS_BY_KIND = {
    "authentication_error": grpc.StatusCode.UNAUTHENTICATED,
    "authorization_error": grpc.StatusCode.PERMISSION_DENIED,
    "not_allowlisted_error": grpc.StatusCode.PERMISSION_DENIED,
    "quota_error": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "internal_error": grpc.StatusCode.INTERNAL,
}
_STATUS_BY_CODE = {("database_error", "CONCURRENT_MODIFICATION"): grpc.StatusCode.ABORTED}

#: The HTTP status Google maps each gRPC code to; the request log records these, so the
#: gRPC emulator's log reads like the HTTP emulators' logs.
HTTP_EQUIVALENT = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One ``GoogleAdsError``: ``kind`` is the ``ErrorCode`` field, ``code`` its enum name."""

    kind: str
    code: str
    message: str
    location: Location = ()
    #: Seconds to back off, for a quota error (``details.quota_error_details.retry_delay``).
    retry_delay: float | None = None

    def at(self, *prefix: tuple[str, int | None]) -> ErrorDetail:
        """The same error, located under ``prefix`` (e.g. the operation it belongs to)."""
        location = (*prefix, *self.location)
        return ErrorDetail(self.kind, self.code, self.message, location, self.retry_delay)


class AdsError(Exception):
    """A request the API refuses as a whole; ``count`` only feeds the request log."""

    def __init__(self, *errors: ErrorDetail, count: int = 0) -> None:
        if not errors:
            raise ValueError("an AdsError needs at least one error")
        super().__init__(errors[0].message)
        self.errors: tuple[ErrorDetail, ...] = errors
        self.count = count

    @property
    def status(self) -> grpc.StatusCode:
        """The gRPC status, decided by the first error."""
        first = self.errors[0]
        return _STATUS_BY_CODE.get(
            (first.kind, first.code),
            _STATUS_BY_KIND.get(first.kind, grpc.StatusCode.INVALID_ARGUMENT),
        )


def failure_metadata_key(version: str) -> str:
    """The trailing-metadata key the client reads a failure from."""
    return f"google.ads.googleads.{version}.errors.googleadsfailure-bin"


def _failure(version: str, errors: Sequence[ErrorDetail], request_id: str) -> Any:
    failure: Any = protos(version).failure()
    failure.request_id = request_id
    for detail in errors:
        error = failure.errors.add()
        field = field_descriptor(error.error_code.DESCRIPTOR, detail.kind)
        if field is None or field.enum_type is None:
            raise KeyError(detail.kind)
        setattr(error.error_code, field.name, field.enum_type.values_by_name[detail.code].number)
        error.message = detail.message
        for name, index in detail.location:
            element = error.location.field_path_elements.add()
            element.field_name = name
            if index is not None:
                element.index = index
        if detail.retry_delay is not None:
            delay = error.details.quota_error_details.retry_delay
            delay.seconds = int(detail.retry_delay)
            delay.nanos = round((detail.retry_delay % 1) * 1e9)
    return failure


def serialize_failure(version: str, errors: Sequence[ErrorDetail], request_id: str) -> bytes:
    """The ``GoogleAdsFailure`` wire bytes for the trailing metadata."""
    data: bytes = _failure(version, errors, request_id).SerializeToString()
    return data


def failure_message(errors: Sequence[ErrorDetail]) -> str:
    """The status message: the single error's message, or a count and the first one."""
    if len(errors) == 1:
        return errors[0].message
    return f"Multiple errors in 'details'. First error: {errors[0].message}"


def partial_failure_status(
    version: str, errors: Sequence[ErrorDetail], request_id: str
) -> status_pb2.Status:
    """A response's ``partial_failure_error``: INVALID_ARGUMENT with the failure as detail."""
    detail = any_pb2.Any()
    detail.Pack(_failure(version, errors, request_id))
    return status_pb2.Status(
        code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
        message=failure_message(errors),
        details=[detail],
    )


def raise_or_partial(
    version: str, errors: Sequence[ErrorDetail], partial: bool, request_id: str, count: int
) -> status_pb2.Status | None:
    """Raise when errors fail the whole request; else the partial failure status, if any."""
    if errors and not partial:
        raise AdsError(*errors, count=count)
    return partial_failure_status(version, errors, request_id) if errors else None
