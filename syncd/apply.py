"""One audience's plan applied: pushed to its network, the statuses of the requests
settled, the journal folded into what the audience holds, and its run recorded. Whatever
becomes of the push, the journal is folded and the run closed, so the next pass starts from
what the network acknowledged; a fault here fails this audience, never the pass.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

from syncd.claims import Claims
from syncd.destinations import Destination, DestinationError
from syncd.destinations.base import QuotaExhausted, ReplaceNotAllowed
from syncd.destinations.registry import open_destination, pacer_of
from syncd.destinations.retry import RetryPolicy
from syncd.pacing import NotSent
from syncd.plan import AudiencePlan
from syncd.push import Pusher, Stopped
from syncd.results import AudienceResult
from syncd.sources import redact_literals
from syncd.state import StateStore
from syncd.state.spill import memory_limit
from syncd.statuses import StatusWatch
from syncd.targets import Target

log = logging.getLogger("syncd")

#: Seconds an erasure's push waits for its statuses, whatever `settle_seconds` says: the
#: watch's first round of reads comes after one second (`syncd.statuses.StatusWatch`).
ERASURE_STATUS_WAIT = 3.0


@dataclass(frozen=True)
class Run:
    """What every audience of a pass shares when it applies its plan."""

    state: StateStore
    #: Who runs the pass: its run records and claims carry it.
    holder: str
    claims: Claims
    retry_policy: RetryPolicy
    #: Set from another thread (a signal handler) to stop before the next batch.
    stop: threading.Event
    #: Days a finished stay in a holdout's group is kept (`Retention.group_history_days`).
    group_history_days: int


def apply_plan(plan: AudiencePlan, run: Run, result: AudienceResult) -> None:
    """Push the plan to its target's network and record the run in `result` and the state;
    every failure is said in `result` (status and error), none is raised."""
    target, state = plan.target, run.state
    name = target.name
    run_id = state.start_run(name, target.ref, run.holder)
    result.run_id = run_id
    state.record_quarantine(run_id, name, plan.segment.quarantine)
    destination = open_destination(target.destination, sleep=run.stop.wait)
    log.info(
        "%s: run %s: %d to remove, %d to add",
        name,
        run_id,
        plan.changes.removes.rows,
        plan.changes.adds.rows,
        extra={"audience": name, "run_id": run_id},
    )
    pusher = None
    statuses = _status_watch(destination, target, result)
    try:
        network_id = _network_id(target, destination)
        pusher = Pusher(
            run_id=run_id,
            plan=plan,
            destination=destination,
            network_id=network_id,
            state=state,
            retry_policy=run.retry_policy,
            stop=run.stop,
            pacer=pacer_of(target.destination),
            statuses=statuses,
            earlier=state.pending_requests(target.ref) if statuses is not None else None,
            lease_lost=run.claims.lost(name),
        )
        _push(pusher, result)
        _read_back(destination, network_id, pusher, result)
    except QuotaExhausted as exhausted:
        result.status, result.error = "deferred", str(exhausted)
        log.warning("%s: %s", name, exhausted)
    except DestinationError as error:
        result.status, result.error = "failed", str(error)
        log.error("%s: %s", name, error)
    except (Stopped, NotSent) as stopped:  # NotSent: a lookup that waited out a pause
        result.status, result.error = "stopped", str(stopped)
        log.warning("%s: %s", name, stopped)
    except duckdb.Error as error:
        result.status, result.error = "failed", working_database_error(error)
        log.error("%s: %s", name, result.error)
    except Exception as error:  # a fault nobody classified: this audience fails, not the pass
        result.status, result.error = "failed", f"unexpected error: {error!r}"
        log.exception("%s: %s", name, result.error)
    finally:
        if pusher is not None:
            try:
                _settle(pusher, target, result)
            except Exception as error:  # the state cannot take it: the next pass sends again
                result.notes.append(f"could not record the requests' statuses: {error}")
            _copy_tally(pusher, result)
            _fold(pusher, result)
        elif statuses is not None:
            statuses.close()
        destination.close()
        if result.status == "ok":
            _record_groups(plan, run, result)
        _record_run(state, run_id, result)


def _record_groups(plan: AudiencePlan, run: Run, result: AudienceResult) -> None:
    """A pass that ended ok records who was treated and who held out, from now on (a failed
    one leaves the history to the next pass)."""
    groups, experiment = plan.segment.groups, plan.target.experiment
    if groups is None or experiment is None:
        return
    try:
        now = datetime.now(UTC)
        kept_since = now - timedelta(days=run.group_history_days)
        run.state.record_groups(plan.target.ref, experiment.salt, groups.people, now, kept_since)
    except Exception as error:  # the members are right; only the history waits a pass
        result.notes.append(f"could not record the holdout's groups: {error}")
        log.error("%s: could not record the holdout's groups: %s", result.audience, error)


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


def working_database_error(error: duckdb.Error) -> str:
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


def _network_id(target: Target, destination: Destination) -> str:
    """The audience's id on the network: configured, or found (or created) by name. Lists
    are only created when there is something to send to them."""
    audience = target.audience
    if audience.audience_id is not None:
        return audience.audience_id
    return destination.ensure_audience(audience.audience_name or "", audience.description)


def _push(pusher: Pusher, result: AudienceResult) -> None:
    target = pusher.plan.target
    if target.audience.mode == "replace" and pusher.destination.capabilities.replaces:
        try:
            pusher.replace()
            return
        except ReplaceNotAllowed as refused:
            result.notes.append(f"replace refused, sent changes instead: {refused.reason}")
            log.warning("%s: %s", target.name, result.notes[-1])
    elif target.audience.mode == "replace":
        result.notes.append("this network has no full replace; sent changes instead")
    pusher.incremental()


def _status_watch(
    destination: Destination, target: Target, result: AudienceResult
) -> StatusWatch | None:
    """For a network that processes requests after acknowledging them (Google Data
    Manager's `settle`), a watch that reads their statuses while the push goes on; none when
    the config says not to wait for them (`settle_seconds: 0`), except for an erasure."""
    if not _status_wait(target, result) or not destination.capabilities.processes_later:
        return None
    return StatusWatch(lambda request_ids: destination.settle(request_ids, timeout=0.0))


def _status_wait(target: Target, result: AudienceResult) -> float:
    """How long the push waits for its requests' statuses: `settle_seconds`, and at least
    `ERASURE_STATUS_WAIT` for an erasure, which is done only once the network confirms it
    applied the removal (until then its outcome stays pending and the next run reads on)."""
    wait = target.destination.status_wait()
    return max(wait, ERASURE_STATUS_WAIT) if result.erasure is not None else wait


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


def _settle(pusher: Pusher, target: Target, result: AudienceResult) -> None:
    """How the network took the requests, however the push ended: Google processes them
    after acknowledging them, and what it says is applied to the journal before it is
    folded (`Pusher.settle_statuses`). A push that completed waits `settle_seconds` for the
    statuses still PROCESSING; one that failed or stopped keeps what was read so far. The
    requests still PROCESSING then are read again by the next pass."""
    watch = pusher.statuses
    if watch is None:
        return
    wait = _status_wait(target, result) if result.status == "ok" else 0.0
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
