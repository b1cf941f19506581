"""The sandbox emulators, exercised over real HTTP on 127.0.0.1 (httpx and facebook-business)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd.sandbox import DataManagerEmulator, MetaGraphEmulator, Sandbox
from syncd.sandbox.server import RequestRecord

TOKEN = "sandbox-token-7f3a"
AUDIENCE = "23850000000000001"
USER_LIST = "8800000001"
V = "/v21.0"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def emails(n: int, prefix: str = "user") -> list[str]:
    return [sha(f"{prefix}{i}@example.com") for i in range(n)]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def meta() -> Iterator[MetaGraphEmulator]:
    with MetaGraphEmulator([AUDIENCE], access_token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def meta_client(meta: MetaGraphEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=meta.base_url, params={"access_token": TOKEN}) as client:
        yield client


@pytest.fixture
def google() -> Iterator[DataManagerEmulator]:
    with DataManagerEmulator([USER_LIST, "8800000002"], access_token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def google_client(google: DataManagerEmulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=google.base_url, headers=headers) as client:
        yield client


def form(schema: Any, data: list[Any], **extra: Any) -> dict[str, str]:
    """Params as facebook-business sends them: dict/list values JSON-encoded."""
    params = {"payload": json.dumps({"schema": schema, "data": data})}
    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    return params


def graph_error(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]
    return dict(error)


# -- server base -----------------------------------------------------------------------------


def test_server_binds_loopback_and_stops() -> None:
    emulator = MetaGraphEmulator([AUDIENCE]).start()
    port = emulator.port
    assert port > 0
    assert emulator.base_url == f"http://127.0.0.1:{port}"
    with httpx.Client() as client:  # keep-alive connection open while stopping
        assert client.get(f"{emulator.base_url}{V}/{AUDIENCE}?access_token=x").status_code == 200
        emulator.stop()
        assert not emulator.running
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    emulator.stop()  # idempotent


def test_sandbox_starts_both(capfd: pytest.CaptureFixture[str]) -> None:
    with Sandbox(meta_audiences=[AUDIENCE], google_user_lists=[USER_LIST]) as sandbox:
        assert sandbox.meta.port != sandbox.google.port
        meta = httpx.get(f"{sandbox.meta.base_url}{V}/{AUDIENCE}", params={"access_token": "t"})
        assert meta.json()["approximate_count_lower_bound"] == 0
        google = httpx.get(
            f"{sandbox.google.base_url}/v1/requestStatus:retrieve",
            params={"requestId": "nope"},
            headers={"Authorization": "Bearer any"},
        )
        assert google.status_code == 404
    assert not sandbox.meta.running and not sandbox.google.running
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # quiet: no access log lines


def test_request_log_is_thread_safe_and_holds_no_values(
    meta: MetaGraphEmulator, meta_client: httpx.Client
) -> None:
    hashes = emails(5)

    def add(i: int) -> None:  # httpx.Client is thread-safe; its pool opens parallel connections
        meta_client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", [hashes[i % 5]]))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = meta.requests
    assert len(log) == 20
    assert all(r == RequestRecord("POST", f"{V}/{AUDIENCE}/users", 200, "add", 1) for r in log)
    assert len(meta.members(AUDIENCE)) == 5
    text = repr(log)
    assert TOKEN not in text and not any(h in text for h in hashes)
    meta.clear_requests()
    assert meta.requests == []


# -- Meta ------------------------------------------------------------------------------------


def test_meta_add_then_delete_round_trip(
    meta: MetaGraphEmulator, meta_client: httpx.Client
) -> None:
    schema = ["EMAIL", "PHONE", "FN"]
    rows = [[sha("a@x.com"), sha("15551230000"), ""], [sha("b@x.com"), "", sha("bob")]]
    session = {"session_id": 9876, "batch_seq": 1, "last_batch_flag": True}
    added = meta_client.post(f"{V}/{AUDIENCE}/users", data=form(schema, rows, session=session))
    assert added.status_code == 200
    assert added.json() == {
        "audience_id": AUDIENCE,
        "session_id": 9876,
        "num_received": 2,
        "num_invalid_entries": 0,
        "invalid_entry_samples": {},
    }
    assert meta.members(AUDIENCE) == {
        frozenset({("EMAIL", sha("a@x.com")), ("PHONE", sha("15551230000"))}),
        frozenset({("EMAIL", sha("b@x.com")), ("FN", sha("bob"))}),
    }
    node = meta_client.get(f"{V}/{AUDIENCE}", params={"fields": "approximate_count_lower_bound"})
    assert node.json() == {"id": AUDIENCE, "approximate_count_lower_bound": 2}

    # A member missing one of its keys is a different member: nothing is removed.
    partial = meta_client.request(
        "DELETE", f"{V}/{AUDIENCE}/users", params=form(["EMAIL"], [[sha("a@x.com")]])
    )
    assert partial.status_code == 200
    assert len(meta.members(AUDIENCE)) == 2

    removed = meta_client.request("DELETE", f"{V}/{AUDIENCE}/users", params=form(schema, rows))
    assert removed.status_code == 200
    assert removed.json()["num_received"] == 2
    assert meta.members(AUDIENCE) == set()
    assert [r.operation for r in meta.requests] == ["add", "read", "remove", "remove"]


def test_meta_method_delete_override_removes_10000_rows(
    meta: MetaGraphEmulator, meta_client: httpx.Client
) -> None:
    hashes = emails(10_000)
    added = meta_client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", hashes))
    assert added.json()["num_received"] == 10_000
    assert len(meta.members(AUDIENCE)) == 10_000
    params = form("EMAIL", hashes[:9_999], method="DELETE")
    removed = meta_client.post(f"{V}/{AUDIENCE}/users", data=params)
    assert removed.status_code == 200
    assert meta.members(AUDIENCE) == {frozenset({("EMAIL", hashes[-1])})}
    assert meta.requests[-1] == RequestRecord("POST", f"{V}/{AUDIENCE}/users", 200, "remove", 9_999)


def test_meta_long_delete_url_gets_414(meta: MetaGraphEmulator, meta_client: httpx.Client) -> None:
    hashes = emails(150)  # ~10 KB of query string: what remove_users would send
    meta_client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", hashes))
    response = meta_client.request("DELETE", f"{V}/{AUDIENCE}/users", params=form("EMAIL", hashes))
    assert response.status_code == 414
    assert response.json() == {"error": {"code": 414, "message": "Request-URI Too Large"}}
    assert len(meta.members(AUDIENCE)) == 150
    assert meta.requests[-1] == RequestRecord("DELETE", f"{V}/{AUDIENCE}/users", 414)


def test_meta_internal_error_is_graph_code_1(
    meta: MetaGraphEmulator, meta_client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("emulator bug")

    monkeypatch.setattr(meta, "_mutate", broken)
    response = meta_client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", [sha("a")]))
    assert response.status_code == 500
    assert graph_error(response)["code"] == 1


def test_meta_rejects_10001_rows(meta: MetaGraphEmulator, meta_client: httpx.Client) -> None:
    response = meta_client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", emails(10_001)))
    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == 100 and "10001" in error["message"]
    assert meta.members(AUDIENCE) == set()
    assert meta.requests[-1].count == 10_001


def test_meta_rejects_malformed_hash_naming_row_not_value(
    meta: MetaGraphEmulator, meta_client: httpx.Client
) -> None:
    raw = "jane.doe@example.com"
    rows = [[sha("a@x.com"), ""], [sha("b@x.com"), sha("1555")], [raw, ""]]
    response = meta_client.post(f"{V}/{AUDIENCE}/users", data=form(["EMAIL", "PHONE"], rows))
    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == 100
    assert "Row 2" in error["message"] and "EMAIL" in error["message"]
    assert raw not in response.text
    upper = meta_client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", [sha("a").upper()]))
    assert graph_error(upper)["code"] == 100
    assert meta.members(AUDIENCE) == set()  # the valid rows before it were not applied


@pytest.mark.parametrize(
    ("schema", "data", "needle"),
    [
        (["EMAIL", "SSN"], [[sha("a"), sha("b")]], "SSN"),
        (["EMAIL", "PHONE"], [[sha("a"), sha("b")], [sha("c")]], "Row 1"),
        (["MADID"], [["x" * 257]], "Row 0"),
    ],
)
def test_meta_rejects_bad_schema_and_rows(
    meta_client: httpx.Client, schema: list[str], data: list[Any], needle: str
) -> None:
    response = meta_client.post(f"{V}/{AUDIENCE}/users", data=form(schema, data))
    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == 100 and needle in error["message"]


def test_meta_accepts_sdk_single_key_schema_names(
    meta: MetaGraphEmulator, meta_client: httpx.Client
) -> None:
    response = meta_client.post(
        f"{V}/{AUDIENCE}/users", data=form("EMAIL_SHA256", [sha("a"), sha("b")])
    )
    assert response.json()["num_received"] == 2
    assert meta.members(AUDIENCE) == {
        frozenset({("EMAIL", sha("a"))}),
        frozenset({("EMAIL", sha("b"))}),
    }


def test_meta_counts_rows_without_any_value_as_invalid(
    meta: MetaGraphEmulator, meta_client: httpx.Client
) -> None:
    rows = [["", ""], [sha("a"), "ext-1"]]
    response = meta_client.post(f"{V}/{AUDIENCE}/users", data=form(["EMAIL", "EXTERN_ID"], rows))
    assert response.json()["num_invalid_entries"] == 1
    assert meta.members(AUDIENCE) == {frozenset({("EMAIL", sha("a")), ("EXTERN_ID", "ext-1")})}


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_meta_rejects_missing_or_wrong_token(meta: MetaGraphEmulator, token: str | None) -> None:
    params = {"access_token": token} if token else {}
    response = httpx.post(
        f"{meta.base_url}{V}/{AUDIENCE}/users", params=params, data=form("EMAIL", [sha("a")])
    )
    assert response.status_code == 400
    assert graph_error(response)["code"] == 190
    assert meta.members(AUDIENCE) == set()


def test_meta_any_token_without_configured_one() -> None:
    with MetaGraphEmulator([AUDIENCE]) as meta:
        ok = httpx.get(f"{meta.base_url}{V}/{AUDIENCE}", headers={"Authorization": "OAuth abc"})
        assert ok.status_code == 200
        empty = httpx.get(f"{meta.base_url}{V}/{AUDIENCE}", params={"access_token": ""})
        assert graph_error(empty)["code"] == 190


def test_meta_unknown_audience(meta_client: httpx.Client) -> None:
    response = meta_client.post(f"{V}/999/users", data=form("EMAIL", [sha("a")]))
    assert response.status_code == 400
    error = graph_error(response)
    assert (error["code"], error["error_subcode"]) == (100, 33)
    assert "Object with ID '999' does not exist" in error["message"]


def test_meta_node_read(meta: MetaGraphEmulator, meta_client: httpx.Client) -> None:
    meta_client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", emails(3)))
    node = meta_client.get(f"/v19.0/{AUDIENCE}").json()
    assert node["approximate_count_lower_bound"] == node["approximate_count_upper_bound"] == 3
    assert node["operation_status"] == {"code": 200, "description": "Normal"}
    assert node["delivery_status"]["code"] == 200
    bad = meta_client.get(f"{V}/{AUDIENCE}", params={"fields": "id,nonsense"})
    assert graph_error(bad)["code"] == 100


def test_meta_facebook_business_sdk_unchanged(meta: MetaGraphEmulator) -> None:
    from facebook_business.adobjects.customaudience import CustomAudience
    from facebook_business.api import FacebookAdsApi, FacebookSession
    from facebook_business.exceptions import FacebookRequestError

    session = FacebookSession(access_token=TOKEN)
    session.GRAPH = meta.base_url
    api = FacebookAdsApi(session, api_version="v21.0")
    audience = CustomAudience(AUDIENCE, api=api)
    schema = ["EMAIL", "FN"]
    rows = [[sha("a@x.com"), sha("ann")], [sha("b@x.com"), sha("bo")]]
    added = audience.add_users(schema, rows, is_raw=True, pre_hashed=True).json()
    assert added["num_received"] == 2
    audience.remove_users(schema, rows[:1], is_raw=True, pre_hashed=True)
    assert meta.members(AUDIENCE) == {frozenset({("EMAIL", sha("b@x.com")), ("FN", sha("bo"))})}
    with pytest.raises(FacebookRequestError) as caught:
        audience.remove_users("EMAIL_SHA256", emails(150), pre_hashed=True)
    assert caught.value.http_status() == 414
    assert caught.value.api_error_code() == 414  # not a Graph code that reads as transient


# -- Google Data Manager ---------------------------------------------------------------------


def dm_request(
    members: list[dict[str, Any]], lists: tuple[str, ...] = (USER_LIST,), **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
                "loginAccount": {"accountType": "GOOGLE_ADS", "accountId": "999"},
                "productDestinationId": list_id,
            }
            for list_id in lists
        ],
        "audienceMembers": members,
        "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
        "encoding": "HEX",
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
        "validateOnly": False,
    }
    body.update(extra)
    return body


def removal(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("consent", "termsOfService")}


def email_member(email: str) -> dict[str, Any]:
    return {"userData": {"userIdentifiers": [{"emailAddress": sha(email)}]}}


ADDRESS = {
    "givenName": sha("jane"),
    "familyName": sha("doe"),
    "regionCode": "US",
    "postalCode": "94045",
}


def google_error(response: httpx.Response, status: str) -> dict[str, Any]:
    error = response.json()["error"]
    assert error["code"] == response.status_code and error["status"] == status
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    return dict(error)


def violation(error: dict[str, Any]) -> dict[str, Any]:
    details = [d for d in error["details"] if d["@type"].endswith("BadRequest")]
    return dict(details[0]["fieldViolations"][0])


def test_google_ingest_status_and_remove(
    google: DataManagerEmulator, google_client: httpx.Client
) -> None:
    jane = {
        "userData": {
            "userIdentifiers": [
                {"emailAddress": sha("jane@x.com")},
                {"phoneNumber": sha("+15551230000")},
                {"address": ADDRESS},
            ]
        }
    }
    composite = {"compositeData": {"userData": {"userIdentifiers": [{"emailAddress": sha("c")}]}}}
    body = dm_request([jane, composite], lists=(USER_LIST, "8800000002"))
    response = google_client.post("/v1/audienceMembers:ingest", json=body)
    assert response.status_code == 200, response.text
    request_id = response.json()["requestId"]
    expected_jane = frozenset(
        {
            ("emailAddress", sha("jane@x.com")),
            ("phoneNumber", sha("+15551230000")),
            ("address", (sha("jane"), sha("doe"), "US", "94045")),
        }
    )
    expected = {expected_jane, frozenset({("emailAddress", sha("c"))})}
    assert google.members(USER_LIST) == expected == google.members("8800000002")

    status = google_client.get("/v1/requestStatus:retrieve", params={"requestId": request_id})
    per_destination = status.json()["requestStatusPerDestination"]
    assert [s["destination"]["productDestinationId"] for s in per_destination] == [
        USER_LIST,
        "8800000002",
    ]
    assert per_destination[0]["requestStatus"] == "SUCCESS"
    ingest = per_destination[0]["audienceMembersIngestionStatus"]["userDataIngestionStatus"]
    assert (ingest["recordCount"], ingest["userIdentifierCount"]) == ("2", "4")
    assert ingest["uploadMatchRateRange"] == "MATCH_RATE_RANGE_51_TO_60"

    removed = google_client.post(
        "/v1/audienceMembers:remove", json=removal(dm_request([jane, email_member("other")]))
    )
    assert removed.status_code == 200, removed.text
    assert google.members(USER_LIST) == {frozenset({("emailAddress", sha("c"))})}
    assert len(google.members("8800000002")) == 2
    status = google_client.get(
        "/v1/requestStatus:retrieve", params={"requestId": removed.json()["requestId"]}
    ).json()["requestStatusPerDestination"][0]
    assert status["audienceMembersRemovalStatus"]["userDataRemovalStatus"]["recordCount"] == "2"
    assert [(r.operation, r.count) for r in google.requests] == [
        ("ingest", 2),
        ("status", 0),
        ("remove", 2),
        ("status", 0),
    ]


def test_google_base64_encoding_matches_hex(
    google: DataManagerEmulator, google_client: httpx.Client
) -> None:
    digest = hashlib.sha256(b"a@x.com").digest()
    member = {
        "userData": {"userIdentifiers": [{"emailAddress": base64.b64encode(digest).decode()}]}
    }
    response = google_client.post(
        "/v1/audienceMembers:ingest", json=dm_request([member], encoding="BASE64")
    )
    assert response.status_code == 200
    assert google.members(USER_LIST) == {frozenset({("emailAddress", digest.hex())})}


def test_google_validate_only_changes_nothing(
    google: DataManagerEmulator, google_client: httpx.Client
) -> None:
    body = dm_request([email_member("a")], validateOnly=True)
    response = google_client.post("/v1/audienceMembers:ingest", json=body)
    assert response.status_code == 200 and response.json() == {}
    assert google.members(USER_LIST) == set()
    body["audienceMembers"] = [{"userData": {"userIdentifiers": [{"emailAddress": "a@x.com"}]}}]
    invalid = google_client.post("/v1/audienceMembers:ingest", json=body)
    assert invalid.status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc"])
def test_google_rejects_bad_credentials(google: DataManagerEmulator, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.post(
        f"{google.base_url}/v1/audienceMembers:ingest",
        json=dm_request([email_member("a")]),
        headers=headers,
    )
    assert response.status_code == 401
    google_error(response, "UNAUTHENTICATED")
    assert google.members(USER_LIST) == set()


def test_google_rejects_malformed_hash_naming_field_not_value(
    google: DataManagerEmulator, google_client: httpx.Client
) -> None:
    members = [email_member("a"), email_member("b")]
    members.append(
        {"userData": {"userIdentifiers": [{"address": {**ADDRESS, "givenName": "Jane"}}]}}
    )
    response = google_client.post("/v1/audienceMembers:ingest", json=dm_request(members))
    assert response.status_code == 400
    error = google_error(response, "INVALID_ARGUMENT")
    assert error["details"][0]["domain"] == "datamanager.googleapis.com"
    field = "audience_members[2].user_data.user_identifiers[0].address.given_name"
    assert violation(error) == {
        "field": field,
        "description": violation(error)["description"],
        "reason": "INVALID_HEX_ENCODING",
    }
    assert field in error["message"] and "Jane" not in response.text
    assert google.members(USER_LIST) == set()  # fast-fail: the valid members were not applied


@pytest.mark.parametrize(
    ("mutate", "reason", "field"),
    [
        (
            lambda b: b.update(destinations=b["destinations"] * 11),
            "TOO_MANY_DESTINATIONS",
            "destinations",
        ),
        (lambda b: b.update(destinations=[]), "REQUIRED_FIELD_MISSING", "destinations"),
        (
            lambda b: b.update(audienceMembers=[email_member("a")] * 10_001),
            "TOO_MANY_AUDIENCE_MEMBERS",
            "audience_members",
        ),
        (lambda b: b.update(audienceMembers=[]), "REQUIRED_FIELD_MISSING", "audience_members"),
        (
            lambda b: b["audienceMembers"][0]["userData"].update(
                userIdentifiers=[{"emailAddress": sha(str(i))} for i in range(11)]
            ),
            "TOO_MANY_USER_IDENTIFIERS",
            "audience_members[0].user_data.user_identifiers",
        ),
        (
            lambda b: b["audienceMembers"][0]["userData"].update(userIdentifiers=[]),
            "REQUIRED_FIELD_MISSING",
            "audience_members[0].user_data.user_identifiers",
        ),
        (lambda b: b.pop("encoding"), "REQUIRED_FIELD_MISSING", "encoding"),
        (lambda b: b.update(encoding="ROT13"), "INVALID_ENUM_VALUE", "encoding"),
        (
            lambda b: b.pop("termsOfService"),
            "TERMS_AND_CONDITIONS_NOT_SIGNED",
            "terms_of_service.customer_match_terms_of_service_status",
        ),
        (
            lambda b: b["audienceMembers"][0]["userData"]["userIdentifiers"].append(
                {"address": {**ADDRESS, "regionCode": "usa"}}
            ),
            "INVALID_COUNTRY_CODE",
            "audience_members[0].user_data.user_identifiers[1].address.region_code",
        ),
    ],
)
def test_google_limits_and_required_fields(
    google: DataManagerEmulator,
    google_client: httpx.Client,
    mutate: Any,
    reason: str,
    field: str,
) -> None:
    body = dm_request([email_member("a")])
    mutate(body)
    response = google_client.post("/v1/audienceMembers:ingest", json=body)
    assert response.status_code == 400, response.text
    assert violation(google_error(response, "INVALID_ARGUMENT")) == {
        "field": field,
        "description": violation(response.json()["error"])["description"],
        "reason": reason,
    }
    assert google.members(USER_LIST) == set()


def test_google_remove_needs_no_terms_but_rejects_unknown_fields(
    google_client: httpx.Client,
) -> None:
    ok = google_client.post(
        "/v1/audienceMembers:remove", json=removal(dm_request([email_member("a")]))
    )
    assert ok.status_code == 200
    bad = google_client.post("/v1/audienceMembers:remove", json=dm_request([email_member("a")]))
    assert bad.status_code == 400 and "Unknown name" in bad.json()["error"]["message"]


def test_google_unknown_user_list_is_404(
    google: DataManagerEmulator, google_client: httpx.Client
) -> None:
    body = dm_request([email_member("a")], lists=(USER_LIST, "404404"))
    response = google_client.post("/v1/audienceMembers:ingest", json=body)
    assert response.status_code == 404
    error = google_error(response, "NOT_FOUND")
    assert violation(error)["field"] == "destinations[1].product_destination_id"
    assert google.members(USER_LIST) == set()


def test_google_unknown_request_id_is_404(google_client: httpx.Client) -> None:
    response = google_client.get("/v1/requestStatus:retrieve", params={"requestId": "nope"})
    assert response.status_code == 404
    google_error(response, "NOT_FOUND")
    missing = google_client.get("/v1/requestStatus:retrieve")
    assert missing.status_code == 400


def test_google_invalid_json(google_client: httpx.Client) -> None:
    response = google_client.post(
        "/v1/audienceMembers:ingest",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    google_error(response, "INVALID_ARGUMENT")


def test_google_accepts_chunked_body(
    google: DataManagerEmulator, google_client: httpx.Client
) -> None:
    body = json.dumps(dm_request([email_member("a"), email_member("b")])).encode()
    chunks = (body[i : i + 64] for i in range(0, len(body), 64))  # httpx sends it chunked
    response = google_client.post("/v1/audienceMembers:ingest", content=chunks)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200
    assert len(google.members(USER_LIST)) == 2
