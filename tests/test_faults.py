"""Faults injected by the emulators (all on 127.0.0.1): every sync still converges exactly.

Batches of two members make every fault land in the middle of a multi-batch sync. After the
faulty pass (and, where the fault outlasts the retries, one clean pass) the emulator must
hold exactly the segment: no member lost, none left behind.

Each case runs only on the networks it exists on (`CASES`), and checks that every fault it
armed was spent on a request of that network. The Google Ads API path (`kind: google_ads`,
gRPC over TLS) meets the gRPC answers that stand for the HTTP faults (`ADS_FAULTS`): a quota
error with its retry delay for a 429, INTERNAL for a 5xx, an answer past the call's deadline
for a late one. A reset connection and a malformed body have no such stand-in in its
emulator's controls, and Graph's throttling code is Meta's alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, Workspace
from support.networks import GoogleAds
from support.people import PEOPLE, google_members, meta_members, rows

from syncd.destinations import DestinationError, ErrorClass
from syncd.destinations.google.sandbox.ads import GoogleAdsEmulator
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.sandbox.server import Fault

GRAPH_THROTTLED = json.dumps(
    {"error": {"message": "(#80003) throttled", "type": "OAuthException", "code": 80003}}
).encode()
GRAPH_INVALID = json.dumps(
    {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}
).encode()

#: The faults of the HTTP emulators (Meta's Graph API and Google's Data Manager API).
HTTP_FAULTS = {
    "429 with Retry-After": [Fault.error(429, retry_after=0.01)],
    "two 503s": [Fault.error(503), Fault.error(503)],
    "connection reset": [Fault.reset()],
    "answer after the client's timeout": [Fault.delay(1.5)],
    "malformed body after applying": [Fault.malformed()],
    "a fault on every batch": [Fault.error(500), Fault.reset(), Fault.malformed()],
}


#: The calls of an upload (create the job, add its operations, run it), where a fault lands.
_UPLOAD = "OfflineUserDataJobService"
#: The Google Ads emulator's stand-ins for the HTTP faults: QuotaError with
#: QuotaErrorDetails.retry_delay
#: (https://developers.google.com/google-ads/api/reference/rpc/v25/QuotaErrorDetails),
#: InternalError TRANSIENT_ERROR, which the API answers as gRPC INTERNAL, and an answer
#: later than the call's deadline (timeout_seconds).
_QUOTA = partial(
    GoogleAdsEmulator.fail_next,
    kind="quota_error",
    code="RESOURCE_TEMPORARILY_EXHAUSTED",
    message="Too many requests.",
    retry_delay=0.01,
    path=_UPLOAD,
)
_INTERNAL = partial(
    GoogleAdsEmulator.fail_next,
    kind="internal_error",
    code="TRANSIENT_ERROR",
    message="A transient server error. Retry.",
    path=_UPLOAD,
)
_LATE = partial(GoogleAdsEmulator.delay_next, seconds=1.5, path=_UPLOAD)
ADS_FAULTS = {
    "429 with Retry-After": [_QUOTA],
    "two 503s": [_INTERNAL, _INTERNAL],
    "answer after the client's timeout": [_LATE],
    "a fault on every batch": [_INTERNAL, _QUOTA, _INTERNAL],
}

#: Network -> the fault cases that exist on it, each as the faults to arm on its emulator.
CASES: dict[str, dict[str, list]] = {
    "meta": {
        **HTTP_FAULTS,
        "Graph throttling code 80003": [Fault.error(400, body=GRAPH_THROTTLED)],
    },
    "google": HTTP_FAULTS,
    "google_ads": ADS_FAULTS,
}


@pytest.fixture
def ads() -> Iterator[GoogleAds]:
    """The Google Ads API emulator with one user list, beside the sandbox's two."""
    network = GoogleAds()
    yield network
    network.stop()


def faulty_config(workspace: Workspace, ads: GoogleAds | None = None) -> dict:
    data = workspace.config_data()
    if ads is not None:
        data["destinations"]["google_ads"] = {**ads.settings, "access_token": "${TEST_TOKEN}"}
        audience = {"segment": "people", "destination": "google_ads"}
        data["audiences"].append({**audience, "audience_id": ads.audience_id})
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
        destination["timeout_seconds"] = 0.5
    return data


def by_destination(results: list) -> dict:
    """Results by destination name (both Google paths report the network "google")."""
    return {result.audience.partition("->")[2]: result for result in results}


def converged(workspace: Workspace, people: list, ads: GoogleAds | None = None) -> bool:
    return (
        workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(people)
        and workspace.sandbox.google.members(GOOGLE_LIST) == google_members(people)
        and (ads is None or set(ads.members()) == google_members(people))
    )


def ads_path(request: pytest.FixtureRequest, network: str) -> GoogleAds | None:
    """The Google Ads emulator, started only for the tests of its path."""
    return request.getfixturevalue("ads") if network == "google_ads" else None


def inject(
    workspace: Workspace, ads: GoogleAds | None, network: str, name: str
) -> Callable[[], int]:
    """Arm fault case `name` on the network's emulator; returns how to count the faults
    armed and not yet met (the emulator spends one on each request it answers with it)."""
    faults = CASES[network][name]
    if ads is not None:
        for arm in faults:
            arm(ads.emulator)
        return ads.pending_faults
    emulator = getattr(workspace.sandbox, network)
    emulator.inject(*faults)
    pending: Callable[[], int] = emulator.pending_faults
    return pending


@pytest.mark.parametrize(
    ("network", "name"),
    [
        pytest.param(network, name, id=f"{network}-{name}")
        for network, cases in CASES.items()
        for name in cases
    ],
)
def test_a_transient_fault_is_retried_and_the_sync_converges(
    workspace: Workspace, request: pytest.FixtureRequest, network: str, name: str
) -> None:
    ads = ads_path(request, network)
    workspace.write_people(rows(PEOPLE))
    data = faulty_config(workspace, ads)
    workspace.sync(data)
    changed = [PEOPLE[1], PEOPLE[4], PEOPLE[5]]  # removals and kept members
    workspace.write_people(rows(changed))
    pending = inject(workspace, ads, network, name)
    assert pending() == len(CASES[network][name]) > 0  # armed on this network's emulator

    patient = RetryPolicy(attempts=5, base_delay=0.0, max_delay=0.0)
    results = by_destination(workspace.sync(data, retry_policy=patient))

    assert pending() == 0  # every fault met a request of this network
    assert results[network].status == "ok", results[network].error
    assert converged(workspace, changed, ads)


def test_persistent_failure_marks_the_run_failed_then_the_next_pass_converges(
    workspace: Workspace,
) -> None:
    workspace.write_people(rows(PEOPLE))
    data = faulty_config(workspace)
    data["destinations"]["meta"]["max_in_flight"] = 1  # all three faults meet one request
    workspace.sandbox.meta.inject(*[Fault.error(503)] * 3)  # FAST_RETRIES gives 3 attempts

    meta, google = workspace.sync(data)

    assert workspace.sandbox.meta.pending_faults() == 0  # all three met Meta's requests
    assert meta.status == "failed"
    assert "server error (HTTP 503)" in (meta.error or "")
    assert meta.requests == 3
    assert google.status == "ok"
    again, _ = workspace.sync(data)
    assert again.status == "ok"
    assert converged(workspace, PEOPLE)


@pytest.mark.parametrize("network", ["meta", "google", "google_ads"])
def test_a_refusal_is_not_retried(
    workspace: Workspace, request: pytest.FixtureRequest, network: str
) -> None:
    ads = ads_path(request, network)
    workspace.write_people(rows(PEOPLE))
    if ads is not None:
        denied = "User doesn't have permission to access customer."
        code = ("authorization_error", "USER_PERMISSION_DENIED")
        ads.emulator.fail_next(*code, denied, path=_UPLOAD)
        pending = ads.pending_faults
    else:
        body = GRAPH_INVALID if network == "meta" else None
        emulator = getattr(workspace.sandbox, network)
        emulator.inject(Fault.error(400, body=body))
        pending = emulator.pending_faults

    data = faulty_config(workspace, ads)
    data["destinations"][network]["max_in_flight"] = 1  # no other batch is out beside it
    results = by_destination(workspace.sync(data))

    assert pending() == 0  # the refusal met a request of this network
    assert results[network].status == "failed"
    assert results[network].requests == 1


def test_backoff_honours_the_network_wait_and_caps_jitter() -> None:
    waits: list[float] = []
    errors = iter(
        [
            DestinationError(ErrorClass.RATE_LIMITED, "slow down", retry_after=7.0),
            DestinationError(ErrorClass.RATE_LIMITED, "slow down", retry_after=900.0),
            DestinationError(ErrorClass.RETRY, "blip"),
            DestinationError(ErrorClass.RETRY, "blip"),
        ]
    )

    def request() -> str:
        error = next(errors, None)
        if error:
            raise error
        return "done"

    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=60.0)
    assert call_with_retries(request, policy, "test", sleep=waits.append) == "done"
    assert waits[:2] == [7.0, 60.0]  # the network's word, capped
    assert 0 <= waits[2] <= 4.0 and 0 <= waits[3] <= 8.0  # full jitter under 2**attempt
    assert len(waits) == 4


def test_jitter_spreads_retries() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    error = DestinationError(ErrorClass.RETRY, "blip")
    delays = {round(policy.delay(3, error), 6) for _ in range(50)}
    assert len(delays) > 40 and max(delays) <= 8.0
