"""BigQuerySource without Google: a fake client records the real QueryJobConfig objects the
source builds and answers with real Arrow batches or real google.api_core exceptions.

This tests the source's own logic (job configuration, cost guard, retries, error messages,
streaming); it does not test BigQuery. Sockets are closed for the whole module."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
import yaml
from pydantic import ValidationError

bigquery = pytest.importorskip("google.cloud.bigquery")
pytest.importorskip("google.cloud.bigquery_storage")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from google.api_core import exceptions  # noqa: E402

from syncd.sources import SourceError  # noqa: E402
from syncd.sources.bigquery import (  # noqa: E402
    BACKOFF_INITIAL_SECONDS,
    MAX_READ_STREAMS,
    QUERY_ATTEMPTS,
    BigQuerySource,
)
from syncd.sources.bigquery_config import BigQueryWarehouse  # noqa: E402

EMAIL = "alice@example.com"
LIMIT = 50_000_000
SQL = "select email, phone from `my-shop-prod.crm.people` where country = 'FR'"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach Google fails the test loudly instead of going out."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# -- fakes --------------------------------------------------------------------------------------


class FakeRows:
    """A RowIterator: yields the given batches, raising any exception among them."""

    def __init__(self, batches: list[Any], schema: tuple[Any, ...] = ()) -> None:
        self.batches = batches
        self.schema = schema
        self.arrow_calls: list[dict[str, Any]] = []
        self.closed = False

    def to_arrow_iterable(self, **kwargs: Any) -> Iterator[pa.RecordBatch]:
        self.arrow_calls.append(kwargs)
        # Held here, as the library's download threads hold theirs: dropping the reference
        # does not stop it, only close() does.
        self.iterator = self._iterate()
        return self.iterator

    def _iterate(self) -> Iterator[pa.RecordBatch]:
        try:
            for item in self.batches:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.closed = True


@dataclass
class FakeJob:
    rows: FakeRows | None = None
    error: BaseException | None = None
    total_bytes_processed: int | None = None
    result_calls: list[dict[str, Any]] = field(default_factory=list)
    #: A job that runs until cancelled, then fails as BigQuery's cancelled jobs do.
    runs_until_cancelled: bool = False
    cancelled: threading.Event = field(default_factory=threading.Event)

    def result(self, **kwargs: Any) -> FakeRows:
        self.result_calls.append(kwargs)
        if self.runs_until_cancelled:
            assert self.cancelled.wait(20), "never cancelled"
            raise api_error(
                exceptions.BadRequest, "Job execution was cancelled: User requested", "stopped"
            )
        if self.error is not None:
            raise self.error
        assert self.rows is not None
        return self.rows

    def cancel(self, **kwargs: Any) -> bool:
        self.cancelled.set()
        return True


@dataclass
class Query:
    sql: str
    job_config: Any
    location: str | None
    options: dict[str, Any]


class FakeClient:
    """Records each query and answers with the next outcome: a job, or an error to raise."""

    def __init__(self, *outcomes: FakeJob | BaseException) -> None:
        self.outcomes = list(outcomes)
        self.queries: list[Query] = []

    def query(
        self, sql: str, job_config: Any = None, location: str | None = None, **options: Any
    ) -> FakeJob:
        self.queries.append(Query(sql, job_config, location, options))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def close(self) -> None:
        raise AssertionError("an injected client belongs to the caller")


STORAGE = object()  # stands for a BigQueryReadClient: the fake rows only record it


def warehouse(**overrides: Any) -> BigQueryWarehouse:
    values = {
        "kind": "bigquery",
        "project": "my-shop-prod",
        "location": "EU",
        "maximum_bytes_billed": LIMIT,
        "job_labels": {"app": "syncd", "team": "growth"},
    }
    return BigQueryWarehouse.model_validate({**values, **overrides})


def batch(*emails: str) -> pa.RecordBatch:
    return pa.record_batch({"email": pa.array(emails, pa.string())})


class Waits(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def source_for(client: FakeClient, waits: Waits | None = None, **overrides: Any) -> BigQuerySource:
    return BigQuerySource(
        warehouse(**overrides),
        client,
        bqstorage_client=STORAGE,
        sleep=waits if waits is not None else Waits(),
    )


def api_error(kind: type[exceptions.GoogleAPICallError], message: str, reason: str | None):
    return kind(message, errors=[{"reason": reason, "message": message}] if reason else [])


def failure(client: FakeClient, waits: Waits | None = None) -> str:
    with pytest.raises(SourceError) as caught:
        list(source_for(client, waits).read(SQL))
    return str(caught.value)


# -- config -------------------------------------------------------------------------------------


def test_the_smallest_config_uses_adc_and_labels_jobs_as_syncd() -> None:
    config = BigQueryWarehouse.model_validate({"kind": "bigquery", "project": "my-shop-prod"})
    assert config.credentials_file is None
    assert config.location is None
    assert config.maximum_bytes_billed is None
    assert config.job_labels == {"app": "syncd"}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"project": None}, "project"),
        ({"project": "My_Project"}, "project"),
        ({"maximum_bytes_billed": 1000}, "greater than or equal to 10485760"),
        ({"job_labels": {"Team": "growth"}}, "label key 'Team'"),
        ({"job_labels": {"team": "Growth Team"}}, "label 'team'"),
        ({"job_labels": {f"k{n}": "v" for n in range(65)}}, "at most 64 labels"),
        ({"location": "eu west"}, "location"),
        ({"dataset": "crm"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_configs_are_refused(overrides: dict[str, Any], expected: str) -> None:
    values = {"kind": "bigquery", "project": "my-shop-prod", **overrides}
    values = {key: value for key, value in values.items() if value is not None}
    with pytest.raises(ValidationError) as caught:
        BigQueryWarehouse.model_validate(values)
    assert expected in str(caught.value)


def test_domain_scoped_projects_are_accepted() -> None:
    config = BigQueryWarehouse.model_validate(
        {"kind": "bigquery", "project": "example.com:shop-prod"}
    )
    assert config.project == "example.com:shop-prod"


# -- the query job ------------------------------------------------------------------------------


def test_a_read_is_one_query_job_with_the_cost_guard_and_labels() -> None:
    job = FakeJob(FakeRows([batch(EMAIL)]))
    client = FakeClient(job)
    list(source_for(client).read(SQL))

    (query,) = client.queries
    config = query.job_config
    assert isinstance(config, bigquery.QueryJobConfig)
    assert config.maximum_bytes_billed == LIMIT
    assert config.labels == {"app": "syncd", "team": "growth"}
    assert not config.dry_run
    assert config.use_query_cache is True
    assert config.use_legacy_sql is False
    # What goes on the wire: the REST resource the client sends as jobs.insert.
    wire = config.to_api_repr()
    assert wire["query"]["maximumBytesBilled"] == str(LIMIT)
    assert wire["labels"] == {"app": "syncd", "team": "growth"}
    assert query.sql == SQL
    assert query.location == "EU"
    # Whole jobs are retried by syncd alone, and each request's retries are bounded.
    assert query.options["job_retry"] is None
    assert query.options["retry"]._timeout == 120.0
    assert job.result_calls == [{"retry": query.options["retry"], "job_retry": None}]


def test_no_limit_and_no_location_are_left_to_bigquery() -> None:
    client = FakeClient(FakeJob(FakeRows([batch(EMAIL)])))
    list(source_for(client, maximum_bytes_billed=None, location=None).read(SQL))
    (query,) = client.queries
    assert query.job_config.maximum_bytes_billed is None
    assert "maximumBytesBilled" not in query.job_config.to_api_repr()["query"]
    assert query.location is None


def test_estimate_is_a_dry_run_that_ignores_the_cache() -> None:
    job = FakeJob(total_bytes_processed=123_456_789)
    client = FakeClient(job)
    assert source_for(client).estimate(SQL) == 123_456_789
    (query,) = client.queries
    assert query.job_config.dry_run is True
    assert query.job_config.use_query_cache is False
    assert query.job_config.maximum_bytes_billed == LIMIT
    assert query.location == "EU"
    assert job.result_calls == []  # a dry run has no result to wait for


def test_estimate_errors_carry_their_fix() -> None:
    client = FakeClient(api_error(exceptions.BadRequest, "Syntax error at [1:1]", "invalidQuery"))
    with pytest.raises(SourceError, match=r"the dry run failed: .*fix the segment SQL"):
        source_for(client).estimate("selec 1")


# -- streaming ----------------------------------------------------------------------------------


def test_batches_stream_through_the_storage_read_api_unchanged() -> None:
    batches = [batch(EMAIL, "bob@example.com"), batch("carol@example.com")]
    rows = FakeRows(list(batches))
    got = list(source_for(FakeClient(FakeJob(rows))).read(SQL))
    assert got == batches
    assert rows.arrow_calls == [{"bqstorage_client": STORAGE, "max_stream_count": MAX_READ_STREAMS}]


def test_an_empty_result_still_names_its_columns() -> None:
    schema = (bigquery.SchemaField("email", "STRING"), bigquery.SchemaField("phone", "STRING"))
    (only,) = list(source_for(FakeClient(FakeJob(FakeRows([], schema)))).read(SQL))
    assert only.num_rows == 0
    assert only.schema.names == ["email", "phone"]


def test_stopping_early_stops_the_download() -> None:
    rows = FakeRows([batch(EMAIL), batch("bob@example.com")])
    source = source_for(FakeClient(FakeJob(rows)))
    reader = source.read(SQL)
    next(reader)
    assert not rows.closed
    source.close()
    assert rows.closed


# -- retries ------------------------------------------------------------------------------------


def test_transient_failures_are_retried_with_backoff() -> None:
    rows = FakeRows([batch(EMAIL)])
    client = FakeClient(
        api_error(exceptions.ServiceUnavailable, "Service unavailable", None),
        FakeJob(error=api_error(exceptions.InternalServerError, "Backend error", "backendError")),
        FakeJob(rows),
    )
    waits = Waits()
    assert list(source_for(client, waits).read(SQL)) == [batch(EMAIL)]
    assert len(client.queries) == 3
    assert len(waits) == 2
    assert 0 <= waits[0] <= BACKOFF_INITIAL_SECONDS
    assert 0 <= waits[1] <= 2 * BACKOFF_INITIAL_SECONDS


def test_retries_are_bounded() -> None:
    errors = [api_error(exceptions.TooManyRequests, "Too many", None) for _ in range(5)]
    client = FakeClient(*errors)
    waits = Waits()
    message = failure(client, waits)
    assert f"after {QUERY_ATTEMPTS} attempts" in message
    assert "the next sync tries again" in message
    assert len(client.queries) == QUERY_ATTEMPTS
    assert len(waits) == QUERY_ATTEMPTS - 1


def test_a_rate_limit_is_retried_but_a_spent_quota_is_not() -> None:
    limited = api_error(exceptions.Forbidden, "Exceeded rate limits", "rateLimitExceeded")
    client = FakeClient(limited, FakeJob(FakeRows([batch(EMAIL)])))
    assert len(list(source_for(client).read(SQL))) == 1
    assert len(client.queries) == 2

    spent = api_error(exceptions.Forbidden, "Quota exceeded: bytes scanned", "quotaExceeded")
    client = FakeClient(spent, FakeJob(FakeRows([batch(EMAIL)])))
    message = failure(client)
    assert "quota of project my-shop-prod is used up" in message
    assert len(client.queries) == 1


def test_request_retries_that_ran_out_count_as_transient() -> None:
    cause = api_error(exceptions.ServiceUnavailable, "unavailable", None)
    gave_up = exceptions.RetryError("Deadline of 120.0s exceeded", cause)
    client = FakeClient(gave_up, FakeJob(FakeRows([batch(EMAIL)])))
    assert len(list(source_for(client).read(SQL))) == 1
    assert len(client.queries) == 2


def test_a_failure_after_the_first_batch_is_not_replayed() -> None:
    rows = FakeRows([batch(EMAIL), api_error(exceptions.ServiceUnavailable, "reset", None)])
    client = FakeClient(FakeJob(rows), FakeJob(FakeRows([batch(EMAIL)])))
    reader = source_for(client).read(SQL)
    assert next(reader) == batch(EMAIL)
    with pytest.raises(SourceError, match="reading the result failed"):
        next(reader)
    assert len(client.queries) == 1


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (
            api_error(
                exceptions.BadRequest,
                f"No matching signature for operator = for argument types: INT64, STRING; "
                f"comparing id = '{EMAIL}' at [1:40]",
                "invalidQuery",
            ),
            "fix the segment SQL (GoogleSQL",
        ),
        (
            api_error(
                exceptions.Forbidden,
                "Access Denied: Table my-shop-prod:crm.people: User does not have permission "
                "to query table my-shop-prod:crm.people",
                "accessDenied",
            ),
            "roles/bigquery.dataViewer on the datasets",
        ),
        (
            # The Storage Read API speaks gRPC: no reason, only the class.
            exceptions.PermissionDenied(
                "request failed: the user does not have 'bigquery.readsessions.create' permission"
            ),
            "roles/bigquery.readSessionUser on project my-shop-prod",
        ),
        (
            api_error(
                exceptions.NotFound,
                "Not found: Dataset my-shop-prod:crm was not found in location EU",
                "notFound",
            ),
            "in another location than warehouse.location (EU)",
        ),
        (
            api_error(
                exceptions.BadRequest,
                "Query exceeded limit for bytes billed: 50000000. 104857600 or higher required.",
                "bytesBilledLimitExceeded",
            ),
            "would bill more than warehouse.maximum_bytes_billed (50000000 bytes)",
        ),
        (
            # The same limit, seen as an HTTP 500 when it surfaces through getQueryResults:
            # it must not be retried as a server error.
            exceptions.InternalServerError(
                "Query exceeded limit for bytes billed: 50000000. 104857600 or higher required."
            ),
            "did not run, at no cost",
        ),
        (
            api_error(exceptions.BadRequest, "Billing has not been enabled", "billingNotEnabled"),
            "billing is not enabled on project my-shop-prod",
        ),
        (
            exceptions.Unauthorized("Request had invalid authentication credentials."),
            "Google refused the credentials",
        ),
    ],
    ids=[
        "sql",
        "access",
        "storage-permission",
        "location",
        "bytes-billed",
        "bytes-billed-500",
        "billing",
        "auth",
    ],
)
def test_errors_say_their_fix_and_are_not_retried(
    error: exceptions.GoogleAPICallError, fix: str
) -> None:
    client = FakeClient(FakeJob(error=error))
    waits = Waits()
    message = failure(client, waits)
    assert fix in message
    assert message.startswith("the query failed: ")
    assert EMAIL not in message
    assert (len(client.queries), waits) == (1, [])


@pytest.mark.parametrize(
    "text",
    [
        f"Bad int64 value: {EMAIL}",
        f'Could not cast literal "{EMAIL}" to type DATE at [3:9]',
        f"Invalid date: '{EMAIL}'",
        f"Bad double value: {EMAIL}; while executing the filter on column email",
    ],
)
def test_values_in_error_messages_are_blanked(text: str) -> None:
    message = failure(FakeClient(FakeJob(error=api_error(exceptions.BadRequest, text, "invalid"))))
    assert "alice" not in message
    assert "fix the segment SQL" in message


def test_the_job_id_is_kept_and_the_footer_dropped() -> None:
    error = api_error(exceptions.BadRequest, "Unrecognized name: emial at [1:8]", "invalidQuery")
    error.message += "\n\nLocation: EU\nJob ID: job_Xy12\n"  # as QueryJob.result() adds it
    error.query_job = SimpleNamespace(job_id="job_Xy12")  # type: ignore[attr-defined]
    message = failure(FakeClient(FakeJob(error=error)))
    assert "Unrecognized name: emial at [1:8] [job job_Xy12]; fix the segment SQL" in message
    assert "Location:" not in message


# -- the real clients, built from credentials without contacting Google ------------------------


@pytest.fixture(scope="module")
def service_account_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path_factory.mktemp("gcp") / "syncd-sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "my-shop-prod",
                "private_key_id": "0123456789abcdef",
                "private_key": pem,
                "client_email": "syncd@my-shop-prod.iam.gserviceaccount.com",
                "client_id": "100000000000000000001",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


def test_a_credentials_file_builds_both_clients(service_account_file: Path) -> None:
    source = BigQuerySource(warehouse(credentials_file=str(service_account_file)))
    try:
        client = source._client
        assert isinstance(client, bigquery.Client)
        assert (client.project, client.location) == ("my-shop-prod", "EU")
        email = client._credentials.service_account_email
        assert email == "syncd@my-shop-prod.iam.gserviceaccount.com"
        assert type(source._bqstorage).__name__ == "BigQueryReadClient"
    finally:
        source.close()


def test_application_default_credentials_follow_the_environment(
    service_account_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file))
    source = BigQuerySource(warehouse())
    try:
        email = source._client._credentials.service_account_email
        assert email == "syncd@my-shop-prod.iam.gserviceaccount.com"
    finally:
        source.close()


def test_missing_credentials_say_how_to_provide_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(SourceError, match="gcloud auth application-default login"):
        BigQuerySource(warehouse())
    with pytest.raises(SourceError, match=r"cannot use warehouse\.credentials_file"):
        BigQuerySource(warehouse(credentials_file=str(tmp_path / "absent.json")))


def test_importing_syncd_sources_does_not_import_the_sdks() -> None:
    code = (
        "import sys, syncd.sources, syncd.sources.bigquery_config, "
        "syncd.sources.snowflake_config\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('google.cloud', 'snowflake')))\n"
        "assert not heavy, heavy"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


# -- once wired into syncd.config (skipped until then) -----------------------------------------


def _wired() -> bool:
    from syncd.config import models

    return BigQueryWarehouse in typing.get_args(typing.get_args(models.Warehouse)[0])


@pytest.mark.skipif(
    not _wired(), reason="BigQueryWarehouse is not in syncd.config.models.Warehouse yet"
)
def test_the_credentials_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    from syncd.config import load_config

    data = {
        "warehouse": {"kind": "bigquery", "project": "my-shop-prod", "credentials_file": "sa.json"},
        "segments": {
            "people": {"sql": "select email from people", "identifiers": {"email": "email"}}
        },
        "destinations": {
            "meta": {"kind": "meta", "ad_account_id": "act_1000", "access_token": "${META_TOKEN}"}
        },
        "audiences": [{"segment": "people", "destination": "meta", "audience_id": "2385000001"}],
    }
    path = tmp_path / "syncd.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    config = load_config(path, environ={"META_TOKEN": "token-1234"})
    assert config.warehouse.credentials_file == tmp_path / "sa.json"


# -- timeouts and interrupts ----------------------------------------------------------------------


def test_a_reads_timeout_is_the_jobs() -> None:
    client = FakeClient(FakeJob(FakeRows([batch(EMAIL)])), FakeJob(FakeRows([batch(EMAIL)])))
    source = source_for(client)
    list(source.read(SQL, timeout_seconds=30))
    list(source.read(SQL))

    timed, untimed = (query.job_config for query in client.queries)
    assert timed.to_api_repr()["jobTimeoutMs"] == "30000"
    assert "jobTimeoutMs" not in untimed.to_api_repr()


def test_interrupt_cancels_the_running_job() -> None:
    job = FakeJob(runs_until_cancelled=True)
    source = source_for(FakeClient(job))
    failures: list[str] = []

    def read() -> None:
        with pytest.raises(SourceError) as caught:
            list(source.read(SQL, timeout_seconds=600))
        failures.append(str(caught.value))

    reader = threading.Thread(target=read)
    reader.start()
    while not job.result_calls:  # the job runs
        threading.Event().wait(0.01)
    source.interrupt()
    reader.join(20)

    assert failures and "the job was cancelled" in failures[0]
