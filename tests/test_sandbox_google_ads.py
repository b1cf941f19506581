"""The Google Ads emulator, driven only through the real ``GoogleAdsClient`` over gRPC + TLS.

The client is built with its constructor, the way syncd must build it for the sandbox:
``load_from_dict`` would refresh OAuth credentials against accounts.google.com, while a
``Credentials`` that already holds a token is used as it is. The emulator's ``start`` points
``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` at the sandbox CA before any channel exists.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from google.ads.googleads.client import GoogleAdsClient
from google.ads.googleads.errors import GoogleAdsException
from google.api_core.future import polling
from google.oauth2.credentials import Credentials

from syncd.destinations.google.sandbox.ads import CPM_BIDDING, GoogleAdsEmulator, Member
from syncd.sandbox.latency import Latency

CID = "1234567890"
ACCESS_TOKEN = "ya29.sandbox-9c1e"
FAST_POLLING = polling.DEFAULT_POLLING.with_delay(initial=0.01, maximum=0.05).with_timeout(5)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def ads() -> Iterator[GoogleAdsEmulator]:
    with GoogleAdsEmulator(customers=[CID], access_token=ACCESS_TOKEN, job_delay=0.05) as emulator:
        yield emulator


def make_client(
    ads: GoogleAdsEmulator,
    token: str = ACCESS_TOKEN,
    login_customer_id: str | None = None,
    *,
    developer_token: str | None = None,
    version: str | None = None,
) -> GoogleAdsClient:
    """The exact configuration syncd needs: endpoint, a token-holding credential, no refresh,
    and no developer token (sunset on 2026-09-09)."""
    return GoogleAdsClient(
        credentials=Credentials(token=token),
        developer_token=developer_token,
        endpoint=ads.endpoint,
        login_customer_id=login_customer_id,
        version=version,
        use_proto_plus=True,
    )


@pytest.fixture
def client(ads: GoogleAdsEmulator) -> GoogleAdsClient:
    return make_client(ads)


# -- helpers that speak the client library ---------------------------------------------------


def search(client: GoogleAdsClient, query: str, customer_id: str = CID) -> list[Any]:
    """All rows of a query through SearchStream (what syncd's reports use)."""
    service = client.get_service("GoogleAdsService")
    return [
        row
        for batch in service.search_stream(customer_id=customer_id, query=query)
        for row in batch.results
    ]


def create_list(
    client: GoogleAdsClient, name: str, membership_life_span: int = 540, customer_id: str = CID
) -> str:
    operation = client.get_type("UserListOperation")
    operation.create.name = name
    operation.create.description = "syncd segment"
    crm = operation.create.crm_based_user_list
    crm.upload_key_type = client.enums.CustomerMatchUploadKeyTypeEnum.CONTACT_INFO
    crm.data_source_type = client.enums.UserListCrmDataSourceTypeEnum.FIRST_PARTY
    operation.create.membership_life_span = membership_life_span
    response = client.get_service("UserListService").mutate_user_lists(
        customer_id=customer_id, operations=[operation]
    )
    return str(response.results[0].resource_name)


def create_job(client: GoogleAdsClient, list_name: str) -> str:
    job = client.get_type("OfflineUserDataJob")
    job.type_ = client.enums.OfflineUserDataJobTypeEnum.CUSTOMER_MATCH_USER_LIST
    job.customer_match_user_list_metadata.user_list = list_name
    service = client.get_service("OfflineUserDataJobService")
    return str(service.create_offline_user_data_job(customer_id=CID, job=job).resource_name)


def identifier(client: GoogleAdsClient, **fields: Any) -> Any:
    result = client.get_type("UserIdentifier")
    for name, value in fields.items():
        if name == "address_info":
            for key, part in value.items():
                setattr(result.address_info, key, part)
        else:
            setattr(result, name, value)
    return result


def operation(client: GoogleAdsClient, kind: str, identifiers: Sequence[Any]) -> Any:
    result = client.get_type("OfflineUserDataJobOperation")
    getattr(result, kind).user_identifiers.extend(identifiers)
    return result


def add_operations(
    client: GoogleAdsClient, job_name: str, operations: Sequence[Any], partial: bool = False
) -> Any:
    request = client.get_type("AddOfflineUserDataJobOperationsRequest")
    request.resource_name = job_name
    request.enable_partial_failure = partial
    request.operations.extend(operations)
    service = client.get_service("OfflineUserDataJobService")
    return service.add_offline_user_data_job_operations(request=request)


def run_job(client: GoogleAdsClient, job_name: str) -> Any:
    service = client.get_service("OfflineUserDataJobService")
    return service.run_offline_user_data_job(resource_name=job_name)


def job_status(client: GoogleAdsClient, job_name: str) -> str:
    rows = search(
        client,
        "SELECT offline_user_data_job.id, offline_user_data_job.status, "
        "offline_user_data_job.type, offline_user_data_job.failure_reason "
        f"FROM offline_user_data_job WHERE offline_user_data_job.resource_name = '{job_name}'",
    )
    assert [row.offline_user_data_job.type_.name for row in rows] == ["CUSTOMER_MATCH_USER_LIST"]
    return str(rows[0].offline_user_data_job.status.name)


def wait_for_job(client: GoogleAdsClient, job_name: str) -> str:
    """Poll the job's status through GAQL, as syncd does, until it is done."""
    deadline = time.monotonic() + 5
    while (status := job_status(client, job_name)) in ("PENDING", "RUNNING"):
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.01)
    return status


def upload(client: GoogleAdsClient, list_name: str, kind: str, identifiers: list[Any]) -> None:
    """One job of one kind ("create" or "remove"), one member per operation, run to the end."""
    job = create_job(client, list_name)
    add_operations(client, job, [operation(client, kind, [each]) for each in identifiers])
    run_job(client, job)
    assert wait_for_job(client, job) == "SUCCESS"


def list_id(resource_name: str) -> int:
    return int(resource_name.rsplit("/", 1)[1])


def errors_of(excinfo: pytest.ExceptionInfo[GoogleAdsException]) -> list[tuple[str, str]]:
    """(error kind, enum name) of each error of a GoogleAdsException."""
    found = []
    for error in excinfo.value.failure.errors:
        kind = type(error.error_code).pb(error.error_code).WhichOneof("error_code")
        found.append((kind, getattr(error.error_code, kind).name))
    return found


# -- tests -------------------------------------------------------------------------------------


def test_a_user_list_is_created_and_read_back_through_gaql(
    ads: GoogleAdsEmulator, client: GoogleAdsClient
) -> None:
    name = create_list(client, "first-time buyers")

    assert name.startswith(f"customers/{CID}/userLists/")
    pages = client.get_service("GoogleAdsService").search(  # the paged Search, this time
        customer_id=CID,
        query="SELECT user_list.id, user_list.name, user_list.resource_name, "
        "user_list.size_for_display, user_list.size_for_search, "
        "user_list.match_rate_percentage, user_list.membership_status, user_list.type, "
        "user_list.crm_based_user_list.upload_key_type, user_list.membership_life_span "
        f"FROM user_list WHERE user_list.id = {list_id(name)}",
    )
    rows = list(pages)
    assert len(rows) == 1
    user_list = rows[0].user_list
    assert (user_list.id, user_list.name, user_list.resource_name) == (
        list_id(name),
        "first-time buyers",
        name,
    )
    assert (user_list.size_for_display, user_list.size_for_search) == (0, 0)
    assert user_list.membership_status.name == "OPEN"
    assert user_list.type_.name == "CRM_BASED"
    assert user_list.crm_based_user_list.upload_key_type.name == "CONTACT_INFO"
    assert user_list.membership_life_span == 540
    assert ads.user_lists() == {list_id(name): "first-time buyers"}

    with pytest.raises(GoogleAdsException) as excinfo:
        create_list(client, "first-time buyers")
    assert errors_of(excinfo) == [("user_list_error", "NAME_ALREADY_USED")]
    assert excinfo.value.error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_add_job_then_a_remove_job_change_the_membership(
    ads: GoogleAdsEmulator, client: GoogleAdsClient
) -> None:
    name = create_list(client, "wishlist")
    first, last = sha("ada"), sha("lovelace")
    people = [
        identifier(client, hashed_email=sha("ada@example.com")),
        identifier(client, hashed_phone_number=sha("+14155550100")),
        identifier(
            client,
            address_info={
                "hashed_first_name": first,
                "hashed_last_name": last,
                "country_code": "US",
                "postal_code": "94043",
            },
        ),
    ]
    job = create_job(client, name)
    assert job_status(client, job) == "PENDING"
    add_operations(client, job, [operation(client, "create", [person]) for person in people])
    running = run_job(client, job)
    assert job_status(client, job) == "RUNNING"
    running.result(polling=FAST_POLLING)  # the long-running operation, polled by api-core
    assert job_status(client, job) == "SUCCESS"

    expected: set[Member] = {
        frozenset({("emailAddress", sha("ada@example.com"))}),
        frozenset({("phoneNumber", sha("+14155550100"))}),
        frozenset({("address", (first, last, "US", "94043"))}),
    }
    assert ads.members(list_id(name)) == expected
    sizes = search(
        client,
        "SELECT user_list.size_for_display, user_list.match_rate_percentage FROM user_list "
        f"WHERE user_list.id = {list_id(name)}",
    )
    assert (sizes[0].user_list.size_for_display, sizes[0].user_list.match_rate_percentage) == (
        3,
        100,
    )

    upload(client, name, "remove", [people[1]])
    assert ads.members(list_id(name)) == expected - {
        frozenset({("phoneNumber", sha("+14155550100"))})
    }


def test_partial_failure_names_the_bad_operations_and_keeps_the_good_ones(
    ads: GoogleAdsEmulator, client: GoogleAdsClient
) -> None:
    name = create_list(client, "abandoned carts")
    operations = [
        operation(client, "create", [identifier(client, hashed_email=sha("a@example.com"))]),
        operation(client, "create", [identifier(client, hashed_email="A@EXAMPLE.COM")]),
        operation(client, "create", [identifier(client, hashed_email=sha("b@example.com"))]),
        operation(
            client,
            "create",
            [identifier(client, hashed_email=sha(f"{n}@example.com")) for n in range(21)],
        ),
        operation(client, "create", [identifier(client)]),  # an empty identifier
    ]
    job = create_job(client, name)

    with pytest.raises(GoogleAdsException) as excinfo:  # without partial failure: all or nothing
        add_operations(client, job, operations)
    assert {code for _, code in errors_of(excinfo)} == {
        "INVALID_SHA256_FORMAT",
        "TOO_MANY_USER_IDENTIFIERS",
        "MISSING_USER_IDENTIFIER",
    }

    response = add_operations(client, job, operations, partial=True)
    failure_type = client.get_type("GoogleAdsFailure")
    failure = type(failure_type).deserialize(response.partial_failure_error.details[0].value)
    indexes = {
        error.location.field_path_elements[0].index
        for error in failure.errors
        if error.location.field_path_elements[0].field_name == "operations"
    }
    assert indexes == {1, 3, 4}
    assert response.partial_failure_error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]

    run_job(client, job)
    assert wait_for_job(client, job) == "SUCCESS"
    assert ads.members(list_id(name)) == {
        frozenset({("emailAddress", sha("a@example.com"))}),
        frozenset({("emailAddress", sha("b@example.com"))}),
    }


def test_a_request_holds_at_most_100_000_identifiers(
    ads: GoogleAdsEmulator, client: GoogleAdsClient
) -> None:
    name = create_list(client, "everyone")
    job = create_job(client, name)
    request = client.get_type("AddOfflineUserDataJobOperationsRequest")
    request.resource_name = job
    raw = type(request).pb(request)  # 100,000 proto-plus objects would take seconds to build
    emails = [sha(f"{n}@example.com") for n in range(100_001)]
    for start in range(0, 100_000, 20):
        user_data = raw.operations.add().create
        for email in emails[start : start + 20]:
            user_data.user_identifiers.add().hashed_email = email
    service = client.get_service("OfflineUserDataJobService")
    one_more = raw.operations.add().create.user_identifiers.add()
    one_more.hashed_email = emails[-1]

    with pytest.raises(GoogleAdsException) as excinfo:
        service.add_offline_user_data_job_operations(request=request)
    assert errors_of(excinfo) == [("offline_user_data_job_error", "TOO_MANY_USER_IDENTIFIERS")]

    del raw.operations[-1]
    service.add_offline_user_data_job_operations(request=request)
    run_job(client, job)
    assert ads.finish_jobs() == 1
    assert len(ads.members(list_id(name))) == 5_000  # one member per operation (20 emails)


def test_a_job_holds_adds_or_removes_and_takes_no_operations_once_running(
    client: GoogleAdsClient,
) -> None:
    name = create_list(client, "frequent shoppers")
    ada = identifier(client, hashed_email=sha("ada@example.com"))
    job = create_job(client, name)

    with pytest.raises(GoogleAdsException) as excinfo:
        add_operations(
            client, job, [operation(client, "create", [ada]), operation(client, "remove", [ada])]
        )
    assert errors_of(excinfo) == [("offline_user_data_job_error", "CONFLICTING_OPERATION")]

    add_operations(client, job, [operation(client, "create", [ada])])
    with pytest.raises(GoogleAdsException) as excinfo:  # the job's direction is now "add"
        add_operations(client, job, [operation(client, "remove", [ada])])
    assert errors_of(excinfo) == [("offline_user_data_job_error", "CONFLICTING_OPERATION")]

    run_job(client, job)
    with pytest.raises(GoogleAdsException) as excinfo:
        add_operations(client, job, [operation(client, "create", [ada])])
    assert errors_of(excinfo) == [("offline_user_data_job_error", "JOB_ALREADY_STARTED")]


def test_two_running_jobs_on_one_list_are_a_concurrent_modification(
    ads: GoogleAdsEmulator, client: GoogleAdsClient
) -> None:
    name = create_list(client, "lapsed buyers")
    ada = identifier(client, hashed_email=sha("ada@example.com"))
    first, second = create_job(client, name), create_job(client, name)
    add_operations(client, first, [operation(client, "create", [ada])])
    add_operations(client, second, [operation(client, "remove", [ada])])
    run_job(client, first)

    with pytest.raises(GoogleAdsException) as excinfo:
        run_job(client, second)
    assert errors_of(excinfo) == [("database_error", "CONCURRENT_MODIFICATION")]
    assert excinfo.value.error.code() == grpc.StatusCode.ABORTED

    assert wait_for_job(client, first) == "SUCCESS"
    run_job(client, second)  # the list is free again
    assert ads.finish_jobs() == 1
    assert ads.members(list_id(name)) == set()


def test_a_developer_token_not_allowlisted_for_customer_match_is_refused() -> None:
    with GoogleAdsEmulator(customers=[CID], allowlisted=False) as ads:
        client = ads.client()
        name = create_list(client, "buyers")  # lists can still be made; uploads cannot

        with pytest.raises(GoogleAdsException) as excinfo:
            create_job(client, name)
        assert errors_of(excinfo) == [
            ("not_allowlisted_error", "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE")
        ]
        assert excinfo.value.error.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("token", "login", "customer_id", "expected"),
    [
        ("expired", None, CID, ("authentication_error", "OAUTH_TOKEN_INVALID")),
        (ACCESS_TOKEN, None, "9999999999", ("authorization_error", "USER_PERMISSION_DENIED")),
        (ACCESS_TOKEN, "9999999999", CID, ("authorization_error", "USER_PERMISSION_DENIED")),
    ],
)
def test_requests_need_an_oauth_token_and_access_to_the_customer(
    ads: GoogleAdsEmulator,
    token: str,
    login: str | None,
    customer_id: str,
    expected: tuple[str, str],
) -> None:
    client = make_client(ads, token, login)
    with pytest.raises(GoogleAdsException) as excinfo:
        search(client, "SELECT user_list.id FROM user_list", customer_id)
    assert errors_of(excinfo) == [expected]
    assert (
        make_client(ads, login_customer_id=CID)
        .get_service("GoogleAdsService")
        .search(customer_id=CID, query="SELECT user_list.id FROM user_list")
    )  # the same request with every header right (a manager may be its own login customer)


def test_a_developer_token_is_neither_needed_nor_checked(ads: GoogleAdsEmulator) -> None:
    """Sunset on 2026-09-09: "optional and ignored by the API servers"
    (https://developers.google.com/google-ads/api/docs/api-policy/developer-token)."""
    for developer_token in (None, "any-old-token"):
        client = make_client(ads, developer_token=developer_token)
        assert search(client, "SELECT user_list.id FROM user_list") == []


@pytest.mark.parametrize(
    ("version", "expected", "message"),
    [
        # From v25 on; "v24 and older throw ACTION_NOT_PERMITTED instead"
        # (https://developers.google.com/google-ads/api/docs/api-policy/developer-token).
        (None, "CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION", "apply for Explorer, Basic or"),
        ("v25", "CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION", "apply for Explorer, Basic or"),
        ("v24", "ACTION_NOT_PERMITTED", "does not have permission to perform this action"),
    ],
)
def test_a_test_level_cloud_project_reaches_test_accounts_only(
    version: str | None, expected: str, message: str
) -> None:
    test_account = "5550001111"
    with GoogleAdsEmulator(
        customers=[CID], test_customers=[test_account], access_level="TEST"
    ) as ads:
        client = make_client(ads, version=version)
        with pytest.raises(GoogleAdsException) as excinfo:
            search(client, "SELECT user_list.id FROM user_list")
        assert errors_of(excinfo) == [("authorization_error", expected)]
        assert message in excinfo.value.failure.errors[0].message
        assert excinfo.value.error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert create_list(client, "buyers", customer_id=test_account)  # a test account: fine
        ads.access_level = "EXPLORER"  # approved: production accounts too
        assert search(client, "SELECT user_list.id FROM user_list") == []


@pytest.mark.parametrize(
    ("span", "expected"), [(-1, "TOO_LOW"), (541, "TOO_HIGH"), (10_000, "TOO_HIGH")]
)
def test_membership_life_span_is_0_to_540_days(
    client: GoogleAdsClient, span: int, expected: str
) -> None:
    """UserList.membership_life_span "must be between 0 and 540 inclusive" (google-ads,
    resources/types/user_list.py); 10,000 no longer means "no expiry"."""
    with pytest.raises(GoogleAdsException) as excinfo:
        create_list(client, "too long", membership_life_span=span)
    assert errors_of(excinfo) == [("range_error", expected)]
    for ok in (0, 540):
        create_list(client, f"kept {ok} days", membership_life_span=ok)
    rows = search(client, "SELECT user_list.name, user_list.membership_life_span FROM user_list")
    assert {row.user_list.name: row.user_list.membership_life_span for row in rows} == {
        "kept 0 days": 0,
        "kept 540 days": 540,
    }


def test_spend_by_day_and_audience_with_a_date_range_and_restatements(
    ads: GoogleAdsEmulator, client: GoogleAdsClient
) -> None:
    buyers, carts = list_id(create_list(client, "buyers")), list_id(create_list(client, "carts"))
    start, end = dt.date(2026, 3, 1), dt.date(2026, 3, 7)
    generated = ads.generate_spend(start, end, user_list_ids=[buyers, carts])
    assert ads.generate_spend(start, end, user_list_ids=[buyers, carts]) == generated  # stable
    query = (
        "SELECT segments.date, campaign.id, campaign.name, campaign.bidding_strategy_type, "
        "campaign.advertising_channel_type, ad_group.id, ad_group.name, "
        "ad_group_criterion.criterion_id, ad_group_criterion.user_list.user_list, "
        "metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.average_cpc, "
        "metrics.average_cpm, customer.currency_code FROM ad_group_audience_view "
        "WHERE segments.date BETWEEN '2026-03-02' AND '2026-03-04' "
        "ORDER BY segments.date, ad_group.id"
    )

    rows = search(client, query)

    in_range = [
        r
        for r in generated
        if dt.date(2026, 3, 2) <= r.date <= dt.date(2026, 3, 4) and r.ad_group_id is not None
    ]
    assert len(rows) == len(in_range) > 0
    assert {row.segments.date for row in rows} == {"2026-03-02", "2026-03-03", "2026-03-04"}
    assert {row.customer.currency_code for row in rows} == {"USD"}
    strategies = {row.campaign.bidding_strategy_type.name for row in rows}
    assert strategies & CPM_BIDDING and strategies - CPM_BIDDING  # both CPM and CPC campaigns
    assert {row.ad_group_criterion.user_list.user_list for row in rows} == {
        f"customers/{CID}/userLists/{buyers}",
        f"customers/{CID}/userLists/{carts}",
    }
    for row in rows:
        metrics = row.metrics
        if metrics.clicks:
            assert metrics.average_cpc == pytest.approx(metrics.cost_micros / metrics.clicks)
        assert metrics.average_cpm == pytest.approx(
            metrics.cost_micros * 1000 / metrics.impressions
        )
    assert sum(row.metrics.cost_micros for row in rows) == sum(r.cost_micros for r in in_range)

    day = dt.date(2026, 3, 3)
    before = sum(r.cost_micros for r in in_range if r.date == day)
    assert ads.restate(day, cost_micros=0, user_list_id=carts) > 0
    restated = search(client, query)
    assert (
        sum(r.metrics.cost_micros for r in restated if r.segments.date == "2026-03-03")
        == sum(r.cost_micros for r in in_range if r.date == day and r.user_list_id == buyers)
        < before
    )

    totals = search(  # no segments.date selected: one row per audience view over the range
        client,
        "SELECT ad_group_criterion.criterion_id, metrics.impressions FROM ad_group_audience_view "
        "WHERE segments.date >= '2026-03-01' AND segments.date <= '2026-03-07'",
    )
    by_ad_group = [r for r in ads.spend() if r.ad_group_id is not None]
    assert len(totals) == len({(r.ad_group_id, r.criterion_id) for r in by_ad_group})
    assert sum(r.metrics.impressions for r in totals) == sum(r.impressions for r in by_ad_group)


def test_lists_targeted_at_campaign_level_are_in_campaign_audience_view(
    ads: GoogleAdsEmulator, client: GoogleAdsClient
) -> None:
    buyers, carts = list_id(create_list(client, "buyers")), list_id(create_list(client, "carts"))
    generated = ads.generate_spend(
        dt.date(2026, 3, 1), dt.date(2026, 3, 3), user_list_ids=[buyers, carts]
    )
    at_campaign = [r for r in generated if r.ad_group_id is None]
    assert at_campaign and {r.user_list_id for r in at_campaign} == {buyers}
    rows = search(
        client,
        "SELECT campaign_audience_view.resource_name, segments.date, campaign.id, "
        "campaign.bidding_strategy_type, campaign_criterion.criterion_id, "
        "campaign_criterion.user_list.user_list, metrics.impressions, metrics.clicks, "
        "metrics.cost_micros FROM campaign_audience_view "
        "WHERE segments.date BETWEEN '2026-03-01' AND '2026-03-03' ORDER BY segments.date",
    )
    assert [
        (
            row.campaign_audience_view.resource_name,
            row.segments.date,
            row.campaign_criterion.user_list.user_list,
            row.metrics.clicks,
            row.metrics.cost_micros,
        )
        for row in rows
    ] == [
        (
            f"customers/{CID}/campaignAudienceViews/{r.campaign_id}~{r.criterion_id}",
            r.date.isoformat(),
            f"customers/{CID}/userLists/{buyers}",
            r.clicks,
            r.cost_micros,
        )
        for r in at_campaign
    ]
    # The view's attributed resources are campaign, campaign_criterion and customer only.
    with pytest.raises(GoogleAdsException) as excinfo:
        search(client, "SELECT ad_group.id FROM campaign_audience_view")
    assert errors_of(excinfo) == [("query_error", "PROHIBITED_FIELD_IN_SELECT_CLAUSE")]
    # ... and a campaign holds its user lists at one level (campaign or ad groups), not both.
    moved = dataclasses.replace(at_campaign[0], ad_group_id=1, ad_group_name="an ad group")
    with pytest.raises(ValueError, match="CANNOT_ATTACH_CRITERIA_AT_CAMPAIGN_AND_ADGROUP"):
        ads.add_spend([moved])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT user_list.colour FROM user_list", "UNRECOGNIZED_FIELD"),
        ("SELECT metrics.clicks FROM user_list", "PROHIBITED_FIELD_IN_SELECT_CLAUSE"),
        ("SELECT campaign.id FROM campaign_budget", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE"),
        ("SELECT segments.date FROM ad_group_audience_view", "EXPECTED_FILTERS_ON_DATE_RANGE"),
        ("SELECT user_list.id user_list", "EXPECTED_FROM"),
    ],
)
def test_bad_queries_get_query_errors(client: GoogleAdsClient, query: str, expected: str) -> None:
    with pytest.raises(GoogleAdsException) as excinfo:
        search(client, query)
    assert errors_of(excinfo) == [("query_error", expected)]


def test_the_request_log_holds_counts_and_never_identifiers_or_tokens(
    ads: GoogleAdsEmulator, client: GoogleAdsClient
) -> None:
    name = create_list(client, "buyers")
    email = sha("ada@example.com")
    upload(client, name, "create", [identifier(client, hashed_email=email)])

    log = ads.requests
    assert [(r.operation, r.status, r.count) for r in log[:4]] == [
        ("mutate_user_lists", 200, 1),
        ("create_job", 200, 1),
        ("add_operations", 200, 1),
        ("run_job", 200, 1),
    ]
    assert all(r.method == "POST" and r.path.startswith("/google.ads.googleads.") for r in log)
    text = repr(log)
    for secret in (email, ACCESS_TOKEN, "ada"):
        assert secret not in text


def test_calls_in_flight_each_wait_the_latency_side_by_side(ads: GoogleAdsEmulator) -> None:
    """Four searches at once are all inside the emulator's latency at the same moment (the
    barrier lets none through before the fourth arrives), outside the lock that serializes
    the handlers: the gRPC emulator answers concurrently, as the HTTP ones do."""
    barrier = threading.Barrier(4, timeout=10)

    class Gate(Latency):
        def draw(self) -> float:
            barrier.wait()
            return super().draw()

    ads.delay = Gate(0.0)
    clients = [make_client(ads) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda c: search(c, "SELECT user_list.id FROM user_list"), clients))
    assert answers == [[]] * 4
    assert ads.in_flight.peak == 4 and ads.in_flight.current == 0
