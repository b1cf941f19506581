"""The TikTok emulator, exercised over real HTTP on 127.0.0.1 with httpx: the streaming
(segment) API, the Customer File API, TikTok's envelope and codes, the app's rate budget,
delayed processing and the test controls."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.clock import FakeClock

from syncd.destinations.tiktok.sandbox import PREFIX, TikTokEmulator
from syncd.sandbox.server import Fault, RequestRecord

TOKEN = "tt-sandbox-token-51c2"
ADV = "7000000000000000001"
OTHER = "7000000000000000002"
ENVELOPE = {"code", "message", "request_id", "data"}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def md5(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()


def emails(n: int, prefix: str = "user") -> list[str]:
    return [sha(f"{prefix}{i}@example.com") for i in range(n)]


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tiktok(clock: FakeClock) -> Iterator[TikTokEmulator]:
    # The fake clock stands still, so the default 10 calls a second would throttle a long test.
    with TikTokEmulator(
        TOKEN,
        advertisers=[ADV, OTHER],
        processing_seconds=60,
        calls_per_window=1_000,
        clock=clock,
    ) as emulator:
        yield emulator


@pytest.fixture
def client(tiktok: TikTokEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiktok.base_url + PREFIX, headers={"Access-Token": TOKEN}) as c:
        yield c


def ok(response: httpx.Response) -> dict[str, Any]:
    """The ``data`` of a success envelope."""
    assert response.status_code == 200
    body = response.json()
    assert set(body) == ENVELOPE and body["code"] == 0, body
    assert body["message"] == "OK"
    return dict(body["data"])


def refused(response: httpx.Response, code: int) -> str:
    """The message of a refusal: HTTP 200, TikTok's envelope, the given code, empty data."""
    assert response.status_code == 200
    body = response.json()
    assert set(body) == ENVELOPE, body
    assert body["code"] == code, body
    assert body["data"] == {}
    assert re.fullmatch(r"\d{14}\d+", body["request_id"])
    return str(body["message"])


def new_audience(client: httpx.Client, name: str = "buyers", advertiser: str = ADV) -> str:
    data = ok(
        client.post(
            "/segment/audience/", json={"advertiser_id": advertiser, "custom_audience_name": name}
        )
    )
    return str(data["audience_id"])


def mapping(
    audience_id: str,
    hashes: list[str],
    action: str = "add",
    id_type: str = "EMAIL_SHA256",
    advertisers: tuple[str, ...] = (ADV,),
) -> dict[str, Any]:
    rows = [[{"id": value, "audience_ids": [audience_id]}] for value in hashes]
    return {
        "advertiser_ids": list(advertisers),
        "action": action,
        "id_schema": [id_type],
        "batch_data": rows,
    }


def details(client: httpx.Client, audience_id: str, advertiser: str = ADV) -> dict[str, Any]:
    params = {"advertiser_id": advertiser, "custom_audience_ids": json.dumps([audience_id])}
    (entry,) = ok(client.get("/dmp/custom_audience/get/", params=params))["list"]
    return dict(entry)


# -- streaming (segment) API ---------------------------------------------------------------------


def test_mapping_applies_after_processing_in_order(
    tiktok: TikTokEmulator, client: httpx.Client, clock: FakeClock
) -> None:
    audience = new_audience(client)
    hashes = emails(3)
    assert ok(client.post("/segment/mapping/", json=mapping(audience, hashes))) == {}
    # Accepted, not applied: TikTok takes an hour or more to show a change.
    assert tiktok.pending(audience) == 1 and tiktok.members(audience) == set()
    calculating = details(client, audience)["audience_details"]
    assert (calculating["is_valid"], calculating["cover_num"], calculating["msg"]) == (
        False, 0, "Calculating")  # fmt: skip

    clock.now += 60
    assert tiktok.hashes(audience) == set(hashes)
    ready = details(client, audience)["audience_details"]
    assert (ready["is_valid"], ready["cover_num"], ready["audience_type"]) == (True, 3, "Partner")

    # An add then a delete of the same id, sent back to back, apply in that order.
    late = sha("late@example.com")
    ok(client.post("/segment/mapping/", json=mapping(audience, [late])))
    ok(client.post("/segment/mapping/", json=mapping(audience, [late, hashes[0]], "delete")))
    assert tiktok.pending(audience) == 2
    clock.now += 59
    assert tiktok.pending(audience) == 2
    clock.now += 1
    assert tiktok.hashes(audience) == set(hashes[1:])
    assert [r.operation for r in tiktok.requests] == [
        "segment_create", "mapping_add", "get", "get", "mapping_add", "mapping_delete"]  # fmt: skip
    assert [r.count for r in tiktok.requests][-2:] == [1, 2]


def test_cover_num_counts_people_not_ids(
    tiktok: TikTokEmulator, client: httpx.Client, clock: FakeClock
) -> None:
    """Three users, two of them with an email and a phone on their row, one with an email
    only: TikTok counts matched users, so the size is 3, not the 5 ids (counting ids made
    the alerts' size-drift rule fire on every TikTok audience of the demo)."""
    audience = new_audience(client)
    mails, phones = emails(3), [sha(f"+1555000000{i}") for i in range(2)]

    def cell(value: str | None) -> dict[str, Any]:
        return {"id": value, "audience_ids": [audience]} if value else {}

    rows = [[cell(mail), cell(phone)] for mail, phone in zip(mails, [*phones, None], strict=True)]
    body = {"advertiser_ids": [ADV], "action": "add", "id_schema": ["EMAIL_SHA256", "PHONE_SHA256"],
            "batch_data": rows}  # fmt: skip
    ok(client.post("/segment/mapping/", json=body))
    clock.now += 60
    assert len(tiktok.members(audience)) == 5
    assert details(client, audience)["audience_details"]["cover_num"] == 3
    # Deleting one user's phone leaves the user: still 3.
    delete = mapping(audience, phones[:1], "delete", "PHONE_SHA256")
    ok(client.post("/segment/mapping/", json=delete))
    clock.now += 60
    assert details(client, audience)["audience_details"]["cover_num"] == 3


def test_mapping_rows_hold_one_object_per_id_type(
    tiktok: TikTokEmulator, client: httpx.Client
) -> None:
    first, second = new_audience(client, "a"), new_audience(client, "b")
    body = {
        "advertiser_ids": [ADV],
        "id_schema": ["email_sha256", "PHONE_SHA256", "IDFA_MD5"],  # any case, any order
        "batch_data": [
            [{"id": sha("a@x.com"), "audience_ids": [first, second]},
             {"id": sha("+15551230000"), "audience_ids": [first]},
             {}],
            [{}, {}, {"id": md5("6D92078A-8246-4BA4-AE5B-76104861E7DC"), "audience_ids": [second]}],
        ],
    }  # fmt: skip
    ok(client.post("/segment/mapping/", json=body))  # action defaults to add
    assert tiktok.process_pending() == 2
    assert tiktok.members(first) == {
        ("EMAIL_SHA256", sha("a@x.com")),
        ("PHONE_SHA256", sha("+15551230000")),
    }
    assert tiktok.members(second) == {
        ("EMAIL_SHA256", sha("a@x.com")),
        ("IDFA_MD5", md5("6D92078A-8246-4BA4-AE5B-76104861E7DC")),
    }
    assert tiktok.requests[-1].count == 3  # ids sent, empty objects not counted


@pytest.mark.parametrize(
    ("id_type", "bad"),
    [
        ("EMAIL_SHA256", sha("jane@example.com").upper()),
        ("EMAIL_SHA256", sha("jane@example.com")[:63]),
        ("EMAIL_SHA256", "jane.doe@example.com"),
        ("PHONE_SHA256", "+15551230000"),
        ("EMAIL_SHA256", md5("jane@example.com")),
        ("AAID_MD5", sha("jane@example.com")),
    ],
)
def test_mapping_refuses_malformed_hash_naming_position_not_value(
    tiktok: TikTokEmulator, client: httpx.Client, id_type: str, bad: str
) -> None:
    audience = new_audience(client)
    good = sha("ok@example.com") if id_type.endswith("SHA256") else md5("ok")
    body = mapping(audience, [good, bad], id_type=id_type)
    message = refused(client.post("/segment/mapping/", json=body), 40002)
    assert "batch_data[1][0].id" in message and id_type in message
    assert bad not in message and good not in message
    assert tiktok.pending(audience) == 0  # the valid row before it was not taken either
    assert tiktok.requests[-1] == RequestRecord(
        "POST", f"{PREFIX}/segment/mapping/", 200, "mapping", 2
    )


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"id_schema": ["EMAIL_SHA256", "email_sha256"]}, "repeated"),
        ({"id_schema": ["EMAIL_MD5"]}, "id_schema"),
        ({"id_schema": []}, "id_schema"),
        ({"batch_data": []}, "batch_data"),
        ({"batch_data": [[{"id": sha("a"), "audience_ids": ["1"]}, {}]]}, "batch_data[0]"),
        ({"batch_data": [["nope"]]}, "batch_data[0][0]"),
        ({"action": "replace"}, "action"),
        ({"advertiser_ids": ADV}, "advertiser_ids"),
        ({"advertiser_ids": ["act_1"]}, "advertiser_ids"),
    ],
)
def test_mapping_parameter_rules(client: httpx.Client, change: dict[str, Any], needle: str) -> None:
    body = {**mapping(new_audience(client), [sha("a@x.com")]), **change}
    assert needle in refused(client.post("/segment/mapping/", json=body), 40002)


def test_mapping_batch_limit(tiktok: TikTokEmulator, client: httpx.Client) -> None:
    audience = new_audience(client)
    hashes = emails(10_001)
    message = refused(client.post("/segment/mapping/", json=mapping(audience, hashes)), 40002)
    assert "10000" in message and tiktok.pending(audience) == 0
    assert tiktok.requests[-1].count == 10_001
    ok(client.post("/segment/mapping/", json=mapping(audience, hashes[:10_000])))
    tiktok.process_pending()
    assert len(tiktok.members(audience)) == 10_000


def test_mapping_needs_audiences_of_the_named_advertisers(
    tiktok: TikTokEmulator, client: httpx.Client
) -> None:
    mine, theirs = new_audience(client), new_audience(client, advertiser=OTHER)
    body = mapping(mine, [sha("a@x.com")])
    body["batch_data"].append([{"id": sha("b@x.com"), "audience_ids": [theirs]}])
    assert theirs in refused(client.post("/segment/mapping/", json=body), 40002)
    assert tiktok.pending(mine) == 0 and tiktok.pending(theirs) == 0  # all or nothing
    ok(client.post("/segment/mapping/", json={**body, "advertiser_ids": [ADV, OTHER]}))
    assert tiktok.pending(mine) == 1 and tiktok.pending(theirs) == 1
    missing = mapping("999", [sha("a@x.com")])
    assert "999" in refused(client.post("/segment/mapping/", json=missing), 40002)


def test_segment_audience_create_truncate_and_delete(
    tiktok: TikTokEmulator, client: httpx.Client
) -> None:
    long_name = "x" * 80
    audience = new_audience(client, long_name)
    assert tiktok.audiences(ADV) == {audience: "x" * 67 + "..."}
    delete = {"advertiser_id": ADV, "action": "delete", "delete_audience_id": audience}
    assert ok(client.post("/segment/audience/", json=delete)) == {}
    assert tiktok.audiences() == {}
    assert audience in refused(client.post("/segment/audience/", json=delete), 40002)
    nameless = {"advertiser_id": ADV, "action": "create"}
    refused(client.post("/segment/audience/", json=nameless), 40002)
    refused(client.post("/segment/audience/", content=b"{not json"), 40002)


# -- access, budget, refusals on demand ----------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Access-Token": "wrong"}, {"Authorization": TOKEN}])
def test_token_is_the_access_token_header(
    tiktok: TikTokEmulator, client: httpx.Client, headers: dict[str, str]
) -> None:
    audience = new_audience(client)
    response = httpx.post(
        f"{tiktok.base_url}{PREFIX}/segment/mapping/",
        json=mapping(audience, [sha("a@x.com")]),
        headers=headers,
    )
    assert refused(response, 40105) == "Access token is incorrect or has been revoked."
    assert tiktok.pending(audience) == 0


def test_revoked_token_and_denied_advertiser(tiktok: TikTokEmulator, client: httpx.Client) -> None:
    audience = new_audience(client)
    tiktok.revoke_token()
    refused(client.post("/segment/mapping/", json=mapping(audience, [sha("a")])), 40105)
    tiktok.restore_token()
    tiktok.deny(ADV)
    message = refused(client.post("/segment/mapping/", json=mapping(audience, [sha("a")])), 40001)
    assert ADV in message
    tiktok.allow(ADV)
    ok(client.post("/segment/mapping/", json=mapping(audience, [sha("a")])))
    stranger = {"advertiser_id": "7999", "custom_audience_name": "x"}
    refused(client.post("/segment/audience/", json=stranger), 40001)  # not authorized to the app


def test_rate_limit_is_code_40100_in_the_envelope(clock: FakeClock) -> None:
    with (
        TikTokEmulator(TOKEN, calls_per_window=3, processing_seconds=60, clock=clock) as tiktok,
        httpx.Client(base_url=tiktok.base_url + PREFIX, headers={"Access-Token": TOKEN}) as client,
    ):
        audience = tiktok.add_audience()
        body = mapping(audience, [sha("a@x.com")])
        for _ in range(3):
            ok(client.post("/segment/mapping/", json=body))
        message = refused(client.post("/segment/mapping/", json=body), 40100)
        assert message == (
            "Due to too many requests, requests from App 7000000000000000000 are temporarily "
            "restricted."
        )
        assert tiktok.pending(audience) == 3 and tiktok.budget_used() == 100
        clock.now += 0.5
        refused(client.post("/segment/mapping/", json=body), 40100)
        clock.now += 0.5  # the second slides past the first three calls
        ok(client.post("/segment/mapping/", json=body))
        tiktok.exhaust_budget()
        refused(client.get("/dmp/custom_audience/list/", params={"advertiser_id": ADV}), 40100)


def test_default_budget_is_ten_calls_a_second(clock: FakeClock) -> None:
    with TikTokEmulator(TOKEN, clock=clock) as tiktok:
        url = f"{tiktok.base_url}{PREFIX}/dmp/custom_audience/list/"
        codes = [
            httpx.get(url, params={"advertiser_id": ADV}, headers={"Access-Token": TOKEN}).json()[
                "code"
            ]
            for _ in range(11)
        ]
        assert codes == [0] * 10 + [40100]
    with pytest.raises(ValueError):
        TikTokEmulator(level="platinum")


def test_fail_next_refuses_matching_calls_before_anything_else(
    tiktok: TikTokEmulator, client: httpx.Client
) -> None:
    audience = new_audience(client)
    body = mapping(audience, [sha("a@x.com")])
    tiktok.fail_next(50000, times=2, path="/segment/mapping/")
    tiktok.fail_next(51010, message="Internal service timed out.", path="/segment/mapping/")
    assert refused(client.post("/segment/mapping/", json=body), 50000) == "System error."
    ok(client.get("/dmp/custom_audience/list/", params={"advertiser_id": ADV}))  # not matched
    wrong_token = {"Access-Token": "wrong"}
    refused(client.post("/segment/mapping/", json=body, headers=wrong_token), 50000)
    assert refused(client.post("/segment/mapping/", json=body), 51010) == (
        "Internal service timed out."
    )
    assert tiktok.pending_failures() == 0 and tiktok.pending(audience) == 0
    ok(client.post("/segment/mapping/", json=body))
    assert tiktok.pending(audience) == 1
    with pytest.raises(ValueError):
        tiktok.fail_next(12345)
    with pytest.raises(ValueError):
        tiktok.fail_next(0)


def test_http_faults_and_internal_errors_use_the_envelope(
    tiktok: TikTokEmulator, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiktok.inject(Fault.error(503, retry_after=2))
    response = client.get("/dmp/custom_audience/list/", params={"advertiser_id": ADV})
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert response.json()["code"] == 50000

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("emulator bug")

    monkeypatch.setattr(TikTokEmulator, "_admit", broken)
    failed = client.get("/dmp/custom_audience/list/", params={"advertiser_id": ADV})
    assert failed.status_code == 500 and failed.json()["code"] == 50000
    assert client.get("/nope/").status_code == 404


def test_request_log_holds_no_identifier_or_token(
    tiktok: TikTokEmulator, client: httpx.Client
) -> None:
    audience = new_audience(client)
    hashes = emails(5)
    ok(client.post("/segment/mapping/", json=mapping(audience, hashes)))
    refused(client.post("/segment/mapping/", json=mapping(audience, ["raw@example.com"])), 40002)
    text = repr(tiktok.requests)
    assert TOKEN not in text and "raw@example.com" not in text
    assert not any(value in text for value in hashes)


def test_concurrent_mappings_all_apply() -> None:
    """Handlers run one thread per connection; with the default processing time of 0 (the
    demo's) every change shows at the next read."""
    with (
        TikTokEmulator(TOKEN, calls_per_window=100) as tiktok,
        httpx.Client(base_url=tiktok.base_url + PREFIX, headers={"Access-Token": TOKEN}) as client,
    ):
        audience = tiktok.add_audience()
        hashes = emails(20)
        tiktok.set_latency(0.05)  # answers overlap, as they do on the network

        def add(value: str) -> None:
            ok(client.post("/segment/mapping/", json=mapping(audience, [value])))

        threads = [threading.Thread(target=add, args=(value,)) for value in hashes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert tiktok.hashes(audience) == set(hashes) and tiktok.pending(audience) == 0
        assert tiktok.in_flight.peak > 1


def test_latency_is_the_servers(tiktok: TikTokEmulator, client: httpx.Client) -> None:
    tiktok.set_latency(0.2)
    started = time.perf_counter()
    ok(client.get("/dmp/custom_audience/list/", params={"advertiser_id": ADV}))
    assert time.perf_counter() - started >= 0.2


# -- reads ---------------------------------------------------------------------------------------


def test_list_pages_and_filters(tiktok: TikTokEmulator, client: httpx.Client) -> None:
    made = [new_audience(client, f"a{i}") for i in range(12)]
    new_audience(client, "elsewhere", advertiser=OTHER)
    params: dict[str, Any] = {"advertiser_id": ADV, "page_size": 5, "page": 3}
    last = ok(client.get("/dmp/custom_audience/list/", params=params))
    assert last["page_info"] == {"page": 3, "page_size": 5, "total_number": 12, "total_page": 3}
    assert [row["audience_id"] for row in last["list"]] == made[:2][::-1]  # newest first
    first = ok(client.get("/dmp/custom_audience/list/", params={"advertiser_id": ADV}))
    assert len(first["list"]) == 10 and first["page_info"]["total_page"] == 2  # 10 by default
    chosen = {"advertiser_id": ADV, "custom_audience_ids": json.dumps(made[3:5])}
    rows = ok(client.get("/dmp/custom_audience/list/", params=chosen))["list"]
    assert {row["audience_id"] for row in rows} == set(made[3:5])
    bare = {"advertiser_id": ADV, "custom_audience_ids": made[0]}  # an SDK 'multi' array
    assert "JSON array" in refused(client.get("/dmp/custom_audience/list/", params=bare), 40002)
    too_big = {"advertiser_id": ADV, "page_size": 101}
    refused(client.get("/dmp/custom_audience/list/", params=too_big), 40002)
    foreign = {"advertiser_id": OTHER, "custom_audience_ids": json.dumps(made[:1])}
    refused(client.get("/dmp/custom_audience/get/", params=foreign), 40002)


# -- Customer File API ---------------------------------------------------------------------------


def upload(
    client: httpx.Client,
    lines: list[str],
    calculate_type: str = "EMAIL_SHA256",
    *,
    advertiser: str = ADV,
    filename: str = "audience.csv",
    signature: str | None = None,
) -> httpx.Response:
    content = ("\n".join(lines) + "\n").encode()
    data = {
        "advertiser_id": advertiser,
        "calculate_type": calculate_type,
        "file_signature": signature or hashlib.md5(content).hexdigest(),
    }
    files = {"file": (filename, content, "text/csv")}
    return client.post("/dmp/custom_audience/file/upload/", data=data, files=files)


def test_customer_file_create_append_remove_replace(
    tiktok: TikTokEmulator, client: httpx.Client, clock: FakeClock
) -> None:
    base = emails(1_200)
    path = ok(upload(client, [*base, "not-a-hash", sha("X").upper()]))["file_path"]
    assert re.fullmatch(r"[0-9a-f]{16}", path)
    create = {"advertiser_id": ADV, "custom_audience_name": "file buyers",
              "calculate_type": "EMAIL_SHA256", "file_paths": [path]}  # fmt: skip
    audience = ok(client.post("/dmp/custom_audience/create/", json=create))["custom_audience_id"]
    assert details(client, audience)["audience_details"]["is_valid"] is False
    clock.now += 60
    created = details(client, audience)
    assert created["audience_details"]["cover_num"] == 1_200
    assert created["audience_details"]["audience_type"] == "Customer File Audience"
    (entry,) = created["audience_history"]
    assert (entry["action"], entry["editor"], entry["msg"]) == (
        "CREATE", "open_api", "2 lines could not be parsed.")  # fmt: skip

    def update(lines: list[str], action: str) -> None:
        file_path = ok(upload(client, lines))["file_path"]
        body = {"advertiser_id": ADV, "custom_audience_id": audience, "file_paths": [file_path],
                "action": action}  # fmt: skip
        ok(client.post("/dmp/custom_audience/update/", json=body))
        clock.now += 60

    update(emails(100, "new"), "APPEND")
    assert len(tiktok.members(audience)) == 1_300
    update(base[:400], "REMOVE")  # 900 left: under TikTok's 1,000, so the update fails
    assert len(tiktok.members(audience)) == 1_300
    failed = details(client, audience)
    assert "less than 1,000" in failed["audience_details"]["error_msg"]
    assert failed["audience_history"][0]["action"] == "REMOVE"  # newest first
    update(base[:1_000], "REPLACE")
    assert tiktok.hashes(audience) == set(base[:1_000])
    assert details(client, audience)["audience_details"]["error_msg"] == ""

    rename = {"advertiser_id": ADV, "custom_audience_id": audience, "custom_audience_name": "new"}
    ok(client.post("/dmp/custom_audience/update/", json=rename))
    assert tiktok.audiences(ADV)[audience] == "new"
    streaming = mapping(audience, [sha("a@x.com")])
    refused(client.post("/segment/mapping/", json=streaming), 40002)  # not a segment audience
    ok(client.post("/dmp/custom_audience/delete/",
                   json={"advertiser_id": ADV, "custom_audience_ids": [audience]}))  # fmt: skip
    assert tiktok.audiences() == {}


def test_customer_file_upload_rules(tiktok: TikTokEmulator, client: httpx.Client) -> None:
    hashes = emails(3)
    assert "file_signature" in refused(upload(client, hashes, signature="0" * 32), 40002)
    assert ".csv" in refused(upload(client, hashes, filename="audience.xlsx"), 40002)
    assert "PHONE_SHA256" in refused(upload(client, ["+15551230000"], "PHONE_SHA256"), 40002)
    refused(upload(client, hashes, "SHA1"), 40002)
    refused(upload(client, hashes, advertiser="7999"), 40001)

    theirs = ok(upload(client, hashes, advertiser=OTHER))["file_path"]
    phones = ok(upload(client, [sha("+15551230000")], "PHONE_SHA256"))["file_path"]
    create = {"advertiser_id": ADV, "custom_audience_name": "x", "calculate_type": "EMAIL_SHA256"}
    assert theirs in refused(
        client.post("/dmp/custom_audience/create/", json={**create, "file_paths": [theirs]}), 40002
    )
    assert "PHONE_SHA256" in refused(
        client.post("/dmp/custom_audience/create/", json={**create, "file_paths": [phones]}), 40002
    )

    header = "email_SHA256,phone_SHA256,MAID_MD5"
    rows = [header, f"{hashes[0]},{sha('+1555')},", f",,{md5('device')}", "bad,,"]
    multi = ok(upload(client, rows, "MULTIPLE_TYPES"))["file_path"]
    made = ok(client.post("/dmp/custom_audience/create/",
                          json={**create, "calculate_type": "MULTIPLE_TYPES",
                                "file_paths": [multi]}))["custom_audience_id"]  # fmt: skip
    tiktok.process_pending()
    assert tiktok.members(made) == {
        ("EMAIL_SHA256", hashes[0]),
        ("PHONE_SHA256", sha("+1555")),
        ("MAID_MD5", md5("device")),
    }
    assert "hashed MAID" in refused(upload(client, ["MAID", "abc"], "MULTIPLE_TYPES"), 40002)
