"""Meta Custom Audiences through the Graph API, with the facebook-business SDK.

Removals go as a POST with ``method=DELETE`` and the payload in the body: the SDK's own
DELETE puts the payload in the query string, and 10,000 hashes make a ~700 KB URL that
HTTP front ends refuse, which would force tiny removal batches.

Every call -- the SDK's own (audience lists, creation, cursors) and ours -- goes through
``_ObservedApi``, which waits out the ad account's pause before it and reports the usage
headers of its answer, success or error, to the ad account's pacer (``syncd.pacing``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pyarrow as pa
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.customaudience import CustomAudience
from facebook_business.api import FacebookAdsApi, FacebookResponse
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from syncd.destinations.base import MATCHED, Client, DestinationError, ErrorClass, PushResult
from syncd.destinations.meta.errors import ReplaceNotAllowed, classify, flagged
from syncd.destinations.meta.form import FormSession
from syncd.destinations.meta.schema import CAPABILITIES, form_payload
from syncd.destinations.meta.settings import MetaDestination as MetaConfig
from syncd.destinations.meta.throttle import parse_usage
from syncd.destinations.meta.version import GRAPH_API_VERSION
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.pacing import Pacer, shared_pacer

__all__ = ["MetaCustomAudiences"]

log = logging.getLogger(__name__)

_DESCRIBE_FIELDS = (
    CustomAudience.Field.name,
    CustomAudience.Field.approximate_count_lower_bound,
    CustomAudience.Field.approximate_count_upper_bound,
    CustomAudience.Field.operation_status,
    CustomAudience.Field.delivery_status,
)
_FLAGGED = 471
_T = TypeVar("_T")


class _ObservedApi(FacebookAdsApi):
    """The SDK's API object, with the pacer before every call and after every answer."""

    def __init__(
        self,
        session: FacebookSession,
        api_version: str,
        pacer: Pacer,
        sleep: Callable[[float], object],
    ) -> None:
        super().__init__(session, api_version=api_version)
        self.pacer = pacer
        self._sleep = sleep

    def call(self, method: str, path: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.pacer.wait_for_resume(self._sleep)
        try:
            response = super().call(method, path, params, *args, **kwargs)
        except FacebookRequestError as error:
            self._report(error.http_headers())
            raise
        self._report(response.headers())
        return response

    def _report(self, headers: Any) -> None:
        usage = parse_usage(dict(headers or {}))
        if usage is not None:
            self.pacer.reported(usage.percent, usage.regain_seconds)


class MetaCustomAudiences(Client):
    """Customer-list custom audiences of one ad account.

    ``sleep`` is what every wait uses (the ad account's pauses, and retries inside
    ``replace``); ``pacer`` is the ad account's, shared by every client of it (by default
    the process's, ``syncd.pacing.shared_pacer``);
    ``retry_policy`` is the policy for the batches of a replace session, which must be
    retried inside the session rather than by starting a new one.
    """

    capabilities = CAPABILITIES

    def __init__(
        self,
        config: MetaConfig,
        *,
        sleep: Callable[[float], object] = time.sleep,
        pacer: Pacer | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        session = FacebookSession(
            access_token=config.access_token.get_secret_value(), timeout=config.timeout_seconds
        )
        session.GRAPH = config.endpoint.rstrip("/")
        session.requests = FormSession.like(session.requests)
        self.pacer = pacer or shared_pacer(config.quota_owner, config.paced(CAPABILITIES.pace))
        version = config.api_version or GRAPH_API_VERSION
        self._api = _ObservedApi(session, version, self.pacer, sleep)
        self._account_id = config.ad_account_id
        self._sleep = sleep
        self._retry_policy = retry_policy or RetryPolicy()

    # -- the Destination protocol ----------------------------------------------------------

    def add(self, audience_id: str, members: pa.Table) -> PushResult:
        return _applied(self._push(audience_id, "users", self._params(members)), members)

    def remove(self, audience_id: str, members: pa.Table) -> PushResult:
        params = {"method": "DELETE", **self._params(members)}
        return _applied(self._push(audience_id, "users", params), members)

    def close(self) -> None:
        self._api._session.requests.close()

    # -- audiences -------------------------------------------------------------------------

    def ad_account(self) -> AdAccount:
        """The ad account as an SDK object on this client's API: its calls (Insights, ad
        sets) go through the same pacer as the audience edits."""
        return AdAccount(self._account_id, api=self._api)

    def find_audience(self, name: str) -> str | None:
        """The id of the customer-list audience called exactly ``name`` on the ad account,
        or None. With several, the oldest wins. Reads only."""
        subject = f"Meta ad account {self._account_id}"
        return self.read(subject, lambda: self._find_audience(name, subject))

    def read(self, subject: str, fetch: Callable[[], _T]) -> _T:
        """Run SDK reads (cursors and their further pages included) with this client's
        error classes: a refusal or a dropped connection becomes a ``DestinationError``."""
        try:
            return fetch()
        except FacebookRequestError as error:
            raise classify(error, subject) from None
        except requests.RequestException as error:
            raise _unreachable(error) from None

    def _find_audience(self, name: str, subject: str) -> str | None:
        listed = self.ad_account().get_custom_audiences(
            fields=[
                CustomAudience.Field.id,
                CustomAudience.Field.name,
                CustomAudience.Field.subtype,
            ],
            params={
                "filtering": [{"field": "name", "operator": "CONTAIN", "value": name}],
                "limit": 100,
            },
        )
        ids = [
            str(audience["id"])
            for audience in listed  # the cursor fetches further pages as it goes
            if audience.get("name") == name and audience.get("subtype", "CUSTOM") == "CUSTOM"
        ]
        if len(ids) > 1:
            log.warning("%s: %d audiences share one name; using the oldest", subject, len(ids))
        return min(ids, key=int) if ids else None

    def ensure_audience(self, name: str, description: str) -> str:
        """The id of the customer-list audience called exactly ``name`` on the ad account,
        created (USER_PROVIDED_ONLY) when there is none. With several, the oldest wins."""
        subject = f"Meta ad account {self._account_id}"
        try:
            found = self._find_audience(name, subject)
            if found is not None:
                return found
            created = self.ad_account().create_custom_audience(
                params={
                    "name": name,
                    "subtype": CustomAudience.Subtype.custom,
                    "description": description,
                    "customer_file_source": CustomAudience.CustomerFileSource.user_provided_only,
                }
            )
        except FacebookRequestError as error:
            raise classify(error, subject) from None
        except requests.RequestException as error:
            raise _unreachable(error) from None
        log.info("%s: created a customer-list audience", subject)
        return str(created["id"])

    def describe(self, audience_id: str) -> dict[str, object]:
        """Size and status of an audience, for the run record. A 471-flagged audience
        raises FAIL_AUDIENCE with Meta's policy and the fix."""
        subject = f"Meta audience {audience_id}"
        body = self._call("GET", (audience_id,), {"fields": ",".join(_DESCRIBE_FIELDS)}, subject)
        operation = body.get("operation_status") or {}
        delivery = body.get("delivery_status") or {}
        if operation.get("code") == _FLAGGED:
            raise flagged(subject, str(operation.get("description", "")))
        # Meta's audience size is of the people it matched, as a range (each bound -1 when
        # the audience is too small to say): its middle is the matched count (MATCHED).
        bounds = [
            bound
            for bound in (
                body.get("approximate_count_lower_bound"),
                body.get("approximate_count_upper_bound"),
            )
            if isinstance(bound, int) and bound >= 0
        ]
        return {
            MATCHED: round(sum(bounds) / len(bounds)) if bounds else None,
            "approximate_count_lower_bound": body.get("approximate_count_lower_bound"),
            "approximate_count_upper_bound": body.get("approximate_count_upper_bound"),
            "operation_status_code": operation.get("code"),
            "operation_status_description": operation.get("description"),
            "delivery_status_code": delivery.get("code"),
        }

    def replace(
        self, audience_id: str, batches: Iterable[pa.Table], total: int
    ) -> list[PushResult]:
        """Make the audience exactly ``batches`` in one usersreplace session: members not
        re-sent are dropped when the last batch lands. Raises ``ReplaceNotAllowed`` when
        Meta will not replace this audience (nothing changed: add and remove instead)."""
        subject = f"Meta audience {audience_id}"
        tables = (table for table in batches if table.num_rows)
        current = next(tables, None)
        if current is None:
            raise ReplaceNotAllowed(
                f"{subject}: no members to replace with; remove its members instead",
                reason="empty replacement",
            )
        session_id = secrets.randbits(63)  # a random positive int64, as Graph's ids are
        results: list[PushResult] = []
        sequence = 0
        while current is not None:
            following = next(tables, None)
            sequence += 1
            params = self._params(current)
            params["session"] = {
                "session_id": session_id,
                "batch_seq": sequence,
                "last_batch_flag": following is None,
                "estimated_num_total": total,
            }
            send = functools.partial(self._push, audience_id, "usersreplace", params, replace=True)
            what = f"{subject} replace batch {sequence}"
            results.append(call_with_retries(send, self._retry_policy, what, sleep=self._sleep))
            current = following
        return results

    # -- requests ----------------------------------------------------------------------------

    def _params(self, members: pa.Table) -> dict[str, object]:
        """Payload and a one-batch session: each add or remove stands alone."""
        session = {
            "session_id": secrets.randbits(63),
            "batch_seq": 1,
            "last_batch_flag": True,
            "estimated_num_total": members.num_rows,
        }
        return {"payload": form_payload(members), "session": session}

    def _push(
        self, audience_id: str, edge: str, params: dict[str, object], *, replace: bool = False
    ) -> PushResult:
        subject = f"Meta audience {audience_id}"
        body = self._call("POST", (audience_id, edge), params, subject, replace=replace)
        # invalid_entry_samples can hold the very values sent: counted, never read or kept.
        session_id = body.get("session_id")
        return PushResult(
            received=int(body.get("num_received", 0)),
            invalid=int(body.get("num_invalid_entries", 0)),
            request_id=str(session_id) if session_id is not None else None,
        )

    def _call(
        self,
        method: str,
        path: tuple[str, ...],
        params: dict[str, object],
        subject: str,
        *,
        replace: bool = False,
    ) -> dict[str, Any]:
        try:
            response: FacebookResponse = self._api.call(method, path, params)
        except FacebookRequestError as error:
            raise classify(error, subject, replace=replace) from None
        except requests.RequestException as error:
            raise _unreachable(error) from None
        body = response.json()
        if not isinstance(body, dict):  # the SDK passes any non-error body through as success
            raise DestinationError(ErrorClass.RETRY, f"{subject}: unreadable response body")
        return body


def _applied(result: PushResult, members: pa.Table) -> PushResult:
    """An edit's acknowledgment, with the rows Meta says it did not take: `num_received`
    counts the rows it received, invalid ones included
    (https://developers.facebook.com/docs/marketing-api/reference/custom-audience/users/),
    so fewer than were sent (or none, for a removal answered with 0) means the rest were
    not applied, whatever the 200 says."""
    return dataclasses.replace(result, unapplied=max(0, members.num_rows - result.received))


def _unreachable(error: requests.RequestException) -> DestinationError:
    return DestinationError(ErrorClass.RETRY, f"Graph API unreachable: {type(error).__name__}")
