"""BigQuery warehouse: a segment runs as a query job, and its result streams as Arrow.

Credentials follow Google's convention, Application Default Credentials (ADC), unless
`warehouse.credentials_file` names a key: GOOGLE_APPLICATION_CREDENTIALS, then the user
credentials of `gcloud auth application-default login`, then the service account attached to
the VM, GKE pod (workload identity) or Cloud Run service. The file, when set, may be a
service-account key or a workload-identity-federation config; google-auth reads either.

The principal needs roles/bigquery.jobUser on `project` (to run jobs),
roles/bigquery.readSessionUser on it (to stream results through the Storage Read API) and
roles/bigquery.dataViewer on the datasets the segments read. BigQuery has no read-only job:
those roles, without write roles, are what keep a segment from writing.

Cost. A query job bills the bytes it processes (on-demand pricing), whatever it returns;
`maximum_bytes_billed` makes a query that would bill more fail before it runs, free, and
`estimate` is a dry run (free) that `syncd plan` can show. Repeated identical queries on
unchanged tables are served from BigQuery's cache, free. Reading the result through the
Storage Read API is priced on its own line of Google's price list.

Streaming and memory. `job.result()` waits for the job; `to_arrow_iterable` then reads the
result table: small results come inline with the first page, larger ones through the Storage
Read API, at most `max_read_streams` streams in parallel sharing a queue of one page per
stream, so memory stays bounded whatever the result's size. The Storage Read API resumes a
broken stream at its offset by itself.

Retries. The BigQuery client retries each HTTP request for at most REQUEST_RETRY_SECONDS. When
the job itself fails transiently (BigQuery's backendError, internalError, rateLimitExceeded;
HTTP 429, 500, 502, 503, 504) before any row was handed on, syncd runs the query again, up to
`attempts` times in all, waiting between attempts with google.api_core's truncated
exponential backoff with jitter. After the first batch a failure is final for this pass: a
replay would hand rows on twice. The next sync starts over.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Generator, Iterator
from types import ModuleType
from typing import Any

import pyarrow as pa

from syncd.sources.base import SourceError, redact_literals
from syncd.sources.bigquery_config import BigQueryWarehouse

log = logging.getLogger(__name__)

#: Runs of one query in all, when its job fails transiently before any row was handed on.
QUERY_ATTEMPTS = 3
#: google.api_core's backoff: waits drawn from [0, 2 s], then [0, 4 s]..., at most 30 s.
BACKOFF_INITIAL_SECONDS = 2.0
BACKOFF_MAXIMUM_SECONDS = 30.0
#: How long the client keeps retrying one HTTP request (the library's default is 10 min).
REQUEST_RETRY_SECONDS = 120.0
#: Storage Read API streams read in parallel: each is a thread with one page queued.
MAX_READ_STREAMS = 4
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
INSTALL_HINT = "install the BigQuery extra: pip install 'syncd[bigquery]'"

#: BigQuery's error reasons that a new run of the same query may get past.
_TRANSIENT_REASONS = frozenset(
    {
        "backendError",
        "internalError",
        "rateLimitExceeded",
        "jobBackendError",
        "jobInternalError",
        "jobRateLimitExceeded",
    }
)
_BYTES_BILLED = re.compile(r"exceeded limit for bytes billed", re.IGNORECASE)
#: GoogleSQL writes string literals in double quotes too, so those go like single-quoted ones.
_DOUBLE_QUOTED = re.compile(r'"[^"]*"')
#: Cast errors name the bad value unquoted: "Bad int64 value: alice@example.com".
_UNQUOTED_VALUE = re.compile(r"(\bvalue:\s*)[^;]*", re.IGNORECASE)

_PERMISSION_FIX = (
    "the credentials lack a permission: grant roles/bigquery.jobUser and "
    "roles/bigquery.readSessionUser on project {project}, and roles/bigquery.dataViewer on "
    "the datasets the segment reads"
)
#: What to do about an error, by BigQuery's error reason (errors[0]["reason"]): more precise
#: than the HTTP status (a quota and a permission problem are both 403).
_REASON_FIXES = {
    "bytesBilledLimitExceeded": "the query would bill more than warehouse.maximum_bytes_billed "
    "({limit} bytes) and did not run, at no cost: make the segment SQL read less (only the "
    "columns it needs, a filter on the partitioning column) or raise the limit; `syncd plan` "
    "shows the estimate",
    "accessDenied": _PERMISSION_FIX,
    "billingNotEnabled": "billing is not enabled on project {project}: enable it in the "
    "Google Cloud console, or use a project that has it",
    "notFound": "a project, dataset or table the segment names does not exist, or is in "
    "another location than warehouse.location ({location}): check the names "
    "(`project.dataset.table`) and the location",
    "invalidQuery": "fix the segment SQL (GoogleSQL, one query returning one row per person)",
    "invalid": "fix the segment SQL (GoogleSQL, one query returning one row per person)",
    "quotaExceeded": "a BigQuery quota of project {project} is used up; wait for it to "
    "refill or ask for more (IAM & Admin > Quotas); the next sync tries again",
    "resourcesExceeded": "the query needs more resources than BigQuery gives one query: "
    "simplify it (no ORDER BY over the whole result, fewer large joins)",
    "responseTooLarge": "the result is too large for a query result: select fewer columns",
    "stopped": "the job was cancelled; the next sync tries again",
    "timeout": "the query ran past its timeout (segments.NAME.timeout_seconds, else "
    "warehouse.statement_timeout_seconds): make the segment SQL cheaper or raise the timeout",
}
_TRANSIENT_FIX = "BigQuery failed for a moment (HTTP {status}, {reason}); the next sync tries again"


class BigQuerySource:
    """Reads segments from BigQuery. A missing or refused credential fails at once; query
    errors fail at the first batch, each with its fix."""

    def __init__(
        self,
        config: BigQueryWarehouse,
        client: Any | None = None,
        *,
        bqstorage_client: Any | None = None,
        attempts: int = QUERY_ATTEMPTS,
        max_read_streams: int = MAX_READ_STREAMS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`client` is a google.cloud.bigquery.Client, or an object with its `query`
        method; without one, syncd builds the client and a Storage Read API client from
        the config's credentials. With one, pass `bqstorage_client` to read through the
        Storage Read API; without it, results are paged over REST (slower)."""
        if attempts < 1 or max_read_streams < 1:
            raise ValueError("attempts and max_read_streams must be positive")
        self._config = config
        self._bigquery = _import("google.cloud.bigquery")
        self._exceptions = _import("google.api_core.exceptions")
        self._retry = _import("google.api_core.retry")
        self._auth_exceptions = _import("google.auth.exceptions")
        self._errors: tuple[type[BaseException], ...] = (
            self._exceptions.GoogleAPIError,
            self._auth_exceptions.GoogleAuthError,
        )
        self._attempts = attempts
        self._max_read_streams = max_read_streams
        self._sleep = sleep
        self._request_retry = self._bigquery.DEFAULT_RETRY.with_timeout(REQUEST_RETRY_SECONDS)
        self._owns_clients = client is None
        if client is None:
            client, bqstorage_client = self._make_clients()
        self._client = client
        self._bqstorage = bqstorage_client
        self._active: Generator[pa.RecordBatch, None, None] | None = None
        self._job: Any | None = None  # the running query job, for `interrupt`

    # -- the Source protocol --------------------------------------------------------------------

    def read(self, sql: str, timeout_seconds: int | None = None) -> Iterator[pa.RecordBatch]:
        """Run `sql` as a query job and stream its result; an empty result gives one empty
        batch with the columns. With `timeout_seconds`, BigQuery stops the job past it
        (job_timeout_ms). Starting a read ends an unfinished earlier one."""
        if self._active is not None:
            self._active.close()
        self._active = self._read(sql, timeout_seconds)
        return self._active

    def interrupt(self) -> None:
        """Cancel the running job: BigQuery stops it (and its billing), and the wait for
        its result ends with the job's "stopped" error."""
        job = self._job
        if job is None:
            return
        try:
            job.cancel(retry=self._request_retry)
        except self._errors as exc:
            log.warning("BigQuery: could not cancel the query job: %s", self._problem(exc)[0])

    def estimate(self, sql: str) -> int:
        """Bytes the query would process, from a dry run: free, and nothing runs. What
        on-demand pricing bills, before rounding up to 10 MB per table read and unless the
        result is cached; clustering can make the real figure lower."""
        job = self._with_retries(
            lambda: self._client.query(
                sql,
                job_config=self.job_config(dry_run=True),
                location=self._config.location,
                retry=self._request_retry,
                job_retry=None,
            ),
            "the dry run",
        )
        return int(job.total_bytes_processed or 0)

    def close(self) -> None:
        if self._active is not None:
            self._active.close()
        if self._owns_clients:
            self._client.close()
            if self._bqstorage is not None:
                self._bqstorage.transport.close()

    def job_config(self, *, dry_run: bool = False, timeout_seconds: int | None = None) -> Any:
        """The QueryJobConfig of every segment query: the cost guard, the labels, and the
        read's timeout."""
        config = self._bigquery.QueryJobConfig(
            dry_run=dry_run,
            use_query_cache=not dry_run,  # a dry run estimates the full cost, cache or not
            use_legacy_sql=False,
            labels=dict(self._config.job_labels),
        )
        if self._config.maximum_bytes_billed is not None:
            # Only then: the setter stores str(value), so None would go out as "None".
            config.maximum_bytes_billed = self._config.maximum_bytes_billed
        if timeout_seconds is not None:
            config.job_timeout_ms = timeout_seconds * 1000
        return config

    # -- reading --------------------------------------------------------------------------------

    def _read(self, sql: str, timeout: int | None) -> Generator[pa.RecordBatch, None, None]:
        rows, batches, first = self._with_retries(lambda: self._start(sql, timeout))
        try:
            if first is None:  # no page at all: still name the columns
                names = [field.name for field in rows.schema or ()]
                yield pa.RecordBatch.from_pylist([], pa.schema([(n, pa.string()) for n in names]))
                return
            yield first
            try:
                yield from batches
            except self._errors as exc:
                message, _ = self._problem(exc)
                raise SourceError(f"reading the result failed: {message}") from None
        finally:
            close = getattr(batches, "close", None)
            if close is not None:  # stops the Storage Read API's download threads
                close()

    def _start(
        self, sql: str, timeout: int | None
    ) -> tuple[Any, Iterator[pa.RecordBatch], pa.RecordBatch | None]:
        """Run the job, wait for it, and take the first batch: everything before a row is
        handed on, so everything that may be retried as a whole."""
        job = self._client.query(
            sql,
            job_config=self.job_config(timeout_seconds=timeout),
            location=self._config.location,
            retry=self._request_retry,
            job_retry=None,  # syncd retries whole jobs itself, a bounded number of times
        )
        self._job = job
        rows = job.result(retry=self._request_retry, job_retry=None)
        batches = iter(
            rows.to_arrow_iterable(
                bqstorage_client=self._bqstorage, max_stream_count=self._max_read_streams
            )
        )
        return rows, batches, next(batches, None)

    def _with_retries(self, call: Callable[[], Any], what: str = "the query") -> Any:
        delays = self._retry.exponential_sleep_generator(
            BACKOFF_INITIAL_SECONDS, BACKOFF_MAXIMUM_SECONDS
        )
        for attempt in range(1, self._attempts + 1):
            try:
                return call()
            except self._errors as exc:
                message, transient = self._problem(exc)
                if not transient or attempt == self._attempts:
                    tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise SourceError(f"{what} failed: {message}{tries}") from None
                wait = next(delays)
                log.warning("BigQuery: %s; trying again in %.1fs", message, wait)
                self._sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")

    # -- clients ----------------------------------------------------------------------------

    def _make_clients(self) -> tuple[Any, Any]:
        auth = _import("google.auth")
        storage = _import("google.cloud.bigquery_storage")
        config = self._config
        try:
            if config.credentials_file is not None:
                credentials, _ = auth.load_credentials_from_file(
                    str(config.credentials_file), scopes=SCOPES
                )
            else:
                credentials, _ = auth.default(scopes=SCOPES)
        except self._auth_exceptions.DefaultCredentialsError as exc:
            raise SourceError(_credentials_problem(config, exc)) from None
        client = self._bigquery.Client(
            project=config.project, credentials=credentials, location=config.location
        )
        return client, storage.BigQueryReadClient(credentials=credentials)

    # -- errors -----------------------------------------------------------------------------

    def _problem(self, exc: BaseException) -> tuple[str, bool]:
        """An error said with its fix and without values, and whether a new run may help."""
        exceptions, auth = self._exceptions, self._auth_exceptions
        if isinstance(exc, exceptions.RetryError) and exc.cause is not None:
            message, transient = self._problem(exc.cause)
            return f"{message} (gave up after {REQUEST_RETRY_SECONDS:.0f}s of retries)", transient
        detail = _scrub(getattr(exc, "message", None) or str(exc))
        job = getattr(getattr(exc, "query_job", None), "job_id", None)
        where = f" [job {job}]" if job else ""
        reason = _reason(exc)
        facts = {
            "project": self._config.project,
            "location": self._config.location or "unset",
            "limit": self._config.maximum_bytes_billed,
        }
        if reason == "bytesBilledLimitExceeded" or _BYTES_BILLED.search(detail):
            fix = _REASON_FIXES["bytesBilledLimitExceeded"].format(**facts)
            return f"{detail}{where}; {fix}", False
        if isinstance(exc, auth.RefreshError | exceptions.Unauthorized):
            fix = "Google refused the credentials: check warehouse.credentials_file or the "
            fix += "Application Default Credentials, and that the key is not disabled"
            return f"{detail}; {fix}", bool(getattr(exc, "retryable", False))
        if isinstance(exc, auth.TransportError):
            return f"{detail}; cannot reach Google to get a token: check the network", True
        transient = reason in _TRANSIENT_REASONS or (
            reason is None and isinstance(exc, exceptions.TooManyRequests | exceptions.ServerError)
        )
        if transient:
            status = getattr(exc, "code", None) or "?"
            fix = _TRANSIENT_FIX.format(status=status, reason=reason or type(exc).__name__)
            return f"{detail}{where}; {fix}", True
        fix = (_REASON_FIXES.get(reason or "") or _fix_by_class(exc, exceptions)).format(**facts)
        return f"{detail}{where}; {fix}", False


def _fix_by_class(exc: BaseException, exceptions: ModuleType) -> str:
    if isinstance(exc, exceptions.Forbidden):
        return _PERMISSION_FIX
    if isinstance(exc, exceptions.NotFound):
        return _REASON_FIXES["notFound"]
    if isinstance(exc, exceptions.BadRequest):
        return _REASON_FIXES["invalidQuery"]
    return "check the segment SQL and the warehouse settings"


def _reason(exc: BaseException) -> str | None:
    """BigQuery's own error reason, when the error carries one (REST errors do)."""
    errors = getattr(exc, "errors", None)
    if errors and isinstance(errors[0], dict):
        reason = errors[0].get("reason")
        return str(reason) if reason else None
    return None


def _scrub(message: str) -> str:
    """One line, without the job footer the client appends, and without the values
    BigQuery quotes (or does not quote, in cast errors)."""
    message = message.split("\n\nLocation:")[0]
    message = " ".join(message.split())
    message = _DOUBLE_QUOTED.sub('"…"', redact_literals(message))
    return _UNQUOTED_VALUE.sub(r"\1…", message)


def _credentials_problem(config: BigQueryWarehouse, exc: BaseException) -> str:
    if config.credentials_file is not None:
        return (
            f"cannot use warehouse.credentials_file {config.credentials_file}: {_scrub(str(exc))}"
            "; it must be a service-account key or workload-identity-federation JSON file"
        )
    return (
        "no Google credentials found: set warehouse.credentials_file, or "
        "GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`; "
        "on Google Cloud, attach a service account to the VM, pod or service"
    )


def _import(name: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise SourceError(f"warehouse.kind bigquery needs {name}: {INSTALL_HINT}") from None
