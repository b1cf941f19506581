"""``DataManagerEmulator``: the Data Manager API as syncd uses it, over HTTP on 127.0.0.1.

Routes: ``audienceMembers:ingest`` and ``:remove``, ``requestStatus:retrieve``, the v1.5
``userLists`` resource (create, get, list, patch, delete) and, for google-auth's refresh in
tests, an OAuth token endpoint (``POST /token``: refresh tokens and service-account JWTs,
signatures unchecked). Every API call first passes the Bearer token check, then the
project's quotas (see ``quota``).

Rules beyond the request shape:

* **Fast fail.** A request with any invalid member fails as a whole, nothing applied, with one
  field violation per bad member (``audience_members.audience_members[i]...``).
* **Consent (Customer Match).** A member's own ``consent`` overrides the request's. An ingested
  member whose ad user data or ad personalization consent is ``CONSENT_DENIED`` is *not* added
  to the list. As the real API does, the request itself still succeeds; the refusal shows in
  the request status: ``PARTIAL_SUCCESS`` (or ``FAILED`` if no member was usable) with an
  ``errorInfo.errorCounts`` entry ``PROCESSING_ERROR_REASON_DENIED_CONSENT``. Removals need no
  consent.
* **Asynchronous status.** Changes apply at once, but ``requestStatus:retrieve`` answers
  ``PROCESSING`` for a request's first ``processing_polls`` polls, then its final status.
  ``fail_processing`` makes accepted requests fail in processing: applied nowhere, ``FAILED``.
* **EU political ads.** With ``eu_political_ads_declared=False`` (an account that never made
  the EU political advertising self-declaration) ingests and list creation fail with
  ``EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED``; removals still pass.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from syncd.destinations.google.sandbox.data_manager import user_lists
from syncd.destinations.google.sandbox.data_manager.controls import EmulatorControls
from syncd.destinations.google.sandbox.data_manager.credentials import check_bearer, token_response
from syncd.destinations.google.sandbox.data_manager.errors import (
    ApiError,
    check_enum,
    error_response,
    not_found,
    require,
    snake,
)
from syncd.destinations.google.sandbox.data_manager.members import (
    KEY_TYPES,
    Decoder,
    Parsed,
    check_consent,
    denied_consent,
    parse_members,
)
from syncd.destinations.google.sandbox.data_manager.quota import Quota
from syncd.destinations.google.sandbox.data_manager.request_status import (
    DENIED,
    INTERNAL,
    RequestStatuses,
    destination_status,
)
from syncd.destinations.google.sandbox.data_manager.schema import check_names
from syncd.destinations.google.sandbox.data_manager.user_lists import UserList
from syncd.sandbox.messages import Request, Response, json_response
from syncd.sandbox.server import EmulatorServer

__all__ = ["MAX_DESTINATIONS", "MAX_MEMBERS", "DataManagerEmulator"]

MAX_DESTINATIONS = 10
MAX_MEMBERS = 10_000

_ACCOUNT_TYPES = frozenset(
    {"GOOGLE_ADS", "DISPLAY_VIDEO_PARTNER", "DISPLAY_VIDEO_ADVERTISER", "DATA_PARTNER"}
)
_LISTS_PREFIX = "/v1/accountTypes/"


class DataManagerEmulator(EmulatorControls, EmulatorServer):
    """The Data Manager API on 127.0.0.1 (see the module docstring for its rules).

    ``user_lists`` are list ids that exist already, as if made in Google Ads (any account
    sees them, they take any member type). With ``access_token`` given, requests must carry
    exactly that Bearer token; without it, any non-empty one passes. ``accounts``, when given,
    are the only operating accounts the credentials may use (others: PERMISSION_DENIED).
    ``requests_per_minute``/``requests_per_day`` turn the quotas on, for each of the four
    budgets (the real ones, ``quota.PER_MINUTE`` and ``quota.PER_DAY``: 300 a minute; 100,000
    or 50,000 a day; ``Quota.published``); ``clock`` is what they count on.
    ``match_rate_percentage`` of the members (a stable hash decides which) count as matched
    in list sizes; uploads report its range.
    ``refresh_token``, when given, is the only one ``POST /token`` exchanges.
    """

    def __init__(
        self,
        user_lists: Iterable[str] = (),
        access_token: str | None = None,
        port: int = 0,
        *,
        processing_polls: int = 0,
        requests_per_minute: int | None = None,
        requests_per_day: int | Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        accounts: Iterable[str] | None = None,
        eu_political_ads_declared: bool = True,
        match_rate_percentage: int = 55,
        refresh_token: str | None = None,
    ) -> None:
        super().__init__(port)
        if not 0 <= match_rate_percentage <= 100:
            raise ValueError("match_rate_percentage is between 0 and 100")
        self._access_token = access_token
        self._refresh_token = refresh_token
        self._lists: dict[str, UserList] = {}
        for list_id in user_lists:
            self.add_user_list(str(list_id))
        self._statuses = RequestStatuses()
        self._ids = itertools.count(9_200_000_001)
        self.processing_polls = processing_polls
        self.quota = Quota(requests_per_minute, requests_per_day, clock)
        self._accounts = None if accounts is None else {str(a) for a in accounts}
        self.eu_political_ads_declared = eu_political_ads_declared
        self.match_rate_percentage = match_rate_percentage
        self._failing = 0

    @property
    def token_uri(self) -> str:
        """The OAuth token endpoint, for a service-account file's ``token_uri`` (google-auth
        always sends authorized-user refreshes to Google, whatever the file says)."""
        return f"{self.base_url}/token"

    # -- HTTP ------------------------------------------------------------------------------

    def internal_error_response(self) -> Response:
        """An emulator bug surfaces as Google's 500 INTERNAL, which clients retry."""
        error = ApiError(
            "Internal error encountered.",
            reason="INTERNAL_ERROR",
            status=500,
            grpc_status="INTERNAL",
        )
        return error_response(error)

    def handle(self, request: Request) -> Response:
        """Route one request; every failure becomes a Google-shaped error response."""
        if request.method == "POST" and request.path == "/token":
            with self._lock:
                token, revoked = self._access_token or "sandbox-access-token", self._grants_revoked
            return token_response(request, self._refresh_token, token, revoked=revoked)
        routes = {
            ("POST", "/v1/audienceMembers:ingest"): "ingest",
            ("POST", "/v1/audienceMembers:remove"): "remove",
            ("GET", "/v1/requestStatus:retrieve"): "status",
        }
        operation = routes.get((request.method, request.path))
        if operation is None and request.path.startswith(_LISTS_PREFIX):
            operation = "user_lists"
        if operation is None:
            return error_response(not_found("Method not found."))
        try:
            with self._lock:
                expected = self._access_token
            check_bearer(request.bearer_token(), expected)
            self.quota.spend(_budget(operation, request.method))
            if operation == "status":
                return self._status(request.query.get("requestId"))
            if operation == "user_lists":
                return self._user_lists(request)
            return self._mutate(operation, _json(request))
        except ApiError as error:
            return error_response(error, operation)

    def _check_account(self, account_id: str) -> None:
        if self._accounts is not None and account_id not in self._accounts:
            raise ApiError(
                "The caller does not have permission: the credentials are not a user of this "
                "account (nor of a manager account given as login account).",
                reason="PERMISSION_DENIED",
                status=403,
                grpc_status="PERMISSION_DENIED",
            )

    def _check_declaration(self) -> None:
        if not self.eu_political_ads_declared:
            raise ApiError(
                "The account must declare whether it runs EU political ads before this "
                "operation: make the EU political advertising declaration in Google Ads.",
                reason="EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED",
                status=400,
                grpc_status="FAILED_PRECONDITION",
            )

    # -- audience members ------------------------------------------------------------------

    def _mutate(self, operation: str, body: Any) -> Response:
        if not isinstance(body, dict):
            raise ApiError("Invalid JSON payload received: expected an object.")
        check_names(operation, body)
        members_raw = body.get("audienceMembers")
        count = len(members_raw) if isinstance(members_raw, list) else 0
        try:
            destinations, parsed, consent = self._validate(operation, body)
        except ApiError as error:
            error.count = count
            raise
        if body.get("validateOnly"):
            return json_response(200, {}, operation=f"{operation}-validate", count=count)
        refused = {
            index
            for index, member in enumerate(parsed)
            if operation == "ingest" and denied_consent(member.consent, consent)
        }
        with self._lock:
            failing = self._failing > 0
            self._failing -= 1 if failing else 0
            for destination in [] if failing else destinations:
                target = self._lists[destination["productDestinationId"]].members
                for index, member in enumerate(parsed):
                    if operation == "remove":
                        target.discard(member.member)
                    elif index not in refused:
                        target.add(member.member)
            failures = (len(parsed), INTERNAL) if failing else (len(refused), DENIED)
            rate = self.match_rate_percentage
            request_id = self._statuses.record(
                [destination_status(operation, d, parsed, *failures, rate) for d in destinations],
                self.processing_polls,
            )
        return json_response(200, {"requestId": request_id}, operation=operation, count=count)

    def _validate(
        self, operation: str, body: dict[str, Any]
    ) -> tuple[list[Any], list[Parsed], dict[str, str]]:
        """Check a whole request (fast fail); return destinations, members, request consent."""
        destinations = require(body.get("destinations"), list, "destinations")
        if len(destinations) > MAX_DESTINATIONS:
            raise ApiError(
                f"Maximum number of destinations allowed per request is {MAX_DESTINATIONS}; "
                f"got {len(destinations)}.",
                reason="TOO_MANY_DESTINATIONS",
                field="destinations",
            )
        for index, destination in enumerate(destinations):
            self._check_destination(destination, f"destinations[{index}]")
        encoding = require(body.get("encoding"), str, "encoding")
        check_enum(encoding, frozenset({"HEX", "BASE64"}), "encoding")
        if "validateOnly" in body:
            require(body["validateOnly"], bool, "validate_only")
        consent = check_consent(body["consent"], "consent") if "consent" in body else {}
        if operation == "ingest":
            _check_terms(body.get("termsOfService"))
            self._check_declaration()
        members_raw = require(body.get("audienceMembers"), list, "audience_members")
        if len(members_raw) > MAX_MEMBERS:
            raise ApiError(
                f"Maximum number of audience members allowed per request is {MAX_MEMBERS}; "
                f"got {len(members_raw)}.",
                reason="TOO_MANY_AUDIENCE_MEMBERS",
                field="audience_members",
            )
        parsed = parse_members(members_raw, Decoder(encoding))
        if operation == "ingest":
            self._refuse_some(parsed)
        if parsed:
            self._check_list_types(destinations, KEY_TYPES[parsed[0].data_type])
        return destinations, parsed, consent

    def _check_destination(self, destination: Any, field: str) -> None:
        destination = require(destination, dict, field)
        for account_name in ("operatingAccount", "loginAccount", "linkedAccount"):
            account_field = f"{field}.{snake(account_name)}"
            if account_name not in destination and account_name != "operatingAccount":
                continue
            account = require(destination.get(account_name), dict, account_field)
            require(account.get("accountId"), str, f"{account_field}.account_id")
            account_type = require(account.get("accountType"), str, f"{account_field}.account_type")
            check_enum(account_type, _ACCOUNT_TYPES, f"{account_field}.account_type")
        operating = destination["operatingAccount"]["accountId"]
        self._check_account(operating)
        list_field = f"{field}.product_destination_id"
        list_id = require(destination.get("productDestinationId"), str, list_field)
        with self._lock:
            user_list = self._lists.get(list_id)
        if user_list is None or user_list.account not in (None, operating):
            raise not_found(
                "Resource not found: no user list with this product_destination_id.",
                reason="INVALID_USER_LIST_ID",
                field=list_field,
            )

    def _check_list_types(self, destinations: list[Any], key_type: str) -> None:
        for index, destination in enumerate(destinations):
            with self._lock:
                types = self._lists[destination["productDestinationId"]].upload_key_types
            if types and key_type not in types:
                raise ApiError(
                    f"The type of the user list is not applicable for this request: the list "
                    f"takes {', '.join(types)}, not {key_type}.",
                    reason="INVALID_USER_LIST_TYPE",
                    field=f"destinations[{index}].product_destination_id",
                )

    def _status(self, request_id: str | None) -> Response:
        with self._lock:
            per_destination = self._statuses.retrieve(request_id)
        return json_response(
            200, {"requestStatusPerDestination": per_destination}, operation="status"
        )

    # -- user lists ------------------------------------------------------------------------

    def _user_lists(self, request: Request) -> Response:
        parts = request.path.removeprefix(_LISTS_PREFIX).split("/")
        # accountTypes/{type}/accounts/{account}/userLists[/{id}]
        if len(parts) not in (4, 5) or parts[1:4:2] != ["accounts", "userLists"]:
            raise not_found("Method not found.")
        account_type, account = parts[0], parts[2]
        check_enum(account_type, _ACCOUNT_TYPES, "parent")
        self._check_account(account)
        list_id = parts[4] if len(parts) == 5 else None
        method = request.method
        if list_id is None and method == "POST":
            self._check_declaration()
            return self._create_list(account, _user_list_body(request))
        if list_id is None and method == "GET":
            return self._list_lists(account, request.query)
        if list_id is None or method not in ("GET", "PATCH", "DELETE"):
            raise not_found("Method not found.")
        with self._lock:
            user_list = self._lists.get(list_id)
            if user_list is None or user_list.account not in (None, account):
                raise not_found("Resource not found: no such user list.", field="name")
            if method == "PATCH":
                taken = self._names(account)
                user_lists.apply_patch(
                    user_list, _user_list_body(request), request.query.get("updateMask"), taken
                )
            if method == "DELETE":
                del self._lists[list_id]
                return json_response(200, {}, operation="user_lists.delete", count=1)
            resource = user_list.resource(account, self.match_rate_percentage)
        return json_response(200, resource, operation=f"user_lists.{method.lower()}", count=1)

    def _names(self, account: str) -> set[str]:
        return {u.display_name for u in self._lists.values() if u.account in (None, account)}

    def _create_list(self, account: str, body: Any) -> Response:
        with self._lock:
            list_id = str(next(self._ids))
            while list_id in self._lists:
                list_id = str(next(self._ids))
            user_list = user_lists.new_user_list(body, list_id, account, self._names(account))
            self._lists[list_id] = user_list
            resource = user_list.resource(account, self.match_rate_percentage)
        return json_response(200, resource, operation="user_lists.create", count=1)

    def _list_lists(self, account: str, query: dict[str, str]) -> Response:
        text = query.get("filter")
        with self._lock:
            visible = sorted(
                (u for u in self._lists.values() if u.account in (None, account)),
                key=lambda u: (len(u.id), u.id),
            )
            selected = [u for u in visible if user_lists.matches_filter(u, text)]
            chunk, token = user_lists.page(
                selected, f"{account}\n{text or ''}", query.get("pageSize"), query.get("pageToken")
            )
            body: dict[str, Any] = {
                "userLists": [u.resource(account, self.match_rate_percentage) for u in chunk]
            }
        if token:
            body["nextPageToken"] = token
        return json_response(200, body, operation="user_lists.list", count=len(chunk))


def _json(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        raise ApiError("Invalid JSON payload received.") from None


def _budget(operation: str, method: str) -> str:
    """The quota budget a call counts against (see ``quota``)."""
    service = "Management" if operation == "user_lists" else "Ingestion"
    return f"{service}{'Read' if method == 'GET' else 'Mutate'}"


def _user_list_body(request: Request) -> Any:
    body = _json(request)
    if isinstance(body, dict):
        check_names("user_list", body)
    return body


def _check_terms(terms: Any) -> None:
    status = terms.get("customerMatchTermsOfServiceStatus") if isinstance(terms, dict) else None
    if status != "ACCEPTED":
        raise ApiError(
            "Required terms and conditions are not accepted: Customer Match terms of "
            "service must be ACCEPTED.",
            reason="TERMS_AND_CONDITIONS_NOT_SIGNED",
            field="terms_of_service.customer_match_terms_of_service_status",
        )
