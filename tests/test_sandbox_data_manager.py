"""The Data Manager emulator's v1.5 surface over real HTTP: user lists, request status,
consent, per-member refusals, user IDs, quotas and account checks (httpx, raw JSON)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from support.dm_quickstart import QUICKSTART_NOT_HEX, QUICKSTART_NOT_SHA256

from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator

TOKEN = "sandbox-token-3c9d"
ACCOUNT = "1234567890"
LISTS = f"/v1/accountTypes/GOOGLE_ADS/accounts/{ACCOUNT}/userLists"
GRANTED = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
DENIED = {"adUserData": "CONSENT_DENIED", "adPersonalization": "CONSENT_GRANTED"}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def email(name: str, **extra: Any) -> dict[str, Any]:
    return {"userData": {"userIdentifiers": [{"emailAddress": sha(name)}]}, **extra}


def ingest(lists: tuple[str, ...], members: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": ACCOUNT},
                "productDestinationId": list_id,
            }
            for list_id in lists
        ],
        "audienceMembers": members,
        "encoding": "HEX",
        "consent": GRANTED,
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
        **extra,
    }


def new_list(name: str, *key_types: str, **extra: Any) -> dict[str, Any]:
    info = {"uploadKeyTypes": list(key_types or ("CONTACT_ID",))}
    return {"displayName": name, "ingestedUserListInfo": info, **extra}


def error_of(response: httpx.Response, status: str) -> dict[str, Any]:
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (response.status_code, status), error
    return dict(error)


def detail(error: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [d for d in error["details"] if d["@type"].endswith(f".{kind}")]
    assert found, f"no {kind} in {error['details']}"
    return dict(found[0])


# The google.rpc detail types must be in the default pool for Any to resolve them.
assert error_details_pb2.RetryInfo.DESCRIPTOR is not None


def strict_status(body: bytes) -> None:
    """An error body read strictly into google.rpc.Status, every detail into its google.rpc
    type (googleapis-common-protos): a misnamed field or detail type fails."""
    error = json.loads(body)["error"]
    code_pb2.Code.Value(error.pop("status"))
    json_format.Parse(json.dumps(error), status_pb2.Status(), ignore_unknown_fields=False)


def reason_of(response: httpx.Response) -> str:
    violations = detail(error_of(response, "INVALID_ARGUMENT"), "BadRequest")["fieldViolations"]
    return str(violations[0]["reason"])


@pytest.fixture
def dm() -> Iterator[DataManagerEmulator]:
    with DataManagerEmulator(["8800000001"], access_token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def client(dm: DataManagerEmulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=dm.base_url, headers=headers) as http:
        yield http


# -- user lists ------------------------------------------------------------------------------


def test_user_lists_are_created_read_patched_and_deleted(
    dm: DataManagerEmulator, client: httpx.Client
) -> None:
    created = client.post(
        LISTS, json=new_list("buyers", description="bought twice", membershipDuration="2592000s")
    )
    assert created.status_code == 200, created.text
    user_list = created.json()
    list_id = user_list["id"]
    assert user_list["name"] == f"{LISTS[4:]}/{list_id}"
    assert (user_list["displayName"], user_list["membershipDuration"]) == ("buyers", "2592000s")
    assert user_list["ingestedUserListInfo"]["uploadKeyTypes"] == ["CONTACT_ID"]
    assert user_list["sizeInfo"] == {
        "displayNetworkMembersCount": "0",
        "searchNetworkMembersCount": "0",
    }
    assert "matchRatePercentage" not in user_list["ingestedUserListInfo"]["contactIdInfo"]
    assert client.get(f"{LISTS}/{list_id}").json() == user_list

    again = client.post(LISTS, json=new_list("buyers"))
    assert again.status_code == 409
    assert detail(error_of(again, "ALREADY_EXISTS"), "ErrorInfo")["reason"] == "ALREADY_EXISTS"

    patched = client.patch(
        f"{LISTS}/{list_id}",
        params={"updateMask": "displayName,description"},
        json={"displayName": "repeat buyers", "description": "", "membershipDuration": "1s"},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["displayName"], patched.json()["description"]) == (
        "repeat buyers",
        "",
    )
    assert patched.json()["membershipDuration"] == "2592000s"  # not in the mask
    immutable = client.patch(
        f"{LISTS}/{list_id}",
        params={"updateMask": "ingested_user_list_info.upload_key_types"},
        json={"ingestedUserListInfo": {"uploadKeyTypes": ["USER_ID"]}},
    )
    violations = detail(error_of(immutable, "INVALID_ARGUMENT"), "BadRequest")["fieldViolations"]
    assert violations[0]["field"] == "update_mask"
    odd = client.post(LISTS, json=new_list("odd", membershipDuration="90000s"))
    assert odd.status_code == 400 and "whole days" in odd.json()["error"]["message"]

    assert client.delete(f"{LISTS}/{list_id}").status_code == 200
    assert client.get(f"{LISTS}/{list_id}").status_code == 404
    assert [r.operation for r in dm.requests] == [
        "user_lists.create",
        "user_lists.get",
        "user_lists",
        "user_lists.patch",
        "user_lists",
        "user_lists",
        "user_lists.delete",
        "user_lists",
    ]


def test_user_lists_are_listed_in_pages_and_filtered(client: httpx.Client) -> None:
    for n in range(5):
        assert client.post(LISTS, json=new_list(f"segment {n}")).status_code == 200
    other = "/v1/accountTypes/GOOGLE_ADS/accounts/5555555555/userLists"
    assert client.post(other, json=new_list("elsewhere")).status_code == 200

    names: list[str] = []
    params = {"pageSize": "2"}
    pages = 0
    while True:
        page = client.get(LISTS, params=params).json()
        names += [u["displayName"] for u in page["userLists"]]
        pages += 1
        if "nextPageToken" not in page:
            break
        params = {"pageSize": "2", "pageToken": page["nextPageToken"]}
    assert pages == 3
    assert names == ["User list 8800000001"] + [f"segment {n}" for n in range(5)]

    found = client.get(LISTS, params={"filter": 'display_name = "segment 3"'}).json()
    assert [u["displayName"] for u in found["userLists"]] == ["segment 3"]
    first = client.get(LISTS, params={"pageSize": "1"}).json()["nextPageToken"]
    mismatch = client.get(
        LISTS, params={"pageSize": "1", "pageToken": first, "filter": 'displayName != "x"'}
    )
    assert mismatch.status_code == 400
    assert client.get(LISTS, params={"filter": "name ~ x"}).status_code == 400


# -- ingestion -------------------------------------------------------------------------------


def test_request_status_is_processing_first_then_final_with_counts() -> None:
    with DataManagerEmulator(["8800000001"], processing_polls=2) as dm:
        http = httpx.Client(base_url=dm.base_url, headers={"Authorization": "Bearer any"})
        body = ingest(("8800000001",), [email("a"), email("b")])
        request_id = http.post("/v1/audienceMembers:ingest", json=body).json()["requestId"]
        seen = [
            http.get("/v1/requestStatus:retrieve", params={"requestId": request_id}).json()[
                "requestStatusPerDestination"
            ][0]
            for _ in range(3)
        ]
        assert [s["requestStatus"] for s in seen] == ["PROCESSING", "PROCESSING", "SUCCESS"]
        status = seen[2]["audienceMembersIngestionStatus"]["userDataIngestionStatus"]
        assert (status["recordCount"], status["userIdentifierCount"]) == ("2", "2")
        assert len(dm.members("8800000001")) == 2
        http.close()


def test_members_without_consent_are_not_used_and_show_in_the_status(
    dm: DataManagerEmulator, client: httpx.Client
) -> None:
    members = [email("a", consent=GRANTED), email("b"), email("c", consent=DENIED)]
    response = client.post(
        "/v1/audienceMembers:ingest", json=ingest(("8800000001",), members, consent=DENIED)
    )
    assert response.status_code == 200  # the API takes the request ...
    assert dm.members("8800000001") == {frozenset({("emailAddress", sha("a"))})}  # ... not b, c
    status = client.get(
        "/v1/requestStatus:retrieve", params={"requestId": response.json()["requestId"]}
    ).json()["requestStatusPerDestination"][0]
    assert status["requestStatus"] == "PARTIAL_SUCCESS"
    assert status["errorInfo"]["errorCounts"] == [
        {"recordCount": "2", "reason": "PROCESSING_ERROR_REASON_DENIED_CONSENT"}
    ]

    none = client.post(
        "/v1/audienceMembers:ingest", json=ingest(("8800000001",), [email("d")], consent=DENIED)
    )
    final = client.get(
        "/v1/requestStatus:retrieve", params={"requestId": none.json()["requestId"]}
    ).json()["requestStatusPerDestination"][0]["requestStatus"]
    assert final == "FAILED"


def test_every_bad_member_is_named_by_index(dm: DataManagerEmulator, client: httpx.Client) -> None:
    members = [
        email("a"),
        {"userData": {"userIdentifiers": [{"emailAddress": "A@X.COM"}]}},
        email("b"),
        {"userData": {"userIdentifiers": []}},
        {"mobileData": {"mobileIds": ["x"]}},
    ]
    response = client.post("/v1/audienceMembers:ingest", json=ingest(("8800000001",), members))
    assert response.status_code == 400
    error = error_of(response, "INVALID_ARGUMENT")
    violations = detail(error, "BadRequest")["fieldViolations"]
    assert [(v["field"], v["reason"]) for v in violations] == [
        ("audience_members.audience_members[1].user_data.user_identifiers", "INVALID_HEX_ENCODING"),
        (
            "audience_members.audience_members[3].user_data.user_identifiers",
            "REQUIRED_FIELD_MISSING",
        ),
        ("audience_members.audience_members[4]", "INVALID_AUDIENCE_MEMBER"),
    ]
    assert "A@X.COM" not in response.text
    assert dm.members("8800000001") == set()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("dana@example.com", QUICKSTART_NOT_HEX),  # plain text, not hex at all
        (b"dana@example.com".hex(), QUICKSTART_NOT_SHA256),  # hex, but not hashed
    ],
)
def test_a_bad_hash_is_refused_with_the_quickstarts_exact_body(
    client: httpx.Client, value: str, expected: str
) -> None:
    member = {"userData": {"userIdentifiers": [{"emailAddress": value}]}}
    response = client.post("/v1/audienceMembers:ingest", json=ingest(("8800000001",), [member]))
    assert response.status_code == 400
    assert response.json() == json.loads(expected)


def test_user_ids_are_members_of_their_own_type(
    dm: DataManagerEmulator, client: httpx.Client
) -> None:
    user_ids = client.post(LISTS, json=new_list("crm ids", "USER_ID")).json()["id"]
    body = ingest((user_ids,), [{"userIdData": {"userId": "crm-7"}}])
    response = client.post("/v1/audienceMembers:ingest", json=body)
    assert response.status_code == 200, response.text
    assert dm.members(user_ids) == {frozenset({("userId", "crm-7")})}
    status = client.get(
        "/v1/requestStatus:retrieve", params={"requestId": response.json()["requestId"]}
    ).json()["requestStatusPerDestination"][0]["audienceMembersIngestionStatus"]
    assert status == {"userIdDataIngestionStatus": {"recordCount": "1", "userIdCount": "1"}}

    mixed = ingest(("8800000001",), [email("a"), {"userIdData": {"userId": "crm-7"}}])
    refused = client.post("/v1/audienceMembers:ingest", json=mixed)
    assert reason_of(refused) == "MULTIPLE_DATA_TYPES_NOT_ALLOWED"
    wrong_type = client.post("/v1/audienceMembers:ingest", json=ingest((user_ids,), [email("a")]))
    assert reason_of(wrong_type) == "INVALID_USER_LIST_TYPE"


# -- quotas and accounts ---------------------------------------------------------------------


def test_quotas_answer_429_with_retry_info_per_minute_and_a_quota_failure_per_day() -> None:
    now = [120.0 + 45]  # 45 seconds into a minute
    with DataManagerEmulator(requests_per_minute=1, requests_per_day=2, clock=lambda: now[0]) as dm:
        http = httpx.Client(base_url=dm.base_url, headers={"Authorization": "Bearer any"})
        path = f"/v1/accountTypes/GOOGLE_ADS/accounts/{ACCOUNT}/userLists"
        assert http.get(path).status_code == 200
        limited = http.get(path)
        assert limited.status_code == 429
        error = error_of(limited, "RESOURCE_EXHAUSTED")
        assert detail(error, "RetryInfo")["retryDelay"] == "15.000s"
        assert limited.headers["Retry-After"] == "15"
        info = detail(error, "ErrorInfo")
        assert info["reason"] == "RATE_LIMIT_EXCEEDED"
        # The limits page's names: https://developers.google.com/data-manager/api/devguides/limits
        assert info["metadata"]["quota_limit"] == "ManagementReadRequestsPerMinutePerProject"
        strict_status(limited.content)
        # The budgets are separate: the ingestion service's reads still pass this minute.
        assert http.get("/v1/requestStatus:retrieve", params={"requestId": "x"}).status_code == 404

        now[0] += 15  # the next minute
        assert http.get(path).status_code == 200
        now[0] += 60
        spent = http.get(path)
        error = error_of(spent, "RESOURCE_EXHAUSTED")
        day_limit = detail(error, "ErrorInfo")["metadata"]["quota_limit"]
        assert day_limit == "ManagementReadRequestsPerDayPerProject"
        strict_status(spent.content)
        assert "per day" in detail(error, "QuotaFailure")["violations"][0]["description"]
        assert not [d for d in error["details"] if d["@type"].endswith("RetryInfo")]
        assert "Retry-After" not in spent.headers
        http.close()


def test_accounts_and_the_eu_political_ads_declaration_are_checked() -> None:
    with DataManagerEmulator(["1"], accounts=["5555555555"]) as dm:
        http = httpx.Client(base_url=dm.base_url, headers={"Authorization": "Bearer any"})
        denied = http.post("/v1/audienceMembers:ingest", json=ingest(("1",), [email("a")]))
        assert detail(error_of(denied, "PERMISSION_DENIED"), "ErrorInfo")["reason"] == (
            "PERMISSION_DENIED"
        )
        assert http.get(LISTS).status_code == 403
        http.close()
    with DataManagerEmulator(["1"], eu_political_ads_declared=False) as dm:
        http = httpx.Client(base_url=dm.base_url, headers={"Authorization": "Bearer any"})
        refused = http.post("/v1/audienceMembers:ingest", json=ingest(("1",), [email("a")]))
        reason = detail(error_of(refused, "FAILED_PRECONDITION"), "ErrorInfo")["reason"]
        assert reason == "EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED"
        assert http.post(LISTS, json=new_list("x")).status_code == 400
        remove = ingest(("1",), [email("a")])
        del remove["consent"], remove["termsOfService"]
        assert http.post("/v1/audienceMembers:remove", json=remove).status_code == 200
        http.close()


def test_the_token_endpoint_exchanges_only_the_known_refresh_token() -> None:
    with DataManagerEmulator(access_token="current", refresh_token="r-1") as dm:
        good = httpx.post(
            dm.token_uri, data={"grant_type": "refresh_token", "refresh_token": "r-1"}
        )
        assert good.json()["access_token"] == "current"
        bad = httpx.post(dm.token_uri, data={"grant_type": "refresh_token", "refresh_token": "x"})
        assert (bad.status_code, bad.json()["error"]) == (400, "invalid_grant")
        assert "current" not in repr(dm.requests)
