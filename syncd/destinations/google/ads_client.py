"""Google Customer Match through the Google Ads API (gRPC), for accounts on the legacy path.

Since 2026-04-01 the Google Ads API refuses Customer Match uploads from developer tokens that
were not already using it (``CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE``); new integrations use
``kind: google_data_manager``. Allowlisted accounts keep this path:

* lists are CRM-based user lists (``UserListService``), found by name through GAQL;
* size and match rate come from GAQL on ``user_list``;
* members go up through ``OfflineUserDataJobService``: one job per push, adds and removes never
  in one job; operations in requests of at most 10,000 identifiers with partial failure on
  (a refused operation is reported by index and maps back to its row: ``MemberErrors``); the
  job is run and polled to SUCCESS before the push returns, so syncd never has two jobs on one
  list at once. A job that collides with someone else's (``CONCURRENT_MODIFICATION``) waits
  for the list to be free and runs again.

Every call carries the destination's ``timeout_seconds`` as its gRPC deadline: the generated
service methods have none by default (``default_timeout=None`` in google-ads'
``services/*/transports/base.py``), and a server that never answers would hold the pass.

Errors are classified on ``error_code`` in ``syncd.destinations.google.ads_errors``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Self

import pyarrow as pa

from syncd.destinations.base import (
    MATCHED,
    Client,
    DestinationError,
    ErrorClass,
    MemberErrors,
    PushResult,
)
from syncd.destinations.google.ads_connection import build_client
from syncd.destinations.google.ads_errors import (
    classify_ads_error,
    error_codes,
    failure_of,
    is_ads_api_error,
)
from syncd.destinations.google.ads_members import (
    fill_user_data,
    refused_operations,
    request_chunks,
)
from syncd.destinations.google.capabilities import ADS_CAPABILITIES as CAPABILITIES
from syncd.destinations.google.dm_members import consented_rows
from syncd.destinations.google.settings import GoogleAdsDestination

if TYPE_CHECKING:
    from google.ads.googleads.client import GoogleAdsClient

__all__ = ["CAPABILITIES", "GoogleAdsAudiences"]

#: A list's membership_life_span in days: "must be between 0 and 540 inclusive" (the UserList
#: resource, google/ads/googleads/v25/resources/types/user_list.py in google-ads).
MIN_LIFE_SPAN_DAYS, MAX_LIFE_SPAN_DAYS = 0, 540


class GoogleAdsAudiences(Client):
    """The legacy Customer Match destination. ``poll_interval`` is the first wait between
    job status polls (doubling up to ``max_poll_interval``); ``sleep`` is injectable."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        config: GoogleAdsDestination,
        *,
        client: GoogleAdsClient | None = None,
        sleep: Callable[[float], object] = time.sleep,
        poll_interval: float = 1.0,
        max_poll_interval: float = 60.0,
        run_attempts: int = 3,
    ) -> None:
        self._config = config
        self._client = client if client is not None else build_client(config)
        self._sleep = sleep
        self._poll_interval = poll_interval
        self._max_poll_interval = max_poll_interval
        self._run_attempts = run_attempts
        self._timeout = config.timeout_seconds
        self._services: dict[str, Any] = {}
        self._key_types: dict[str, str] = {}

    @property
    def customer_id(self) -> str:
        return self._config.customer_id

    # -- lists ---------------------------------------------------------------------------------

    def ensure_audience(
        self,
        name: str,
        description: str = "",
        *,
        upload_key_type: str = "CONTACT_INFO",
        membership_life_span: int | None = None,
    ) -> str:
        """The id of the CRM-based list called ``name``, created if there is none, with the
        destination's ``membership_life_span`` unless given."""
        if membership_life_span is None:
            membership_life_span = self._config.membership_life_span
        name = name.strip()
        if not name or "\n" in name:
            raise ValueError("a user list name is one non-empty line")
        if not MIN_LIFE_SPAN_DAYS <= membership_life_span <= MAX_LIFE_SPAN_DAYS:
            raise ValueError(
                f"membership_life_span is {MIN_LIFE_SPAN_DAYS}-{MAX_LIFE_SPAN_DAYS} days, "
                f"not {membership_life_span}"
            )
        found = self.find_audience(name)
        if found is not None:
            return found
        client = self._client
        operation = client.get_type("UserListOperation")
        operation.create.name = name
        operation.create.description = description
        operation.create.membership_life_span = membership_life_span
        crm = operation.create.crm_based_user_list
        crm.upload_key_type = getattr(client.enums.CustomerMatchUploadKeyTypeEnum, upload_key_type)
        crm.data_source_type = client.enums.UserListCrmDataSourceTypeEnum.FIRST_PARTY
        what = f"Google Ads user list {name!r}"
        try:
            response = self._service("UserListService").mutate_user_lists(
                customer_id=self.customer_id, operations=[operation], timeout=self._timeout
            )
        except Exception as error:
            failure = self._failure(error)
            if failure is not None and ("user_list_error", "NAME_ALREADY_USED") in error_codes(
                failure
            ):
                found = self.find_audience(name)  # made by someone else since we looked
                if found is not None:
                    return found
            raise self._classify(error, what) from None
        return str(response.results[0].resource_name).rsplit("/", 1)[1]

    def find_audience(self, name: str) -> str | None:
        """The id of the list called exactly ``name``, or None. Reads only."""
        escaped = name.replace("\\", "\\\\").replace("'", "\\'")
        rows = self._search(
            "SELECT user_list.id, user_list.name FROM user_list "
            f"WHERE user_list.name = '{escaped}'",
            f"Google Ads user list {name!r}",
        )
        ids = [str(row.user_list.id) for row in rows if row.user_list.name == name]
        return ids[0] if ids else None

    def describe(self, audience_id: str) -> dict[str, object]:
        """Size and match rate of a list, from GAQL (estimates, hours behind uploads); the
        larger size is the matched count every network gives (``MATCHED``)."""
        user_list = self._user_list(audience_id)
        return {
            MATCHED: max(int(user_list.size_for_display), int(user_list.size_for_search)),
            "user_list_id": str(user_list.id),
            "name": user_list.name,
            "membership_status": user_list.membership_status.name,
            "display_network_size": int(user_list.size_for_display),
            "search_network_size": int(user_list.size_for_search),
            "match_rate_percentage": (
                int(user_list.match_rate_percentage)
                if "match_rate_percentage" in user_list
                else None
            ),
            "upload_key_type": user_list.crm_based_user_list.upload_key_type.name,
        }

    def _user_list(self, audience_id: str) -> Any:
        if not audience_id.isdigit():
            raise DestinationError(
                ErrorClass.FAIL_AUDIENCE, f"Google Ads user list {audience_id!r}: ids are digits"
            )
        what = f"Google Ads user list {audience_id}"
        rows = self._search(
            "SELECT user_list.id, user_list.name, user_list.membership_status, "
            "user_list.size_for_display, user_list.size_for_search, "
            "user_list.match_rate_percentage, user_list.crm_based_user_list.upload_key_type "
            f"FROM user_list WHERE user_list.id = {audience_id}",
            what,
        )
        if not rows:
            raise DestinationError(
                ErrorClass.FAIL_AUDIENCE,
                f"{what}: no such user list in customer {self.customer_id}",
            )
        user_list = rows[0].user_list
        self._key_types[audience_id] = user_list.crm_based_user_list.upload_key_type.name
        return user_list

    # -- uploads -------------------------------------------------------------------------------

    def add(self, audience_id: str, members: pa.Table) -> PushResult:
        """One add job: rows without both consents are skipped and counted."""
        consent = self._config.consent
        allowed = consented_rows(members, consent.ad_user_data, consent.ad_personalization)
        return self._upload("create", audience_id, members, allowed.to_pylist())

    def remove(self, audience_id: str, members: pa.Table) -> PushResult:
        """One removal job (removals need no consent)."""
        return self._upload("remove", audience_id, members, [True] * len(members))

    def close(self) -> None:
        for service in self._services.values():
            transport = getattr(service, "transport", None)
            if transport is not None:
                transport.close()
        self._services.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _upload(
        self, kind: str, audience_id: str, members: pa.Table, allowed: list[bool]
    ) -> PushResult:
        what = f"Google Ads user list {audience_id}"
        key_type = self._key_types.get(audience_id) or self._upload_key_type(audience_id)
        request_type = self._client.get_type("AddOfflineUserDataJobOperationsRequest")
        scratch = type(request_type).pb(request_type)
        operations: list[tuple[int, Any]] = []  # (batch row, raw OfflineUserDataJobOperation)
        unusable = 0
        for index, row in enumerate(members.to_pylist()):
            if not allowed[index]:
                continue
            operation = scratch.operations.add()
            if fill_user_data(getattr(operation, kind), row, key_type):
                operations.append((index, operation))
            else:
                unusable += 1
        skipped = allowed.count(False)
        if not operations:
            return PushResult(received=0, invalid=unusable, skipped_no_consent=skipped)
        job_name = self._create_job(audience_id, kind == "create", what)
        refused = self._add_operations(job_name, operations, what)
        applied = len(operations) - len(refused)
        if applied:
            self._run(job_name, audience_id, what)
            self._wait_for_job(job_name, what)
        if refused:
            raise MemberErrors(
                refused,
                f"{what}: Google refused {len(refused)} member(s) "
                f"({', '.join(sorted(set(refused.values())))}); the other {applied} "
                "were applied: quarantine those rows",
                applied=applied > 0,
            )
        job_id = job_name.rsplit("/", 1)[1]
        return PushResult(
            received=applied,
            invalid=unusable,
            request_id=job_id,
            skipped_no_consent=skipped,
            request_ids=(job_id,),
        )

    def _upload_key_type(self, audience_id: str) -> str:
        return str(self._user_list(audience_id).crm_based_user_list.upload_key_type.name)

    def _create_job(self, audience_id: str, is_add: bool, what: str) -> str:
        client = self._client
        job = client.get_type("OfflineUserDataJob")
        job.type_ = client.enums.OfflineUserDataJobTypeEnum.CUSTOMER_MATCH_USER_LIST
        metadata = job.customer_match_user_list_metadata
        metadata.user_list = f"customers/{self.customer_id}/userLists/{audience_id}"
        if is_add:  # only rows with both consents granted are ever added
            metadata.consent.ad_user_data = client.enums.ConsentStatusEnum.GRANTED
            metadata.consent.ad_personalization = client.enums.ConsentStatusEnum.GRANTED
        try:
            response = self._service("OfflineUserDataJobService").create_offline_user_data_job(
                customer_id=self.customer_id, job=job, timeout=self._timeout
            )
        except Exception as error:
            raise self._classify(error, what) from None
        return str(response.resource_name)

    def _add_operations(
        self, job_name: str, operations: list[tuple[int, Any]], what: str
    ) -> dict[int, str]:
        """Stage every operation; return the refused rows and why (value-free codes)."""
        refused: dict[int, str] = {}
        service = self._service("OfflineUserDataJobService")
        for chunk in request_chunks(operations):
            request = self._client.get_type("AddOfflineUserDataJobOperationsRequest")
            request.resource_name = job_name
            request.enable_partial_failure = True
            raw = type(request).pb(request)
            for _, operation in chunk:
                raw.operations.add().CopyFrom(operation)
            try:
                response = service.add_offline_user_data_job_operations(
                    request=request, timeout=self._timeout
                )
            except Exception as error:
                raise self._classify(error, what) from None
            for position, code in refused_operations(response, self._client):
                if 0 <= position < len(chunk):
                    refused.setdefault(chunk[position][0], code)
        return refused

    def _run(self, job_name: str, audience_id: str, what: str) -> None:
        service = self._service("OfflineUserDataJobService")
        for attempt in range(self._run_attempts):
            try:
                service.run_offline_user_data_job(resource_name=job_name, timeout=self._timeout)
                return
            except Exception as error:
                failure = self._failure(error)
                busy = failure is not None and (
                    ("database_error", "CONCURRENT_MODIFICATION") in error_codes(failure)
                )
                if not busy or attempt + 1 == self._run_attempts:
                    raise self._classify(error, what) from None
            self._wait_until_free(audience_id, what)

    def _wait_until_free(self, audience_id: str, what: str) -> None:
        """Wait for the jobs someone else runs on the list: one OfflineUserDataJob per list at
        a time, a second one on the same list fails with CONCURRENT_MODIFICATION
        (https://developers.google.com/google-ads/api/docs/remarketing/audience-segments/customer-match/get-started)."""
        list_name = f"customers/{self.customer_id}/userLists/{audience_id}"
        query = (
            "SELECT offline_user_data_job.id, offline_user_data_job.status "
            "FROM offline_user_data_job WHERE "
            f"offline_user_data_job.customer_match_user_list_metadata.user_list = '{list_name}'"
        )
        for _ in self._polls(what):
            rows = self._search(query, what)
            if not any(row.offline_user_data_job.status.name == "RUNNING" for row in rows):
                return

    def _wait_for_job(self, job_name: str, what: str) -> None:
        query = (
            "SELECT offline_user_data_job.status, offline_user_data_job.failure_reason "
            f"FROM offline_user_data_job WHERE offline_user_data_job.resource_name = '{job_name}'"
        )
        for _ in self._polls(what):
            rows = self._search(query, what)
            job = rows[0].offline_user_data_job if rows else None
            status = job.status.name if job is not None else "UNKNOWN"
            if status == "SUCCESS":
                return
            if status == "FAILED":
                reason = job.failure_reason.name if job is not None else "UNSPECIFIED"
                raise DestinationError(
                    ErrorClass.FAIL_AUDIENCE, f"{what}: the upload job failed ({reason})"
                )

    def _polls(self, what: str) -> Iterator[int]:
        """Yield before each poll, sleeping with backoff in between, until the job timeout;
        then raise RETRY (the next attempt finds the list busy and waits again)."""
        started, slept, delay = time.monotonic(), 0.0, self._poll_interval
        timeout = self._config.job_timeout_seconds
        attempt = 0
        while True:
            yield attempt
            attempt += 1
            elapsed = max(time.monotonic() - started, slept)
            if elapsed >= timeout:
                raise DestinationError(
                    ErrorClass.RETRY,
                    f"{what}: the upload job is still running after {timeout:g}s",
                    retry_after=min(delay, self._max_poll_interval),
                )
            wait = min(delay, self._max_poll_interval, timeout - elapsed)
            self._sleep(wait)
            slept += wait
            delay = min(delay * 2, self._max_poll_interval)

    # -- plumbing ------------------------------------------------------------------------------

    def _service(self, name: str) -> Any:
        if name not in self._services:
            self._services[name] = self._client.get_service(name)
        return self._services[name]

    def _search(self, query: str, what: str) -> list[Any]:
        try:
            stream = self._service("GoogleAdsService").search_stream(
                customer_id=self.customer_id, query=query, timeout=self._timeout
            )
            return [row for batch in stream for row in batch.results]
        except Exception as error:
            raise self._classify(error, what) from None

    def _failure(self, error: Exception) -> Any | None:
        return failure_of(error, self._client) if is_ads_api_error(error) else None

    def _classify(self, error: Exception, what: str) -> Exception:
        if not is_ads_api_error(error):
            return error
        return classify_ads_error(error, self._client, what)
