"""Google destinations end to end: the real clients against the emulators on 127.0.0.1.

httpx talks to the Data Manager emulator, the google-ads library to the Google Ads emulator
over gRPC with TLS (the emulator's ``start`` makes this process trust the sandbox CA before
any channel exists). The destinations are called directly, with configs built from their
pydantic models and members in MEMBER_SCHEMA, plus consent columns where a test needs them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pytest
from pydantic import ValidationError
from support.google_keys import service_account_file

from syncd.config.models import GoogleAdsDestination, GoogleDataManagerDestination
from syncd.destinations.base import (
    MATCHED,
    DestinationError,
    ErrorClass,
    MemberErrors,
    QuotaExhausted,
    split_by_index,
)
from syncd.destinations.google.ads_client import GoogleAdsAudiences
from syncd.destinations.google.ads_connection import API_VERSION
from syncd.destinations.google.data_manager import DataManagerAudiences, UserListRef
from syncd.destinations.google.sandbox.ads import GoogleAdsEmulator
from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.members import MEMBER_SCHEMA

TOKEN = "ya29.test-token-41d2"
CID = "1234567890"
OTHER_CID = "1234567891"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def members(rows: list[dict[str, str | None]], **columns: list[str | None]) -> pa.Table:
    """A MEMBER_SCHEMA table of `rows` (identifier -> value), plus extra string columns."""
    data: dict[str, list[Any]] = {
        field.name: [row.get(field.name) for row in rows] for field in MEMBER_SCHEMA
    }
    data["member_key"] = [sha(repr(sorted(row.items()))) for row in rows]
    table = pa.table(data, schema=MEMBER_SCHEMA)
    for name, values in columns.items():
        table = table.append_column(name, pa.array(values, pa.string()))
    return table


def email(name: str) -> dict[str, str | None]:
    return {"email": sha(f"{name}@example.com")}


def email_member(name: str) -> frozenset[tuple[str, str]]:
    return frozenset({("emailAddress", sha(f"{name}@example.com"))})


Closable = TypeVar("Closable", DataManagerAudiences, GoogleAdsAudiences)
Opener = Callable[[Closable], Closable]


@pytest.fixture
def opened() -> Iterator[Opener]:
    """Closes every destination a test opens, even when the test fails midway."""
    destinations: list[DataManagerAudiences | GoogleAdsAudiences] = []

    def keep(destination: Closable) -> Closable:
        destinations.append(destination)
        return destination

    yield keep
    for destination in destinations:
        destination.close()


# -- Data Manager --------------------------------------------------------------------------


@pytest.fixture
def dm() -> Iterator[DataManagerEmulator]:
    with DataManagerEmulator(access_token=TOKEN, match_rate_percentage=100) as emulator:
        yield emulator


def dm_config(emulator: DataManagerEmulator, **fields: Any) -> GoogleDataManagerDestination:
    settings: dict[str, Any] = {
        "kind": "google_data_manager",
        "operating_account_id": CID,
        "access_token": TOKEN,
        "endpoint": emulator.base_url,
    }
    settings.update(fields)
    if "credentials_file" in fields:
        settings.pop("access_token")
    return GoogleDataManagerDestination.model_validate(settings)


@pytest.fixture
def google(dm: DataManagerEmulator) -> Iterator[DataManagerAudiences]:
    destination = DataManagerAudiences(dm_config(dm))
    yield destination
    destination.close()


def operations(emulator: DataManagerEmulator | GoogleAdsEmulator) -> list[tuple[str, int]]:
    return [(record.operation, record.status) for record in emulator.requests]


def test_a_user_list_is_created_by_name_once_and_described(
    dm: DataManagerEmulator, google: DataManagerAudiences
) -> None:
    dm.add_user_list("9000000001", name="someone else's list")
    list_id = google.ensure_audience("cart abandoners", "carts left in the last 30 days")

    assert google.ensure_audience("cart abandoners", "ignored") == list_id
    assert dm.user_lists(CID)[list_id] == "cart abandoners"
    assert [op for op, _ in operations(dm)].count("user_lists.create") == 1
    before = google.describe(list_id)
    assert before["name"] == "cart abandoners"
    assert (before["display_network_size"], before["match_rate_percentage"]) == (0, None)

    result = google.add(list_id, members([email("ada"), email("bob")]))
    assert google.settle(list(result.request_ids), sleep=lambda s: None) == {
        result.request_id: "SUCCESS"
    }
    after = google.describe(list_id)
    assert after["display_network_size"] == after["search_network_size"] == after[MATCHED] == 2
    assert after["match_rate_percentage"] == 100
    assert after["upload_match_rate_range"] == "MATCH_RATE_RANGE_91_TO_100"


def test_ingest_and_remove_change_the_membership_exactly(
    dm: DataManagerEmulator, google: DataManagerAudiences
) -> None:
    dm.add_user_list("8800000001")
    people = [
        email("ada"),
        {"phone": sha("+14155550100")},
        {
            "first_name": sha("grace"),
            "last_name": sha("hopper"),
            "country": "US",
            "zip": "10001",
        },
    ]
    added = google.add("8800000001", members(people))
    assert (added.received, added.invalid, added.skipped_no_consent) == (3, 0, 0)
    grace = frozenset({("address", (sha("grace"), sha("hopper"), "US", "10001"))})
    phone = frozenset({("phoneNumber", sha("+14155550100"))})
    assert dm.members("8800000001") == {email_member("ada"), phone, grace}

    removed = google.remove("8800000001", members([people[1], email("nobody")]))
    assert removed.received == 2 and removed.request_id not in (None, added.request_id)
    assert dm.members("8800000001") == {email_member("ada"), grace}
    assert operations(dm) == [("ingest", 200), ("remove", 200)]


def test_settle_polls_with_backoff_until_every_request_is_final(opened: Opener) -> None:
    with DataManagerEmulator(["8800000001"], processing_polls=2) as dm:
        google = opened(DataManagerAudiences(dm_config(dm)))
        first = google.add("8800000001", members([email("ada")]))
        second = google.remove("8800000001", members([email("bob")]))
        waits: list[float] = []

        statuses = google.settle([first.request_id, second.request_id], sleep=waits.append)

        assert statuses == {first.request_id: "SUCCESS", second.request_id: "SUCCESS"}
        assert waits == [1.0, 2.0]  # two PROCESSING answers each, exponential backoff
        assert [op for op, _ in operations(dm)].count("status") == 6


def test_settle_gives_up_at_the_timeout_and_reports_processing(opened: Opener) -> None:
    with DataManagerEmulator(["8800000001"], processing_polls=100) as dm:
        google = opened(DataManagerAudiences(dm_config(dm)))
        request_id = google.add("8800000001", members([email("ada")])).request_id
        waits: list[float] = []
        assert google.settle([request_id], timeout=5.0, sleep=waits.append) == {
            request_id: "PROCESSING"
        }
        assert sum(waits) == pytest.approx(5.0) and waits[:3] == [1.0, 2.0, 2.0]


def test_a_request_that_fails_in_processing_settles_as_failed_and_changes_nothing(
    dm: DataManagerEmulator, opened: Opener
) -> None:
    """Accepted (200, a request id) is not applied: only the status says FAILED, per request,
    so a caller can send exactly that request's members again."""
    dm.add_user_list("8800000001")
    google = opened(DataManagerAudiences(dm_config(dm)))
    dm.fail_processing()
    failed = google.add("8800000001", members([email("ada"), email("bob")]))
    applied = google.add("8800000001", members([email("cy")]))

    statuses = google.settle([failed.request_id, applied.request_id], sleep=lambda _: None)

    assert statuses == {failed.request_id: "FAILED", applied.request_id: "SUCCESS"}
    assert failed.received == 2 and dm.members("8800000001") == {email_member("cy")}
    (status,) = google.request_status(str(failed.request_id))
    assert status["requestStatus"] == "FAILED"
    assert status["errorInfo"] == {
        "errorCounts": [{"recordCount": "2", "reason": "PROCESSING_ERROR_REASON_INTERNAL_ERROR"}]
    }


def test_rows_without_consent_are_never_sent_and_are_counted(
    dm: DataManagerEmulator, opened: Opener
) -> None:
    dm.add_user_list("8800000001")
    google = opened(
        DataManagerAudiences(
            dm_config(dm, consent={"ad_user_data": "granted", "ad_personalization": "denied"})
        )
    )
    batch = members(
        [email("granted"), email("denied"), email("default"), email("user-data-denied")],
        consent_ad_user_data=["granted", "granted", None, "denied"],
        consent_ad_personalization=["granted", "denied", "granted", "granted"],
    )
    result = google.add("8800000001", batch)

    assert (result.received, result.skipped_no_consent) == (2, 2)
    assert dm.members("8800000001") == {email_member("granted"), email_member("default")}
    assert [(op, count) for op, count in ((r.operation, r.count) for r in dm.requests)] == [
        ("ingest", 2)
    ]
    statuses = google.request_status(str(result.request_id))
    assert statuses[0]["requestStatus"] == "SUCCESS"  # nothing Google had to drop

    # A removal needs no consent: it goes out whole.
    assert google.remove("8800000001", batch).received == 4
    assert dm.members("8800000001") == set()

    # Without consent columns the configured defaults decide for every row.
    assert google.add("8800000001", members([email("ada")])).skipped_no_consent == 1
    assert dm.members("8800000001") == set()


def test_refused_members_are_named_by_batch_row_and_the_rest_goes_through(
    dm: DataManagerEmulator, opened: Opener
) -> None:
    dm.add_user_list("8800000001")
    google = opened(DataManagerAudiences(dm_config(dm)))
    batch = members(
        [
            email("no-consent"),
            email("ada"),
            {"email": "ADA@EXAMPLE.COM"},  # not a hash
            email("bob"),
            {"phone": sha("+1")[:63]},  # one character short
            email("cy"),
        ],
        consent_ad_user_data=["denied", None, None, None, None, None],
    )

    with pytest.raises(MemberErrors) as refused:
        google.add("8800000001", batch)

    error = refused.value
    assert error.indexes == (2, 4)  # rows of the batch, past the skipped row 0
    assert error.reasons == {2: "INVALID_HEX_ENCODING", 4: "INVALID_HEX_ENCODING"}
    assert error.error_class is ErrorClass.FAIL_AUDIENCE and not error.applied
    assert "ADA@EXAMPLE.COM" not in str(error) and "INVALID_HEX_ENCODING" in str(error)
    assert dm.members("8800000001") == set()  # the API fails fast: nothing applied

    good, bad = split_by_index(batch, error.indexes)
    assert bad["email"].to_pylist() == ["ADA@EXAMPLE.COM", None]
    assert good["member_key"].to_pylist() == [batch["member_key"][i].as_py() for i in (0, 1, 3, 5)]
    resent = google.add("8800000001", good)
    assert (resent.received, resent.skipped_no_consent) == (3, 1)
    assert dm.members("8800000001") == {email_member(n) for n in ("ada", "bob", "cy")}


def test_user_ids_go_as_user_id_data_in_their_own_request(
    dm: DataManagerEmulator, opened: Opener
) -> None:
    google = opened(DataManagerAudiences(dm_config(dm)))
    list_id = google.ensure_audience("members", upload_key_types=("CONTACT_ID", "USER_ID"))
    batch = members(
        [email("ada"), {"external_id": "crm-0042"}, {"email": sha("x@y.z"), "external_id": "c7"}]
    )

    result = google.add(list_id, batch)

    assert result.received == 3 and len(result.request_ids) == 2
    assert dm.members(list_id) == {
        email_member("ada"),
        frozenset({("userId", "crm-0042")}),
        frozenset({("emailAddress", sha("x@y.z"))}),  # contact data wins over the user ID
    }
    assert [(r.operation, r.count) for r in dm.requests][-2:] == [("ingest", 2), ("ingest", 1)]
    contact_only = google.ensure_audience("contacts")
    with pytest.raises(DestinationError, match="upload key types"):
        google.add(contact_only, members([{"external_id": "crm-0042"}]))


def test_one_request_reaches_several_lists_and_accounts(opened: Opener) -> None:
    with DataManagerEmulator(access_token=TOKEN, accounts=[CID, OTHER_CID]) as dm:
        for list_id, account in (("1", CID), ("2", CID), ("3", OTHER_CID)):
            dm.add_user_list(list_id, account_id=account)
        google = opened(DataManagerAudiences(dm_config(dm)))
        lists = ["1", "2", UserListRef("3", operating_account_id=OTHER_CID)]

        added = google.add_many(lists, members([email("ada"), email("bob")]))
        assert added.received == 2 and len(added.request_ids) == 1
        assert (
            dm.members("1")
            == dm.members("2")
            == dm.members("3")
            == {
                email_member("ada"),
                email_member("bob"),
            }
        )
        statuses = google.request_status(str(added.request_id))
        assert [s["destination"]["productDestinationId"] for s in statuses] == ["1", "2", "3"]

        google.remove_many(lists, members([email("bob")]))
        assert dm.members("3") == {email_member("ada")}
        assert [op for op, _ in operations(dm)] == ["ingest", "status", "remove"]


def test_validate_only_checks_the_request_and_applies_nothing(
    dm: DataManagerEmulator, opened: Opener
) -> None:
    dm.add_user_list("8800000001")
    google = opened(DataManagerAudiences(dm_config(dm), validate_only=True))
    result = google.add("8800000001", members([email("ada")]))
    assert (result.received, result.request_id) == (1, None)
    assert dm.members("8800000001") == set()
    with pytest.raises(MemberErrors):
        google.add("8800000001", members([{"email": "not-a-hash"}]))
    assert [r.operation for r in dm.requests] == ["ingest-validate", "ingest"]


def test_a_429_with_retry_delay_is_rate_limited_for_exactly_that_long(opened: Opener) -> None:
    now = [1_000.5]  # 40.5 seconds into a minute window starting at 960
    with DataManagerEmulator(["8800000001"], requests_per_minute=2, clock=lambda: now[0]) as dm:
        google = opened(DataManagerAudiences(dm_config(dm)))
        push = lambda: google.add("8800000001", members([email("ada")]))  # noqa: E731
        push(), push()
        with pytest.raises(DestinationError) as limited:
            push()
        assert limited.value.error_class is ErrorClass.RATE_LIMITED
        # RetryInfo's "19.500s", not the Retry-After header's rounded-up 20:
        assert limited.value.retry_after == pytest.approx(19.5)

        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            now[0] += seconds

        call_with_retries(push, RetryPolicy(attempts=3, max_delay=60), "push", sleep=sleep)
        assert waits == [pytest.approx(19.5)]
        assert [status for _, status in operations(dm)] == [200, 200, 429, 429, 200]


def test_the_days_quota_used_up_stops_the_run_cleanly(opened: Opener) -> None:
    with DataManagerEmulator(["8800000001"], requests_per_day=1, clock=lambda: 5.0) as dm:
        google = opened(DataManagerAudiences(dm_config(dm)))
        google.add("8800000001", members([email("ada")]))
        outcomes: list[str] = []
        with pytest.raises(QuotaExhausted) as exhausted:
            call_with_retries(
                lambda: google.add("8800000001", members([email("bob")])),
                RetryPolicy(attempts=5),
                "push",
                on_outcome=outcomes.append,
                sleep=lambda s: pytest.fail("a spent daily quota is not waited for"),
            )
        assert outcomes == ["fail_audience"]
        assert exhausted.value.error_class is ErrorClass.FAIL_AUDIENCE
        assert "daily" in str(exhausted.value) and "next run resumes" in str(exhausted.value)


def test_an_account_without_the_eu_political_ads_declaration_says_how_to_fix_it(
    opened: Opener,
) -> None:
    with DataManagerEmulator(["8800000001"], eu_political_ads_declared=False) as dm:
        google = opened(DataManagerAudiences(dm_config(dm)))
        with pytest.raises(DestinationError) as refused:
            google.add("8800000001", members([email("ada")]))
        assert refused.value.error_class is ErrorClass.FAIL_AUDIENCE
        assert "EU political ads" in str(refused.value) and "declare" in str(refused.value)
        assert google.remove("8800000001", members([email("ada")])).received == 1


def test_permission_denied_names_the_fix(opened: Opener) -> None:
    with DataManagerEmulator(["8800000001"], accounts=[OTHER_CID]) as dm:
        google = opened(DataManagerAudiences(dm_config(dm)))
        with pytest.raises(DestinationError) as denied:
            google.add("8800000001", members([email("ada")]))
        assert denied.value.error_class is ErrorClass.FAIL_AUDIENCE
        assert "must be a user of the operating account" in str(denied.value)
        assert "login_account_id" in str(denied.value)


def test_credentials_file_is_refreshed_once_on_401(tmp_path: Path, opened: Opener) -> None:
    with DataManagerEmulator(["8800000001"], access_token="first") as dm:
        credentials = service_account_file(tmp_path / "key.json", dm.token_uri)
        google = opened(DataManagerAudiences(dm_config(dm, credentials_file=credentials)))
        google.add("8800000001", members([email("ada")]))
        dm.set_access_token("second")  # revoked early: the cached token now gets a 401

        assert google.add("8800000001", members([email("bob")])).received == 1
        assert operations(dm) == [
            ("oauth_token", 200),
            ("ingest", 200),
            ("ingest", 401),
            ("oauth_token", 200),
            ("ingest", 200),
        ]

    with DataManagerEmulator(["8800000001"], access_token="expected") as dm:
        google = opened(DataManagerAudiences(dm_config(dm, access_token="stale")))
        with pytest.raises(DestinationError, match="credentials were refused") as refused:
            google.add("8800000001", members([email("ada")]))
        assert refused.value.error_class is ErrorClass.FAIL_AUDIENCE
        assert "stale" not in str(refused.value)
        assert len(dm.requests) == 1  # a fixed token is not retried


# -- Google Ads API (legacy path) -----------------------------------------------------------


@pytest.fixture
def ads() -> Iterator[GoogleAdsEmulator]:
    with GoogleAdsEmulator(
        customers=[CID],
        access_token=TOKEN,
        job_delay=0.05,
        match_rate_percentage=100,
    ) as emulator:
        yield emulator


def ads_config(emulator: GoogleAdsEmulator, **fields: Any) -> GoogleAdsDestination:
    settings: dict[str, Any] = {
        "kind": "google_ads",
        "customer_id": CID,
        "access_token": TOKEN,
        "endpoint": emulator.endpoint,
    }
    settings.update(fields)
    return GoogleAdsDestination.model_validate(settings)


@pytest.fixture
def legacy(ads: GoogleAdsEmulator) -> Iterator[GoogleAdsAudiences]:
    destination = GoogleAdsAudiences(ads_config(ads), poll_interval=0.01)
    yield destination
    destination.close()


def ads_member(name: str) -> frozenset[tuple[str, str]]:
    return email_member(name)


def test_legacy_user_list_is_created_once_and_described(
    ads: GoogleAdsEmulator, legacy: GoogleAdsAudiences
) -> None:
    list_id = legacy.ensure_audience("lapsed buyers", "no order in 90 days")
    assert legacy.ensure_audience("lapsed buyers") == list_id
    assert ads.user_lists() == {int(list_id): "lapsed buyers"}
    assert [r.operation for r in ads.requests].count("mutate_user_lists") == 1

    described = legacy.describe(list_id)
    assert described["match_rate_percentage"] is None  # unset until an upload
    legacy.add(list_id, members([email("ada"), email("bob")]))
    described = legacy.describe(list_id)
    assert (described["display_network_size"], described["search_network_size"]) == (2, 2)
    assert (described["match_rate_percentage"], described["upload_key_type"]) == (
        100,
        "CONTACT_INFO",
    )


def test_legacy_adds_and_removes_run_as_separate_jobs(
    ads: GoogleAdsEmulator, legacy: GoogleAdsAudiences
) -> None:
    list_id = legacy.ensure_audience("wishlist")
    people = [email("ada"), email("bob"), {"phone": sha("+14155550100")}]

    added = legacy.add(list_id, members(people))
    removed = legacy.remove(list_id, members([email("bob"), email("never-added")]))

    assert (added.received, removed.received) == (3, 2)
    assert ads.members(int(list_id)) == {
        ads_member("ada"),
        frozenset({("phoneNumber", sha("+14155550100"))}),
    }
    assert sorted(ads.jobs().values()) == ["SUCCESS", "SUCCESS"]
    assert [r.operation for r in ads.requests if r.operation != "search_stream"] == [
        "mutate_user_lists",
        "create_job",
        "add_operations",
        "run_job",
        "create_job",
        "add_operations",
        "run_job",
    ]


def test_legacy_requests_hold_at_most_10_000_identifiers(
    ads: GoogleAdsEmulator, legacy: GoogleAdsAudiences
) -> None:
    list_id = legacy.ensure_audience("everyone")
    rows = [{"email": sha(f"{n}@x.com"), "phone": sha(f"+1415{n:07d}")} for n in range(5_002)]
    rows[5_001]["phone"] = "+14155550100"  # in clear: refused, in the second request
    with pytest.raises(MemberErrors) as refused:
        legacy.add(list_id, members(rows))
    assert refused.value.reasons == {5_001: "INVALID_SHA256_FORMAT"}
    staged = [r.count for r in ads.requests if r.operation == "add_operations"]
    assert staged == [5_000, 2]  # 10,000 identifiers, then the rest
    assert len(ads.members(int(list_id))) == 5_001


def test_legacy_partial_failure_names_the_rows_and_the_rest_is_applied(
    ads: GoogleAdsEmulator, legacy: GoogleAdsAudiences
) -> None:
    list_id = legacy.ensure_audience("carts")
    batch = members(
        [
            email("no-consent"),
            email("ada"),
            {"email": "ada@example.com"},  # not hashed
            email("bob"),
            {"email": "x" * 64},  # not hex
        ],
        consent_ad_user_data=["denied", None, None, None, None],
    )

    with pytest.raises(MemberErrors) as refused:
        legacy.add(list_id, batch)

    assert refused.value.reasons == {2: "INVALID_SHA256_FORMAT", 4: "INVALID_SHA256_FORMAT"}
    assert refused.value.applied and "ada@example.com" not in str(refused.value)
    assert ads.members(int(list_id)) == {ads_member("ada"), ads_member("bob")}
    good, bad = split_by_index(batch, refused.value.indexes)
    resent = legacy.add(list_id, good)
    assert len(bad) == 2 and (resent.received, resent.skipped_no_consent) == (2, 1)


def test_legacy_consent_filters_rows_before_the_job(
    ads: GoogleAdsEmulator, legacy: GoogleAdsAudiences
) -> None:
    list_id = legacy.ensure_audience("eu shoppers")
    batch = members([email("ada"), email("bob")], consent_ad_personalization=["denied", "granted"])
    result = legacy.add(list_id, batch)
    assert (result.received, result.skipped_no_consent) == (1, 1)
    assert ads.members(int(list_id)) == {ads_member("bob")}


def test_legacy_waits_for_a_job_someone_else_runs_on_the_list(
    ads: GoogleAdsEmulator, opened: Opener
) -> None:
    ads.job_delay = 3600.0  # jobs finish only when the test says so: a sleep finishes them
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        ads.finish_jobs()

    legacy = opened(GoogleAdsAudiences(ads_config(ads), sleep=sleep, poll_interval=0.5))
    list_id = legacy.ensure_audience("busy list")
    client = ads.client(access_token=TOKEN)
    service = client.get_service("OfflineUserDataJobService")
    job = client.get_type("OfflineUserDataJob")
    job.type_ = client.enums.OfflineUserDataJobTypeEnum.CUSTOMER_MATCH_USER_LIST
    job.customer_match_user_list_metadata.user_list = f"customers/{CID}/userLists/{list_id}"
    other = service.create_offline_user_data_job(customer_id=CID, job=job).resource_name
    operation = client.get_type("OfflineUserDataJobOperation")
    eve = client.get_type("UserIdentifier")
    eve.hashed_email = sha("eve@example.com")
    operation.create.user_identifiers.append(eve)
    service.add_offline_user_data_job_operations(resource_name=other, operations=[operation])
    service.run_offline_user_data_job(resource_name=other)

    assert legacy.add(list_id, members([email("ada")])).received == 1

    runs = [r.status for r in ads.requests if r.operation == "run_job"]
    assert runs == [200, 409, 200]  # theirs, ours refused while theirs runs, ours again
    assert waits == [0.5, 0.5]  # one wait for their job, one for ours
    assert ads.members(int(list_id)) == {ads_member("eve"), ads_member("ada")}


def test_legacy_upload_refused_for_a_token_not_allowlisted_points_to_data_manager(
    opened: Opener,
) -> None:
    with GoogleAdsEmulator(customers=[CID], allowlisted=False) as ads:
        legacy = opened(GoogleAdsAudiences(ads_config(ads), poll_interval=0.01))
        list_id = legacy.ensure_audience("buyers")  # lists can still be made
        with pytest.raises(DestinationError) as refused:
            legacy.add(list_id, members([email("ada")]))
        assert refused.value.error_class is ErrorClass.FAIL_AUDIENCE
        assert "kind: google_data_manager" in str(refused.value)
        assert "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE" in str(refused.value)


def test_legacy_permission_and_token_errors_are_classified_on_error_code(
    ads: GoogleAdsEmulator, opened: Opener
) -> None:
    wrong_customer = opened(GoogleAdsAudiences(ads_config(ads, customer_id="9999999999")))
    with pytest.raises(DestinationError, match="login_customer_id") as denied:
        wrong_customer.ensure_audience("buyers")
    assert denied.value.error_class is ErrorClass.FAIL_AUDIENCE

    stale = opened(GoogleAdsAudiences(ads_config(ads, access_token="stale-token")))
    with pytest.raises(DestinationError, match="credentials were refused") as refused:
        stale.describe("1")
    assert "stale-token" not in str(refused.value)


def test_legacy_path_needs_no_developer_token_and_speaks_one_api_version(
    ads: GoogleAdsEmulator, legacy: GoogleAdsAudiences
) -> None:
    """Developer tokens were sunset on 2026-09-09: a config without one works, and every call
    goes to API_VERSION, whatever the library's default."""
    assert ads_config(ads).developer_token is None
    list_id = legacy.ensure_audience("buyers")
    assert legacy.add(list_id, members([email("ada")])).received == 1
    versions = {r.path.split(".")[3] for r in ads.requests if r.path.startswith("/google.ads")}
    assert versions == {API_VERSION}


def test_a_test_level_cloud_project_is_told_to_apply_for_explorer_or_basic_access(
    opened: Opener,
) -> None:
    with GoogleAdsEmulator(customers=[CID], access_token=TOKEN, access_level="TEST") as ads:
        legacy = opened(GoogleAdsAudiences(ads_config(ads), poll_interval=0.01))
        with pytest.raises(DestinationError) as refused:
            legacy.ensure_audience("buyers")
    assert refused.value.error_class is ErrorClass.FAIL_AUDIENCE
    assert "CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION" in str(refused.value)
    assert "apply for Explorer access" in str(refused.value)


@pytest.mark.parametrize("span", [0, 30, 540])
def test_lists_are_created_with_the_configured_membership_life_span(
    ads: GoogleAdsEmulator, opened: Opener, span: int
) -> None:
    legacy = opened(GoogleAdsAudiences(ads_config(ads, membership_life_span=span)))
    list_id = legacy.ensure_audience("buyers")
    query = f"SELECT user_list.membership_life_span FROM user_list WHERE user_list.id = {list_id}"
    service = ads.client(access_token=TOKEN).get_service("GoogleAdsService")
    rows = service.search(customer_id=CID, query=query)
    assert [row.user_list.membership_life_span for row in rows] == [span]


@pytest.mark.parametrize("span", [-1, 541, 10_000])
def test_a_membership_life_span_outside_0_to_540_is_refused_before_any_request(
    ads: GoogleAdsEmulator, legacy: GoogleAdsAudiences, span: int
) -> None:
    with pytest.raises(ValidationError, match="membership_life_span"):
        ads_config(ads, membership_life_span=span)
    with pytest.raises(ValueError, match="0-540 days"):
        legacy.ensure_audience("buyers", membership_life_span=span)
    assert ads.requests == []
