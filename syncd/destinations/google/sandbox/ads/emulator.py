"""``GoogleAdsEmulator``: the Google Ads API as syncd uses it, for the real ``GoogleAdsClient``.

It wires the services (GAQL search, user lists, offline user data jobs, long-running
operations) into the TLS gRPC server and gives tests and the demo their levers: seed
customers and lists, read members, finish jobs; spend has its own (``spend_controls``), and
refusals on demand theirs (``controls``). State is per customer
and guarded by the server's lock; every read first moves jobs along the clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from syncd.destinations.google.sandbox.ads import jobs, search, user_lists
from syncd.destinations.google.sandbox.ads.controls import EmulatorControls
from syncd.destinations.google.sandbox.ads.errors import AdsError
from syncd.destinations.google.sandbox.ads.protos import Protos, protos
from syncd.destinations.google.sandbox.ads.server import GrpcServer, Handler
from syncd.destinations.google.sandbox.ads.spend_controls import SpendControls
from syncd.destinations.google.sandbox.ads.state import Account, Member, UserList
from syncd.destinations.google.sandbox.ads.tls import (
    issue_server_cert,
    sandbox_ca_file,
    trust_sandbox_ca,
)

if TYPE_CHECKING:
    from pathlib import Path

    from google.ads.googleads.client import GoogleAdsClient

__all__ = ["DEFAULT_CUSTOMER_ID", "GoogleAdsEmulator"]

DEFAULT_CUSTOMER_ID = "1234567890"
_JOBS = "OfflineUserDataJobService"


def _customer_in_name(request: Any) -> str:
    """``customers/{id}/...`` -> id (or "" so the header check reports a bad customer id)."""
    parts = str(request.resource_name).split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "customers" else ""


def _customer_field(request: Any) -> str:
    return str(request.customer_id)


class GoogleAdsEmulator(EmulatorControls, SpendControls, GrpcServer):
    """The Google Ads API over gRPC+TLS on 127.0.0.1, for ``GoogleAdsClient``.

    ``customers`` are the client accounts that exist (10-digit ids), ``test_customers`` the
    test accounts among them; a request for another one is refused with
    ``USER_PERMISSION_DENIED``. With ``access_token`` given requests must carry exactly that
    bearer token; without, any non-empty one is accepted. A ``developer-token`` header is
    ignored, as Google has ignored it since 2026-09-09. ``access_level`` is the Google Ads API
    access level of the caller's Cloud project (TEST, EXPLORER, BASIC, STANDARD): a TEST
    project reaching an account that is not a test account is refused with
    ``CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION`` (``ACTION_NOT_PERMITTED`` before v25).
    ``allowlisted=False`` makes Customer Match jobs fail with
    ``CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE``. A run job is RUNNING for ``job_delay``
    seconds, then SUCCESS with its members applied. ``match_rate_percentage`` of the members
    (a stable hash decides which) count as matched in the list sizes. ``trust`` points
    ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` at the sandbox CA on ``start`` (see ``tls``).
    """

    def __init__(
        self,
        *,
        customers: Iterable[str] = (DEFAULT_CUSTOMER_ID,),
        test_customers: Iterable[str] = (),
        access_token: str | None = None,
        access_level: str = "BASIC",
        allowlisted: bool = True,
        job_delay: float = 0.2,
        match_rate_percentage: int = 100,
        currency_code: str = "USD",
        port: int = 0,
        trust: bool = True,
    ) -> None:
        super().__init__(access_token=access_token, access_level=access_level, port=port)
        if not 0 <= match_rate_percentage <= 100:
            raise ValueError("match_rate_percentage is between 0 and 100")
        self.allowlisted = allowlisted
        self.job_delay = job_delay
        self.match_rate_percentage = match_rate_percentage
        self._trust = trust
        self._accounts: dict[str, Account] = {}
        self._ids = itertools.count(9_100_000_001)
        self._failures: deque[tuple[str, AdsError]] = deque()
        self._delays: deque[tuple[str, float]] = deque()
        for customer_id in customers:
            self.add_customer(customer_id, currency_code=currency_code)
        for customer_id in test_customers:
            self.add_customer(customer_id, currency_code=currency_code, test_account=True)
        self._default_customer = next(iter(self._accounts), DEFAULT_CUSTOMER_ID)
        self._register_services()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind 127.0.0.1 with a fresh certificate and serve; returns self."""
        if self._trust:
            trust_sandbox_ca()
        cert = issue_server_cert()
        self._start_server(cert.key_pem, cert.chain_pem)
        return self

    def __enter__(self) -> Self:
        return self.start() if not self.running else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ca_file(self) -> Path:
        """The PEM of the CA that signed the server certificate (one per process)."""
        return sandbox_ca_file()

    def client(
        self,
        *,
        developer_token: str | None = None,
        access_token: str = "sandbox-access-token",
        login_customer_id: str | None = None,
        version: str | None = None,
    ) -> GoogleAdsClient:
        """A real ``GoogleAdsClient`` for this emulator, built with no network at all.

        ``GoogleAdsClient.load_from_dict`` always refreshes OAuth credentials against
        accounts.google.com, so the client is built with its constructor instead, around a
        ``google.oauth2.credentials.Credentials`` that already holds a token (a credential
        with a token and no expiry is valid and never refreshed).
        """
        from google.ads.googleads.client import GoogleAdsClient
        from google.oauth2.credentials import Credentials

        return GoogleAdsClient(
            credentials=Credentials(token=access_token),  # type: ignore[no-untyped-call]
            developer_token=developer_token,
            endpoint=self.endpoint,
            login_customer_id=login_customer_id,
            version=version,
            use_proto_plus=True,
        )

    # -- test and demo helpers ---------------------------------------------------------------

    def add_customer(
        self, customer_id: str, *, currency_code: str = "USD", test_account: bool = False
    ) -> None:
        """Open a client account (a 10-digit id, no dashes), a test account if told so."""
        if not (len(customer_id) == 10 and customer_id.isdigit()):
            raise ValueError("a customer id is 10 digits without dashes")
        with self._lock:
            self._accounts.setdefault(
                customer_id, Account(customer_id, currency_code, test_account=test_account)
            )

    def add_user_list(
        self,
        name: str,
        *,
        customer_id: str | None = None,
        upload_key_type: str = "CONTACT_INFO",
        members: Iterable[Member] = (),
        user_list_id: int | None = None,
    ) -> int:
        """Create a CRM-based list as if made in the Google Ads UI; returns its id.

        ``user_list_id`` gives the list a chosen id (the demo uses the ids its Data Manager
        emulator knows: on Google one list has one id in both APIs)."""
        with self._lock:
            account = self._account(customer_id)
            if user_list_id is not None and user_list_id in account.user_lists:
                raise ValueError(f"user list {user_list_id} exists already")
            list_id = user_list_id if user_list_id is not None else next(self._ids)
            user_list = UserList(list_id, name, upload_key_type=upload_key_type)
            user_list.members.update(members)
            account.user_lists[user_list.id] = user_list
            return user_list.id

    def user_lists(self, customer_id: str | None = None) -> dict[int, str]:
        """The account's user lists: id -> name."""
        with self._lock:
            return {i: u.name for i, u in self._account(customer_id).user_lists.items()}

    def members(self, user_list_id: int, customer_id: str | None = None) -> set[Member]:
        """A copy of a list's members (after finishing due jobs); ``KeyError`` if unknown."""
        with self._lock:
            self._before_call()
            return set(self._account(customer_id).user_lists[int(user_list_id)].members)

    def jobs(self, customer_id: str | None = None) -> dict[int, str]:
        """The account's offline user data jobs: id -> status."""
        with self._lock:
            self._before_call()
            return {i: job.status for i, job in self._account(customer_id).jobs.items()}

    def finish_jobs(self) -> int:
        """Complete every RUNNING job now instead of after ``job_delay``; returns how many."""
        with self._lock:
            running = [
                job
                for account in self._accounts.values()
                for job in account.jobs.values()
                if job.status == "RUNNING"
            ]
            for account in self._accounts.values():
                account.advance(math.inf, 0.0)
            return len(running)

    # -- internals -------------------------------------------------------------------------

    def _account(self, customer_id: str | None) -> Account:
        return self._accounts[customer_id or self._default_customer]

    def _customer_known(self, customer_id: str) -> bool:
        return customer_id in self._accounts

    def _is_test_account(self, customer_id: str) -> bool:
        return self._accounts[customer_id].test_account

    def _before_call(self) -> None:
        now = time.monotonic()
        for account in self._accounts.values():
            account.advance(now, self.job_delay)

    def _new_id(self) -> int:
        return next(self._ids)

    def _operation_version(self, name: str) -> str | None:
        with self._lock:
            for account in self._accounts.values():
                for job in account.jobs.values():
                    if job.operation_name == name:
                        return job.version
        return None

    def _get_operation(self, request: Any) -> Any:
        account = self._accounts[request.name.split("/")[1]]
        return jobs.get_operation(protos, account, request.name)

    def _register_services(self) -> None:
        def search_one(messages: Protos, request: Any, request_id: str) -> tuple[Any, int]:
            account = self._accounts[request.customer_id]
            return search.search_pages(
                messages,
                account,
                request,
                match_rate=self.match_rate_percentage,
                today=dt.date.today(),
            )

        def search_stream(messages: Protos, request: Any, request_id: str) -> tuple[list[Any], int]:
            account = self._accounts[request.customer_id]
            batches = search.stream_batches(
                messages,
                account,
                request,
                request_id,
                match_rate=self.match_rate_percentage,
                today=dt.date.today(),
            )
            return batches, sum(len(batch.results) for batch in batches)

        def mutate_lists(messages: Protos, request: Any, request_id: str) -> tuple[Any, int]:
            account = self._accounts[request.customer_id]
            return user_lists.mutate_user_lists(
                messages, account, request, request_id, self._new_id
            )

        def create_job(messages: Protos, request: Any, request_id: str) -> tuple[Any, int]:
            account = self._accounts[request.customer_id]
            return jobs.create_job(
                messages, account, request, self._new_id, allowlisted=self.allowlisted
            )

        def add_operations(messages: Protos, request: Any, request_id: str) -> tuple[Any, int]:
            account = self._accounts[_customer_in_name(request)]
            return jobs.add_operations(
                messages, account, request, request_id, allowlisted=self.allowlisted
            )

        def run_job(messages: Protos, request: Any, request_id: str) -> tuple[Any, int]:
            account = self._accounts[_customer_in_name(request)]
            return jobs.run_job(
                messages, account, request, time.monotonic(), allowlisted=self.allowlisted
            )

        self.register_stream(
            "GoogleAdsService",
            "SearchStream",
            "stream_request",
            "search_stream",
            search_stream,
            _customer_field,
        )
        unary: list[tuple[str, str, str, str, Handler, Callable[[Any], str]]] = [
            ("GoogleAdsService", "Search", "search_request", "search", search_one, _customer_field),
            (
                "UserListService",
                "MutateUserLists",
                "mutate_user_lists_request",
                "mutate_user_lists",
                mutate_lists,
                _customer_field,
            ),
            (
                _JOBS,
                "CreateOfflineUserDataJob",
                "create_job_request",
                "create_job",
                create_job,
                _customer_field,
            ),
            (
                _JOBS,
                "AddOfflineUserDataJobOperations",
                "add_operations_request",
                "add_operations",
                add_operations,
                _customer_in_name,
            ),
            (
                _JOBS,
                "RunOfflineUserDataJob",
                "run_job_request",
                "run_job",
                run_job,
                _customer_in_name,
            ),
        ]
        for route in unary:
            self.register(*route)
