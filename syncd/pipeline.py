"""One sync pass: for every audience, read -> identity -> diff -> push -> commit.

Audiences fail alone: a broken query or a refused token stops that audience with its
reason, and the others still sync. A segment feeding several audiences of one network is
read and hashed once per pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from syncd.config.models import Audience, SyncdConfig
from syncd.destinations import (
    Destination,
    DestinationError,
    PushResult,
    capabilities_of,
    open_destination,
)
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.plan import AudiencePlan, SegmentMembers, plan_audience, read_segment
from syncd.sources import Source, SourceError, open_source
from syncd.state import AudienceRef, StateStore

log = logging.getLogger("syncd")


@dataclass
class AudienceResult:
    """What one audience's pass did, in counts only: this is printed, logged and stored."""

    audience: str
    network: str
    audience_id: str
    status: str = "ok"
    rows_read: int = 0
    invalid: dict[str, int] = field(default_factory=dict)
    members: int = 0
    held_before: int = 0
    adds: int = 0
    removes: int = 0
    requests: int = 0
    rejected_by_network: int = 0
    request_ids: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> dict[str, object]:
        return asdict(self)

    def count_request(self) -> None:
        self.requests += 1


def sync_all(
    config: SyncdConfig,
    *,
    apply: bool = True,
    allow_mass_removal: bool = False,
    only: Callable[[Audience], bool] = lambda audience: True,
    retry_policy: RetryPolicy | None = None,
) -> list[AudienceResult]:
    """Plan every selected audience and, when `apply`, push its changes. Raises SourceError
    only when the warehouse itself cannot be opened; a failing segment fails its audiences."""
    policy = retry_policy or RetryPolicy()
    results = []
    segments: dict[tuple[str, str], SegmentMembers | SourceError] = {}
    source: Source | None = None
    with StateStore(config.state.path) as state:
        recovery = state.recover()
        if recovery.interrupted_runs or recovery.batches_in_flight:
            log.warning(
                "a previous pass was interrupted (%d runs, %d batches in flight); "
                "their members are re-sent or removed as the segments now say",
                recovery.interrupted_runs,
                recovery.batches_in_flight,
            )
        try:
            for audience in filter(only, config.audiences):
                capabilities = capabilities_of(config.destinations[audience.destination])
                result = AudienceResult(
                    audience.name, capabilities.network.value, audience.audience_id
                )
                results.append(result)
                key = (audience.segment, capabilities.network.value)
                if key not in segments:
                    source = source or open_source(config.warehouse)
                    segments[key] = _read(source, config, audience)
                segment = segments[key]
                if isinstance(segment, SourceError):
                    result.status, result.error = "failed", str(segment)
                    log.error("%s: %s", audience.name, segment)
                    continue
                plan = plan_audience(
                    config, audience, segment, state, allow_mass_removal=allow_mass_removal
                )
                _describe(result, plan)
                if plan.refusals:
                    result.status = "refused"
                    result.error = "; ".join(str(check) for check in plan.refusals)
                    log.error("%s: refused: %s", audience.name, result.error)
                elif apply:
                    _apply_and_record(config, plan, state, policy, result)
                else:
                    result.status = "planned"
                    result.requests = sum(plan.requests.values())
        finally:
            if source is not None:
                source.close()
    return results


def _read(source: Source, config: SyncdConfig, audience: Audience) -> SegmentMembers | SourceError:
    capabilities = capabilities_of(config.destinations[audience.destination])
    try:
        return read_segment(
            source, audience.segment, config.segments[audience.segment], capabilities
        )
    except SourceError as error:
        return error


def _describe(result: AudienceResult, plan: AudiencePlan) -> None:
    result.rows_read = plan.segment.rows
    result.invalid = plan.segment.invalid_counts()
    result.members = len(plan.segment.members)
    result.held_before = plan.held
    result.adds = len(plan.diff.adds)
    result.removes = len(plan.diff.removes)
    result.checks = [str(check) for check in plan.checks]


def _apply_and_record(
    config: SyncdConfig,
    plan: AudiencePlan,
    state: StateStore,
    policy: RetryPolicy,
    result: AudienceResult,
) -> None:
    run_id = state.start_run(plan.audience.name, plan.ref)
    state.record_quarantine(run_id, plan.audience.name, plan.segment.quarantine)
    destination = open_destination(config.destinations[plan.audience.destination])
    try:
        _push(run_id, plan, destination, state, policy, result)
    except DestinationError as error:
        result.status, result.error = "failed", str(error)
        log.error("%s: %s", plan.audience.name, error)
    finally:
        destination.close()
        state.finish_run(run_id, result.status, result.summary(), result.error)


def _push(
    run_id: str,
    plan: AudiencePlan,
    destination: Destination,
    state: StateStore,
    policy: RetryPolicy,
    result: AudienceResult,
) -> None:
    """Removals first: on Meta a removal matches by any key, so removing a member's old
    version after adding its new one could take the person out again."""
    operations = (
        ("remove", plan.diff.removes, destination.remove),
        ("add", plan.diff.adds, destination.add),
    )
    size = plan.batch_size
    for operation, members, push in operations:
        batches = plan.requests[operation]
        for number, offset in enumerate(range(0, len(members), size), start=1):
            chunk = members.slice(offset, size)
            what = f"{plan.audience.name} {operation} batch {number}/{batches}"
            batch_id = state.begin_batch(run_id, plan.ref, operation, number, chunk)
            try:
                acknowledged = call_with_retries(
                    _bind(push, plan.ref, chunk), policy, what, on_attempt=result.count_request
                )
            except DestinationError as error:
                state.fail_batch(batch_id, str(error))
                raise
            state.acknowledge_batch(batch_id, plan.ref, operation, chunk, acknowledged.request_id)
            if acknowledged.request_id:
                result.request_ids.append(acknowledged.request_id)
            result.rejected_by_network += acknowledged.invalid
            log.info("%s: %d members acknowledged", what, len(chunk))


def _bind(
    push: Callable[[str, pa.Table], PushResult], ref: AudienceRef, chunk: pa.Table
) -> Callable[[], PushResult]:
    return lambda: push(ref.audience_id, chunk)
