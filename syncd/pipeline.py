"""One sync pass: for every audience, read -> identity -> diff -> push -> commit.

Audiences fail alone: a broken query or a refused token stops that audience with its
reason, and the others still sync. A segment feeding several audiences of one network is
read and hashed once per pass. A pass asked to stop (SIGTERM) finishes the batch in flight
and stops before the next one; the journal in the state makes the next pass complete it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from syncd import metrics
from syncd.config.models import Audience, SyncdConfig
from syncd.destinations import (
    Destination,
    DestinationError,
    ErrorClass,
    PushResult,
    capabilities_of,
    open_destination,
)
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.plan import AudiencePlan, SegmentMembers, plan_audience, read_segment
from syncd.sources import Source, SourceError, open_source
from syncd.state import StateStore, open_state

log = logging.getLogger("syncd")


def process_name() -> str:
    """Who holds a lease or ran a pass: the pod (host), the process and a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Stopped(Exception):
    """The pass was asked to stop; raised between batches, never inside one."""


_THIS_PROCESS = process_name()


@dataclass(frozen=True)
class Lease:
    """Who this process is, and how long its claim on an audience lasts without renewal."""

    holder: str
    seconds: float


@dataclass(frozen=True)
class PassOptions:
    apply: bool = True
    allow_mass_removal: bool = False
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    #: Set from another thread (a signal handler) to stop before the next batch.
    stop: threading.Event = field(default_factory=threading.Event)
    #: When set, an audience is synced only by the process holding its lease.
    lease: Lease | None = None

    @property
    def holder(self) -> str:
        return self.lease.holder if self.lease else _THIS_PROCESS


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


def sync_all(
    config: SyncdConfig,
    options: PassOptions | None = None,
    only: Callable[[Audience], bool] = lambda audience: True,
) -> list[AudienceResult]:
    """Plan every selected audience and, when `options.apply`, push its changes. Raises
    SourceError only when the warehouse itself cannot be opened."""
    options = options or PassOptions()
    results = []
    segments: dict[tuple[str, str], SegmentMembers | SourceError] = {}
    source: Source | None = None
    with open_state(config.state) as state:
        _report_recovery(state)
        try:
            for audience in filter(only, config.audiences):
                if options.stop.is_set():
                    break
                started = time.monotonic()
                result = _new_result(config, audience)
                results.append(result)
                if options.lease and not state.hold_lease(
                    audience.name, options.lease.holder, options.lease.seconds
                ):
                    result.status, result.error = "skipped", "another syncd holds its lease"
                else:
                    key = (audience.segment, result.network)
                    if key not in segments:
                        source = source or open_source(config.warehouse)
                        segments[key] = _read(source, config, audience)
                    _sync_audience(config, audience, segments[key], state, options, result)
                _finish(result, time.monotonic() - started)
        finally:
            if source is not None:
                source.close()
    return results


def _finish(result: AudienceResult, seconds: float) -> None:
    metrics.observe_pass(
        result.audience, result.status, result.rows_read, result.invalid, result.members, seconds
    )
    log.info(
        "%s: pass %s (%d adds, %d removes, %d requests)",
        result.audience,
        result.status,
        result.adds,
        result.removes,
        result.requests,
        extra={
            "audience": result.audience,
            "status": result.status,
            "rows_read": result.rows_read,
            "invalid": sum(result.invalid.values()),
            "members": result.members,
            "adds": result.adds,
            "removes": result.removes,
            "requests": result.requests,
            "seconds": round(seconds, 3),
        },
    )


def _report_recovery(state: StateStore) -> None:
    recovery = state.recover()
    if recovery.interrupted_runs or recovery.batches_in_flight:
        log.warning(
            "a previous pass was interrupted (%d runs, %d batches in flight); "
            "their members are re-sent or removed as the segments now say",
            recovery.interrupted_runs,
            recovery.batches_in_flight,
        )


def _new_result(config: SyncdConfig, audience: Audience) -> AudienceResult:
    network = capabilities_of(config.destinations[audience.destination]).network.value
    return AudienceResult(audience.name, network, audience.audience_id)


def _read(source: Source, config: SyncdConfig, audience: Audience) -> SegmentMembers | SourceError:
    capabilities = capabilities_of(config.destinations[audience.destination])
    try:
        return read_segment(
            source, audience.segment, config.segments[audience.segment], capabilities
        )
    except SourceError as error:
        return error


def _sync_audience(
    config: SyncdConfig,
    audience: Audience,
    segment: SegmentMembers | SourceError,
    state: StateStore,
    options: PassOptions,
    result: AudienceResult,
) -> None:
    if isinstance(segment, SourceError):
        result.status, result.error = "failed", str(segment)
        log.error("%s: %s", audience.name, segment)
        return
    plan = plan_audience(
        config, audience, segment, state, allow_mass_removal=options.allow_mass_removal
    )
    _describe(result, plan)
    if plan.refusals:
        result.status = "refused"
        result.error = "; ".join(str(check) for check in plan.refusals)
        log.error("%s: refused: %s", audience.name, result.error)
    elif options.apply:
        _apply_and_record(config, plan, state, options, result)
    else:
        result.status = "planned"
        result.requests = sum(plan.requests.values())


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
    options: PassOptions,
    result: AudienceResult,
) -> None:
    run_id = state.start_run(plan.audience.name, plan.ref, options.holder)
    state.record_quarantine(run_id, plan.audience.name, plan.segment.quarantine)
    destination = open_destination(config.destinations[plan.audience.destination])
    log.info(
        "%s: run %s: %d to remove, %d to add",
        plan.audience.name,
        run_id,
        len(plan.diff.removes),
        len(plan.diff.adds),
        extra={"audience": plan.audience.name, "run_id": run_id},
    )
    try:
        _push(run_id, plan, destination, state, options, result)
    except DestinationError as error:
        result.status, result.error = "failed", str(error)
        log.error("%s: %s", plan.audience.name, error)
    except Stopped as stopped:
        result.status, result.error = "stopped", str(stopped)
        log.warning("%s: %s", plan.audience.name, stopped)
    finally:
        destination.close()
        state.finish_run(run_id, result.status, result.summary(), result.error)


def _push(
    run_id: str,
    plan: AudiencePlan,
    destination: Destination,
    state: StateStore,
    options: PassOptions,
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
            what = f"{plan.audience.name} {operation} batch {number}/{batches}"
            if options.stop.is_set():
                raise Stopped(f"stopped before {what}; the next pass completes the audience")
            chunk = members.slice(offset, size)
            batch_id = state.begin_batch(run_id, plan.ref, operation, number, chunk)
            try:
                acknowledged = call_with_retries(
                    _bind(push, plan.ref.audience_id, chunk),
                    options.retry_policy,
                    what,
                    on_outcome=_outcome_counter(result),
                    on_wait=_wait_counter(result.network),
                    sleep=options.stop.wait,
                )
            except DestinationError as error:
                state.fail_batch(batch_id, str(error))
                raise
            state.acknowledge_batch(batch_id, plan.ref, operation, chunk, acknowledged.request_id)
            if acknowledged.request_id:
                result.request_ids.append(acknowledged.request_id)
            result.rejected_by_network += acknowledged.invalid
            metrics.MEMBERS_CHANGED.labels(result.audience, result.network, operation).inc(
                len(chunk)
            )
            log.info(
                "%s: %d members acknowledged",
                what,
                len(chunk),
                extra={"audience": result.audience, "run_id": run_id, "operation": operation},
            )


def _bind(
    push: Callable[[str, pa.Table], PushResult], audience_id: str, chunk: pa.Table
) -> Callable[[], PushResult]:
    return lambda: push(audience_id, chunk)


def _outcome_counter(result: AudienceResult) -> Callable[[str], None]:
    def count(outcome: str) -> None:
        result.requests += 1
        metrics.REQUESTS.labels(result.network, outcome).inc()

    return count


def _wait_counter(network: str) -> Callable[[float, DestinationError], None]:
    def count(seconds: float, error: DestinationError) -> None:
        metrics.RETRIES.labels(network).inc()
        if error.error_class is ErrorClass.RATE_LIMITED:
            metrics.RATE_LIMIT_WAIT.labels(network).inc(seconds)

    return count
