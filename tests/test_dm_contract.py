"""Data Manager wire format, against Google's own message types (``google-ads-datamanager``).

Every body syncd sends to the Data Manager API in a whole pass, and every body the emulator
answers, is read strictly (unknown names refused) into the official proto messages: a request
into its method's request message, a success into the method's response message, an error
into ``google.rpc.Status`` with each detail resolved to its ``google.rpc`` type. A proxy on
127.0.0.1 between syncd and the emulator keeps the bodies; nothing is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import google.ads.datamanager_v1 as dm
import httpx
import pytest
from conftest import GOOGLE_LIST, Workspace
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2

from syncd.sandbox.messages import Request, Response
from syncd.sandbox.server import EmulatorServer

# The google.rpc detail types must be in the default pool for Any to resolve them.
assert error_details_pb2.BadRequest.DESCRIPTOR is not None

_LISTS = "/userLists"


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    status: int
    answer: bytes


class RecordingProxy(EmulatorServer):
    """Forwards every request to ``upstream`` and keeps both bodies (test data only)."""

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self._http = httpx.Client(base_url=upstream)
        self.exchanges: list[Exchange] = []

    def internal_error_response(self) -> Response:
        return Response(500, b"{}")

    def handle(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
        answer = self._http.request(
            request.method,
            request.path,
            params=request.query,
            content=request.body,
            headers=headers,
        )
        with self._lock:
            self.exchanges.append(
                Exchange(
                    request.method,
                    request.path,
                    dict(request.query),
                    request.body,
                    answer.status_code,
                    answer.content,
                )
            )
        kept = {k: v for k, v in answer.headers.items() if k.lower() == "retry-after"}
        return Response(answer.status_code, answer.content, headers=kept)

    def stop(self) -> None:
        super().stop()
        self._http.close()


_FORWARDED = frozenset({"authorization", "content-type", "login-account"})


def strict(text: bytes | str, message: type[Any]) -> Any:
    """``text`` read into the official ``message``; raises ParseError on any unknown name."""
    return json_format.Parse(text, message.pb()(), ignore_unknown_fields=False)


def strict_error(text: bytes) -> status_pb2.Status:
    """A REST error body: ``google.rpc.Status`` plus the canonical status name."""
    error = json.loads(text)["error"]
    code_pb2.Code.Value(error.pop("status"))  # a canonical name, or ValueError
    return json_format.Parse(json.dumps(error), status_pb2.Status(), ignore_unknown_fields=False)


def messages(exchange: Exchange) -> tuple[type[Any] | None, type[Any]]:
    """(request body message, response message) of one call of the API."""
    if exchange.path == "/v1/audienceMembers:ingest":
        return dm.IngestAudienceMembersRequest, dm.IngestAudienceMembersResponse
    if exchange.path == "/v1/audienceMembers:remove":
        return dm.RemoveAudienceMembersRequest, dm.RemoveAudienceMembersResponse
    if exchange.path == "/v1/requestStatus:retrieve":
        return None, dm.RetrieveRequestStatusResponse
    if exchange.path.endswith(_LISTS) and exchange.method == "GET":
        return None, dm.ListUserListsResponse
    if _LISTS in exchange.path:
        return (dm.UserList if exchange.method in ("POST", "PATCH") else None), dm.UserList
    raise AssertionError(f"a call the contract does not know: {exchange.method} {exchange.path}")


def query_message(exchange: Exchange) -> None:
    """Query parameters of GETs are fields of the method's request message too."""
    if exchange.path == "/v1/requestStatus:retrieve":
        strict(json.dumps(exchange.query), dm.RetrieveRequestStatusRequest)
    elif exchange.path.endswith(_LISTS) and exchange.method == "GET":
        strict(json.dumps(exchange.query), dm.ListUserListsRequest)


@pytest.fixture
def proxy(workspace: Workspace) -> Iterator[RecordingProxy]:
    with RecordingProxy(workspace.sandbox.google.base_url) as running:
        yield running


def test_every_body_of_a_whole_sync_parses_into_googles_message_types(
    workspace: Workspace, proxy: RecordingProxy
) -> None:
    data = workspace.config_data()
    google = data["destinations"]["google"]
    google["endpoint"] = proxy.base_url
    google["settle_seconds"] = 5
    data["segments"]["people"]["identifiers"] |= {
        "first_name": "first_name",
        "last_name": "last_name",
    }
    data["audiences"][1] = {"segment": "people", "destination": "google", "audience_name": "Buyers"}
    people = [
        (f"p{i}@example.com", f"+1415555{i:04d}", "US", f"Ana{i}", f"Lee{i}", "94110")
        for i in range(30)
    ]
    workspace.write_people(people)
    workspace.sync(data)
    workspace.write_people(people[10:])
    results = workspace.sync(data)

    assert [r.status for r in results] == ["ok", "ok"]
    seen = {(e.method, e.path.rsplit("/", 1)[-1]) for e in proxy.exchanges}
    assert {
        ("POST", "audienceMembers:ingest"),
        ("POST", "audienceMembers:remove"),
        ("GET", "requestStatus:retrieve"),
        ("GET", "userLists"),
        ("POST", "userLists"),
    } <= seen
    for exchange in proxy.exchanges:
        request, response = messages(exchange)
        if request is not None:
            strict(exchange.body, request)
        query_message(exchange)
        if exchange.status == 200:
            strict(exchange.answer, response)
        else:
            strict_error(exchange.answer)


def test_a_misspelled_field_fails_the_contract_and_the_emulator_refuses_it_as_google_does(
    workspace: Workspace, proxy: RecordingProxy
) -> None:
    data = workspace.config_data()
    data["destinations"]["google"]["endpoint"] = proxy.base_url
    workspace.write_people([("a@example.com", None, "US", None, None, None)])
    workspace.sync(data)
    (ingest,) = [e for e in proxy.exchanges if e.path == "/v1/audienceMembers:ingest"]
    misspelled = ingest.body.replace(b'"emailAddress"', b'"emailAdress"')

    with pytest.raises(json_format.ParseError, match="emailAdress"):
        strict(misspelled, dm.IngestAudienceMembersRequest)

    headers = {"Authorization": "Bearer test-token-5b1c"}
    with httpx.Client(base_url=workspace.sandbox.google.base_url, headers=headers) as http:
        refused = http.post("/v1/audienceMembers:ingest", content=misspelled)
    assert refused.status_code == 400
    line = (
        'Invalid JSON payload received. Unknown name "emailAdress" at '
        "'audience_members[0].user_data.user_identifiers[0]': Cannot find field."
    )
    assert refused.json() == {
        "error": {
            "code": 400,
            "message": line,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {
                            "field": "audience_members[0].user_data.user_identifiers[0]",
                            "description": line,
                        }
                    ],
                }
            ],
        }
    }
    strict_error(refused.content)


def test_a_request_failed_in_processing_has_the_official_status_shape(
    workspace: Workspace,
) -> None:
    emulator = workspace.sandbox.google
    emulator.fail_processing()
    headers = {"Authorization": "Bearer test-token-5b1c"}
    member = {"userData": {"userIdentifiers": [{"emailAddress": "ab" * 32}]}}
    body = {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
                "productDestinationId": GOOGLE_LIST,
            }
        ],
        "audienceMembers": [member],
        "encoding": "HEX",
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
    }
    with httpx.Client(base_url=emulator.base_url, headers=headers) as http:
        accepted = http.post("/v1/audienceMembers:ingest", json=body)
        request_id = strict(accepted.content, dm.IngestAudienceMembersResponse).request_id
        answer = http.get("/v1/requestStatus:retrieve", params={"requestId": request_id})

    status = strict(answer.content, dm.RetrieveRequestStatusResponse)
    (destination,) = status.request_status_per_destination
    assert dm.RequestStatusPerDestination.RequestStatus(destination.request_status).name == "FAILED"
    (count,) = destination.error_info.error_counts
    assert (count.record_count, dm.ProcessingErrorReason(count.reason).name) == (
        1,
        "PROCESSING_ERROR_REASON_INTERNAL_ERROR",
    )
    assert emulator.members(GOOGLE_LIST) == set()
