"""Meta throttling: the whole error table, and spend pulls (ad set reads and Insights) that
wait out every throttling code Meta documents, end to end with facebook-business against the
Graph emulator.

Codes: "Rate Limiting" (https://developers.facebook.com/docs/marketing-api/overview/rate-limiting)
for 4, 17, 613 and Insights' 4/1504022 and 4/1504039; the Graph API's Business Use Case rate
limits (https://developers.facebook.com/docs/graph-api/overview/rate-limiting) for
80000-80014. A fake clock drives the emulator's windows and every wait of the client.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pyarrow as pa
import pytest
from facebook_business.exceptions import FacebookRequestError
from support.clock import FakeClock

from syncd.config.models import Audience, MetaDestination
from syncd.destinations import DestinationError, ErrorClass
from syncd.destinations.meta import CAPABILITIES
from syncd.destinations.meta.errors import THROTTLING_CODES, classify
from syncd.destinations.meta.sandbox import MetaGraphEmulator
from syncd.destinations.meta.throttle import parse_usage
from syncd.destinations.retry import RetryPolicy
from syncd.pacing import Pacer
from syncd.spend.meta import pull_meta

TOKEN = "meta-throttle-token-7c2e"
ACCOUNT = "act_1000"
A, B = "23850000000000001", "23850000000000002"
FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 7)
WINDOW = 300.0  # seconds: what the emulator says it takes to regain access
PULLED_AT = dt.datetime(2026, 3, 8, tzinfo=dt.UTC)

#: The whole error table: (code, subcode) -> class. Throttling: every code Meta documents as a
#: rate limit (the pages above), business use cases 80000-80014 included.
TABLE: dict[tuple[int, int | None], ErrorClass] = {
    (1, None): ErrorClass.RETRY,
    (2, None): ErrorClass.RETRY,
    (4, None): ErrorClass.RATE_LIMITED,
    (4, 1504022): ErrorClass.RATE_LIMITED,
    (4, 1504039): ErrorClass.RATE_LIMITED,
    (17, None): ErrorClass.RATE_LIMITED,
    (17, 2446079): ErrorClass.RATE_LIMITED,
    (32, None): ErrorClass.RATE_LIMITED,
    (613, None): ErrorClass.RATE_LIMITED,
    (613, 1487742): ErrorClass.RATE_LIMITED,
    **{(code, 2446079): ErrorClass.RATE_LIMITED for code in range(80000, 80015)},
    **{(code, None): ErrorClass.RATE_LIMITED for code in range(80000, 80015)},
    (10, None): ErrorClass.FAIL_AUDIENCE,
    (200, None): ErrorClass.FAIL_AUDIENCE,
    (190, None): ErrorClass.FAIL_AUDIENCE,
    (190, 460): ErrorClass.FAIL_AUDIENCE,
    (190, 463): ErrorClass.FAIL_AUDIENCE,
    (100, 1713228): ErrorClass.FAIL_AUDIENCE,
    (100, 1713230): ErrorClass.FAIL_AUDIENCE,
    (100, 1713231): ErrorClass.FAIL_AUDIENCE,
    (100, None): ErrorClass.FAIL_AUDIENCE,  # not in the table: a 4xx is a refusal
    (80015, None): ErrorClass.FAIL_AUDIENCE,  # past the documented range
}
NAMED = {80000: "ads_insights", 80003: "custom_audience", 80004: "ads_management"}


def graph_error(
    code: int, subcode: int | None, headers: dict[str, str] | None = None, status: int = 400
) -> FacebookRequestError:
    """facebook-business' own error object, as it builds one from a Graph answer."""
    error: dict[str, object] = {"message": f"(#{code}) test", "type": "OAuthException"}
    error |= {"code": code, "fbtrace_id": "AbC"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return FacebookRequestError(
        "Call was not successful", {}, status, headers or {}, json.dumps({"error": error})
    )


@pytest.mark.parametrize(("code", "subcode"), sorted(TABLE, key=str), ids=str)
def test_every_row_of_the_error_table(code: int, subcode: int | None) -> None:
    classified = classify(graph_error(code, subcode), "Meta ad account act_1")
    assert classified.error_class is TABLE[(code, subcode)]
    if classified.error_class is ErrorClass.RATE_LIMITED:
        assert classified.retry_after == 60.0  # no usage header, no Retry-After: a minute
        assert NAMED.get(code, "") in str(classified)


def test_throttling_codes_are_exactly_the_documented_ones() -> None:
    throttling = {code for (code, _), kind in TABLE.items() if kind is ErrorClass.RATE_LIMITED}
    assert throttling == THROTTLING_CODES


@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"x-business-use-case-usage": json.dumps({"1": [{"type": "ads_insights",
       "call_count": 100, "estimated_time_to_regain_access": 7}]})}, 420.0),
     ({"x-ad-account-usage": json.dumps({"acc_id_util_pct": 100,
       "reset_time_duration": 95})}, 95.0),
     ({"Retry-After": "12"}, 12.0)],
    ids=["regain-estimate", "ad-account-reset", "retry-after"],
)  # fmt: skip
def test_a_throttle_waits_as_the_headers_say(headers: dict[str, str], wait: float) -> None:
    for code, subcode in ((80000, 2446079), (80004, 2446079), (4, 1504022)):
        classified = classify(graph_error(code, subcode, headers), "Meta ad account act_1")
        assert classified.error_class is ErrorClass.RATE_LIMITED
        assert classified.retry_after == wait


def test_the_insights_throttle_header_counts_as_usage() -> None:
    """Insights answers report their load in x-fb-ads-insights-throttle ("Insights API Limits
    & Best Practices"): the client slows down on it like on the other usage headers."""
    header = {"app_id_util_pct": 12, "acc_id_util_pct": 91, "ads_api_access_tier": "standard"}
    usage = parse_usage({"X-FB-Ads-Insights-Throttle": json.dumps(header)})
    assert usage is not None and usage.percent == 91


# -- spend pulls against the emulator -------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[MetaGraphEmulator]:
    with MetaGraphEmulator(
        [A, B], TOKEN, ad_accounts=[ACCOUNT], window_seconds=WINDOW, clock=clock
    ) as running:
        running.generate_spend(FIRST, LAST)
        yield running


def pull(emulator: MetaGraphEmulator, clock: FakeClock) -> pa.Table:
    destination = MetaDestination(
        kind="meta", ad_account_id=ACCOUNT, access_token=TOKEN, endpoint=emulator.base_url
    )
    audiences = [Audience(segment="carts", destination="meta", audience_id=A)]
    pulled = pull_meta(
        destination,
        audiences,
        FIRST,
        LAST,
        pulled_at=PULLED_AT,
        retry_policy=RetryPolicy(attempts=3, base_delay=0.0, max_delay=3600.0),
        sleep=clock.sleep,
        pacer=Pacer(CAPABILITIES.pace, clock=clock),
    )
    return pulled.rows


@pytest.mark.parametrize(
    ("use_case", "throttle"),
    [("ads_management", (80004, 2446079)),  # the ad set reads
     ("ads_insights", (80000, 2446079)),
     ("ads_insights", (4, 1504022)),
     ("ads_insights", (4, 1504039)),
     ("ads_insights", (17, 2446079)),
     ("ads_management", (613, 1487742))],
    ids=str,
)  # fmt: skip
def test_a_throttled_spend_pull_waits_as_meta_says_and_completes(
    emulator: MetaGraphEmulator,
    clock: FakeClock,
    use_case: str,
    throttle: tuple[int, int | None],
) -> None:
    expected = pull(emulator, clock)
    assert expected.num_rows > 0 and clock.sleeps == []
    emulator.clear_requests()

    emulator.throttle_with(*throttle, use_case=use_case)
    emulator.exhaust_budget(use_case=use_case)
    table = pull(emulator, clock)

    assert table.drop_columns(["pulled_at"]).equals(expected.drop_columns(["pulled_at"]))
    # One wait, as long as Meta's estimate (whole minutes), then the read went through.
    assert clock.sleeps == [WINDOW]
    refused = [r for r in emulator.requests if r.status != 200]
    assert len(refused) == 1 and refused[0].status == 400


def test_a_spend_pull_that_stays_throttled_fails_as_rate_limited(
    emulator: MetaGraphEmulator, clock: FakeClock
) -> None:
    def someone_spends_it_again(seconds: float) -> None:
        clock.sleep(seconds)
        emulator.exhaust_budget(use_case="ads_insights")

    emulator.exhaust_budget(use_case="ads_insights")
    with pytest.raises(DestinationError) as failed:
        destination = MetaDestination(
            kind="meta", ad_account_id=ACCOUNT, access_token=TOKEN, endpoint=emulator.base_url
        )
        pull_meta(
            destination,
            [Audience(segment="carts", destination="meta", audience_id=A)],
            FIRST,
            LAST,
            pulled_at=PULLED_AT,
            retry_policy=RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0),
            sleep=someone_spends_it_again,  # each wait ends with the budget spent again
            pacer=Pacer(CAPABILITIES.pace, clock=clock),
        )
    assert failed.value.error_class is ErrorClass.RATE_LIMITED
    assert "code 80000/2446079" in str(failed.value) and "ads_insights" in str(failed.value)
