"""Google Data Manager API emulator: ``audienceMembers:ingest``/``:remove`` and request status.

syncd pushes Customer Match lists through this REST API with httpx, so the emulator speaks its
JSON (camelCase request fields, ``Authorization: Bearer``) and enforces its limits -- 10
destinations, 10,000 members, 10 identifiers per member, SHA-256 in the declared encoding,
accepted Customer Match terms -- with Google's error model: a status object whose ``details``
hold an ``ErrorInfo`` and a ``BadRequest`` whose field violation names the field path (with the
member index) and the specific ``ErrorReason``. The API is fast-fail: one bad member fails the
whole request, and nothing is applied.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from syncd.sandbox.server import EmulatorServer, Request, Response, json_response

__all__ = [
    "MAX_DESTINATIONS",
    "MAX_IDENTIFIERS",
    "MAX_MEMBERS",
    "DataManagerEmulator",
    "Member",
]

MAX_DESTINATIONS = 10
MAX_MEMBERS = 10_000
MAX_IDENTIFIERS = 10

_DOMAIN = "datamanager.googleapis.com"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REGION = re.compile(r"[A-Z]{2}")
_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")  # echo a client-sent field name only if it looks like one
_ACCOUNT_TYPES = frozenset(
    {"GOOGLE_ADS", "DISPLAY_VIDEO_PARTNER", "DISPLAY_VIDEO_ADVERTISER", "DATA_PARTNER"}
)
_CONSENT_VALUES = frozenset({"CONSENT_STATUS_UNSPECIFIED", "CONSENT_GRANTED", "CONSENT_DENIED"})
_COMMON_FIELDS = frozenset(
    {"destinations", "audienceMembers", "validateOnly", "encoding", "encryptionInfo"}
)
_FIELDS = {
    "ingest": _COMMON_FIELDS | {"consent", "termsOfService"},
    "remove": _COMMON_FIELDS,
}
_MATCH_RATE = "MATCH_RATE_RANGE_51_TO_60"

#: An address identifier's value: (givenName, familyName, regionCode, postalCode).
Address = tuple[str, str, str, str]
#: One audience member: its (identifier name, value) pairs.
Member = frozenset[tuple[str, str | Address]]


class ApiError(Exception):
    """A Google API error; ``field`` and ``reason`` become a ``BadRequest`` field violation."""

    def __init__(
        self,
        message: str,
        *,
        reason: str = "INVALID_ARGUMENT",
        field: str | None = None,
        status: int = 400,
        grpc_status: str = "INVALID_ARGUMENT",
        domain: str = _DOMAIN,
        count: int = 0,
    ) -> None:
        super().__init__(message)
        self.message, self.reason, self.field, self.status = message, reason, field, status
        self.grpc_status, self.domain, self.count = grpc_status, domain, count


def _error_response(error: ApiError, operation: str = "") -> Response:
    message = f"{error.message} (field: {error.field})" if error.field else error.message
    info_reason = error.reason if error.field is None else error.grpc_status
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": info_reason,
        "domain": error.domain,
    }
    details: list[dict[str, Any]] = [info]
    if error.field is not None:
        violation = {"field": error.field, "description": error.message, "reason": error.reason}
        details.append(
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
        )
    body = {"code": error.status, "message": message, "status": error.grpc_status}
    headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
    return json_response(
        error.status,
        {"error": {**body, "details": details}},
        operation=operation,
        count=error.count,
        headers=headers if error.status == 401 else None,
    )


def _require(value: Any, kind: type, field: str) -> Any:
    """Return ``value`` if it is a non-empty ``kind``; fail like Google on missing/mistyped."""
    if value is None or value == "" or value == [] or value == {}:
        raise ApiError("Required field is missing.", reason="REQUIRED_FIELD_MISSING", field=field)
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        raise ApiError(f"Expected a {kind.__name__} value.", reason="INVALID_FORMAT", field=field)
    return value


def _check_enum(value: Any, allowed: frozenset[str], field: str) -> None:
    if value not in allowed:
        raise ApiError("Enum value cannot be used.", reason="INVALID_ENUM_VALUE", field=field)


def _check_consent(consent: Any, field: str) -> None:
    consent = _require(consent, dict, field)
    for name in ("adUserData", "adPersonalization"):
        if name in consent:
            _check_enum(consent[name], _CONSENT_VALUES, f"{field}.{_snake(name)}")


def _snake(name: str) -> str:
    """Google reports proto (snake_case) field paths even for camelCase JSON input."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


class _Decoder:
    """Checks one hashed value in the request's ``encoding`` and returns it as lowercase hex."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding

    def __call__(self, value: Any, field: str) -> str:
        value = _require(value, str, field)
        if self.encoding == "HEX":
            if not _HEX64.fullmatch(value):
                raise ApiError(
                    "The HEX encoded value is malformed: expected a SHA-256 hash as 64 "
                    "lowercase hex characters.",
                    reason="INVALID_HEX_ENCODING",
                    field=field,
                )
            return str(value)
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ApiError(
                "The base64 encoded value is malformed: expected a SHA-256 hash.",
                reason="INVALID_BASE64_ENCODING",
                field=field,
            )
        return raw.hex()


def _parse_identifier(identifier: Any, decode: _Decoder, field: str) -> tuple[str, str | Address]:
    identifier = _require(identifier, dict, field)
    kinds = [k for k in ("emailAddress", "phoneNumber", "address") if k in identifier]
    if len(kinds) != 1 or len(identifier) != 1:
        raise ApiError(
            "A user identifier holds exactly one of email_address, phone_number, address.",
            reason="INVALID_FORMAT",
            field=field,
        )
    kind = kinds[0]
    path = f"{field}.{_snake(kind)}"
    if kind != "address":
        return kind, decode(identifier[kind], path)
    address = _require(identifier[kind], dict, path)
    given = decode(address.get("givenName"), f"{path}.given_name")
    family = decode(address.get("familyName"), f"{path}.family_name")
    region = _require(address.get("regionCode"), str, f"{path}.region_code")
    if not _REGION.fullmatch(region):
        raise ApiError(
            "Country code is not valid: expected 2 uppercase letters (ISO 3166-1 alpha-2).",
            reason="INVALID_COUNTRY_CODE",
            field=f"{path}.region_code",
        )
    postal = _require(address.get("postalCode"), str, f"{path}.postal_code")
    if len(postal) > 32:
        raise ApiError(
            "Postal code is not valid.", reason="INVALID_POSTAL_CODE", field=f"{path}.postal_code"
        )
    return kind, (given, family, region, postal)


def _parse_member(member: Any, decode: _Decoder, field: str) -> tuple[Member, int]:
    """Parse one member; return it and how many identifiers it was sent with."""
    member = _require(member, dict, field)
    if "consent" in member:
        _check_consent(member["consent"], f"{field}.consent")
    base = field
    if "compositeData" in member:
        member = _require(member["compositeData"], dict, f"{field}.composite_data")
        base = f"{field}.composite_data"
    if "userData" not in member:
        raise ApiError(
            "This audience member is not valid: the sandbox supports user_data members only.",
            reason="INVALID_AUDIENCE_MEMBER",
            field=base,
        )
    user_data = _require(member["userData"], dict, f"{base}.user_data")
    ids_field = f"{base}.user_data.user_identifiers"
    identifiers = _require(user_data.get("userIdentifiers"), list, ids_field)
    if len(identifiers) > MAX_IDENTIFIERS:
        raise ApiError(
            f"Maximum number of user identifiers allowed per audience member is "
            f"{MAX_IDENTIFIERS}; got {len(identifiers)}.",
            reason="TOO_MANY_USER_IDENTIFIERS",
            field=ids_field,
        )
    parsed = frozenset(
        _parse_identifier(identifier, decode, f"{ids_field}[{index}]")
        for index, identifier in enumerate(identifiers)
    )
    return parsed, len(identifiers)


class DataManagerEmulator(EmulatorServer):
    """Emulates ``POST /v1/audienceMembers:ingest``, ``:remove`` and ``requestStatus:retrieve``.

    ``user_lists`` are the user list ids (``productDestinationId``) that exist. With
    ``access_token`` given, requests must carry exactly that Bearer token; without it, any
    non-empty Bearer token is accepted. Ingestion is applied at once and its status is SUCCESS.
    """

    def __init__(
        self,
        user_lists: Iterable[str] = (),
        access_token: str | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(port)
        self._access_token = access_token
        self._lists: dict[str, set[Member]] = {str(u): set() for u in user_lists}
        self._statuses: dict[str, list[dict[str, Any]]] = {}

    # -- test helpers ----------------------------------------------------------------------

    def add_user_list(self, list_id: str) -> None:
        """Create an (empty) user list, as if it had been made in Google Ads."""
        with self._lock:
            self._lists.setdefault(str(list_id), set())

    def members(self, list_id: str) -> set[Member]:
        """A copy of a user list's members; raises ``KeyError`` for an unknown list."""
        with self._lock:
            return set(self._lists[str(list_id)])

    # -- HTTP ------------------------------------------------------------------------------

    def internal_error_response(self) -> Response:
        """An emulator bug surfaces as Google's 500 INTERNAL, which clients retry."""
        error = ApiError(
            "Internal error encountered.",
            reason="INTERNAL_ERROR",
            status=500,
            grpc_status="INTERNAL",
        )
        return _error_response(error)

    def handle(self, request: Request) -> Response:
        """Route one request; every failure becomes a Google-shaped error response."""
        routes = {
            ("POST", "/v1/audienceMembers:ingest"): "ingest",
            ("POST", "/v1/audienceMembers:remove"): "remove",
            ("GET", "/v1/requestStatus:retrieve"): "status",
        }
        operation = routes.get((request.method, request.path))
        if operation is None:
            return _error_response(
                ApiError(
                    "Method not found.", reason="NOT_FOUND", status=404, grpc_status="NOT_FOUND"
                )
            )
        try:
            self._check_token(request.bearer_token())
            if operation == "status":
                return self._status(request.query.get("requestId"))
            try:
                body = request.json()
            except ValueError:
                raise ApiError("Invalid JSON payload received.") from None
            return self._mutate(operation, body)
        except ApiError as error:
            return _error_response(error, operation)

    def _check_token(self, token: str | None) -> None:
        if token is None:
            raise ApiError(
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential.",
                reason="CREDENTIALS_MISSING",
                status=401,
                grpc_status="UNAUTHENTICATED",
                domain="googleapis.com",
            )
        if self._access_token is not None and not secrets.compare_digest(
            token.encode(), self._access_token.encode()
        ):
            raise ApiError(
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                reason="ACCESS_TOKEN_TYPE_UNSUPPORTED",
                status=401,
                grpc_status="UNAUTHENTICATED",
                domain="googleapis.com",
            )

    def _mutate(self, operation: str, body: Any) -> Response:
        if not isinstance(body, dict):
            raise ApiError("Invalid JSON payload received: expected an object.")
        for name in body:
            if name not in _FIELDS[operation]:
                shown = f' "{name}"' if _NAME.fullmatch(name) else ""
                raise ApiError(f"Invalid JSON payload received. Unknown name{shown}.")
        members_raw = body.get("audienceMembers")
        count = len(members_raw) if isinstance(members_raw, list) else 0
        try:
            destinations, members, identifiers = self._validate(operation, body)
        except ApiError as error:
            error.count = count
            raise
        if body.get("validateOnly"):
            return json_response(200, {}, operation=f"{operation}-validate", count=count)
        with self._lock:
            for destination in destinations:
                target = self._lists[destination["productDestinationId"]]
                if operation == "ingest":
                    target.update(members)
                else:
                    target.difference_update(members)
            request_id = str(uuid.uuid4())
            self._statuses[request_id] = [
                self._destination_status(operation, d, len(members), identifiers)
                for d in destinations
            ]
        return json_response(200, {"requestId": request_id}, operation=operation, count=count)

    def _validate(
        self, operation: str, body: dict[str, Any]
    ) -> tuple[list[Any], list[Member], int]:
        """Check a whole request (fast-fail); return destinations, members, identifier count."""
        destinations = _require(body.get("destinations"), list, "destinations")
        if len(destinations) > MAX_DESTINATIONS:
            raise ApiError(
                f"Maximum number of destinations allowed per request is {MAX_DESTINATIONS}; "
                f"got {len(destinations)}.",
                reason="TOO_MANY_DESTINATIONS",
                field="destinations",
            )
        for index, destination in enumerate(destinations):
            self._check_destination(destination, f"destinations[{index}]")
        encoding = _require(body.get("encoding"), str, "encoding")
        _check_enum(encoding, frozenset({"HEX", "BASE64"}), "encoding")
        if "validateOnly" in body:
            _require(body["validateOnly"], bool, "validate_only")
        if "consent" in body:
            _check_consent(body["consent"], "consent")
        if operation == "ingest":
            terms = body.get("termsOfService")
            status = (
                terms.get("customerMatchTermsOfServiceStatus") if isinstance(terms, dict) else None
            )
            if status != "ACCEPTED":
                raise ApiError(
                    "Required terms and conditions are not accepted: Customer Match terms of "
                    "service must be ACCEPTED.",
                    reason="TERMS_AND_CONDITIONS_NOT_SIGNED",
                    field="terms_of_service.customer_match_terms_of_service_status",
                )
        members_raw = _require(body.get("audienceMembers"), list, "audience_members")
        if len(members_raw) > MAX_MEMBERS:
            raise ApiError(
                f"Maximum number of audience members allowed per request is {MAX_MEMBERS}; "
                f"got {len(members_raw)}.",
                reason="TOO_MANY_AUDIENCE_MEMBERS",
                field="audience_members",
            )
        decode = _Decoder(encoding)
        parsed = [
            _parse_member(member, decode, f"audience_members[{index}]")
            for index, member in enumerate(members_raw)
        ]
        return destinations, [member for member, _ in parsed], sum(n for _, n in parsed)

    def _check_destination(self, destination: Any, field: str) -> None:
        destination = _require(destination, dict, field)
        for account_name in ("operatingAccount", "loginAccount", "linkedAccount"):
            account_field = f"{field}.{_snake(account_name)}"
            if account_name not in destination and account_name != "operatingAccount":
                continue
            account = _require(destination.get(account_name), dict, account_field)
            _require(account.get("accountId"), str, f"{account_field}.account_id")
            account_type = _require(
                account.get("accountType"), str, f"{account_field}.account_type"
            )
            _check_enum(account_type, _ACCOUNT_TYPES, f"{account_field}.account_type")
        list_field = f"{field}.product_destination_id"
        list_id = _require(destination.get("productDestinationId"), str, list_field)
        with self._lock:
            exists = list_id in self._lists
        if not exists:
            raise ApiError(
                "Resource not found: no user list with this product_destination_id.",
                reason="INVALID_USER_LIST_ID",
                field=list_field,
                status=404,
                grpc_status="NOT_FOUND",
            )

    @staticmethod
    def _destination_status(
        operation: str, destination: dict[str, Any], record_count: int, identifier_count: int
    ) -> dict[str, Any]:
        # int64 fields are strings in proto3 JSON, as the real API returns them.
        records, identifiers = str(record_count), str(identifier_count)
        if operation == "ingest":
            status = {
                "audienceMembersIngestionStatus": {
                    "userDataIngestionStatus": {
                        "recordCount": records,
                        "userIdentifierCount": identifiers,
                        "uploadMatchRateRange": _MATCH_RATE,
                    }
                }
            }
        else:
            status = {
                "audienceMembersRemovalStatus": {
                    "userDataRemovalStatus": {
                        "recordCount": records,
                        "userIdentifierCount": identifiers,
                    }
                }
            }
        return {"destination": destination, "requestStatus": "SUCCESS", **status}

    def _status(self, request_id: str | None) -> Response:
        if not request_id:
            raise ApiError(
                "Required field is missing.", reason="REQUIRED_FIELD_MISSING", field="request_id"
            )
        with self._lock:
            statuses = self._statuses.get(request_id)
        if statuses is None:
            raise ApiError(
                "Resource not found: no request with this request_id.",
                reason="NOT_FOUND",
                status=404,
                grpc_status="NOT_FOUND",
            )
        return json_response(200, {"requestStatusPerDestination": statuses}, operation="status")
