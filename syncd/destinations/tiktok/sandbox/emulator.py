"""The TikTok API for Business emulator: routing, the ``Access-Token`` header, the app's rate
budget, the streaming (segment) audience endpoints and the Customer File endpoints.

Paths served, under ``/open_api/v1.3`` (the trailing slash optional):

* ``POST /segment/audience/`` create or delete a streaming audience
  (https://business-api.tiktok.com/portal/docs?id=1739940583739393);
* ``POST /segment/mapping/`` add or delete members of streaming audiences
  (https://business-api.tiktok.com/portal/docs?id=1739940585975809);
* ``POST /dmp/custom_audience/file/upload/`` upload a customer file (…?id=1739940567842818);
* ``POST /dmp/custom_audience/create/`` create an audience from files (…?id=1739940570793985);
* ``POST /dmp/custom_audience/update/`` rename; APPEND/REMOVE/REPLACE files (…?id=1739940572667906);
* ``POST /dmp/custom_audience/delete/`` delete audiences (…?id=1739940539757569);
* ``GET /dmp/custom_audience/get/`` details and history (…?id=1739940507792385);
* ``GET /dmp/custom_audience/list/`` all audiences, paged (…?id=1739940506015746);
* ``GET /adgroup/get/`` and ``GET /report/integrated/get/``: spend reporting (``spend``).

The streaming API is the one for incremental sync (member-level add and delete, no file and
no minimum size per change); docs/tiktok.md says why. Every call checks, in this order: a
refusal queued by ``fail_next``, the token, the app's budget (code 40100 past it), then the
request; every accepted change waits for the emulator's clock (``processing_seconds``).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from syncd.destinations.tiktok.sandbox import files
from syncd.destinations.tiktok.sandbox.controls import EmulatorControls, Failure
from syncd.destinations.tiktok.sandbox.errors import (
    INVALID_PARAMS,
    NO_PERMISSION,
    OK,
    RATE_LIMITED,
    RETURN_CODES,
    SYSTEM_ERROR,
    TOKEN_INVALID,
    TikTokError,
    envelope,
    error_response,
)
from syncd.destinations.tiktok.sandbox.payload import (
    MAX_MAPPING_ROWS,
    MemberId,
    advertiser_id,
    id_list,
    json_body,
    parse_mapping,
    parse_segment_audience,
)
from syncd.destinations.tiktok.sandbox.query import bounded, paged
from syncd.destinations.tiktok.sandbox.spend import Delivery, SpendEndpoints
from syncd.destinations.tiktok.sandbox.state import Audience, Change, UploadedFile
from syncd.destinations.tiktok.sandbox.usage import app_budget
from syncd.sandbox.messages import Request, Response, frontend_error
from syncd.sandbox.server import EmulatorServer, Fault

__all__ = ["PREFIX", "TikTokEmulator"]

PREFIX = "/open_api/v1.3"
CUSTOMER_FILE = "Customer File Audience"
PARTNER = "Partner"
_FIRST_AUDIENCE_ID = 180_000_001
_Handler = Callable[["TikTokEmulator", Request], Response]


class TikTokEmulator(EmulatorControls, SpendEndpoints, EmulatorServer):
    """Emulates TikTok's audience endpoints for one developer app.

    With ``access_token`` given, requests must carry exactly that ``Access-Token``; without
    it any non-empty token passes. ``advertisers`` lists the advertisers authorized to the
    app (others answer code 40001); None authorizes any. ``audiences`` are streaming audience
    ids that exist from the start, on the first advertiser. The app's budget is its call limit
    level's calls per second (``level``: basic, advanced, premium), or ``calls_per_window``
    per ``window_seconds``. Changes are applied ``processing_seconds`` after TikTok accepts
    them, on ``clock`` (monotonic seconds; tests pass a fake one).
    """

    def __init__(
        self,
        access_token: str | None = None,
        port: int = 0,
        *,
        advertisers: Iterable[str] | None = None,
        audiences: Iterable[str] = (),
        level: str = "basic",
        calls_per_window: int | None = None,
        window_seconds: float = 1.0,
        processing_seconds: float = 0.0,
        max_mapping_rows: int = MAX_MAPPING_ROWS,
        app_id: str = "7000000000000000000",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(port)
        self._access_token = access_token
        self._clock = clock
        self._budget = app_budget(level, calls_per_window, window_seconds)
        self._fixed_advertisers = advertisers is not None
        self._advertisers = {advertiser_id(a) for a in advertisers or ("7000000000000000001",)}
        self._denied: set[str] = set()
        self._token_revoked = False
        self._failures: deque[Failure] = deque()
        self._audiences: dict[str, Audience] = {}
        self._files: dict[str, UploadedFile] = {}
        self._deliveries: dict[str, Delivery] = {}  # advertiser -> ad groups and spend
        self._next_id = _FIRST_AUDIENCE_ID
        self.processing_seconds = processing_seconds
        self.max_mapping_rows = max_mapping_rows
        self.app_id = app_id
        for audience in audiences:
            self.add_audience(str(audience))

    # -- HTTP ----------------------------------------------------------------------------------

    def internal_error_response(self) -> Response:
        """An emulator bug answers TikTok's generic, retried system error."""
        return envelope(SYSTEM_ERROR, RETURN_CODES[SYSTEM_ERROR].message, status=500)

    def fault_response(self, fault: Fault) -> Response:
        """An injected HTTP fault in TikTok's envelope (code 50000) unless it brings a body."""
        response = super().fault_response(fault)
        if fault.body is None:
            error = envelope(SYSTEM_ERROR, RETURN_CODES[SYSTEM_ERROR].message)
            response.body = error.body
        return response

    def handle(self, request: Request) -> Response:
        """Route one request; every refusal is an HTTP 200 envelope with a non-zero code."""
        path = request.path if request.path.endswith("/") else request.path + "/"
        route = _ROUTES.get((request.method, path.removeprefix(PREFIX)))
        if not path.startswith(PREFIX + "/") or route is None:
            return frontend_error(404, "Not Found")
        operation, handler = route
        try:
            self._admit(request.path, request.headers.get("Access-Token"))
            with self._lock:
                now = self._clock()
                for audience in self._audiences.values():
                    audience.apply_ready(now)
            return handler(self, request)
        except TikTokError as error:
            return error_response(error, operation)

    def _admit(self, path: str, token: str | None) -> None:
        """Queued refusals, then the token, then the app's budget."""
        with self._lock:
            for index, (fragment, code, message) in enumerate(self._failures):
                if fragment in path:
                    del self._failures[index]
                    raise TikTokError(code, message or self._message(code))
            revoked = self._token_revoked
        if not token or revoked:
            raise TikTokError(TOKEN_INVALID)
        if self._access_token is not None and not secrets.compare_digest(
            token.encode(), self._access_token.encode()
        ):
            raise TikTokError(TOKEN_INVALID)
        with self._lock:
            if not self._budget.try_call(self._clock()):
                raise TikTokError(RATE_LIMITED, self._message(RATE_LIMITED))

    def _message(self, code: int) -> str:
        if code == RATE_LIMITED:
            return (
                f"Due to too many requests, requests from App {self.app_id} are temporarily "
                "restricted."
            )
        return RETURN_CODES[code].message

    def _advertiser(self, raw: object) -> str:
        """An advertiser the token may act for; code 40001 otherwise. Call under the lock."""
        advertiser = advertiser_id(raw)
        known = advertiser in self._advertisers or not self._fixed_advertisers
        if advertiser in self._denied or not known:
            raise TikTokError(NO_PERMISSION, f"No permission to operate advertiser {advertiser}.")
        self._advertisers.add(advertiser)
        return advertiser

    def _owned(self, audience_id: str, advertisers: Iterable[str]) -> Audience:
        """An audience of one of ``advertisers``; code 40002 otherwise. Call under the lock."""
        audience = self._audiences.get(audience_id)
        if audience is None or audience.advertiser not in set(advertisers):
            raise TikTokError(
                INVALID_PARAMS, f"Audience {audience_id} does not exist for this advertiser."
            )
        return audience

    def _ready_at(self) -> float:
        return self._clock() + self.processing_seconds

    # -- streaming (segment) API ---------------------------------------------------------------

    def _segment_audience(self, request: Request) -> Response:
        body = json_body(request.body)
        raw_advertiser, action, value = parse_segment_audience(body)
        with self._lock:
            advertiser = self._advertiser(raw_advertiser)
            if action == "delete":
                del self._audiences[self._owned(value, [advertiser]).id]
                return envelope(OK, "OK", operation="segment_delete")
            id_type = body.get("id_type")
            audience = Audience(
                self._new_id(),
                advertiser,
                value,
                PARTNER,
                id_type.upper() if isinstance(id_type, str) else None,
                time.time(),
            )
            self._audiences[audience.id] = audience
        return envelope(OK, "OK", {"audience_id": audience.id}, operation="segment_create")

    def _segment_mapping(self, request: Request) -> Response:
        mapping = parse_mapping(json_body(request.body), self.max_mapping_rows)
        operation = f"mapping_{mapping.action}"
        with self._lock:
            advertisers = [self._advertiser(raw) for raw in mapping.advertiser_ids]
            targets = [self._owned(audience_id, advertisers) for audience_id in mapping.changes]
            for audience in targets:
                if audience.audience_type != PARTNER:
                    raise TikTokError(
                        INVALID_PARAMS,
                        f"Audience {audience.id} was not created by /segment/audience/.",
                        count=mapping.ids,
                    )
            ready = self._ready_at()
            for audience in targets:
                ids = frozenset(mapping.changes[audience.id])
                users = tuple(user & ids for user in mapping.users if user & ids)
                change = Change(mapping.action, ids, ready, users=users)
                audience.pending.append(change)
        return envelope(OK, "OK", operation=operation, count=mapping.ids)

    # -- Customer File API ---------------------------------------------------------------------

    def _file_upload(self, request: Request) -> Response:
        upload = files.parse_upload(request.headers.get("Content-Type", ""), request.body)
        with self._lock:
            self._advertiser(upload.advertiser)
            path = secrets.token_hex(8)  # the SDK's spec: file paths of 16 characters
            self._files[path] = UploadedFile(
                path, upload.advertiser, upload.calculate_type, upload.members, upload.invalid
            )
        count = len(upload.members)
        return envelope(OK, "OK", {"file_path": path}, operation="file_upload", count=count)

    def _files_of(self, raw: object, advertiser: str, calculate_type: str) -> Change:
        """The union of the files' members, as one change (its operation set by the caller)."""
        members: set[MemberId] = set()
        invalid = 0
        for path in files.file_paths_of(raw):
            uploaded = self._files.get(path)
            if uploaded is None or uploaded.advertiser != advertiser:
                raise TikTokError(INVALID_PARAMS, f"file_paths: {path} does not exist.")
            if uploaded.calculate_type != calculate_type:
                raise TikTokError(
                    INVALID_PARAMS,
                    f"file_paths: {path} is {uploaded.calculate_type}, not {calculate_type}.",
                )
            members |= uploaded.members
            invalid += uploaded.invalid_lines
        return Change("", frozenset(members), self._ready_at(), invalid)

    def _create(self, request: Request) -> Response:
        body = json_body(request.body)
        name = files.name_of(body.get("custom_audience_name"))
        calculate_type = files.calculate_type_of(body.get("calculate_type"))
        retention = files.retention_of(body.get("retention_in_days"))
        if body.get("audience_sub_type", "NORMAL") not in ("NORMAL", "REACH_FREQUENCY"):
            raise TikTokError(
                INVALID_PARAMS, "audience_sub_type: Must be NORMAL or REACH_FREQUENCY."
            )
        with self._lock:
            advertiser = self._advertiser(body.get("advertiser_id"))
            change = self._files_of(body.get("file_paths"), advertiser, calculate_type)
            audience = Audience(
                self._new_id(),
                advertiser,
                name,
                CUSTOMER_FILE,
                calculate_type,
                time.time(),
                retention,
            )
            audience.pending.append(
                Change("CREATE", change.members, change.ready_at, change.invalid_lines)
            )
            self._audiences[audience.id] = audience
        data = {"custom_audience_id": audience.id}
        return envelope(OK, "OK", data, operation="create", count=len(change.members))

    def _update(self, request: Request) -> Response:
        body = json_body(request.body)
        if "custom_audience_name" not in body and "file_paths" not in body:
            raise TikTokError(
                INVALID_PARAMS, "Either custom_audience_name or file_paths is required."
            )
        name = (
            files.name_of(body["custom_audience_name"]) if "custom_audience_name" in body else None
        )
        with self._lock:
            advertiser = self._advertiser(body.get("advertiser_id"))
            audience = self._owned(
                advertiser_id(body.get("custom_audience_id"), "custom_audience_id"), [advertiser]
            )
            if audience.audience_type != CUSTOMER_FILE:
                raise TikTokError(
                    INVALID_PARAMS, f"Audience {audience.id} is not a Customer File Audience."
                )
            change = None
            if "file_paths" in body:
                action = files.update_action(body)
                ids = self._files_of(body["file_paths"], advertiser, str(audience.calculate_type))
                change = Change(action, ids.members, ids.ready_at, ids.invalid_lines)
            if name is not None:
                audience.name = name
            if change is not None:
                audience.pending.append(change)
        count = len(change.members) if change is not None else 0
        return envelope(OK, "OK", operation="update", count=count)

    def _delete(self, request: Request) -> Response:
        body = json_body(request.body)
        ids = id_list(body.get("custom_audience_ids"), "custom_audience_ids")
        with self._lock:
            advertiser = self._advertiser(body.get("advertiser_id"))
            doomed = [self._owned(audience_id, [advertiser]).id for audience_id in ids]
            for audience_id in doomed:
                del self._audiences[audience_id]
        return envelope(OK, "OK", operation="delete", count=len(doomed))

    def _get(self, request: Request) -> Response:
        query = request.query
        ids = id_list(query.get("custom_audience_ids"), "custom_audience_ids")
        history = bounded(query.get("history_size"), "history_size", 100, 1, 100)
        with self._lock:
            advertiser = self._advertiser(query.get("advertiser_id"))
            found = [self._owned(audience_id, [advertiser]) for audience_id in ids]
            listed: list[dict[str, Any]] = [
                {"audience_details": a.details(), "audience_history": a.history[-history:][::-1]}
                for a in found
            ]
        return envelope(OK, "OK", {"list": listed}, operation="get", count=len(listed))

    def _list(self, request: Request) -> Response:
        query = request.query
        wanted = id_list(query.get("custom_audience_ids"), "custom_audience_ids", required=False)
        page = bounded(query.get("page"), "page", 1, 1, 1_000_000)
        size = bounded(query.get("page_size"), "page_size", 10, 1, 100)
        with self._lock:
            advertiser = self._advertiser(query.get("advertiser_id"))
            mine = [a for a in self._audiences.values() if a.advertiser == advertiser]
            if wanted:
                mine = [a for a in mine if a.id in set(wanted)]
            mine.sort(key=lambda a: int(a.id), reverse=True)  # newest first
            listed, page_info = paged(mine, page, size)
            rows = []
            for audience in listed:
                details = audience.details()
                details.pop("error_msg")
                rows.append(details)
        data = {"list": rows, "page_info": page_info}
        return envelope(OK, "OK", data, operation="list", count=len(rows))


_ROUTES: dict[tuple[str, str], tuple[str, _Handler]] = {
    ("POST", "/segment/audience/"): ("segment_audience", TikTokEmulator._segment_audience),
    ("POST", "/segment/mapping/"): ("mapping", TikTokEmulator._segment_mapping),
    ("POST", "/dmp/custom_audience/file/upload/"): ("file_upload", TikTokEmulator._file_upload),
    ("POST", "/dmp/custom_audience/create/"): ("create", TikTokEmulator._create),
    ("POST", "/dmp/custom_audience/update/"): ("update", TikTokEmulator._update),
    ("POST", "/dmp/custom_audience/delete/"): ("delete", TikTokEmulator._delete),
    ("GET", "/dmp/custom_audience/get/"): ("get", TikTokEmulator._get),
    ("GET", "/dmp/custom_audience/list/"): ("list", TikTokEmulator._list),
    ("GET", "/adgroup/get/"): ("adgroup_get", TikTokEmulator._adgroup_get),
    ("GET", "/report/integrated/get/"): ("report", TikTokEmulator._report_get),
}
