"""The sandbox emulators, exercised over real HTTP on 127.0.0.1 (httpx and facebook-business)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator
from syncd.destinations.meta.sandbox import MetaGraphEmulator
from syncd.sandbox.pair import Sandbox
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


# -- Meta in depth: audiences, replace sessions, usage, policy, spend -------------------------


class Clock:
    """A fake monotonic clock for the emulator's rate and replace windows."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def usage(response: httpx.Response) -> tuple[dict[str, Any], dict[str, Any]]:
    business = json.loads(response.headers["x-business-use-case-usage"])
    (entry,) = business["1000000000000001"]
    return entry, json.loads(response.headers["x-ad-account-usage"])


def test_meta_usage_headers_budget_and_throttle_codes() -> None:
    clock = Clock()
    with (
        MetaGraphEmulator(
            [AUDIENCE], TOKEN, calls_per_window=3, window_seconds=90, clock=clock
        ) as meta,
        httpx.Client(base_url=meta.base_url, params={"access_token": TOKEN}) as client,
    ):
        percents = [usage(client.get(f"{V}/{AUDIENCE}"))[0]["call_count"] for _ in range(3)]
        assert percents == [34, 67, 100]

        throttled = client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", [sha("a")]))
        error = graph_error(throttled)
        assert (error["code"], error["error_subcode"]) == (80003, 2446079)
        entry, account = usage(throttled)
        assert entry["type"] == "custom_audience" and entry["call_count"] == 134
        assert entry["estimated_time_to_regain_access"] == 2  # 90 s, in whole minutes
        assert account == {
            "acc_id_util_pct": 134,
            "reset_time_duration": 90,
            "ads_api_access_tier": "standard_access",
        }
        assert meta.members(AUDIENCE) == set()

        meta.throttle_with(613)
        assert graph_error(client.get(f"{V}/{AUDIENCE}"))["code"] == 613
        refused = httpx.get(f"{meta.base_url}{V}/{AUDIENCE}", params={"access_token": ""})
        assert graph_error(refused)["code"] == 190 and usage(refused)[0]["call_count"] == 100

        clock.now += 90  # the window slides past the three calls
        ok = client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", [sha("a")]))
        assert ok.status_code == 200 and usage(ok)[0]["call_count"] == 34
        with pytest.raises(ValueError):
            meta.throttle_with(100)


@pytest.mark.parametrize(
    ("edge", "use_case", "code"),
    [(f"{AUDIENCE}/users", "custom_audience", 80003),
     ("act_1000/adsets", "ads_management", 80004),
     ("act_1000/insights", "ads_insights", 80000)],
)  # fmt: skip
def test_meta_each_business_use_case_has_its_budget_and_its_code(
    edge: str, use_case: str, code: int
) -> None:
    """Graph's Business Use Case rate limits: a budget per use case and ad account, and the
    use case's own code once it is spent, in Graph's error body."""
    clock = Clock()
    with (
        MetaGraphEmulator(
            [AUDIENCE], TOKEN, calls_per_window=2, window_seconds=120, clock=clock
        ) as meta,
        httpx.Client(base_url=meta.base_url, params={"access_token": TOKEN}) as client,
    ):
        meta.exhaust_budget(use_case=use_case)

        def call(path: str) -> httpx.Response:
            if path.endswith("/users"):
                return client.post(f"{V}/{path}", data=form("EMAIL", [sha("a")]))
            return client.get(f"{V}/{path}")

        throttled = call(edge)
        body = throttled.json()["error"]
        assert throttled.status_code == 400
        assert set(body) == {
            "message",
            "type",
            "code",
            "error_subcode",
            "is_transient",
            "fbtrace_id",
        }
        assert body["message"].startswith(f"(#{code}) There have been too many calls")
        assert (body["type"], body["code"], body["error_subcode"]) == (
            "OAuthException",
            code,
            2446079,
        )
        assert body["is_transient"] is True
        entry, account = usage(throttled)
        assert entry["type"] == use_case and entry["estimated_time_to_regain_access"] == 2
        assert account["reset_time_duration"] == 120
        if use_case == "ads_insights":
            insights = json.loads(throttled.headers["x-fb-ads-insights-throttle"])
            assert insights["acc_id_util_pct"] == 150
        # The other use cases' budgets are untouched.
        others = {f"{AUDIENCE}/users", "act_1000/adsets", "act_1000/insights"} - {edge}
        assert all(call(path).status_code == 200 for path in others)
        assert meta.usage(use_case=use_case) == 100

        clock.now += 120
        assert call(edge).status_code == 200


def test_meta_insights_can_throttle_as_code_4() -> None:
    """Insights also throttles as code 4 with subcode 1504022 or 1504039 (Marketing API
    "Rate Limiting")."""
    with (
        MetaGraphEmulator([AUDIENCE], TOKEN, calls_per_window=1) as meta,
        httpx.Client(base_url=meta.base_url, params={"access_token": TOKEN}) as client,
    ):
        for subcode in (1504022, 1504039):
            meta.throttle_with(4, subcode, use_case="ads_insights")
            meta.exhaust_budget(use_case="ads_insights")
            body = graph_error(client.get(f"{V}/act_1000/insights"))
            assert (body["code"], body["error_subcode"]) == (4, subcode)
            assert body["message"] == (
                "(#4) There have been too many calls from this app. Wait a bit and try again."
            )


def test_meta_create_list_filter_and_page_audiences() -> None:
    with (
        MetaGraphEmulator([AUDIENCE], TOKEN, ad_accounts=["act_1000"]) as meta,
        httpx.Client(base_url=meta.base_url, params={"access_token": TOKEN}) as client,
    ):
        base = {"subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"}
        created = [
            client.post(f"{V}/act_1000/customaudiences", data={"name": f"Buyers {n}", **base})
            for n in range(3)
        ]
        ids = [response.json()["id"] for response in created]
        assert len(set(ids)) == 3 and AUDIENCE not in ids
        assert meta.audiences("act_1000")[ids[0]] == "Buyers 0"

        for bad in (
            {"name": "x", "subtype": "CUSTOM"},
            {"name": "x", **base, "subtype": "WEBSITE"},
        ):
            response = client.post(f"{V}/act_1000/customaudiences", data=bad)
            assert graph_error(response)["code"] == 100
        unknown = client.get(f"{V}/act_9/customaudiences")
        assert graph_error(unknown)["error_subcode"] == 33

        first = client.get(
            f"{V}/act_1000/customaudiences",
            params={"fields": "name,subtype", "limit": 3, "summary": "true"},
        ).json()
        assert [a["id"] for a in first["data"]] == [AUDIENCE, *ids[:2]]
        assert first["data"][1] == {"id": ids[0], "name": "Buyers 0", "subtype": "CUSTOM"}
        assert first["summary"] == {"total_count": 4} and "next" in first["paging"]
        after = first["paging"]["cursors"]["after"]
        rest = client.get(f"{V}/act_1000/customaudiences", params={"after": after}).json()
        assert rest["data"] == [{"id": ids[2]}] and "next" not in rest["paging"]

        rule = [{"field": "name", "operator": "EQUAL", "value": "Buyers 1"}]
        filtered = client.get(
            f"{V}/act_1000/customaudiences", params={"filtering": json.dumps(rule)}
        ).json()
        assert filtered["data"] == [{"id": ids[1]}]
        assert [r.operation for r in meta.requests][-3:] == ["list", "list", "list"]


def test_meta_users_replace_session_rules() -> None:
    clock = Clock()
    with (
        MetaGraphEmulator([AUDIENCE], TOKEN, replace_window_seconds=600, clock=clock) as meta,
        httpx.Client(base_url=meta.base_url, params={"access_token": TOKEN}) as client,
    ):
        client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", [sha("old")]))

        def batch(seq: int, value: str, last: bool = False, session: int = 77) -> httpx.Response:
            meta_session = {"session_id": session, "batch_seq": seq, "last_batch_flag": last}
            return client.post(
                f"{V}/{AUDIENCE}/usersreplace",
                data=form(
                    "EMAIL", [sha(value)], session={**meta_session, "estimated_num_total": 3}
                ),
            )

        assert graph_error(batch(2, "a"))["error_subcode"] == 1870147  # no such session
        assert batch(1, "a").json()["session_id"] == 77
        assert batch(1, "a").status_code == 200  # a re-sent batch is accepted once more
        out_of_order = graph_error(batch(3, "c"))
        assert (out_of_order["code"], out_of_order["error_subcode"]) == (100, 1870148)
        other = graph_error(batch(1, "x", session=78))
        assert (other["code"], other["error_subcode"]) == (2650, 1870146)
        assert meta.replace_in_progress(AUDIENCE)
        assert meta.members(AUDIENCE) == {frozenset({("EMAIL", sha("old"))})}
        node = client.get(f"{V}/{AUDIENCE}", params={"fields": "operation_status"}).json()
        assert node["operation_status"]["code"] == 300

        assert batch(2, "b").status_code == 200
        done = batch(3, "c", last=True)
        assert done.json()["num_received"] == 1
        assert meta.members(AUDIENCE) == {frozenset({("EMAIL", sha(v))}) for v in "abc"}
        assert [r.operation for r in meta.requests].count("replace") == 7

        assert batch(1, "d", session=90).status_code == 200
        clock.now += 601
        expired = graph_error(batch(2, "e", session=90, last=True))
        assert (expired["code"], expired["error_subcode"]) == (100, 1870147)
        assert "expired" in expired["message"]
        assert meta.members(AUDIENCE) == {frozenset({("EMAIL", sha(v))}) for v in "abc"}
        missing = client.post(f"{V}/{AUDIENCE}/usersreplace", data=form("EMAIL", [sha("f")]))
        assert "session is required" in graph_error(missing)["message"]

        meta.refuse_replace(AUDIENCE)
        refused = graph_error(batch(1, "g", session=91))
        assert (refused["code"], refused["error_subcode"]) == (2650, 1870145)
        assert not meta.replace_in_progress(AUDIENCE)


def test_meta_flagged_audience_refuses_edits(
    meta: MetaGraphEmulator, meta_client: httpx.Client
) -> None:
    meta.flag_audience(AUDIENCE)
    node = meta_client.get(
        f"{V}/{AUDIENCE}", params={"fields": "operation_status,fields_violating_integrity_policy"}
    ).json()
    assert node["operation_status"]["code"] == 471
    assert "health, financial" in node["operation_status"]["description"]
    assert node["fields_violating_integrity_policy"] == ["name"]
    for edge in ("users", "usersreplace"):
        session = {"session_id": 1, "batch_seq": 1, "last_batch_flag": True}
        response = meta_client.post(
            f"{V}/{AUDIENCE}/{edge}", data=form("EMAIL", [sha("a")], session=session)
        )
        error = graph_error(response)
        assert (error["code"], error["error_subcode"]) == (100, 1713230)
        assert error["error_user_title"] == "Audience Upload Blocked"
    meta.unflag_audience(AUDIENCE)
    assert meta_client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", [sha("a")])).is_success


def test_meta_expired_token_and_permission_errors(
    meta: MetaGraphEmulator, meta_client: httpx.Client
) -> None:
    meta.expire_token()
    error = graph_error(meta_client.get(f"{V}/{AUDIENCE}"))
    assert (error["code"], error["error_subcode"]) == (190, 463)
    meta.renew_token()
    meta.deny(AUDIENCE, code=10)
    denied = meta_client.post(f"{V}/{AUDIENCE}/users", data=form("EMAIL", [sha("a")]))
    assert denied.status_code == 403 and graph_error(denied)["code"] == 10
    meta.allow(AUDIENCE)
    meta.deny("act_1000")
    assert graph_error(meta_client.get(f"{V}/{AUDIENCE}"))["code"] == 200  # its ad account
    assert meta.members(AUDIENCE) == set()


def test_meta_invalid_madid_is_counted_with_a_sample_never_logged(
    meta: MetaGraphEmulator, meta_client: httpx.Client
) -> None:
    device = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    rows = [["", "bad-device"], [sha("a"), "bad-device-2"], ["", device]]
    response = meta_client.post(f"{V}/{AUDIENCE}/users", data=form(["EMAIL", "MADID"], rows))
    body = response.json()
    assert body["num_invalid_entries"] == 1
    assert set(body["invalid_entry_samples"]) == {"bad-device", "bad-device-2"}
    assert meta.members(AUDIENCE) == {
        frozenset({("EMAIL", sha("a"))}),
        frozenset({("MADID", device)}),
    }
    assert "bad-device" not in repr(meta.requests)


def test_meta_spend_ad_sets_and_insights_through_the_sdk() -> None:
    from facebook_business.adobjects.adaccount import AdAccount
    from facebook_business.api import FacebookAdsApi, FacebookSession

    audiences = ["23850000000000003", "23850000000000001", "23850000000000002"]
    start, end = dt.date(2026, 3, 1), dt.date(2026, 3, 7)
    with MetaGraphEmulator(audiences, TOKEN) as meta:
        rows = meta.generate_spend(start, end, seed=7)
        assert len(rows) == 7 * 4
        with MetaGraphEmulator(audiences, TOKEN) as twin:  # same arguments, same numbers
            longer = twin.generate_spend(start, end + dt.timedelta(days=3), seed=7)
        assert [r.render() for r in longer[: len(rows)]] == [r.render() for r in rows]

        session = FacebookSession(access_token=TOKEN)
        session.GRAPH = meta.base_url
        account = AdAccount("act_1000", api=FacebookAdsApi(session, api_version="v26.0"))
        ad_sets = list(
            account.get_ad_sets(fields=["id", "name", "campaign_id", "billing_event", "targeting"])
        )
        assert {a["billing_event"] for a in ad_sets} == {"IMPRESSIONS", "LINK_CLICKS"}
        targeted = [[c["id"] for c in a["targeting"]["custom_audiences"]] for a in ad_sets]
        assert ["23850000000000001", "23850000000000002"] in targeted
        excluded = [a for a in ad_sets if "excluded_custom_audiences" in a["targeting"]]
        assert len(excluded) == 1
        assert excluded[0]["targeting"]["excluded_custom_audiences"][0]["id"] not in (
            c["id"] for c in excluded[0]["targeting"]["custom_audiences"]
        )

        fields = ["adset_id", "adset_name", "campaign_id", "campaign_name", "spend"]
        fields += ["impressions", "clicks", "cpc", "cpm", "date_start", "date_stop"]
        fields += ["account_currency"]
        params = {
            "level": "adset",
            "time_increment": 1,
            "time_range": {"since": "2026-03-02", "until": "2026-03-04"},
            "limit": 5,
        }
        insights = [dict(row) for row in account.get_insights(fields=fields, params=params)]
        assert len(insights) == 3 * 4  # three pages of five, followed by the cursor
        assert [r.operation for r in meta.requests].count("insights") == 3
        first = insights[0]
        assert first["date_start"] == first["date_stop"] == "2026-03-02"
        assert first["account_currency"] == "USD"
        assert float(first["spend"]) > 0 and "." in first["spend"]
        if int(first["clicks"]):
            assert float(first["cpc"]) == pytest.approx(
                float(first["spend"]) / int(first["clicks"]), rel=1e-3
            )

        day = dt.date(2026, 3, 2)
        before = {r.ad_set.id: r.spend_cents for r in meta.insights() if r.day == day}
        assert meta.restate(day, factor=0.5) == 4
        after = {r.ad_set.id: r.spend_cents for r in meta.insights() if r.day == day}
        assert after == {k: round(v * 0.5) for k, v in before.items()}
        bad = httpx.get(
            f"{meta.base_url}{V}/act_1000/insights",
            params={"access_token": TOKEN, "level": "adset", "fields": "spend,ssn"},
        )
        assert graph_error(bad)["code"] == 100


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
    field = "audience_members.audience_members[2].user_data.user_identifiers"
    assert violation(error) == {
        "field": field,
        "description": "Given name is not hex encoded.",
        "reason": "INVALID_HEX_ENCODING",
    }
    assert "Jane" not in response.text
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
            "audience_members.audience_members[0].user_data.user_identifiers",
        ),
        (
            lambda b: b["audienceMembers"][0]["userData"].update(userIdentifiers=[]),
            "REQUIRED_FIELD_MISSING",
            "audience_members.audience_members[0].user_data.user_identifiers",
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
            "audience_members.audience_members[0].user_data.user_identifiers[1].address.region_code",
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
