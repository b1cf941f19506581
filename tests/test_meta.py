"""The Meta destination end to end: facebook-business, unchanged, against the Graph emulator
on 127.0.0.1, called directly (no pipeline).

A fake clock drives both the emulator's rate window and replace window and the destination's
waits: every sleep the client asks for moves the clock instead of the test, so the throttling
tests take milliseconds and still show who waited how long.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pyarrow as pa
import pytest
from facebook_business.api import FacebookAdsApi
from support.clock import FakeClock

from syncd.config.models import MetaDestination
from syncd.destinations import DestinationError, ErrorClass, PushResult
from syncd.destinations.base import MATCHED
from syncd.destinations.meta import (
    CAPABILITIES,
    GRAPH_API_VERSION,
    SCHEMA_KEYS,
    MetaCustomAudiences,
    ReplaceNotAllowed,
)
from syncd.destinations.meta.form import FormEncoded, form_encode
from syncd.destinations.meta.sandbox import THROTTLES, MetaGraphEmulator
from syncd.destinations.meta.schema import form_payload, payload
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.identity import IdentifierKind
from syncd.members import MEMBER_SCHEMA
from syncd.pacing import Pacer
from syncd.sandbox.server import Fault, RequestRecord

TOKEN = "meta-test-token-31d9"
ACCOUNT = "act_1000"
AUDIENCE = "23850000000000001"
SLOW_WINDOW = 600.0  # seconds; the fake clock makes any length cheap


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


Start = Callable[..., MetaGraphEmulator]


@pytest.fixture
def start(clock: FakeClock) -> Iterator[Start]:
    """Start an emulator with the given options (one per test)."""
    started: list[MetaGraphEmulator] = []

    def run(**options: Any) -> MetaGraphEmulator:
        options.setdefault("ad_accounts", (ACCOUNT,))
        emulator = MetaGraphEmulator([AUDIENCE], TOKEN, clock=clock, **options).start()
        started.append(emulator)
        return emulator

    yield run
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(start: Start) -> MetaGraphEmulator:
    return start()


def connect(
    emulator: MetaGraphEmulator, clock: FakeClock, token: str = TOKEN, **options: Any
) -> MetaCustomAudiences:
    config = MetaDestination(
        kind="meta", ad_account_id=ACCOUNT, access_token=token, endpoint=emulator.base_url
    )
    options.setdefault("sleep", clock.sleep)
    options.setdefault("pacer", Pacer(CAPABILITIES.pace, clock=clock))
    return MetaCustomAudiences(config, **options)


@pytest.fixture
def meta(emulator: MetaGraphEmulator, clock: FakeClock) -> Iterator[MetaCustomAudiences]:
    destination = connect(emulator, clock)
    yield destination
    destination.close()


def members(rows: list[dict[str, str | None]]) -> pa.Table:
    """A members table in MEMBER_SCHEMA, plus any further identifier columns the rows use
    (kinds the identity layer may not define yet, such as city or gender)."""
    extra = sorted({key for row in rows for key in row} - set(MEMBER_SCHEMA.names))
    schema = pa.schema([*MEMBER_SCHEMA, *(pa.field(name, pa.string()) for name in extra)])
    columns: dict[str, list[str | None]] = {name: [] for name in schema.names}
    for number, row in enumerate(rows):
        for name in schema.names:
            columns[name].append(row.get(name))
        columns["member_key"][-1] = f"key-{number}"
    return pa.table(columns, schema=schema)


def person(n: int) -> dict[str, str | None]:
    return {"email": sha(f"person{n}@example.com")}


def emails(numbers: range | list[int]) -> set[frozenset[tuple[str, str]]]:
    return {frozenset({("EMAIL", sha(f"person{n}@example.com"))}) for n in numbers}


def sent(emulator: MetaGraphEmulator) -> list[RequestRecord]:
    return [record for record in emulator.requests if record.method in ("POST", "DELETE")]


# -- audiences ---------------------------------------------------------------------------


def test_ensure_audience_creates_once_then_finds_the_same_id(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    name = "Cart abandoners 30d"
    for n in range(105):  # names that contain it: two pages of the CONTAIN filter
        emulator.add_audience(f"2385000000000{n + 100:04d}", name=f"{name} (old {n})")

    created = meta.ensure_audience(name, "Carts left in the last 30 days")
    again = meta.ensure_audience(name, "Carts left in the last 30 days")

    assert again == created and created not in (AUDIENCE,)
    assert [i for i, n in emulator.audiences(ACCOUNT).items() if n == name] == [created]
    # First call: two pages of the list, then the creation; second call: two pages only.
    assert [r.operation for r in emulator.requests] == ["list", "list", "create", "list", "list"]
    node = httpx.get(
        f"{emulator.base_url}/v26.0/{created}",
        params={"access_token": TOKEN, "fields": "subtype,customer_file_source,description"},
    ).json()
    assert node == {
        "id": created,
        "subtype": "CUSTOM",
        "customer_file_source": "USER_PROVIDED_ONLY",
        "description": "Carts left in the last 30 days",
    }


def test_describe_reports_size_and_status(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    meta.add(AUDIENCE, members([person(n) for n in range(3)]))
    assert meta.describe(AUDIENCE) == {
        MATCHED: 3,
        "approximate_count_lower_bound": 3,
        "approximate_count_upper_bound": 3,
        "operation_status_code": 200,
        "operation_status_description": "Normal",
        "delivery_status_code": 200,
    }


def test_every_call_goes_to_the_pinned_graph_version(
    emulator: MetaGraphEmulator, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SDK whose default moved (a newer facebook-business) does not move syncd."""
    monkeypatch.setattr(FacebookAdsApi, "API_VERSION", "v99.0")
    meta = connect(emulator, clock)
    for n in range(101):  # two pages of the audience list: the SDK's cursor follows them
        emulator.add_audience(f"2385000000001{n:04d}", name=f"Buyers (old {n})")

    meta.ensure_audience("Buyers", "")
    meta.add(AUDIENCE, members([person(1)]))
    meta.remove(AUDIENCE, members([person(1)]))
    meta.describe(AUDIENCE)
    meta.close()

    assert [r.operation for r in emulator.requests] == [
        "list", "list", "create", "add", "remove", "read"
    ]  # fmt: skip
    assert {r.path.split("/")[1] for r in emulator.requests} == {GRAPH_API_VERSION}


# -- multi-key add and remove ------------------------------------------------------------


def test_multi_key_rows_land_as_one_member_each(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    keys = {"email": "EMAIL", "phone": "PHONE", "first_name": "FN", "last_name": "LN"}
    keys |= {"zip": "ZIP", "country": "COUNTRY"}
    rows: list[dict[str, str | None]] = [{k: sha(f"{k}-{n}") for k in keys} for n in range(3)]
    rows[1]["phone"] = None  # a member without one key sends "" in its place
    rows.append({"first_name": sha("ann"), "last_name": sha("lee"), "zip": sha("94107")})

    added = meta.add(AUDIENCE, members(rows))

    expected = {frozenset((keys[k], v) for k, v in row.items() if v is not None) for row in rows}
    assert emulator.members(AUDIENCE) == expected
    assert (added.received, added.invalid) == (4, 0)
    assert added.request_id  # the session id Graph echoes

    removed = meta.remove(AUDIENCE, members(rows[:2]))

    assert removed.received == 2
    assert emulator.members(AUDIENCE) == expected - {
        frozenset((keys[k], v) for k, v in row.items() if v is not None) for row in rows[:2]
    }
    # The removal went as a POST with method=DELETE, its payload in the body.
    last = sent(emulator)[-1]
    assert (last.method, last.operation, last.count) == ("POST", "remove", 2)
    assert last.path.endswith(f"/{AUDIENCE}/users")


def test_identifier_kinds_map_by_column_name_including_future_ones(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    row = {"email": sha("a@x.com"), "city": sha("paris"), "state": sha("ca")}
    row |= {"birth_year": sha("1984"), "gender": sha("f")}

    meta.add(AUDIENCE, members([row]))

    assert emulator.members(AUDIENCE) == {
        frozenset(
            {
                ("EMAIL", sha("a@x.com")),
                ("CT", sha("paris")),
                ("ST", sha("ca")),
                ("DOBY", sha("1984")),
                ("GEN", sha("f")),
            }
        )
    }
    assert {SCHEMA_KEYS[k] for k in ("city", "state", "birth_year", "gender")} == {
        "CT",
        "ST",
        "DOBY",
        "GEN",
    }
    assert {kind.value for kind in CAPABILITIES.identifier_kinds} == {
        kind.value for kind in IdentifierKind if kind.value in SCHEMA_KEYS
    }


def test_the_payload_is_the_json_facebook_business_would_write() -> None:
    """Built with Arrow kernels, byte for byte what the SDK's json.dumps(sort_keys=True,
    separators=(",", ":")) writes for the same rows, whatever the values hold."""
    odd = ['quo"te', "back\\slash", "new\nline", "zoë", "\U0001f600", "", "tab\t", "d\x7fel"]
    odd += ["line\u2028sep"]
    rows = [
        {"email": sha(f"{n}@x.com"), "madid": odd[n % len(odd)], "external_id": None}
        for n in range(20)
    ]
    rows += [{"phone": sha("+15550100"), "external_id": "id-7"}, {"email": None}]
    table = members(rows)
    columns = [c for c in SCHEMA_KEYS if any(row.get(c) is not None for row in rows)]
    expected = {
        "schema": [SCHEMA_KEYS[c] for c in columns],
        "data": [[row.get(c) or "" for c in columns] for row in rows],
    }
    assert payload(table) == json.dumps(expected, sort_keys=True, separators=(",", ":"))
    for value in odd:  # each alone beside plain hashes, so none hides behind another
        alone = [{"email": sha("a@x.com"), "madid": sha("m")}, {"madid": value}]
        written = {"schema": ["EMAIL", "MADID"], "data": [[sha("a@x.com"), sha("m")], ["", value]]}
        assert payload(members(alone)) == json.dumps(written, sort_keys=True, separators=(",", ":"))
    hashes_only = members([{"email": sha("a@x.com")}, {"email": sha("b@x.com")}])
    assert json.loads(payload(hashes_only)) == {
        "schema": ["EMAIL"],
        "data": [[sha("a@x.com")], [sha("b@x.com")]],
    }


def test_the_form_payload_is_the_json_payload_as_requests_would_encode_it() -> None:
    """Plain hashes are written form-encoded already; anything else is the JSON text, which
    the form encoder quotes: either way the body is what requests sends for `payload`."""
    rows = [
        {"email": sha(f"{n}@x.com"), "phone": sha(str(n)) if n % 3 else None} for n in range(30)
    ]
    hashes = members([*rows, {"email": None, "phone": sha("p")}])
    odd = members([{"email": sha("a@x.com")}, {"madid": 'quo"te & more'}])
    for table in (hashes, odd):
        assert form_encode({"payload": form_payload(table)}) == urlencode(
            {"payload": payload(table)}
        )
    assert isinstance(form_payload(hashes), FormEncoded)
    assert not isinstance(form_payload(odd), FormEncoded)


def test_invalid_entries_are_counted_and_their_samples_never_kept(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "not-a-device-id-7c1e0b"
    rows: list[dict[str, str | None]] = [person(1), {"madid": secret}]
    with caplog.at_level(logging.DEBUG):
        result = meta.add(AUDIENCE, members(rows))

    assert (result.received, result.invalid) == (2, 1)
    assert emulator.members(AUDIENCE) == emails([1])
    assert secret not in caplog.text and secret not in repr(result)
    assert secret not in repr(vars(meta))


@pytest.mark.parametrize("remove", [False, True], ids=["add", "remove"])
def test_a_push_reports_what_meta_says_it_received_not_what_was_sent(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences, remove: bool
) -> None:
    rows = [person(n) for n in range(5)]
    if remove:
        meta.add(AUDIENCE, members(rows))
    push = meta.remove if remove else meta.add
    emulator.under_apply(AUDIENCE, 2)
    emulator.under_apply(AUDIENCE, None)

    short = push(AUDIENCE, members(rows))
    applied = emulator.members(AUDIENCE)
    nothing = push(AUDIENCE, members(rows))
    unchanged = emulator.members(AUDIENCE)
    whole = push(AUDIENCE, members([*rows, {"madid": "not-a-device-id"}]))

    assert (short.received, short.invalid) == (2, 0)
    assert applied == (emails(range(2, 5)) if remove else emails(range(2)))
    assert (nothing.received, nothing.invalid) == (0, 0) and unchanged == applied
    assert (whole.received, whole.invalid) == (6, 1)  # removals count invalid rows as well
    assert emulator.members(AUDIENCE) == (set() if remove else emails(range(5)))


def test_under_apply_refuses_what_it_cannot_stand_for(emulator: MetaGraphEmulator) -> None:
    with pytest.raises(ValueError):
        emulator.under_apply(AUDIENCE, -1)
    with pytest.raises(ValueError):
        emulator.under_apply(AUDIENCE, 1, times=0)
    with pytest.raises(KeyError):
        emulator.under_apply("999", 1)


# -- replace -----------------------------------------------------------------------------


def test_replace_session_makes_the_audience_exactly_the_batches(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    meta.add(AUDIENCE, members([person(n) for n in range(5)]))
    seen: list[tuple[bool, int]] = []

    def batches() -> Iterator[pa.Table]:
        yield members([person(n) for n in (3, 4, 5)])
        yield members([person(n) for n in (6, 7)])
        # The first batch is in: a replace is open, and nothing has changed yet.
        seen.append((emulator.replace_in_progress(AUDIENCE), len(emulator.members(AUDIENCE))))
        yield members([])  # empty batches are skipped
        yield members([person(8)])

    results = meta.replace(AUDIENCE, batches(), total=6)

    assert emulator.members(AUDIENCE) == emails([3, 4, 5, 6, 7, 8])
    assert seen == [(True, 5)]
    assert not emulator.replace_in_progress(AUDIENCE)
    assert [r.received for r in results] == [3, 2, 1]
    assert len({r.request_id for r in results}) == 1  # one session
    assert [(r.operation, r.count) for r in sent(emulator)][-3:] == [
        ("replace", 3),
        ("replace", 2),
        ("replace", 1),
    ]


def test_a_refused_replace_raises_replace_not_allowed_and_changes_nothing(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    meta.add(AUDIENCE, members([person(1)]))
    emulator.refuse_replace(AUDIENCE)

    with pytest.raises(ReplaceNotAllowed) as refused:
        meta.replace(AUDIENCE, [members([person(2)]), members([person(3)])], total=2)

    assert refused.value.error_class is ErrorClass.FAIL_AUDIENCE
    assert "lookalike" in refused.value.reason
    assert "add and remove them instead" in str(refused.value)
    assert emulator.members(AUDIENCE) == emails([1])
    assert [r.operation for r in sent(emulator)] == ["add", "replace"]  # not retried
    meta.add(AUDIENCE, members([person(2), person(3)]))  # the fallback works
    assert emulator.members(AUDIENCE) == emails([1, 2, 3])


def test_an_open_session_blocks_another_replace_until_it_expires(
    start: Start, clock: FakeClock
) -> None:
    emulator = start(replace_window_seconds=90 * 60)
    meta = connect(emulator, clock)
    meta.add(AUDIENCE, members([person(1)]))

    def crashing() -> Iterator[pa.Table]:
        yield members([person(2)])
        yield members([person(3)])
        raise RuntimeError("the process died mid-replace")

    with pytest.raises(RuntimeError):
        meta.replace(AUDIENCE, crashing(), total=2)
    assert emulator.replace_in_progress(AUDIENCE)

    with pytest.raises(ReplaceNotAllowed, match="in progress"):
        meta.replace(AUDIENCE, [members([person(4)])], total=1)

    clock.now += 90 * 60 + 1  # Meta drops the abandoned session
    meta.replace(AUDIENCE, [members([person(4)])], total=1)
    assert emulator.members(AUDIENCE) == emails([4])


def test_a_replace_slower_than_the_window_fails_and_keeps_the_audience(
    start: Start, clock: FakeClock
) -> None:
    emulator = start(replace_window_seconds=60)
    meta = connect(emulator, clock)
    meta.add(AUDIENCE, members([person(1)]))

    def slow() -> Iterator[pa.Table]:
        yield members([person(2)])
        yield members([person(3)])
        clock.now += 61  # the first batch is in; the second comes too late

    with pytest.raises(DestinationError) as failed:
        meta.replace(AUDIENCE, slow(), total=2)

    assert not isinstance(failed.value, ReplaceNotAllowed)
    assert failed.value.error_class is ErrorClass.FAIL_AUDIENCE
    assert "expired" in str(failed.value)
    assert emulator.members(AUDIENCE) == emails([1])


def test_replace_of_a_flagged_audience_is_the_policy_failure_not_a_fallback(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    emulator.flag_audience(AUDIENCE)
    with pytest.raises(DestinationError) as failed:
        meta.replace(AUDIENCE, [members([person(1)])], total=1)
    assert not isinstance(failed.value, ReplaceNotAllowed)
    assert "health condition" in str(failed.value)


def test_replace_retries_a_batch_inside_its_session(start: Start, clock: FakeClock) -> None:
    emulator = start()
    meta = connect(emulator, clock, retry_policy=RetryPolicy(attempts=3, max_delay=0.0))
    meta.add(AUDIENCE, members([person(1)]))
    emulator.inject(Fault.error(503), path="usersreplace")

    meta.replace(AUDIENCE, [members([person(2)]), members([person(3)])], total=2)

    assert emulator.members(AUDIENCE) == emails([2, 3])
    statuses = [(r.operation, r.status) for r in sent(emulator) if "usersreplace" in r.path]
    assert statuses == [("fault", 503), ("replace", 200), ("replace", 200)]


# -- throttling --------------------------------------------------------------------------


def test_the_window_narrows_to_the_budget_left_and_a_spent_budget_pauses(
    start: Start, clock: FakeClock
) -> None:
    emulator = start(calls_per_window=10, window_seconds=SLOW_WINDOW)
    meta = connect(emulator, clock)
    windows = []

    for n in range(10):
        meta.add(AUDIENCE, members([person(n)]))
        windows.append(meta.pacer.window)
    # Each call costs 10%: past 80% the window is the calls left; at 100% nothing leaves.
    assert windows[5:] == [4, 3, 2, 1, 1]
    assert clock.sleeps == []

    meta.add(AUDIENCE, members([person(10)]))

    # Meta's estimate, 10 minutes (the whole window: every call was made at one instant).
    assert clock.sleeps == [SLOW_WINDOW]
    assert emulator.members(AUDIENCE) == emails(range(11))
    assert all(r.status == 200 for r in emulator.requests)


@pytest.mark.parametrize("throttle", sorted(THROTTLES, key=str), ids=str)
def test_throttling_gives_retry_after_from_the_regain_estimate(
    start: Start, clock: FakeClock, throttle: tuple[int, int | None]
) -> None:
    emulator = start(calls_per_window=5, window_seconds=120)
    emulator.throttle_with(*throttle)
    code = throttle[0]
    meta = connect(emulator, clock)
    emulator.exhaust_budget()

    with pytest.raises(DestinationError) as throttled:
        meta.add(AUDIENCE, members([person(1)]))

    assert throttled.value.error_class is ErrorClass.RATE_LIMITED
    assert throttled.value.retry_after == 120.0  # estimated_time_to_regain_access: 2 minutes
    assert f"code {code}" in str(throttled.value)
    assert clock.sleeps == []  # nothing said the budget was spent before this answer
    meta.pacer.wait_for_resume(clock.sleep)  # the next call waits as long as Meta said
    assert clock.sleeps == [120.0]


def test_a_push_paced_by_the_usage_headers_is_never_throttled(
    start: Start, clock: FakeClock
) -> None:
    emulator = start(calls_per_window=4, window_seconds=60)
    meta = connect(emulator, clock)

    for batch in range(10):
        chunk = members([person(batch * 3 + i) for i in range(3)])
        assert meta.add(AUDIENCE, chunk).received == 3

    assert emulator.members(AUDIENCE) == emails(range(30))
    assert all(r.status == 200 for r in emulator.requests)
    # 10 calls at 4 a minute: two pauses of a minute, each once the budget was spent.
    assert clock.sleeps == [60.0, 60.0]


def test_a_budget_spent_by_someone_else_is_waited_out_once(start: Start, clock: FakeClock) -> None:
    """Another app spends the ad account's budget mid-push: the call that meets it is
    throttled (80003) and retried after Meta's estimate, and the retry's wait and the
    pacer's pause are one wait, not two."""
    emulator = start(calls_per_window=40, window_seconds=60)
    meta = connect(emulator, clock)
    policy = RetryPolicy(attempts=4, base_delay=1.0, max_delay=60.0)
    outcomes: list[str] = []

    for batch in range(10):
        if batch == 5:
            emulator.exhaust_budget()
        chunk = members([person(batch * 3 + i) for i in range(3)])
        result: PushResult = call_with_retries(
            functools.partial(meta.add, AUDIENCE, chunk),
            policy,
            f"batch {batch}",
            on_outcome=outcomes.append,
            on_wait=lambda seconds, error: meta.pacer.throttled(seconds),
            sleep=clock.sleep,
        )
        assert result.received == 3

    assert emulator.members(AUDIENCE) == emails(range(30))
    assert outcomes.count("rate_limited") == 1 and outcomes.count("ok") == 10
    assert [r.status for r in emulator.requests].count(400) == 1
    assert clock.sleeps == [60.0]


# -- errors ------------------------------------------------------------------------------


def refusal(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences, call: Callable[[], object]
) -> DestinationError:
    """Run ``call`` under the retry policy; the error must come after exactly one request."""
    outcomes: list[str] = []
    emulator.clear_requests()
    with pytest.raises(DestinationError) as failed:
        call_with_retries(call, RetryPolicy(attempts=5), "test", on_outcome=outcomes.append)
    assert outcomes == ["fail_audience"]
    assert len(emulator.requests) == 1
    return failed.value


@pytest.mark.parametrize(
    ("subcode", "needles"),
    [(463, ["token expired", "issue a new system-user token", "META_ACCESS_TOKEN"]),
     (460, ["password change", "issue a new system-user token"])],
)  # fmt: skip
def test_an_expired_token_fails_the_audience_with_the_fix(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences, subcode: int, needles: list[str]
) -> None:
    emulator.expire_token(subcode)
    error = refusal(emulator, meta, lambda: meta.add(AUDIENCE, members([person(1)])))
    assert f"code 190/{subcode}" in str(error)
    for needle in needles:
        assert needle in str(error)
    assert TOKEN not in str(error)


@pytest.mark.parametrize(
    ("code", "needle"), [(200, "no role on this object"), (10, "lacks a permission")]
)
def test_a_permission_error_fails_the_audience_with_the_role_fix(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences, code: int, needle: str
) -> None:
    emulator.deny(AUDIENCE, code)
    error = refusal(emulator, meta, lambda: meta.remove(AUDIENCE, members([person(1)])))
    assert needle in str(error) and "Manage campaigns" in str(error)
    assert f"code {code}" in str(error)


def test_a_denied_ad_account_fails_ensure_audience(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    emulator.deny(ACCOUNT)
    error = refusal(emulator, meta, lambda: meta.ensure_audience("Buyers", ""))
    assert str(error).startswith(f"Meta ad account {ACCOUNT}: permission denied")


def test_a_flagged_audience_fails_edits_and_describe_with_the_policy(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    emulator.flag_audience(AUDIENCE)

    edit = refusal(emulator, meta, lambda: meta.add(AUDIENCE, members([person(1)])))
    described = refusal(emulator, meta, lambda: meta.describe(AUDIENCE))

    for error in (edit, described):
        message = str(error)
        assert "operation_status 471" in message
        assert "health condition" in message and "financial status" in message
        assert "rename the audience" in message and "review" in message
    assert "code 100/1713230" in str(edit)
    assert emulator.members(AUDIENCE) == set()


def test_server_errors_and_unreachable_graph_are_retried(
    emulator: MetaGraphEmulator, meta: MetaCustomAudiences
) -> None:
    emulator.inject(Fault.error(503))
    with pytest.raises(DestinationError) as failed:
        meta.add(AUDIENCE, members([person(1)]))
    assert failed.value.error_class is ErrorClass.RETRY
    emulator.stop()
    with pytest.raises(DestinationError) as unreachable:
        meta.add(AUDIENCE, members([person(1)]))
    assert unreachable.value.error_class is ErrorClass.RETRY


def test_capabilities_need_no_sdk() -> None:
    code = (
        "import sys; import syncd.destinations.meta as m; "
        "assert m.CAPABILITIES.max_members_per_request == 10_000; "
        "assert 'facebook_business' not in sys.modules, 'SDK imported for capabilities'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
