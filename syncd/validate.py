"""`syncd plan --validate`: the planned requests, checked by the network, applied nowhere.

A plan says what a sync would send; validation has the network read exactly those
requests (the Data Manager API's ``validateOnly``) and say whether it would take them:
a wrong list id, a missing permission, a malformed hash or a missing terms-of-service
acceptance shows up before anything changes. Nothing is journaled and the state is not
touched, so a validated plan is still the plan the next `sync` sends. Networks without a
validate-only mode (Meta, the Google Ads API path) say so instead of sending anything.
"""

from __future__ import annotations

import logging
import threading

from syncd.destinations import DestinationError
from syncd.destinations.base import MemberErrors
from syncd.destinations.registry import open_destination
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.plan import AudiencePlan

log = logging.getLogger("syncd")


def validate_plan(
    plan: AudiencePlan,
    *,
    retry_policy: RetryPolicy,
    stop: threading.Event,
) -> tuple[int, str]:
    """Send the plan's batches to its target with validate-only; return the requests sent
    and a one-line verdict. Raises DestinationError when the network refuses a request,
    naming the batch (and, for refused members, how many and why: never the values)."""
    target = plan.target
    if not target.capabilities.validates_only:
        return 0, "not validated: this network has no validate-only mode (nothing sent)"
    destination = open_destination(target.destination, validate_only=True)
    try:
        audience = target.audience
        list_id = audience.audience_id or destination.find_audience(audience.audience_name or "")
        if list_id is None:
            return 0, (
                f"not validated: there is no user list named {audience.audience_name!r} yet "
                "(`syncd sync` creates it)"
            )
        requests = 0
        for operation, push in (("remove", destination.remove), ("add", destination.add)):
            for number, chunk in enumerate(plan.changes.batches(operation, target.batch_size), 1):
                what = f"{target.name} {operation} batch {number} (validate only)"
                try:
                    call_with_retries(
                        lambda push=push, chunk=chunk: push(list_id, chunk),
                        retry_policy,
                        what,
                        sleep=stop.wait,
                    )
                except MemberErrors as refused:
                    reasons = ", ".join(sorted(set(refused.reasons.values())))
                    raise DestinationError(
                        refused.error_class,
                        f"{what}: Google would refuse {len(refused.indexes)} members ({reasons})",
                    ) from refused
                except DestinationError as refused:
                    raise DestinationError(refused.error_class, f"{what}: {refused}") from refused
                requests += 1
        return requests, f"validated by Google: {requests} requests accepted, nothing applied"
    finally:
        destination.close()
