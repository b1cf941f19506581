"""Each registered network as the conformance suite drives it: its emulator on 127.0.0.1, the
settings of a destination on it, what its audience holds and what it was sent, and its errors
armed with its emulator's own controls.

Every armed error is a row of the network's own error table (its `errors.py`): the suite then
checks that row against what the client makes of the emulator's answer. A network added to
the registry without a class here fails `tests/test_conformance.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from conftest import TOKEN

from syncd.destinations import ErrorClass
from syncd.destinations.google import ads_errors, dm_errors
from syncd.destinations.google.sandbox.ads import GoogleAdsEmulator
from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator
from syncd.destinations.google.sandbox.data_manager.errors import ApiError, error_response
from syncd.destinations.google.sandbox.data_manager.quota import Quota
from syncd.destinations.meta import errors as meta_errors
from syncd.destinations.meta.sandbox import MetaGraphEmulator
from syncd.destinations.meta.sandbox.errors import (
    FLAGGED_UPLOAD_BLOCKED,
    GraphError,
    graph_error,
    throttle_error,
)
from syncd.destinations.tiktok import errors as tiktok_errors
from syncd.destinations.tiktok.sandbox.emulator import TikTokEmulator
from syncd.sandbox.server import Fault, RequestRecord

__all__ = ["NETWORKS", "Armed", "Network"]

#: Each network's key for an identifier -> syncd's identifier column.
_COLUMNS = {
    "EMAIL": "email",
    "PHONE": "phone",
    "emailAddress": "email",
    "phoneNumber": "phone",
    "EMAIL_SHA256": "email",
    "PHONE_SHA256": "phone",
}
CUSTOMER = "1234567890"
ADVERTISER = "7000000000000000001"


@dataclass(frozen=True)
class Armed:
    """An error armed on an emulator: the class its row of the network's table gives it, and
    the row's words (a refusal's message must carry them: they hold the fix)."""

    error_class: ErrorClass
    meaning: str


class Network(ABC):
    """One network's emulator, started, with one audience that a destination syncs to."""

    kind: ClassVar[str]
    emulator: Any
    audience_id: str
    #: The destination's settings, without its access token (the suite adds it).
    settings: dict[str, Any]

    @abstractmethod
    def members(self) -> Iterable[Iterable[tuple[str, Any]]]:
        """The audience's members as the network holds them: (key, value) pairs each."""

    @abstractmethod
    def pushes(self) -> list[tuple[str, int]]:
        """Every member request the network applied, oldest first: ("add" or "remove", and
        how many members it carried)."""

    @abstractmethod
    def transient(self) -> Armed:
        """Fail the next member request with an error the table retries."""

    @abstractmethod
    def refusal(self) -> Armed:
        """Refuse member requests from now on, for a reason only a person can fix."""

    @abstractmethod
    def revoke_token(self) -> Armed:
        """Refuse the destination's token from now on."""

    @abstractmethod
    def throttle(self, seconds: float) -> float:
        """Answer the next member request with the network's rate-limit answer, asking for
        about `seconds`; returns the wait the network really asks for."""

    @abstractmethod
    def pending_faults(self) -> int:
        """Armed one-shot errors not yet answered."""

    def identifiers(self) -> set[tuple[str, str]]:
        """(column, hash) of every email and phone the audience holds."""
        return {
            (_COLUMNS[key], value)
            for member in self.members()
            for key, value in member
            if key in _COLUMNS
        }

    def emails(self) -> set[str]:
        return {value for column, value in self.identifiers() if column == "email"}

    @property
    def requests(self) -> list[RequestRecord]:
        return list(self.emulator.requests)

    def stop(self) -> None:
        self.emulator.stop()


def _from_log(records: list[RequestRecord], operations: dict[str, str]) -> list[tuple[str, int]]:
    """The member requests of an HTTP emulator's log, by its operation names."""
    return [
        (operations[record.operation], record.count)
        for record in records
        if record.status == 200 and record.operation in operations
    ]


def _armed(rule: Any) -> Armed:
    """A row of any network's table: each has its class and its words."""
    return Armed(rule.error_class, rule.meaning)


class Meta(Network):
    kind = "meta"

    def __init__(self) -> None:
        self.audience_id = "23850000000000001"
        self.emulator = MetaGraphEmulator([self.audience_id], TOKEN).start()
        self.settings = {
            "kind": "meta",
            "ad_account_id": "act_1000",
            "endpoint": self.emulator.base_url,
        }
        self._users = f"{self.audience_id}/users"

    def members(self) -> Iterable[Iterable[tuple[str, Any]]]:
        return self.emulator.members(self.audience_id)

    def pushes(self) -> list[tuple[str, int]]:
        return _from_log(self.requests, {"add": "add", "remove": "remove"})

    def transient(self) -> Armed:
        """Code 2: "temporary issue due to downtime", https://developers.facebook.com/docs/graph-api/guides/error-handling."""
        error = GraphError("An unexpected error has occurred.", code=2, status=503, transient=True)
        self.emulator.inject(Fault.error(503, body=graph_error(error).body), path=self._users)
        return _armed(meta_errors._RULES[(2, None)])

    def refusal(self) -> Armed:
        self.emulator.flag_audience(self.audience_id)
        return _armed(meta_errors._RULES[FLAGGED_UPLOAD_BLOCKED])

    def revoke_token(self) -> Armed:
        self.emulator.expire_token(463)
        return _armed(meta_errors._RULES[(190, 463)])

    def throttle(self, seconds: float) -> float:
        """Graph's own wait comes in its usage headers, in whole minutes (tested on a fake
        clock in test_meta_throttling.py); a Retry-After stands in for it here."""
        code, subcode = 80003, 2446079  # the custom_audience business use case
        assert code in meta_errors.THROTTLING_CODES
        body = graph_error(throttle_error(code, subcode)).body
        self.emulator.inject(Fault.error(400, retry_after=seconds, body=body), path=self._users)
        return seconds

    def pending_faults(self) -> int:
        return int(self.emulator.pending_faults())


class DataManager(Network):
    kind = "google_data_manager"
    _MEMBERS = "audienceMembers:"

    def __init__(self) -> None:
        self.audience_id = "9000001"
        self.emulator = DataManagerEmulator([self.audience_id], access_token=TOKEN).start()
        self.settings = {
            "kind": "google_data_manager",
            "operating_account_id": CUSTOMER,
            "endpoint": self.emulator.base_url,
            "requests_per_minute": 60_000,
            "settle_seconds": 5,
        }

    def members(self) -> Iterable[Iterable[tuple[str, Any]]]:
        return self.emulator.members(self.audience_id)

    def pushes(self) -> list[tuple[str, int]]:
        return _from_log(self.requests, {"ingest": "add", "remove": "remove"})

    def transient(self) -> Armed:
        """Google's 503 UNAVAILABLE, https://cloud.google.com/apis/design/errors#handling_errors."""
        error = ApiError(
            "The service is currently unavailable.",
            status=503,
            grpc_status="UNAVAILABLE",
            error_info=False,
        )
        body = error_response(error).body
        self.emulator.inject(Fault.error(503, body=body), path=self._MEMBERS)
        return _armed(dm_errors.STATUSES["UNAVAILABLE"])

    def refusal(self) -> Armed:
        self.emulator.eu_political_ads_declared = False
        return _armed(dm_errors.REASONS["EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED"])

    def revoke_token(self) -> Armed:
        self.emulator.set_access_token(f"rotated-{TOKEN}")
        return _armed(dm_errors.STATUSES["UNAUTHENTICATED"])

    def throttle(self, seconds: float) -> float:
        """The quota's own per-minute refusal, made `seconds` before its minute ends: its
        RetryInfo asks for exactly those (see the emulator's `quota`)."""
        try:
            Quota(requests_per_minute=0, clock=lambda: 60.0 - seconds).spend("IngestionMutate")
        except ApiError as error:
            answer = error_response(error)
        retry_after = float(answer.headers["Retry-After"])
        self.emulator.inject(
            Fault.error(429, retry_after=retry_after, body=answer.body), path=self._MEMBERS
        )
        return seconds

    def pending_faults(self) -> int:
        return int(self.emulator.pending_faults())


class GoogleAds(Network):
    kind = "google_ads"
    _CREATE_JOB = "CreateOfflineUserDataJob"

    def __init__(self) -> None:
        # Jobs finish at the next call that looks (job_delay 0): no poll waits its second.
        self.emulator = GoogleAdsEmulator(customers=[CUSTOMER], access_token=TOKEN, job_delay=0.0)
        self.emulator.start()
        self.audience_id = str(self.emulator.add_user_list("shoppers", customer_id=CUSTOMER))
        self.settings = {
            "kind": "google_ads",
            "customer_id": CUSTOMER,
            "endpoint": self.emulator.endpoint,
        }

    def members(self) -> Iterable[Iterable[tuple[str, Any]]]:
        return self.emulator.members(int(self.audience_id))

    def pushes(self) -> list[tuple[str, int]]:
        return list(self.emulator.uploads())

    def transient(self) -> Armed:
        """InternalError TRANSIENT_ERROR, https://developers.google.com/google-ads/api/reference/rpc/v25/InternalErrorEnum.InternalError."""
        self.emulator.fail_next(
            "internal_error",
            "TRANSIENT_ERROR",
            "The request failed due to a transient server error. Retry.",
            path=self._CREATE_JOB,
        )
        return _armed(ads_errors.RULES[("internal_error", "*")])

    def refusal(self) -> Armed:
        self.emulator.allowlisted = False
        rule = ("not_allowlisted_error", "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE")
        return _armed(ads_errors.RULES[rule])

    def revoke_token(self) -> Armed:
        self.emulator.set_access_token(f"rotated-{TOKEN}")
        return _armed(ads_errors.RULES[("authentication_error", "*")])

    def throttle(self, seconds: float) -> float:
        """QuotaError RESOURCE_TEMPORARILY_EXHAUSTED with its retry_delay,
        https://developers.google.com/google-ads/api/reference/rpc/v25/QuotaErrorDetails."""
        self.emulator.fail_next(
            "quota_error",
            "RESOURCE_TEMPORARILY_EXHAUSTED",
            "Too many requests in a short amount of time.",
            path=self._CREATE_JOB,
            retry_delay=seconds,
        )
        return seconds

    def pending_faults(self) -> int:
        return int(self.emulator.pending_failures())


class TikTok(Network):
    kind = "tiktok"
    _MAPPING = "/segment/mapping/"

    def __init__(self) -> None:
        # The Basic level's budget every app starts at: syncd paces to it, so no scenario
        # but throttling's (`exhaust_budget`) meets code 40100.
        self.emulator = TikTokEmulator(TOKEN, advertisers=[ADVERTISER], level="basic")
        self.emulator.start()
        self.audience_id = self.emulator.add_audience(advertiser=ADVERTISER, name="shoppers")
        self.settings = {
            "kind": "tiktok",
            "advertiser_id": ADVERTISER,
            "endpoint": self.emulator.base_url,
        }

    def members(self) -> Iterable[Iterable[tuple[str, Any]]]:
        return [[pair] for pair in self.emulator.members(self.audience_id)]

    def pushes(self) -> list[tuple[str, int]]:
        """TikTok's log counts identifiers: the same as members of one email each."""
        return _from_log(self.requests, {"mapping_add": "add", "mapping_delete": "remove"})

    def transient(self) -> Armed:
        self.emulator.fail_next(50002, path=self._MAPPING)
        return _armed(tiktok_errors.CODES[50002])

    def refusal(self) -> Armed:
        self.emulator.deny(ADVERTISER)
        return _armed(tiktok_errors.CODES[40001])

    def revoke_token(self) -> Armed:
        self.emulator.revoke_token()
        return _armed(tiktok_errors.CODES[40105])

    def throttle(self, seconds: float) -> float:
        """The app's spent budget: code 40100, which carries no wait of its own, so the table
        waits the second TikTok counts in (`RATE_LIMIT_WAIT`) whatever `seconds` says."""
        self.emulator.exhaust_budget()
        return tiktok_errors.RATE_LIMIT_WAIT

    def pending_faults(self) -> int:
        return int(self.emulator.pending_failures())


NETWORKS: dict[str, type[Network]] = {
    network.kind: network for network in (Meta, DataManager, GoogleAds, TikTok)
}
