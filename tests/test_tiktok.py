"""The TikTok destination: end to end with its real httpx client against the TikTok emulator
on 127.0.0.1 (adds, removes, audiences, refusals, throttling, faults, and that only hashes
leave the process), and the classification of each documented return code with respx."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pydantic
import pytest
import respx
from support.clock import FakeClock

from syncd.destinations.base import MATCHED, DestinationError, ErrorClass, MemberErrors
from syncd.destinations.tiktok import CAPABILITIES, DIALECT, TikTokAudiences, TikTokDestination
from syncd.destinations.tiktok.errors import CODES, RATE_LIMIT_WAIT
from syncd.destinations.tiktok.sandbox import PREFIX, TikTokEmulator
from syncd.identity import GOOGLE, IdentifierKind, normalize_column, send_value
from syncd.members import SENT_SCHEMA, SegmentShape, build_members
from syncd.pacing import Pace
from syncd.sandbox.server import Fault

TOKEN = "tt-test-token-7f3a"
ADV = "7000000000000000001"
K = IdentifierKind

# (email, phone, country, device id) as a warehouse holds them.
PEOPLE = [
    ("  Alice.Smith+shop@Gmail.com ", "(415) 555-0132", "US", None),
    ("bob.jones@example.com", None, "GB", None),
    (None, "+44 20 7946 0958", "GB", None),
    (None, None, "US", "6D92078A-8246-4BA4-AE5B-76104861E7DC"),
    ("carol@example.org", "030 123456", "DE", "38400000-8cf0-11bd-b23e-10b96e40000d"),
]
#: What TikTok must receive for them, written out here rather than by syncd: emails trimmed
#: and lower case (Gmail without its tag and dots), phones E.164 with "+", device ids lower
#: case; each SHA-256.
EXPECTED = [
    {"EMAIL_SHA256": "alicesmith@gmail.com", "PHONE_SHA256": "+14155550132"},
    {"EMAIL_SHA256": "bob.jones@example.com"},
    {"PHONE_SHA256": "+442079460958"},
    {
        "IDFA_SHA256": "6d92078a-8246-4ba4-ae5b-76104861e7dc",
        "AAID_SHA256": "6d92078a-8246-4ba4-ae5b-76104861e7dc",
    },
    {
        "EMAIL_SHA256": "carol@example.org",
        "PHONE_SHA256": "+4930123456",
        "IDFA_SHA256": "38400000-8cf0-11bd-b23e-10b96e40000d",
        "AAID_SHA256": "38400000-8cf0-11bd-b23e-10b96e40000d",
    },
]
RAW_VALUES = [
    text
    for person in PEOPLE
    for value in (person[0], person[1], person[3])
    if value
    for text in (value.strip(), value.strip().lower())
] + [form for expected in EXPECTED for form in expected.values()]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def members_of(people: list[tuple[Any, ...]]) -> pa.Table:
    """People -> members, through syncd's identity layer with TikTok's dialect."""
    batch = pa.RecordBatch.from_pydict(
        {
            "email": pa.array([p[0] for p in people], pa.string()),
            "phone": pa.array([p[1] for p in people], pa.string()),
            "country": pa.array([p[2] for p in people], pa.string()),
            "device": pa.array([p[3] for p in people], pa.string()),
        }
    )
    shape = SegmentShape(
        {K.EMAIL: "email", K.PHONE: "phone", K.MADID: "device"}, country_column="country"
    )
    members = build_members(batch, shape, DIALECT).members
    assert members.schema == SENT_SCHEMA
    return members


def expected_members(indexes: range | list[int]) -> set[tuple[str, str]]:
    return {(t, sha(form)) for i in indexes for t, form in EXPECTED[i].items()}


class Recording(httpx.BaseTransport):
    """httpx's own transport, keeping every request body that left the process."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.bodies: list[bytes] = []
        self.urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        self.urls.append(str(request.url))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def tiktok() -> Iterator[TikTokEmulator]:
    # Processing time 0 (the demo's): each accepted change shows at the next read.
    with TikTokEmulator(TOKEN, advertisers=[ADV], calls_per_window=1_000) as emulator:
        yield emulator


def settings(endpoint: str, /, **changes: Any) -> TikTokDestination:
    values: dict[str, Any] = {
        "kind": "tiktok",
        "advertiser_id": ADV,
        "access_token": TOKEN,
        "endpoint": endpoint,
        **changes,
    }
    return TikTokDestination.model_validate(values)


@pytest.fixture
def wire() -> Recording:
    return Recording()


@pytest.fixture
def client(tiktok: TikTokEmulator, wire: Recording) -> Iterator[TikTokAudiences]:
    with TikTokAudiences(settings(tiktok.base_url), transport=wire) as opened:
        yield opened


def refusal(call: Any, *args: Any) -> DestinationError:
    with pytest.raises(DestinationError) as caught:
        call(*args)
    return caught.value


# -- members ----------------------------------------------------------------------------------


def test_adds_and_removes_change_the_audience_exactly(
    tiktok: TikTokEmulator, client: TikTokAudiences, wire: Recording
) -> None:
    audience = client.ensure_audience("buyers", "people who bought")
    result = client.add(audience, members_of(PEOPLE))
    assert (result.received, result.invalid, result.unapplied) == (5, 0, 0)
    assert result.request_id is not None and re.fullmatch(r"\d{14}\d+", result.request_id)
    assert tiktok.members(audience) == expected_members(range(5))

    removed = client.remove(audience, members_of([PEOPLE[0], PEOPLE[3]]))
    assert (removed.received, removed.invalid) == (2, 0)
    assert tiktok.members(audience) == expected_members([1, 2, 4])
    assert [(r.operation, r.count) for r in tiktok.requests if "mapping" in r.operation] == [
        ("mapping_add", 10),  # ids sent: 2 + 1 + 1 + 2 + 4
        ("mapping_delete", 4),
    ]
    # The body as TikTok documents it: only the id types this batch has, {} where a person
    # has none of one type, and the advertiser the audience belongs to.
    body = json.loads(wire.bodies[-1])
    assert body["advertiser_ids"] == [ADV] and body["action"] == "delete"
    assert body["id_schema"] == ["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256", "AAID_SHA256"]
    assert body["batch_data"][1] == [
        {},
        {},
        {"id": sha(EXPECTED[3]["IDFA_SHA256"]), "audience_ids": [audience]},
        {"id": sha(EXPECTED[3]["AAID_SHA256"]), "audience_ids": [audience]},
    ]


def test_adds_and_removes_are_idempotent(tiktok: TikTokEmulator, client: TikTokAudiences) -> None:
    audience = tiktok.add_audience(name="repeat")
    members = members_of(PEOPLE[:3])
    client.add(audience, members)
    client.add(audience, members)
    assert tiktok.members(audience) == expected_members(range(3))
    client.remove(audience, members_of(PEOPLE[4:]))  # never added
    client.remove(audience, members_of(PEOPLE[:1]))
    client.remove(audience, members_of(PEOPLE[:1]))
    assert tiktok.members(audience) == expected_members([1, 2])


def test_one_mobile_id_type_and_rows_tiktok_cannot_take(
    tiktok: TikTokEmulator, wire: Recording
) -> None:
    audience = tiktok.add_audience()
    with TikTokAudiences(
        settings(tiktok.base_url, mobile_id_types=["AAID"]), transport=wire
    ) as client:
        members = members_of(PEOPLE[3:4])
        names_only = pa.Table.from_pylist([{"first_name": sha("ann")}] * 2, SENT_SCHEMA)
        result = client.add(audience, pa.concat_tables([members, names_only]))
        assert (result.received, result.invalid) == (1, 2)
        assert tiktok.members(audience) == {("AAID_SHA256", sha(EXPECTED[3]["AAID_SHA256"]))}
        sent = len(wire.bodies)
        assert client.add(audience, names_only).invalid == 2
        assert client.add(audience, names_only.slice(0, 0)).received == 0
        assert len(wire.bodies) == sent  # nothing to send, no request


def test_values_that_are_not_hashes_are_refused_by_row_and_never_sent(
    tiktok: TikTokEmulator, client: TikTokAudiences, wire: Recording
) -> None:
    audience = tiktok.add_audience()
    raw_device = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    members = members_of(PEOPLE[:2]).to_pylist()
    members.append({**members[0], "email": None, "phone": None, "madid": raw_device})
    members.append({**members[1], "email": sha("x@example.com").upper()})
    error = refusal(client.add, audience, pa.Table.from_pylist(members, SENT_SCHEMA))
    assert isinstance(error, MemberErrors) and error.error_class is ErrorClass.FAIL_AUDIENCE
    assert error.reasons == {2: "madid_not_sha256_hex", 3: "email_not_sha256_hex"}
    assert raw_device not in str(error) and not error.applied
    assert wire.bodies == [] and tiktok.pending(audience) == 0


def test_a_batch_over_the_limit_is_a_caller_bug(client: TikTokAudiences) -> None:
    too_many = pa.Table.from_pylist([{"email": sha("a")}] * 10_001, SENT_SCHEMA)
    with pytest.raises(ValueError, match="10000"):
        client.add("180000001", too_many)


# -- audiences --------------------------------------------------------------------------------


def test_ensure_audience_finds_by_exact_name_or_creates_once(
    tiktok: TikTokEmulator, client: TikTokAudiences
) -> None:
    created = client.ensure_audience("buyers", "")
    assert client.ensure_audience("buyers", "") == created
    assert client.ensure_audience("  buyers ", "") == created
    assert [r.operation for r in tiktok.requests].count("segment_create") == 1
    assert tiktok.audiences(ADV) == {created: "buyers"}
    assert client.ensure_audience("Buyers", "") != created  # names are exact
    assert client.find_audience("sellers") is None

    # Names repeat on TikTok: a streaming audience wins over a Customer File one, then the
    # oldest; a name on the second page of the list is found too.
    file_one = tiktok.add_audience(name="vip", audience_type="Customer File Audience")
    first = tiktok.add_audience(name="vip")
    tiktok.add_audience(name="vip")
    for n in range(120):
        tiktok.add_audience(name=f"filler {n}")
    assert client.ensure_audience("vip", "") == first != file_one
    assert client.find_audience("buyers") == created  # the oldest: on the last page


def test_names_tiktok_would_cut_are_refused(
    tiktok: TikTokEmulator, client: TikTokAudiences
) -> None:
    error = refusal(client.ensure_audience, "x" * 71, "")
    assert error.error_class is ErrorClass.FAIL_AUDIENCE and "70" in str(error)
    assert refusal(client.ensure_audience, "  ", "").error_class is ErrorClass.FAIL_AUDIENCE
    assert tiktok.audiences() == {}
    assert client.ensure_audience("y" * 70, "") in tiktok.audiences()


def test_describe_reports_size_and_calculation() -> None:
    clock = FakeClock()
    with (
        TikTokEmulator(TOKEN, processing_seconds=3_600, calls_per_window=100, clock=clock) as tt,
        TikTokAudiences(settings(tt.base_url)) as client,
    ):
        audience = client.ensure_audience("buyers", "")
        client.add(audience, members_of(PEOPLE))
        calculating = client.describe(audience)
        assert (calculating["cover_num"], calculating["is_valid"], calculating["status"]) == (
            0, False, "Calculating")  # fmt: skip
        clock.now += 3_600
        ready = client.describe(audience)
        # Five people (ten ids): TikTok counts users.
        assert ready["cover_num"] == ready[MATCHED] == len(PEOPLE) and ready["is_valid"] is True
        assert (ready["name"], ready["audience_type"], ready["error_msg"]) == (
            "buyers", "Partner", None)  # fmt: skip
        missing = refusal(client.describe, "999")
        assert missing.error_class is ErrorClass.FAIL_AUDIENCE and "999" in str(missing)


# -- refusals, throttling, faults -------------------------------------------------------------


def test_a_bad_token_fails_the_audience_and_names_the_fix(tiktok: TikTokEmulator) -> None:
    audience = tiktok.add_audience()
    with TikTokAudiences(settings(tiktok.base_url, access_token="wrong")) as client:
        error = refusal(client.add, audience, members_of(PEOPLE))
    assert error.error_class is ErrorClass.FAIL_AUDIENCE
    assert "code 40105" in str(error) and "TIKTOK_ACCESS_TOKEN" in str(error)
    assert re.search(r"request_id \d{14}", str(error))
    assert tiktok.pending(audience) == 0 and tiktok.members(audience) == set()


def test_an_advertiser_not_authorized_fails_the_audience_and_names_the_fix(
    tiktok: TikTokEmulator, client: TikTokAudiences
) -> None:
    audience = tiktok.add_audience()
    tiktok.deny(ADV)
    error = refusal(client.add, audience, members_of(PEOPLE))
    assert error.error_class is ErrorClass.FAIL_AUDIENCE
    assert "code 40001" in str(error) and "Operator or Admin" in str(error)
    tiktok.allow(ADV)
    streaming_only = tiktok.add_audience(audience_type="Customer File Audience")
    wrong_kind = refusal(client.add, streaming_only, members_of(PEOPLE))
    assert wrong_kind.error_class is ErrorClass.FAIL_AUDIENCE
    assert "code 40002" in str(wrong_kind) and "Customer File" in str(wrong_kind)


def test_the_apps_rate_limit_is_rate_limited_with_a_wait(
    tiktok: TikTokEmulator, client: TikTokAudiences
) -> None:
    audience = tiktok.add_audience()
    tiktok.exhaust_budget()
    error = refusal(client.add, audience, members_of(PEOPLE))
    assert error.error_class is ErrorClass.RATE_LIMITED
    assert error.retry_after == RATE_LIMIT_WAIT == 1.0
    assert "code 40100" in str(error) and tiktok.pending(audience) == 0
    assert refusal(client.find_audience, "x").error_class is ErrorClass.RATE_LIMITED


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("code 50000", "system error"),
        ("code 50002", "service failed"),
        (Fault.error(503, retry_after=2), "code 50000"),
        (Fault.error(504, body=b"<html>Gateway Timeout</html>"), "HTTP 504"),
        (Fault.reset(), "unreachable"),
    ],
)
def test_server_faults_are_retried(
    tiktok: TikTokEmulator, client: TikTokAudiences, fault: Fault | str, words: str
) -> None:
    audience = tiktok.add_audience()
    if isinstance(fault, str):
        tiktok.fail_next(int(fault.split()[1]), path="/segment/mapping/")
    else:
        tiktok.inject(fault, path="/segment/mapping/")
    error = refusal(client.add, audience, members_of(PEOPLE))
    assert error.error_class is ErrorClass.RETRY and words in str(error)
    if isinstance(fault, Fault) and fault.retry_after:
        assert error.retry_after == 2.0
    assert tiktok.members(audience) == set()
    client.add(audience, members_of(PEOPLE))  # the same request, sent again, goes through
    assert tiktok.members(audience) == expected_members(range(5))


def test_an_answer_that_is_not_json_is_retried(
    tiktok: TikTokEmulator, client: TikTokAudiences
) -> None:
    audience = tiktok.add_audience()
    tiktok.inject(Fault.malformed(), path="/segment/mapping/")
    error = refusal(client.add, audience, members_of(PEOPLE))
    assert error.error_class is ErrorClass.RETRY and "unreadable" in str(error)
    client.add(audience, members_of(PEOPLE))  # applied already: sending again is harmless
    assert tiktok.members(audience) == expected_members(range(5))


def test_only_hashes_leave_the_process(
    tiktok: TikTokEmulator, client: TikTokAudiences, wire: Recording
) -> None:
    audience = client.ensure_audience("buyers", "")
    members = members_of(PEOPLE)
    client.add(audience, members)
    errors = []
    # A refusal whose message quotes identifiers keeps none of them.
    tiktok.fail_next(
        40002,
        message="batch_data[0][0]: alice.smith@gmail.com, +1 415 555 0132 and +14155550132 "
        f"are invalid for advertiser {ADV}",
        path="/segment/mapping/",
    )
    errors.append(refusal(client.remove, audience, members))
    assert "<email>" in str(errors[0]) and "<phone>" in str(errors[0]) and ADV in str(errors[0])
    tiktok.revoke_token()
    errors.append(refusal(client.add, audience, members))
    tiktok.restore_token()
    tiktok.exhaust_budget()
    errors.append(refusal(client.remove, audience, members))
    texts = [str(error) for error in errors] + [repr(tiktok.requests)] + wire.urls
    texts += [body.decode() for body in wire.bodies]
    for text in texts:
        for raw in RAW_VALUES:
            assert raw not in text
        assert TOKEN not in text


# -- the dialect and the settings -------------------------------------------------------------


def test_the_dialect_is_googles_with_device_ids_hashed() -> None:
    assert DIALECT.phone_plus and DIALECT.gmail_plus_tag_removed and DIALECT.gmail_dots_removed
    assert DIALECT.hashed == GOOGLE.hashed | {K.MADID}
    assert CAPABILITIES.dialect is DIALECT and CAPABILITIES.network == "tiktok"
    assert CAPABILITIES.identifier_kinds == {K.EMAIL, K.PHONE, K.MADID}
    assert (CAPABILITIES.max_members_per_request, CAPABILITIES.min_serving_size) == (10_000, 1_000)
    assert CAPABILITIES.pace == Pace(
        requests_per_minute=600.0,
        window_seconds=1.0,
        until_answered=True,
        max_in_flight=4,
        margin=0.9,
    )
    assert CAPABILITIES.pace.per_window == 9  # 90% of the Basic level's 10 calls a second
    # The per-value rules and the Arrow kernels agree on what TikTok gets.
    cases = [
        (K.EMAIL, " John.Smith+x@Gmail.com ", None, "johnsmith@gmail.com"),
        (K.EMAIL, "John.Smith+x@Example.com", None, "john.smith+x@example.com"),
        (K.PHONE, "(415) 555-0102", "US", "+14155550102"),
        (K.MADID, " 6D92078A-8246-4BA4-AE5B-76104861E7DC", None, EXPECTED[3]["IDFA_SHA256"]),
    ]
    for kind, raw, country, form in cases:
        assert send_value(DIALECT, kind, raw, country) == sha(form)
        column = normalize_column(DIALECT, kind, pa.array([raw]), pa.array([country], pa.string()))
        assert column.values.to_pylist() == [sha(form)]


def test_settings_validate_and_describe_the_apps_budget() -> None:
    plain = settings("https://business-api.tiktok.com/")
    assert plain.base_url == "https://business-api.tiktok.com/open_api/v1.3"
    assert plain.account == ADV and plain.mobile_id_types == ("IDFA", "AAID")
    assert TOKEN not in repr(plain) and TOKEN not in str(plain.quota_owner)
    assert settings("http://127.0.0.1:8080").base_url == f"http://127.0.0.1:8080{PREFIX}"
    for bad in (
        {"endpoint": "http://business-api.tiktok.com"},
        {"advertiser_id": "act_1"},
        {"mobile_id_types": []},
        {"mobile_id_types": ["GAID"]},
        {"api_version": "1.3"},
        {"unknown": 1},
    ):
        with pytest.raises(pydantic.ValidationError):
            settings("https://business-api.tiktok.com", **bad)
    # One app's budget, whichever advertiser: shared by app_id, else by token.
    one = settings("https://business-api.tiktok.com", app_id="71", advertiser_id="1")
    two = settings("https://business-api.tiktok.com", app_id="71", access_token="other")
    assert one.quota_owner == two.quota_owner != plain.quota_owner
    assert plain.quota_owner == settings(plain.endpoint, advertiser_id="2").quota_owner
    fast = settings(plain.endpoint, calls_per_second=20, max_in_flight=6)
    assert fast.paced(CAPABILITIES.pace) == Pace(
        requests_per_minute=1_200.0,
        window_seconds=1.0,
        until_answered=True,
        max_in_flight=6,
        margin=0.9,
    )
    assert fast.paced(CAPABILITIES.pace).per_window == 18
    assert plain.paced(CAPABILITIES.pace) == CAPABILITIES.pace
    description = TikTokDestination.model_fields["access_token"].description
    assert description is not None and "${TIKTOK_ACCESS_TOKEN}" in description


# -- the error table, one code at a time (respx) ----------------------------------------------

BASE = f"https://business-api.tiktok.com{PREFIX}"


def answered(status: int, body: Any = None, **kwargs: Any) -> DestinationError:
    """The error ``add`` raises when /segment/mapping/ answers this."""
    with (
        respx.mock(base_url=BASE, assert_all_called=True) as router,
        TikTokAudiences(settings("https://business-api.tiktok.com")) as client,
    ):
        route = router.post("/segment/mapping/")
        if isinstance(body, Exception):
            route.mock(side_effect=body)
        elif isinstance(body, dict):
            route.respond(status, json=body, **kwargs)
        else:
            route.respond(status, content=body or b"", **kwargs)
        return refusal(client.add, "180000001", members_of(PEOPLE))


def envelope(code: int, message: str = "Refused.") -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": "2026061015295501023125", "data": {}}


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_documented_code_has_its_class_and_says_why(code: int) -> None:
    error = answered(200, envelope(code, "TikTok's words."))
    rule = CODES[code]
    assert error.error_class is rule.error_class
    assert str(error).startswith("TikTok audience 180000001: " + rule.meaning)
    assert f"code {code}: TikTok's words." in str(error)
    assert "request_id 2026061015295501023125" in str(error)
    assert rule.source  # where the code was seen
    if rule.error_class is ErrorClass.RATE_LIMITED:
        assert error.retry_after == RATE_LIMIT_WAIT
    if rule.error_class is ErrorClass.FAIL_AUDIENCE:
        assert any(fix in rule.meaning for fix in ("TIKTOK_ACCESS_TOKEN", "Operator", "check"))


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "wait", "words"),
    [
        (200, envelope(40999), {}, ErrorClass.FAIL_AUDIENCE, None, "does not know"),
        (200, envelope(59999), {}, ErrorClass.RETRY, None, "its side"),
        (503, envelope(50000), {"Retry-After": "4"}, ErrorClass.RETRY, 4.0, "system error"),
        (200, envelope(40100), {"Retry-After": "3"}, ErrorClass.RATE_LIMITED, 3.0, "40100"),
        (429, b"", {"Retry-After": "7"}, ErrorClass.RATE_LIMITED, 7.0, "HTTP 429"),
        (429, b"", {}, ErrorClass.RATE_LIMITED, 1.0, "HTTP 429"),
        (504, b"Gateway Timeout", {}, ErrorClass.RETRY, None, "HTTP 504"),
        (404, b"Not Found", {}, ErrorClass.FAIL_AUDIENCE, None, "api_version"),
        (403, b"Forbidden", {}, ErrorClass.FAIL_AUDIENCE, None, "HTTP 403"),
        (200, b"<html>", {}, ErrorClass.RETRY, None, "unreadable"),
        (200, {"data": {}}, {}, ErrorClass.RETRY, None, "unreadable"),
        (0, httpx.ConnectError("refused"), {}, ErrorClass.RETRY, None, "unreachable"),
        (0, httpx.ReadTimeout("slow"), {}, ErrorClass.RETRY, None, "ReadTimeout"),
    ],
)
def test_answers_outside_the_table(
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: ErrorClass,
    wait: float | None,
    words: str,
) -> None:
    error = answered(status, body, headers=headers) if status else answered(200, body)
    assert error.error_class is expected and error.retry_after == wait and words in str(error)


def test_a_success_envelope_is_code_0_whatever_the_status() -> None:
    with (
        respx.mock(base_url=BASE) as router,
        TikTokAudiences(settings("https://business-api.tiktok.com")) as client,
    ):
        route = router.post("/segment/mapping/").respond(200, json=envelope(0, "OK"))
        result = client.add("180000001", members_of(PEOPLE))
        assert result.request_id == "2026061015295501023125"
        request = route.calls.last.request
        assert request.headers["Access-Token"] == TOKEN  # bare: no "Bearer "
        assert request.headers["Content-Type"] == "application/json"
