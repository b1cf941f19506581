"""One sync pass: for every audience, read -> identity -> diff -> push -> commit.

Audiences fail alone: a broken query or a refused token stops that audience with its
reason, and the others still sync. A segment feeding several audiences of one network is
read and hashed once per pass. A pass asked to stop (SIGTERM) finishes the batches in
flight and stops before the next one; the journal in the state makes the next pass
complete it. Every audience is claimed (`syncd.claims`) before any segment is read.

A pass keeps segments and diffs in a spill (DuckDB tables under a memory limit, on disk
beyond it), never in Python memory, so its footprint does not grow with the segment.

Destinations are synced side by side (`PassOptions.destinations_at_once`), and so are the
audiences of one destination (`audiences_at_once`): each push keeps a window of requests
in flight, and every request to one quota owner (a Meta ad account, a Google Cloud project)
waits on the process's one `syncd.pacing.Pacer` for it, so together they stay within its
window and its quota, pass after pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import duckdb

from syncd import metrics
from syncd.claims import Claims, Lease, process_name
from syncd.config.models import Audience, Consent, SyncdConfig
from syncd.destinations import Capabilities, Destination, DestinationError
from syncd.destinations.base import QuotaExhausted, ReplaceNotAllowed
from syncd.destinations.registry import capabilities_of, open_destination, pacer_of
from syncd.destinations.retry import RetryPolicy
from syncd.destinations.settings import DestinationSettings
from syncd.pacing import NotSent
from syncd.plan import (
    AudiencePlan,
    FingerprintedSegment,
    HeldBy,
    SpilledSegment,
    audience_ref,
    plan_audience,
    refresh_before,
    spill_segments,
)
from syncd.push import Pusher, Stopped
from syncd.pushdown import plan as pushdown
from syncd.sources import Source, SourceError, open_source, redact_literals
from syncd.sources.watch import WatchedSource
from syncd.state import Spill, StateStore, open_state
from syncd.state.spill import memory_limit
from syncd.statuses import StatusWatch
from syncd.validate import validate_plan

log = logging.getLogger("syncd")

#: A segment as read for a network: its members, or what fingerprints left to diff.
ReadSegment = SpilledSegment | FingerprintedSegment


_THIS_PROCESS = process_name()
_T = TypeVar("_T")


@dataclass(frozen=True)
class PassOptions:
    apply: bool = True
    allow_mass_removal: bool = False
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    #: Set from another thread (a signal handler) to stop before the next batch.
    stop: threading.Event = field(default_factory=threading.Event)
    #: Whose claim the pass takes on each audience (`syncd.claims`); by default this
    #: process's, for the config's `daemon.lease_seconds`, given back when the pass ends.
    lease: Lease | None = None
    #: With `apply` off: send the planned requests with the network's validate-only flag.
    validate: bool = False
    #: How many destinations are synced at once (each with its own window of requests).
    destinations_at_once: int = 4
    #: How many audiences of one destination are synced at once (sharing its window).
    audiences_at_once: int = 4


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
    refreshes: int = 0
    requests: int = 0
    rejected_by_network: int = 0
    refused_members: int = 0
    skipped_no_consent: int = 0
    #: Members the network acknowledged but said it did not apply (sent again next pass).
    unapplied: int = 0
    request_ids: list[str] = field(default_factory=list)
    request_statuses: dict[str, str] = field(default_factory=dict)
    audience_info: dict[str, object] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> dict[str, object]:
        return asdict(self)


def sync_all(
    config: SyncdConfig,
    options: PassOptions | None = None,
    only: Callable[[Audience], bool] = lambda audience: True,
) -> list[AudienceResult]:
    """Plan every selected audience and, when `options.apply`, push its changes; results
    in config order. Raises SourceError only when the warehouse itself cannot be opened."""
    options = options or PassOptions()
    lease = options.lease or Lease(_THIS_PROCESS, config.daemon.lease_seconds)
    selected = [audience for audience in config.audiences if only(audience)]
    results: dict[int, AudienceResult] = {}
    with (
        open_state(config.state) as state,
        state.spill() as spill,
        Claims(state, lease) as claims,
    ):
        claimed = _claim(config, selected, claims, results)
        by_destination: dict[str, list[Audience]] = {}
        for audience in claimed:
            by_destination.setdefault(audience.destination, []).append(audience)
        segments = _Segments(config, claimed, spill, options.stop)
        run = _Run(state, options, lease.holder, claims)

        def sync_destination(audiences: list[Audience]) -> None:
            """The audiences of one destination, several at once: their pushes share the
            destination's pacer, so together they keep its window full. Once its daily
            quota is gone, those not started yet are deferred."""
            quota_gone = threading.Event()

            def sync(audience: Audience) -> None:
                if options.stop.is_set():
                    return
                if quota_gone.is_set():
                    _defer(config, [audience], results)
                    return
                result = _sync_one(config, audience, segments, run)
                results[id(audience)] = result
                if result.status == "deferred":
                    quota_gone.set()

            _each(sync, audiences, options.audiences_at_once, "syncd-audience")

        try:
            groups = list(by_destination.values())
            _each(sync_destination, groups, options.destinations_at_once, "syncd-pass")
        finally:
            segments.close()
    return [results[id(audience)] for audience in selected if id(audience) in results]


@dataclass(frozen=True)
class _Run:
    """What every audience of a pass shares: the state, the options and the claims."""

    state: StateStore
    options: PassOptions
    holder: str
    claims: Claims


def _claim(
    config: SyncdConfig,
    selected: list[Audience],
    claims: Claims,
    results: dict[int, AudienceResult],
) -> list[Audience]:
    """The audiences this pass may sync, claimed and recovered before any segment is read;
    the others are skipped, with who holds them."""
    claimed = []
    for audience in selected:
        refused = claims.take(audience.name, audience_ref(config, audience))
        if refused is None:
            claimed.append(audience)
            continue
        result = _new_result(config, audience)
        result.status, result.error = "skipped", refused
        results[id(audience)] = result
        _finish(result, 0.0)
    return claimed


def _sync_one(
    config: SyncdConfig, audience: Audience, segments: _Segments, run: _Run
) -> AudienceResult:
    started = time.monotonic()
    result = _new_result(config, audience)
    _sync_audience(config, audience, segments, run, result)
    _finish(result, time.monotonic() - started)
    return result


def _each(work: Callable[[_T], None], items: list[_T], at_once: int, name: str) -> None:
    """`work` on every item, up to `at_once` at a time (in this thread when one)."""
    workers = max(1, min(len(items), at_once))
    if workers == 1:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        list(pool.map(work, items))


def _defer(
    config: SyncdConfig, audiences: list[Audience], results: dict[int, AudienceResult]
) -> None:
    for audience in audiences:
        result = _new_result(config, audience)
        result.status = "deferred"
        result.error = "the destination's daily quota is used up; the next run resumes"
        results[id(audience)] = result
        _finish(result, 0.0)


class _Segments:
    """Each segment read once per pass, for every network that needs it, in one scan; a
    worker that needs a segment another is reading waits for it. A read past its segment's
    timeout, or one under way when the pass is asked to stop, is interrupted."""

    def __init__(
        self, config: SyncdConfig, selected: list[Audience], spill: Spill, stop: threading.Event
    ) -> None:
        self._config = config
        self._selected = selected
        self.spill = spill
        self._stop = stop
        self._read: dict[tuple[str, str, object], ReadSegment | SourceError] = {}
        self._source: Source | None = None
        self._lock = threading.Lock()

    def get(self, audience: Audience) -> ReadSegment | SourceError:
        key = _segment_key(self._config, audience)
        with self._lock:
            if key not in self._read:
                self._source = self._source or open_source(self._config.warehouse)
                # Audiences planned in the warehouse need no local read, unless they fall
                # back to it (then they ask for themselves).
                unread = [
                    other
                    for other in self._selected
                    if other.segment == audience.segment
                    and _segment_key(self._config, other) not in self._read
                    and (other is audience or not pushdown.pushes_down(self._config, other))
                ]
                source = WatchedSource(
                    self._source,
                    audience.segment,
                    self._config.read_timeout(audience.segment),
                    self._stop,
                )
                self._read.update(_read(source, self._config, audience.segment, unread, self.spill))
            return self._read[key]

    def close(self) -> None:
        if self._source is not None:
            self._source.close()


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


def _new_result(config: SyncdConfig, audience: Audience) -> AudienceResult:
    network = capabilities_of(config.destinations[audience.destination]).network
    return AudienceResult(audience.name, network, audience.audience_id)


def _segment_key(config: SyncdConfig, audience: Audience) -> tuple[str, str, object]:
    """Audiences with one key share their segment's members: same segment, same network's
    rules, same consent defaults."""
    destination = config.destinations[audience.destination]
    network = capabilities_of(destination).network
    return audience.segment, network, destination.consent_defaults()


def _read(
    source: Source, config: SyncdConfig, segment: str, audiences: list[Audience], spill: Spill
) -> dict[tuple[str, str, object], ReadSegment | SourceError]:
    """The members of `segment` for every network these audiences need, from one scan.
    A network's members read for one incremental audience alone may be matched with that
    audience's by fingerprint (`syncd.fingerprints`)."""
    networks: dict[tuple[str, str, object], tuple[Capabilities, Consent | None, HeldBy | None]]
    networks = {}
    sharing = Counter(_segment_key(config, audience) for audience in audiences)
    for audience in audiences:
        key = _segment_key(config, audience)
        destination = config.destinations[audience.destination]
        alone = sharing[key] == 1 and audience.mode == "incremental"
        held = HeldBy(audience_ref(config, audience), refresh_before(config, audience))
        networks[key] = (
            capabilities_of(destination),
            destination.consent_defaults(),
            held if alone else None,
        )
    try:
        spilled = spill_segments(
            source, segment, config.segments[segment], list(networks.values()), spill
        )
    except SourceError as error:
        return dict.fromkeys(networks, error)
    return dict(zip(networks, spilled, strict=True))


def _plan(
    config: SyncdConfig,
    audience: Audience,
    segments: _Segments,
    state: StateStore,
    options: PassOptions,
    result: AudienceResult,
) -> AudiencePlan | SourceError:
    """The audience's plan: made in the warehouse with pushdown (see `syncd.pushdown.plan`),
    else, or when pushdown falls back (a note says why), from the segment read here."""
    if pushdown.enabled(config):
        try:
            plan, note = pushdown.plan_in_warehouse(
                config,
                audience,
                state,
                segments.spill,
                allow_mass_removal=options.allow_mass_removal,
                stop=options.stop,
            )
        except SourceError as error:
            return error
        result.notes.append(note)
        log.info("%s: %s", audience.name, note)
        if plan is not None:
            return plan
    segment = segments.get(audience)
    if isinstance(segment, SourceError):
        return segment
    return plan_audience(
        config, audience, segment, state, allow_mass_removal=options.allow_mass_removal
    )


def _sync_audience(
    config: SyncdConfig, audience: Audience, segments: _Segments, run: _Run, result: AudienceResult
) -> None:
    options = run.options
    try:
        plan = _plan(config, audience, segments, run.state, options, result)
    except duckdb.Error as error:
        result.status, result.error = "failed", _working_database_error(error)
        log.error("%s: %s", audience.name, result.error)
        return
    if isinstance(plan, SourceError):
        # A read the pass interrupted to stop is not a warehouse failure.
        result.status = "stopped" if options.stop.is_set() else "failed"
        result.error = str(plan)
        log.error("%s: %s", audience.name, plan)
        return
    try:
        _describe(result, plan)
        if plan.refusals:
            result.status = "refused"
            result.error = "; ".join(str(check) for check in plan.refusals)
            log.error("%s: refused: %s", audience.name, result.error)
        elif options.apply:
            _apply_and_record(config, plan, run, result)
        else:
            result.status = "planned"
            result.requests = sum(plan.requests.values())
            if options.validate:
                _validate(config, plan, options, result)
    finally:
        plan.changes.drop()


def _validate(
    config: SyncdConfig, plan: AudiencePlan, options: PassOptions, result: AudienceResult
) -> None:
    try:
        _, verdict = validate_plan(
            config.destinations[plan.audience.destination],
            plan,
            retry_policy=options.retry_policy,
            stop=options.stop,
        )
        result.notes.append(verdict)
    except DestinationError as error:
        result.status, result.error = "invalid", str(error)
        log.error("%s: %s", plan.audience.name, error)


def _describe(result: AudienceResult, plan: AudiencePlan) -> None:
    result.rows_read = plan.segment.rows
    result.invalid = plan.segment.invalid_counts()
    result.members = plan.segment.member_count
    result.held_before = plan.held
    result.adds = plan.changes.adds.rows
    result.removes = plan.changes.removes.rows
    result.refreshes = plan.changes.refreshes
    result.checks = [str(check) for check in plan.checks]


def _apply_and_record(
    config: SyncdConfig, plan: AudiencePlan, run: _Run, result: AudienceResult
) -> None:
    audience, state, options = plan.audience, run.state, run.options
    run_id = state.start_run(audience.name, plan.ref, run.holder)
    state.record_quarantine(run_id, audience.name, plan.segment.quarantine)
    destination_config = config.destinations[audience.destination]
    destination = open_destination(destination_config, sleep=options.stop.wait)
    log.info(
        "%s: run %s: %d to remove, %d to add",
        audience.name,
        run_id,
        plan.changes.removes.rows,
        plan.changes.adds.rows,
        extra={"audience": audience.name, "run_id": run_id},
    )
    pusher = None
    statuses = _status_watch(destination, destination_config)
    try:
        network_id = _network_id(audience, destination, plan)
        pusher = Pusher(
            run_id=run_id,
            plan=plan,
            destination=destination,
            network_id=network_id,
            state=state,
            retry_policy=options.retry_policy,
            stop=options.stop,
            pacer=pacer_of(destination_config),
            statuses=statuses,
            earlier=state.pending_requests(plan.ref) if statuses is not None else None,
            lease_lost=run.claims.lost(audience.name),
            network=result.network,
        )
        _push(pusher, result)
        _read_back(destination, network_id, pusher, result)
    except QuotaExhausted as exhausted:
        result.status, result.error = "deferred", str(exhausted)
        log.warning("%s: %s", audience.name, exhausted)
    except DestinationError as error:
        result.status, result.error = "failed", str(error)
        log.error("%s: %s", audience.name, error)
    except (Stopped, NotSent) as stopped:  # NotSent: a lookup that waited out a pause
        result.status, result.error = "stopped", str(stopped)
        log.warning("%s: %s", audience.name, stopped)
    except duckdb.Error as error:
        result.status, result.error = "failed", _working_database_error(error)
        log.error("%s: %s", audience.name, result.error)
    except Exception as error:  # a fault nobody classified: this audience fails, not the pass
        result.status, result.error = "failed", f"unexpected error: {error!r}"
        log.exception("%s: %s", audience.name, result.error)
    finally:
        if pusher is not None:
            try:
                _settle(pusher, destination_config, result)
            except Exception as error:  # the state cannot take it: the next pass sends again
                result.notes.append(f"could not record the requests' statuses: {error}")
            _copy_tally(pusher, result)
            _fold(pusher, result)
        elif statuses is not None:
            statuses.close()
        destination.close()
        _record_run(state, run_id, result)


def _record_run(state: StateStore, run_id: str, result: AudienceResult) -> None:
    """Close the audience's run record. A state that cannot take it (unreachable, disk
    full) fails this audience alone: the next pass finds the run `running` and recovers it."""
    try:
        state.finish_run(run_id, result.status, result.summary(), result.error)
    except Exception as error:
        result.status = "failed"
        result.error = (
            f"{result.error + '; ' if result.error else ''}could not record the run: {error}"
        )
        log.error("%s: could not record the run: %s", result.audience, error)


def _working_database_error(error: duckdb.Error) -> str:
    """What to say when the pass's DuckDB (the state's instance and its spill) fails: the
    audience fails alone, and the next pass starts from the journal. Literals are blanked,
    as in warehouse errors."""
    reason = redact_literals(str(error).split("\n")[0])
    hint = ""
    if isinstance(error, duckdb.OutOfMemoryException):
        hint = f" (its memory limit is {memory_limit()}); the next pass tries again"
    return f"syncd's working database failed: {reason}{hint}"


def _fold(pusher: Pusher, result: AudienceResult) -> None:
    """Commit what the network acknowledged. If the state cannot take it now, the journal
    keeps it and the next pass folds it before it diffs. A pass that lost its lease leaves
    the journal alone: its new holder folds it, and folding here could drop members that
    holder staged."""
    if pusher.lease_lost.is_set():
        result.notes.append("lost its lease: the journal is left to the lease's new holder")
        return
    try:
        pusher.finish()
    except Exception as error:  # the state store is unreachable or the disk is full
        result.notes.append(f"the journal is applied at the next pass: {error}")
        log.error("%s: could not apply the journal: %s", result.audience, error)


def _network_id(audience: Audience, destination: Destination, plan: AudiencePlan) -> str:
    """The audience's id on the network: configured, or found (or created) by name. Lists
    are only created when there is something to send to them."""
    if audience.audience_id is not None:
        return audience.audience_id
    return destination.ensure_audience(audience.audience_name or "", audience.description)


def _push(pusher: Pusher, result: AudienceResult) -> None:
    plan = pusher.plan
    if plan.audience.mode == "replace" and pusher.destination.capabilities.replaces:
        try:
            pusher.replace()
            return
        except ReplaceNotAllowed as refused:
            result.notes.append(f"replace refused, sent changes instead: {refused.reason}")
            log.warning("%s: %s", plan.audience.name, result.notes[-1])
    elif plan.audience.mode == "replace":
        result.notes.append("this network has no full replace; sent changes instead")
    pusher.incremental()


def _status_watch(destination: Destination, config: DestinationSettings) -> StatusWatch | None:
    """For a network that processes requests after acknowledging them (Google Data
    Manager's `settle`), a watch that reads their statuses while the push goes on; none when
    the config says not to wait for them (`settle_seconds: 0`)."""
    if not config.status_wait() or not destination.capabilities.processes_later:
        return None
    return StatusWatch(lambda request_ids: destination.settle(request_ids, timeout=0.0))


def _read_back(
    destination: Destination, network_id: str, pusher: Pusher, result: AudienceResult
) -> None:
    """What the audience looks like on the network now; it cannot fail a pass that was
    acknowledged."""
    try:
        with pusher.pacer.sending(pusher.stop.wait):  # it takes a place in the window
            result.audience_info = destination.describe(network_id)
    except (DestinationError, NotSent) as error:  # NotSent: the pass is stopping
        result.notes.append(f"could not read the audience back: {error}")


def _settle(pusher: Pusher, config: DestinationSettings, result: AudienceResult) -> None:
    """How the network took the requests, however the push ended: Google processes them
    after acknowledging them, and what it says is applied to the journal before it is
    folded (`Pusher.settle_statuses`). A push that completed waits `settle_seconds` for the
    statuses still PROCESSING; one that failed or stopped keeps what was read so far. The
    requests still PROCESSING then are read again by the next pass."""
    watch = pusher.statuses
    if watch is None:
        return
    wait = config.status_wait() if result.status == "ok" else 0.0
    statuses = watch.results(timeout=wait)
    watch.close()
    if watch.error is not None:
        result.notes.append(f"could not read every request's status: {watch.error}")
    result.request_statuses = {
        request_id: status
        for request_id, status in statuses.items()
        if request_id not in pusher.earlier
    }
    note = pusher.settle_statuses(statuses, datetime.now(UTC))
    if note:
        result.notes.append(note)


def _copy_tally(pusher: Pusher, result: AudienceResult) -> None:
    tally = pusher.tally
    result.requests += tally.requests
    result.rejected_by_network += tally.rejected_by_network
    result.skipped_no_consent += tally.skipped_no_consent
    result.refused_members += tally.refused_members
    result.request_ids.extend(tally.request_ids)
    result.unapplied += tally.unapplied
    if tally.unapplied and result.status == "ok":
        result.status = "incomplete"
        result.error = (
            f"{tally.unapplied} members were acknowledged but not applied "
            f"({'; '.join(tally.unapplied_reasons)}); the next pass sends them again"
        )
