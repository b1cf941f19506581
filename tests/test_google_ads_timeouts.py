"""The Google Ads API path under a server that answers too late: each gRPC call carries the
destination's `timeout_seconds` as its deadline, a call past it is cut there, classified as
transient and retried, and the pass (or the spend pull) ends with exactly what a prompt
server gives.

The emulator answers the chosen call LATE seconds late (`delay_next`), far past the
deadline: a call without a deadline would wait all of it, so a sync or a pull that takes as
long fails these tests.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from conftest import TOKEN, Workspace
from support.networks import CUSTOMER, GoogleAds
from support.people import PEOPLE, google_members, rows

from syncd.config.models import Audience, GoogleAdsDestination
from syncd.destinations.base import DestinationError, ErrorClass
from syncd.destinations.google.ads_client import GoogleAdsAudiences
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.spend.google import pull_google

#: The deadline of every call, and how late the emulator answers the chosen one.
TIMEOUT, LATE = 0.5, 4.0
PATIENT = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


@pytest.fixture
def ads() -> Iterator[GoogleAds]:
    network = GoogleAds()
    yield network
    network.stop()


def destination(ads: GoogleAds) -> GoogleAdsDestination:
    return GoogleAdsDestination.model_validate(
        {**ads.settings, "access_token": TOKEN, "timeout_seconds": TIMEOUT}
    )


@pytest.mark.parametrize(
    "method",
    [
        "GoogleAdsService/SearchStream",  # the list's key type, then the job's status
        "OfflineUserDataJobService/CreateOfflineUserDataJob",
        "OfflineUserDataJobService/AddOfflineUserDataJobOperations",
        "OfflineUserDataJobService/RunOfflineUserDataJob",
    ],
)
def test_a_late_answer_is_cut_at_the_timeout_retried_and_the_pass_converges(
    workspace: Workspace, ads: GoogleAds, method: str
) -> None:
    workspace.write_people(rows(PEOPLE))
    data = workspace.config_data()
    data["destinations"] = {
        "google_ads": {**ads.settings, "access_token": "${TEST_TOKEN}", "timeout_seconds": TIMEOUT}
    }
    data["audiences"] = [
        {"segment": "people", "destination": "google_ads", "audience_id": ads.audience_id}
    ]
    ads.emulator.delay_next(LATE, path=method)

    started = time.monotonic()
    (result,) = workspace.sync(data, retry_policy=PATIENT)
    took = time.monotonic() - started

    assert ads.pending_faults() == 0  # the late answer met a call of the pass
    assert result.status == "ok", result.error
    assert took < LATE  # cut at the deadline, not waited out
    assert set(ads.members()) == google_members(PEOPLE)


def test_a_late_list_creation_is_cut_and_the_retry_makes_one_list(ads: GoogleAds) -> None:
    audiences = GoogleAdsAudiences(destination(ads), sleep=lambda _: None)
    ads.emulator.delay_next(LATE, path="UserListService/MutateUserLists")
    try:
        started = time.monotonic()
        with pytest.raises(DestinationError) as cut:
            audiences.ensure_audience("late buyers")
        assert time.monotonic() - started < LATE
        assert cut.value.error_class is ErrorClass.RETRY
        assert "DEADLINE_EXCEEDED" in str(cut.value)

        list_id = call_with_retries(
            lambda: audiences.ensure_audience("late buyers"), PATIENT, "list"
        )
    finally:
        audiences.close()
    assert audiences.find_audience("late buyers") == list_id


def test_a_late_spend_stream_is_cut_and_pulled_again(ads: GoogleAds) -> None:
    day = dt.date(2026, 3, 2)
    list_id = int(ads.audience_id)
    ads.emulator.generate_spend(day, day, customer_id=CUSTOMER, user_list_ids=[list_id], seed=1)
    config = destination(ads)
    audience = {"segment": "people", "destination": "google_ads", "audience_id": ads.audience_id}
    audiences = [Audience.model_validate(audience)]

    def pull() -> list[dict]:
        pulled = pull_google(
            config, audiences, day, day, pulled_at=dt.datetime(2026, 3, 3), retry_policy=PATIENT
        )
        return sorted(pulled.rows.to_pylist(), key=repr)

    prompt = pull()
    ads.emulator.delay_next(LATE, path="GoogleAdsService/SearchStream")
    started = time.monotonic()
    late = pull()

    assert time.monotonic() - started < LATE
    assert ads.pending_faults() == 0
    assert prompt and late == prompt
