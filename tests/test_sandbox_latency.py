"""Realistic emulators: a per-request latency answered side by side, Meta's usage that rises
with calls, throttles past 100% and recovers over its window, and Data Manager's quotas
counting every method where Google's limits page says (over real HTTP on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator
from syncd.destinations.google.sandbox.data_manager.errors import ApiError
from syncd.destinations.google.sandbox.data_manager.quota import PER_DAY, PER_MINUTE, Quota
from syncd.destinations.meta.sandbox import MetaGraphEmulator
from syncd.destinations.meta.sandbox.usage import CALLS_PER_HOUR, UsageWindow
from syncd.sandbox.latency import InFlight, Latency
from syncd.sandbox.pair import Sandbox

TOKEN = "sandbox-token-latency"
AUDIENCE = "23850000000000001"
USER_LIST = "8800000001"
ACCOUNT = "1234567890"
V = "/v26.0"


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Gate(Latency):
    """A latency that holds each request until ``parties`` requests wait in it at once: it
    passes only if the emulator answers that many side by side (a server that answered one
    after another would break the barrier). Records every delay it draws."""

    def __init__(self, parties: int, seconds: float, jitter: float) -> None:
        super().__init__(seconds, jitter, seed=7)
        self.barrier = threading.Barrier(parties, timeout=10)
        self.drawn: list[float] = []

    def draw(self) -> float:
        delay = super().draw()
        self.drawn.append(delay)
        self.barrier.wait()
        return 0.0


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def ingest_body(*names: str) -> dict[str, Any]:
    return {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": ACCOUNT},
                "productDestinationId": USER_LIST,
            }
        ],
        "audienceMembers": [
            {"userData": {"userIdentifiers": [{"emailAddress": sha(name)}]}} for name in names
        ],
        "encoding": "HEX",
        "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
    }


def usage(response: httpx.Response) -> dict[str, Any]:
    business = json.loads(response.headers["x-business-use-case-usage"])
    (entry,) = business["1000000000000001"]
    return dict(entry)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(meta_audiences=[AUDIENCE], google_user_lists=[USER_LIST]) as both:
        yield both


# -- latency -----------------------------------------------------------------------------


def test_latency_is_fixed_plus_seeded_jitter() -> None:
    draws = [Latency(0.4, 0.1, seed=3).draw() for _ in range(2)]
    first, second = Latency(0.4, 0.1, seed=3), Latency(0.4, 0.1, seed=3)
    sequence = [first.draw() for _ in range(50)]
    assert sequence == [second.draw() for _ in range(50)]  # seeded: the same every run
    assert all(0.4 <= delay <= 0.5 for delay in sequence) and len(set(sequence)) > 1
    assert draws[0] == draws[1] and Latency(0.4).draw() == 0.4
    with pytest.raises(ValueError):
        Latency(-0.1)


def test_in_flight_counts_open_requests_and_the_peak() -> None:
    counter = InFlight()
    with counter, counter:
        assert (counter.current, counter.peak) == (2, 2)
    assert (counter.current, counter.peak) == (0, 2)
    counter.reset_peak()
    assert counter.peak == 0


@pytest.mark.parametrize("network", ["meta", "google"])
def test_requests_in_flight_each_wait_the_latency_side_by_side(
    sandbox: Sandbox, network: str
) -> None:
    """Four requests at once are all inside the latency at the same moment (the gate opens
    only then), each draws its own fixed + jitter delay, and the emulator saw 4 in flight."""
    emulator = sandbox.meta if network == "meta" else sandbox.google
    gate = Gate(4, seconds=0.4, jitter=0.2)
    emulator.delay = gate

    def call(index: int) -> int:
        with httpx.Client(base_url=emulator.base_url, timeout=30) as client:
            if network == "meta":
                params = {"access_token": TOKEN}
                return client.get(f"{V}/{AUDIENCE}", params=params).status_code
            headers = {"Authorization": f"Bearer {TOKEN}"}
            body = ingest_body(f"user{index}@example.com")
            return client.post("/v1/audienceMembers:ingest", json=body, headers=headers).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(call, range(4)))
    assert statuses == [200] * 4
    assert emulator.in_flight.peak == 4 and emulator.in_flight.current == 0
    assert len(gate.drawn) == 4 and all(0.4 <= delay <= 0.6 for delay in gate.drawn)


def test_the_sandbox_sets_both_latencies(sandbox: Sandbox) -> None:
    sandbox.set_latency(0.4, 0.05, seed=1)
    assert (sandbox.meta.latency, sandbox.meta.delay.jitter) == (0.4, 0.05)
    assert (sandbox.google.latency, sandbox.google.delay.jitter) == (0.4, 0.05)
    sandbox.google.latency = 0.0  # the fixed part alone, as the crash tests set it
    assert sandbox.google.delay.draw() <= 0.05


# -- Meta: business use case usage ---------------------------------------------------------


def test_usage_rises_by_one_call_of_the_published_hourly_budget() -> None:
    """ads_management at the Limited (formerly development) tier allows 300 calls an hour per
    ad account (https://developers.facebook.com/docs/marketing-apis/rate-limiting): each
    call is a third of a percent, and the headers name the tier."""
    assert CALLS_PER_HOUR["limited"]["ads_management"] == 300
    clock = Clock()
    with (
        MetaGraphEmulator([AUDIENCE], TOKEN, access_tier="limited", clock=clock) as meta,
        httpx.Client(base_url=meta.base_url, params={"access_token": TOKEN}) as client,
    ):
        answers = [client.get(f"{V}/act_1000/adsets") for _ in range(30)]
        counts = [usage(answer)["call_count"] for answer in answers]
        assert counts[0] == 1 and counts[-1] == 10 and counts == sorted(counts)
        assert usage(answers[-1])["ads_api_access_tier"] == "development_access"
        assert meta.usage(use_case="custom_audience") == 0  # another use case's budget
        clock.now += 3600  # an hour later every call has left the window
        assert usage(client.get(f"{V}/act_1000/adsets"))["call_count"] == 1
    with MetaGraphEmulator([AUDIENCE], TOKEN) as meta:
        assert meta._budgets["custom_audience"] == (190_000, 3600.0)  # the Full tier's


def test_usage_past_100_percent_throttles_then_recovers_call_by_call() -> None:
    """A budget of 4 calls a minute: the fifth call is refused with 80003 and the headers say
    over 100% and when access returns; as the window slides, calls leave it one by one."""
    clock = Clock()
    with (
        MetaGraphEmulator(
            [AUDIENCE], TOKEN, calls_per_window=4, window_seconds=60, clock=clock
        ) as meta,
        httpx.Client(base_url=meta.base_url, params={"access_token": TOKEN}) as client,
    ):
        seen = []
        for step in range(4):
            seen.append(usage(client.get(f"{V}/{AUDIENCE}"))["call_count"])
            clock.now += 10 if step == 1 else 0  # two calls at t=0, two at t=10
        assert seen == [25, 50, 75, 100]
        throttled = client.get(f"{V}/{AUDIENCE}")
        assert throttled.json()["error"]["code"] == 80003
        entry = usage(throttled)
        assert entry["call_count"] == 125 and entry["total_time"] == 125
        assert entry["estimated_time_to_regain_access"] == 1  # 50 s, in whole minutes
        assert json.loads(throttled.headers["x-ad-account-usage"])["reset_time_duration"] == 50

        clock.now += 50  # t=60: the first two calls left the window
        assert meta.usage() == 50
        assert client.get(f"{V}/{AUDIENCE}").status_code == 200
        clock.now += 10  # t=70: the next two left too
        assert meta.usage() == 25


def test_a_usage_window_frees_each_call_a_window_after_it_was_made() -> None:
    window = UsageWindow(2, 60)
    assert window.try_call(0) and window.try_call(30) and not window.try_call(45)
    assert window.percent(45, refused=True) == 150 and window.regain_seconds(45) == 15
    assert window.percent(60) == 50 and window.regain_seconds(60) == 0
    assert window.percent(90) == 0


# -- Data Manager: quotas ----------------------------------------------------------------


def test_status_polls_count_against_the_ingestion_read_budget() -> None:
    """requestStatus:retrieve is an IngestionService read: polls spend that budget, not the
    ingests' (https://developers.google.com/data-manager/api/devguides/limits)."""
    now = [600.0]
    with (
        DataManagerEmulator([USER_LIST], TOKEN, requests_per_minute=2, clock=lambda: now[0]) as dm,
        httpx.Client(base_url=dm.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        ids = [
            http.post("/v1/audienceMembers:ingest", json=ingest_body(name)).json()["requestId"]
            for name in ("a@example.com", "b@example.com")
        ]
        third = http.post("/v1/audienceMembers:ingest", json=ingest_body("c@example.com"))
        assert third.status_code == 429
        info = [d for d in third.json()["error"]["details"] if d["@type"].endswith("ErrorInfo")]
        assert info[0]["metadata"]["quota_limit"] == "IngestionMutateRequestsPerMinutePerProject"
        assert len(dm.members(USER_LIST)) == 2  # the refused ingest applied nothing

        polls = [http.get("/v1/requestStatus:retrieve", params={"requestId": i}) for i in ids]
        assert [poll.status_code for poll in polls] == [200, 200]
        refused = http.get("/v1/requestStatus:retrieve", params={"requestId": ids[0]})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
        error = refused.json()["error"]
        assert error["status"] == "RESOURCE_EXHAUSTED"
        limits = [d for d in error["details"] if d["@type"].endswith("ErrorInfo")]
        assert limits[0]["metadata"]["quota_limit"] == "IngestionReadRequestsPerMinutePerProject"
        retry = [d for d in error["details"] if d["@type"].endswith("RetryInfo")]
        assert retry[0]["retryDelay"] == "60.000s"

        now[0] += 60
        assert http.get("/v1/requestStatus:retrieve", params={"requestId": ids[0]}).is_success


def test_the_published_quotas_are_the_limits_pages() -> None:
    """300 a minute in each budget; a day's 100,000 for the IngestionService, 50,000 for the
    other services, each budget counted apart."""
    assert PER_MINUTE == 300
    assert PER_DAY == {
        "IngestionMutate": 100_000,
        "IngestionRead": 100_000,
        "ManagementMutate": 50_000,
        "ManagementRead": 50_000,
    }
    clock = Clock(0.0)
    quota = Quota.published(clock)
    for budget in ("ManagementRead", "IngestionRead"):
        for index in range(PER_DAY[budget]):
            clock.now = (index // PER_MINUTE) * 60.0  # a new minute every 300 requests
            quota.spend(budget)
        clock.now += 60
        with pytest.raises(ApiError, match="per day") as refused:
            quota.spend(budget)
        assert refused.value.metadata["quota_limit"] == f"{budget}RequestsPerDayPerProject"
    quota.spend("IngestionMutate")  # the other budgets are untouched


def test_syncd_sandbox_takes_a_latency_in_milliseconds() -> None:
    """`syncd sandbox --latency-ms 400 --jitter-ms 50` serves emulators that wait that long."""
    command = [sys.executable, "-m", "syncd", "sandbox", "--port-base", "0"]
    with subprocess.Popen(
        [*command, "--latency-ms", "400", "--jitter-ms", "50"],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        try:
            lines = [process.stdout.readline() for _ in range(3)]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert lines[0].strip() == "Every answer waits 400 ms (+ up to 50 ms)."
    assert lines[1].startswith("Meta Graph API emulator: http://127.0.0.1:")
