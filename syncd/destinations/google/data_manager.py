"""Google Customer Match through the Data Manager API, over httpx.

Since 2026-04-01 the Google Ads API refuses Customer Match uploads from developer tokens that
were not already using it, so this is the path for new integrations. Since v1.5 the same API
manages the user lists too (``ensure_audience``, ``describe``). Ingestion is asynchronous: each
request's id is kept in the run record, and ``settle`` polls them to their final status.

One push may take several requests: one per member data type (contact data, user IDs), and
one per ten destinations (``add_many``). A push never retries by itself (the runner does), save
one credential refresh on 401; errors are classified in ``dm_errors``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow as pa

from syncd.destinations.base import MATCHED, Client, DestinationError, ErrorClass, PushResult
from syncd.destinations.google.auth import BearerAuth, GoogleCredentialsAuth
from syncd.destinations.google.capabilities import CAPABILITIES
from syncd.destinations.google.dm_errors import classify
from syncd.destinations.google.dm_members import consent_status, members_json, prepare
from syncd.destinations.google.settings import GoogleDataManagerDestination as GoogleConfig
from syncd.pacing import shared_pacer
from syncd.statuses import FINAL

__all__ = ["CAPABILITIES", "MAX_DESTINATIONS", "DataManagerAudiences", "UserListRef"]


MAX_DESTINATIONS = 10
#: Final request statuses (``FAILURE`` is not the API's name, but is read as ``FAILED``).
FINAL_STATUSES = FINAL | {"FAILURE"}
_MAX_DURATION_DAYS = 540


@dataclass(frozen=True)
class UserListRef:
    """A user list in a given account, for pushes to lists of several accounts at once."""

    list_id: str
    operating_account_id: str | None = None
    login_account_id: str | None = None


class DataManagerAudiences(Client):
    """The Data Manager destination. ``validate_only`` sends every ingest and removal with
    ``validateOnly``: Google checks it whole and applies nothing (``syncd plan --validate``)."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        config: GoogleConfig,
        transport: httpx.BaseTransport | None = None,
        *,
        validate_only: bool = False,
    ) -> None:
        self._config = config
        self.validate_only = validate_only
        self._client = httpx.Client(
            base_url=config.endpoint.rstrip("/"),
            auth=_auth(config),
            timeout=httpx.Timeout(config.timeout_seconds, connect=10.0),
            transport=transport,
        )
        #: Upload match-rate range per list, from the last settled ingest (for ``describe``).
        self._match_rate_ranges: dict[str, str] = {}
        #: Status reads are paced on their own: they spend the project's IngestionService
        #: read budget, not the write budget of the ingests (`pacer_of`), and it is as large
        #: (https://developers.google.com/data-manager/api/devguides/limits).
        reads = (*config.quota_owner, "IngestionRead")
        self._pacer = shared_pacer(reads, config.paced(CAPABILITIES.pace))

    # -- the destination protocol --------------------------------------------------------------

    def add(self, audience_id: str, members: pa.Table) -> PushResult:
        """Add members to one list; rows without both consents are skipped and counted."""
        return self.add_many([audience_id], members)

    def remove(self, audience_id: str, members: pa.Table) -> PushResult:
        return self.remove_many([audience_id], members)

    def close(self) -> None:
        self._client.close()

    # -- several destinations per request ------------------------------------------------------

    def add_many(self, audience_ids: Sequence[str | UserListRef], members: pa.Table) -> PushResult:
        """One ingest per member type for up to ten lists (more lists: more requests)."""
        consent = self._config.consent
        defaults = (consent.ad_user_data, consent.ad_personalization)
        extra: dict[str, Any] = {
            "consent": {
                "adUserData": consent_status(consent.ad_user_data),
                "adPersonalization": consent_status(consent.ad_personalization),
            },
            "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
        }
        return self._push("ingest", audience_ids, members, defaults, extra)

    def remove_many(
        self, audience_ids: Sequence[str | UserListRef], members: pa.Table
    ) -> PushResult:
        return self._push("remove", audience_ids, members, None, {})

    def _push(
        self,
        operation: str,
        audience_ids: Sequence[str | UserListRef],
        members: pa.Table,
        consent_defaults: tuple[str, str] | None,
        extra: dict[str, Any],
    ) -> PushResult:
        refs = [self._ref(a) for a in audience_ids]
        if not refs:
            raise ValueError("give at least one user list")
        prepared = prepare(members, consent_defaults)
        names = ", ".join(ref.list_id for ref in refs)
        what = f"Google user list {names}" if len(refs) == 1 else f"Google user lists {names}"
        request_ids: list[str] = []
        sent = 0
        for group in prepared.groups():
            members_array = members_json(group.members)
            for start in range(0, len(refs), MAX_DESTINATIONS):
                body: dict[str, Any] = {
                    "destinations": [
                        self._destination(r) for r in refs[start : start + MAX_DESTINATIONS]
                    ],
                    "encoding": "HEX",
                    **extra,
                }
                if self.validate_only:
                    body["validateOnly"] = True
                # The members are JSON text already (see dm_members.prepare): spliced in.
                head = json.dumps(body)[:-1] + ', "audienceMembers": '
                content = b"".join((head.encode(), members_array, b"}"))
                response = self._send(
                    "POST",
                    f"/v1/audienceMembers:{operation}",
                    what,
                    content=content,
                    headers={"Content-Type": "application/json"},
                )
                if not response.is_success:
                    raise classify(response, what, group.rows.to_pylist())
                request_id = self._request_id(response, what)
                if request_id is not None:
                    request_ids.append(request_id)
            sent += len(group.rows)
        return PushResult(
            received=sent,
            invalid=prepared.unusable,
            request_id=request_ids[0] if request_ids else None,
            skipped_no_consent=prepared.skipped_no_consent,
            request_ids=tuple(request_ids),
        )

    def _request_id(self, response: httpx.Response, what: str) -> str | None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if self.validate_only and body == {}:
            return None
        if not isinstance(body, dict) or "requestId" not in body:
            raise DestinationError(ErrorClass.RETRY, f"{what}: unreadable response body")
        return str(body["requestId"])

    # -- user lists ----------------------------------------------------------------------------

    def ensure_audience(
        self,
        name: str,
        description: str = "",
        *,
        upload_key_types: Sequence[str] = ("CONTACT_ID",),
    ) -> str:
        """The id of the account's user list called ``name``, created if there is none.

        A new list is a first-party Customer Match list keyed on ``upload_key_types``
        (CONTACT_ID: emails, phones, addresses; USER_ID: user IDs), whose members last
        ``membership_duration_days`` (default and maximum: 540).
        """
        if not name.strip() or "\n" in name:
            raise ValueError("a user list name is one non-empty line")
        found = self.find_audience(name.strip())
        if found is not None:
            return found
        days = int(getattr(self._config, "membership_duration_days", _MAX_DURATION_DAYS))
        body = {
            "displayName": name.strip(),
            "description": description,
            "membershipDuration": f"{min(days, _MAX_DURATION_DAYS) * 86_400}s",
            "ingestedUserListInfo": {
                "uploadKeyTypes": list(upload_key_types),
                "contactIdInfo": {"dataSourceType": "DATA_SOURCE_TYPE_FIRST_PARTY"},
            },
        }
        what = f"Google user list {name.strip()!r}"
        response = self._send("POST", self._lists_path(), what, json=body)
        if response.status_code == 409:  # made by someone else since we looked
            found = self.find_audience(name.strip())
            if found is not None:
                return found
        if not response.is_success:
            raise classify(response, what)
        return str(response.json()["id"])

    def find_audience(self, name: str) -> str | None:
        """The id of the account's user list called ``name``, or None: never creates one."""
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        params: dict[str, str] = {"filter": f'display_name = "{escaped}"', "pageSize": "1000"}
        what = f"Google user list {name!r}"
        while True:
            response = self._send("GET", self._lists_path(), what, params=params)
            if not response.is_success:
                raise classify(response, what)
            body = response.json()
            for user_list in body.get("userLists") or []:
                if user_list.get("displayName") == name:
                    return str(user_list["id"])
            token = body.get("nextPageToken")
            if not token:
                return None
            params = {**params, "pageToken": token}

    def describe(self, audience_id: str) -> dict[str, object]:
        """Size and match rate of a list as Google gives them, for the run record.

        Sizes are Google's estimates of matched members (they lag uploads by hours): the
        larger of them is the matched count every network gives (``MATCHED``);
        ``match_rate_percentage`` is unset until something was uploaded;
        ``upload_match_rate_range`` is the range of the last ingest ``settle`` saw finish.
        """
        what = f"Google user list {audience_id}"
        path = f"{self._lists_path()}/{quote(audience_id, safe='')}"
        response = self._send("GET", path, what)
        if not response.is_success:
            raise classify(response, what)
        user_list = response.json()
        sizes = user_list.get("sizeInfo") or {}
        contact = (user_list.get("ingestedUserListInfo") or {}).get("contactIdInfo") or {}
        display = _int(sizes.get("displayNetworkMembersCount"))
        search = _int(sizes.get("searchNetworkMembersCount"))
        return {
            MATCHED: max((size for size in (display, search) if size is not None), default=None),
            "user_list_id": str(user_list.get("id", audience_id)),
            "name": user_list.get("displayName"),
            "membership_status": user_list.get("membershipStatus"),
            "display_network_size": display,
            "search_network_size": search,
            "match_rate_percentage": _int(contact.get("matchRatePercentage")),
            "upload_match_rate_range": self._match_rate_ranges.get(audience_id),
        }

    # -- request status ------------------------------------------------------------------------

    def request_status(self, request_id: str) -> list[dict[str, Any]]:
        """``requestStatus:retrieve``: the status of each destination of one request."""
        what = f"Google request {request_id}"
        response = self._send(
            "GET", "/v1/requestStatus:retrieve", what, params={"requestId": request_id}
        )
        if response.status_code == 404:  # unknown, or kept no longer: never to be known
            return [{"requestStatus": "NOT_FOUND"}]
        if not response.is_success:
            raise classify(response, what)
        statuses = response.json().get("requestStatusPerDestination") or []
        for status in statuses:
            ingest = (status.get("audienceMembersIngestionStatus") or {}).get(
                "userDataIngestionStatus"
            ) or {}
            list_id = (status.get("destination") or {}).get("productDestinationId")
            if list_id and ingest.get("uploadMatchRateRange"):
                self._match_rate_ranges[str(list_id)] = str(ingest["uploadMatchRateRange"])
        return list(statuses)

    def settle(
        self,
        request_ids: Sequence[str],
        timeout: float = 60.0,
        sleep: Callable[[float], object] = time.sleep,
        *,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
    ) -> dict[str, str]:
        """Poll each request until it is final (SUCCESS, FAILED, PARTIAL_SUCCESS) or the
        timeout passes, in rounds that back off exponentially; returns request id -> status.

        The requests of a round are polled side by side (a window of the pace's width),
        paced to the project's quota: ``requestStatus:retrieve`` counts against it like any
        other method (https://developers.google.com/data-manager/api/devguides/limits), and
        one poll after another cost a round trip each (50 ingests: 20 s at 400 ms).

        A request's status folds its destinations': all SUCCESS is SUCCESS, all FAILED is
        FAILED, any other final mix is PARTIAL_SUCCESS; still PROCESSING at the timeout is
        reported as PROCESSING. Rate limits and passing faults wait and poll again.
        """
        results = {request_id: "PROCESSING" for request_id in request_ids}
        pending = list(dict.fromkeys(request_ids))
        started, slept, delay = time.monotonic(), 0.0, first_delay
        window = self._pacer.pace.max_in_flight
        with ThreadPoolExecutor(max_workers=window, thread_name_prefix="syncd-status") as pool:
            while pending:
                for request_id, answer in zip(pending, pool.map(self._poll, pending), strict=True):
                    if isinstance(answer, DestinationError):
                        if answer.error_class is ErrorClass.FAIL_AUDIENCE:
                            raise answer
                        delay = max(delay, answer.retry_after or 0.0)
                        continue
                    results[request_id] = _fold([str(s.get("requestStatus", "")) for s in answer])
                pending = [r for r in pending if results[r] not in FINAL_STATUSES]
                elapsed = max(time.monotonic() - started, slept)
                if not pending or elapsed >= timeout:
                    break
                wait = min(delay, max_delay, timeout - elapsed)
                sleep(wait)
                slept += wait
                delay = min(delay * 2, max_delay)
        return results

    def _poll(self, request_id: str) -> list[dict[str, Any]] | DestinationError:
        """One paced status read; an error is returned, for the round to weigh."""
        self._pacer.acquire(time.sleep)
        try:
            return self.request_status(request_id)
        except DestinationError as error:
            if error.error_class is ErrorClass.RATE_LIMITED:
                self._pacer.throttled(error.retry_after)
            return error

    # -- plumbing ------------------------------------------------------------------------------

    def _ref(self, audience: str | UserListRef) -> UserListRef:
        return audience if isinstance(audience, UserListRef) else UserListRef(str(audience))

    def _destination(self, ref: UserListRef) -> dict[str, Any]:
        operating = ref.operating_account_id or self._config.operating_account_id
        login = ref.login_account_id or self._config.login_account_id
        destination: dict[str, Any] = {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": operating},
            "productDestinationId": ref.list_id,
        }
        if login:
            destination["loginAccount"] = {"accountType": "GOOGLE_ADS", "accountId": login}
        return destination

    def _lists_path(self) -> str:
        return f"/v1/accountTypes/GOOGLE_ADS/accounts/{self._config.operating_account_id}/userLists"

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(headers or {})
        if self._config.login_account_id and "/userLists" in path:
            headers["login-account"] = (
                f"accountTypes/GOOGLE_ADS/accounts/{self._config.login_account_id}"
            )
        try:
            return self._client.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as error:
            raise DestinationError(
                ErrorClass.RETRY, f"{what}: Data Manager API unreachable ({type(error).__name__})"
            ) from None


def _fold(statuses: list[str]) -> str:
    names = ["FAILED" if s == "FAILURE" else s for s in statuses]
    if "NOT_FOUND" in names:
        return "NOT_FOUND"
    if not names or any(s not in FINAL_STATUSES for s in names):
        return "PROCESSING"
    if all(s == "SUCCESS" for s in names):
        return "SUCCESS"
    if all(s == "FAILED" for s in names):
        return "FAILED"
    return "PARTIAL_SUCCESS"


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _auth(config: GoogleConfig) -> httpx.Auth:
    if config.access_token is not None:
        token = config.access_token
        return BearerAuth(token.get_secret_value)
    return GoogleCredentialsAuth(str(config.credentials_file))
