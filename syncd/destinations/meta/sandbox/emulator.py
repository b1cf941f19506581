"""The Graph API emulator: routing, tokens, permissions, the rate budget, and the users edges.

Paths served (``/vX.Y/`` any version):

* ``act_{id}/customaudiences`` GET (list, filtering, paging) and POST (create);
* ``act_{id}/adsets`` and ``act_{id}/insights`` GET (spend reporting);
* ``{audience_id}`` GET; ``{audience_id}/users`` POST (add) and DELETE, or POST with
  ``method=DELETE`` (remove); ``{audience_id}/usersreplace`` POST (replace, by session);
* ``debug_token`` GET (the token's validity and expiry, see ``tokens``).

Each edge belongs to a business use case with its own budget per ad account, as on Graph
(custom audience edges: custom_audience; ``adsets``: ads_management; ``insights``:
ads_insights). Every answer carries the usage headers of its use case's budget, which rise
with each call (see ``usage``); once that budget is spent, calls of that use case answer its
throttling error (80003, 80004, 80000 by default; ``throttle_with`` picks another) until the
sliding window frees a call.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable

from syncd.destinations.meta.sandbox import edges, replace, tokens
from syncd.destinations.meta.sandbox.controls import ACCOUNT_ID, EmulatorControls
from syncd.destinations.meta.sandbox.errors import (
    USE_CASE_THROTTLES,
    GraphError,
    flagged_upload_blocked,
    graph_error,
    permission_error,
    throttle_error,
    token_error,
)
from syncd.destinations.meta.sandbox.payload import (
    ParsedRows,
    Session,
    parse_creation,
    parse_json_param,
    parse_rows,
    parse_session,
)
from syncd.destinations.meta.sandbox.state import Account, Audience, ReplaceSession
from syncd.destinations.meta.sandbox.usage import ACCESS_TIERS, CALLS_PER_HOUR, usage_headers
from syncd.sandbox.messages import Request, Response, json_response
from syncd.sandbox.server import EmulatorServer, Fault

__all__ = ["MetaGraphEmulator"]

_PATH = re.compile(r"/v\d+\.\d+/(?P<id>[^/]+)(?:/(?P<edge>[A-Za-z_]+))?/?")
_READ_FIELDS = (  # what an audience read without ``fields`` answers
    "id,name,subtype,approximate_count_lower_bound,approximate_count_upper_bound,"
    "operation_status,delivery_status"
)
#: Business use case of the ad account edges; every other edge is custom_audience.
_USE_CASES = {"insights": "ads_insights", "adsets": "ads_management"}
_FIRST_AUDIENCE_ID = 23_860_000_000_000_001


class MetaGraphEmulator(EmulatorControls, EmulatorServer):
    """Emulates the Graph API's custom audience, ad set and Insights endpoints.

    ``audiences`` are custom audience ids that exist from the start, on the first ad account.
    With ``access_token`` given, requests must carry exactly that token; without it, any
    non-empty token is accepted. ``ad_accounts`` lists the known accounts; None accepts any
    ``act_<digits>``. Each account has a budget per business use case: Meta's published calls
    per hour for ``access_tier`` ("full" or "limited", ``usage.CALLS_PER_HOUR``), or
    ``calls_per_window`` for every use case when given, per ``window_seconds`` (an hour on
    Meta); a replace session must finish within
    ``replace_window_seconds`` (90 minutes on Meta). ``clock`` (monotonic seconds) drives
    both; tests pass a fake one.
    """

    def __init__(
        self,
        audiences: Iterable[str] = (),
        access_token: str | None = None,
        port: int = 0,
        *,
        ad_accounts: Iterable[str] | None = None,
        business_id: str = "1000000000000001",
        calls_per_window: int | None = None,
        window_seconds: float = 3600.0,
        access_tier: str = "full",
        replace_window_seconds: float = 90 * 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(port)
        self._access_token = access_token
        self._business_id = business_id
        if access_tier not in CALLS_PER_HOUR:
            raise ValueError(f"access_tier is one of {', '.join(CALLS_PER_HOUR)}")
        self._budgets = {
            use_case: (calls_per_window or calls, window_seconds)
            for use_case, calls in CALLS_PER_HOUR[access_tier].items()
        }
        self._access_tier = ACCESS_TIERS[access_tier]
        self.replace_window_seconds = replace_window_seconds
        self._throttles = dict(USE_CASE_THROTTLES)
        self._under_applied: dict[str, deque[int | None]] = {}
        self._clock = clock
        self._fixed_accounts = ad_accounts is not None
        self._accounts: dict[str, Account] = {}
        for account_id in ad_accounts if ad_accounts is not None else ("act_1000",):
            self._new_account(str(account_id))
        self._default_account = next(iter(self._accounts))
        self._audiences: dict[str, Audience] = {}
        self._next_id = _FIRST_AUDIENCE_ID
        self._denied: dict[str, int] = {}
        self._token_subcode: int | None = None
        self._token_life = tokens.TokenLife(issued_at=int(time.time()))
        for audience_id in audiences:
            self.add_audience(str(audience_id))

    # -- HTTP ------------------------------------------------------------------------------

    def internal_error_response(self) -> Response:
        """An emulator bug surfaces as Graph's 500 with its generic, transient code 1."""
        return graph_error(
            GraphError("An unknown error occurred", code=1, status=500, transient=True)
        )

    def fault_response(self, fault: Fault) -> Response:
        """An injected fault still carries the usage headers, as every Graph answer does."""
        response = super().fault_response(fault)
        response.headers.update(self._usage_headers(None, "custom_audience", self._clock()))
        return response

    def handle(self, request: Request) -> Response:
        """Route one request; every failure becomes a Graph-shaped error response."""
        match = _PATH.fullmatch(request.path)
        if match is None:
            return graph_error(GraphError("Unknown path components", code=2500))
        params = {**request.query, **request.form()}
        method = request.method
        if method == "POST" and params.get("method", "").upper() == "DELETE":
            method = "DELETE"  # Graph's method override: a removal with its payload in the body
        object_id, edge = match["id"], match["edge"]
        if (method, object_id, edge) == ("GET", "debug_token", None):
            return self._debug_token(params.get("input_token"), request)
        operation = _operation(method, edge)
        use_case = _USE_CASES.get(edge or "", "custom_audience")
        with self._lock:
            account = self._owner(object_id)
        now = self._clock()
        throttled = False
        try:
            self._check_token(params.get("access_token") or request.bearer_token())
            self._check_permission(object_id, account)
            with self._lock:
                budget = account.budgets[use_case] if account is not None else None
                throttled = budget is not None and not budget.try_call(now)
                throttle = self._throttles[use_case]
            if throttled:
                raise throttle_error(*throttle)
            response = self._route(method, object_id, edge, params, request)
        except GraphError as error:
            response = graph_error(error, operation)
        response.headers.update(self._usage_headers(account, use_case, now, refused=throttled))
        return response

    def _usage_headers(
        self, account: Account | None, use_case: str, now: float, *, refused: bool = False
    ) -> dict[str, str]:
        with self._lock:
            budget = (account or self._accounts[self._default_account]).budgets[use_case]
            percent, regain = budget.percent(now, refused=refused), budget.regain_seconds(now)
        return usage_headers(self._business_id, use_case, percent, regain, self._access_tier)

    def _route(
        self,
        method: str,
        object_id: str,
        edge: str | None,
        params: dict[str, str],
        request: Request,
    ) -> Response:
        if ACCOUNT_ID.fullmatch(object_id) and self._known_account(object_id):
            url = f"http://{request.headers.get('Host', '127.0.0.1')}{request.path}"
            if (method, edge) == ("GET", "customaudiences"):
                return self._list_audiences(object_id, params, url)
            if (method, edge) == ("POST", "customaudiences"):
                return self._create_audience(object_id, params)
            if method == "GET" and edge in ("adsets", "insights"):
                return self._spend_read(object_id, edge, params, url)
        else:
            with self._lock:
                exists = object_id in self._audiences
            if exists and (method, edge) == ("GET", None):
                return self._read(object_id, params.get("fields"))
            if exists and edge == "users" and method in ("POST", "DELETE"):
                return self._mutate(object_id, params, remove=method == "DELETE")
            if exists and (method, edge) == ("POST", "usersreplace"):
                return self._replace(object_id, params)
        raise GraphError(
            f"Unsupported {method.lower()} request. Object with ID '{object_id}' does "
            "not exist, cannot be loaded due to missing permissions, or does not "
            "support this operation.",
            subcode=33,
        )

    # -- access ----------------------------------------------------------------------------

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise GraphError("An access token is required to request this resource.", code=190)
        with self._lock:
            subcode = self._token_subcode or self._token_life.expired_subcode(time.time())
        if subcode is not None:
            raise token_error(subcode)
        if self._access_token is not None and not secrets.compare_digest(
            token.encode(), self._access_token.encode()
        ):
            raise token_error(None)

    def _debug_token(self, input_token: str | None, request: Request) -> Response:
        caller = request.query.get("access_token") or request.bearer_token()
        with self._lock:
            life, refused = self._token_life, self._token_subcode
        try:
            return tokens.debug_token(
                input_token,
                caller,
                expected=self._access_token,
                life=life,
                refused_subcode=refused,
                now=time.time(),
            )
        except GraphError as error:
            return graph_error(error, "debug_token")

    def _check_permission(self, object_id: str, account: Account | None) -> None:
        with self._lock:
            code = self._denied.get(object_id) or (
                self._denied.get(account.id) if account is not None else None
            )
        if code is not None:
            raise permission_error(code)

    # -- account edges -----------------------------------------------------------------------

    def _list_audiences(self, account_id: str, params: dict[str, str], url: str) -> Response:
        with self._lock:
            nodes = [a.node() for a in self._audiences.values() if a.account == account_id]
        matching = edges.filter_audiences(sorted(nodes, key=lambda n: int(n["id"])), params)
        fields = params.get("fields")
        data = [edges.select(n, fields, edges.AUDIENCE_FIELDS, "CustomAudience") for n in matching]
        body = edges.page(data, params, url, summary=True)
        return json_response(200, body, operation="list", count=len(body["data"]))

    def _create_audience(self, account_id: str, params: dict[str, str]) -> Response:
        name, description, source = parse_creation(params)
        with self._lock:
            while str(self._next_id) in self._audiences:
                self._next_id += 1
            audience = Audience(
                str(self._next_id),
                account_id,
                name,
                description,
                customer_file_source=source,
                time_created=int(time.time()),
            )
            self._audiences[audience.id] = audience
            self._next_id += 1
        return json_response(200, {"id": audience.id}, operation="create")

    def _spend_read(self, account_id: str, edge: str, params: dict[str, str], url: str) -> Response:
        with self._lock:
            account = self._accounts[account_id]
            ad_sets, rows = [a.node() for a in account.ad_sets], list(account.insights.values())
        if edge == "adsets":
            fields = params.get("fields")
            data = [edges.select(n, fields, edges.AD_SET_FIELDS, "AdSet") for n in ad_sets]
            body = edges.page(data, params, url, summary=True)
        else:
            body = edges.page(edges.insight_rows(rows, params), params, url)
        return json_response(200, body, operation=edge, count=len(body["data"]))

    # -- audience node and edges -------------------------------------------------------------

    def _read(self, audience_id: str, fields: str | None) -> Response:
        with self._lock:
            audience = self._audiences[audience_id]
            if audience.replace is not None and self._expired(audience.replace):
                audience.replace = None
            node = audience.node()
            size = len(audience.members)
        selected = edges.select(
            node, fields or _READ_FIELDS, edges.AUDIENCE_FIELDS, "CustomAudience"
        )
        return json_response(200, selected, operation="read", count=size)

    def _payload(self, params: dict[str, str]) -> tuple[ParsedRows, Session | None]:
        if "payload" not in params:
            raise GraphError("(#100) The parameter payload is required")
        parsed = parse_rows(parse_json_param(params, "payload"))
        return parsed, parse_session(params, parsed.received)

    def _mutate(self, audience_id: str, params: dict[str, str], *, remove: bool) -> Response:
        parsed, session = self._payload(params)
        with self._lock:
            audience = self._audiences[audience_id]
            if audience.flagged is not None:
                raise flagged_upload_blocked(parsed.received)
            queued = self._under_applied.get(audience_id)
            short = queued.popleft() if queued else parsed.received
            applied = parsed if short == parsed.received else _first_rows(params, short)
            if remove:
                audience.members.difference_update(applied.members)
            else:
                audience.members.update(applied.members)
        session_id = session.session_id if session is not None else secrets.randbits(62)
        operation = "remove" if remove else "add"
        response = _users_response(audience_id, session_id, applied, operation)
        if short is None:  # under_apply(applied=None): an answer that confirms nothing
            response = json_response(
                200, {"audience_id": audience_id, "session_id": session_id}, operation=operation
            )
        return response

    def _replace(self, audience_id: str, params: dict[str, str]) -> Response:
        parsed, session = self._payload(params)
        if session is None:
            raise GraphError("(#100) The parameter session is required", count=parsed.received)
        with self._lock:
            audience = self._audiences[audience_id]
            replace.apply_batch(
                audience, session, parsed, self._clock(), self.replace_window_seconds
            )
        return _users_response(audience_id, session.session_id, parsed, "replace")

    def _expired(self, session: ReplaceSession) -> bool:
        return replace.expired(session, self._clock(), self.replace_window_seconds)


def _operation(method: str, edge: str | None) -> str:
    if edge == "users":
        return {"POST": "add", "DELETE": "remove"}.get(method, "")
    names = {"usersreplace": "replace", "customaudiences": "list" if method == "GET" else "create"}
    return names.get(edge or "", edge or "read")


def _first_rows(params: dict[str, str], rows: int | None) -> ParsedRows:
    """The payload's first ``rows`` rows (none for None), parsed: what an under-applied
    request applies (see ``EmulatorControls.under_apply``)."""
    payload = parse_json_param(params, "payload")
    data = payload["data"][: rows or 0]
    if not data:
        return ParsedRows([], 0)
    return parse_rows({**payload, "data": data})


def _users_response(
    audience_id: str, session_id: int, parsed: ParsedRows, operation: str
) -> Response:
    """The answer of the users edges; invalid samples may hold values, never logged."""
    body = {
        "audience_id": audience_id,
        "session_id": session_id,
        "num_received": parsed.received,
        "num_invalid_entries": parsed.invalid,
        "invalid_entry_samples": parsed.samples,
    }
    return json_response(200, body, operation=operation, count=parsed.received)
