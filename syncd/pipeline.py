"""One sync pass: for every audience, read -> identity -> diff -> push -> commit.

Each audience is resolved to its `syncd.targets.Target` once, before anything runs; the
stages take the target. This module runs the pass: it claims the audiences, plans each
(`syncd.read`, `syncd.plan`, `syncd.pushdown.plan`) and hands the plan to `syncd.apply`.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import duckdb

from syncd.alerts.rules import after_pass
from syncd.apply import Run, apply_plan, working_database_error
from syncd.claims import Claims, Lease, process_name
from syncd.config.models import Audience, SyncdConfig
from syncd.destinations import DestinationError
from syncd.destinations.retry import RetryPolicy
from syncd.erasure.resume import apply_unfinished
from syncd.plan import AudiencePlan, plan_audience
from syncd.pushdown import plan as pushdown
from syncd.read.per_pass import PassReads
from syncd.receipts import write_receipts
from syncd.results import AudienceResult, finish, new_result
from syncd.sources import SourceError
from syncd.state import open_state
from syncd.state.retention import prune_when_due
from syncd.targets import Target, targets
from syncd.validate import validate_plan

log = logging.getLogger("syncd")

__all__ = ["AudienceResult", "PassOptions", "sync_all"]

_THIS_PROCESS = process_name()
_T = TypeVar("_T")


@dataclass(frozen=True)
class PassOptions:
    apply: bool = True
    allow_mass_removal: bool = False
    #: Sync audiences whose suppressions cover more than guardrails.max_suppressed_fraction.
    allow_mass_suppression: bool = False
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


def sync_all(
    config: SyncdConfig,
    options: PassOptions | None = None,
    only: Callable[[Audience], bool] = lambda audience: True,
) -> list[AudienceResult]:
    """Plan every selected audience and, when `options.apply`, push its changes; results
    in config order. Every audience is resolved to its target once, before any stage runs.
    Raises SourceError only when the warehouse itself cannot be opened."""
    options = options or PassOptions()
    lease = options.lease or Lease(_THIS_PROCESS, config.daemon.lease_seconds)
    selected = [target for target in targets(config, datetime.now(UTC)) if only(target.audience)]
    results: dict[int, AudienceResult] = {}
    with (
        open_state(config.state) as state,
        state.spill() as spill,
        Claims(state, lease) as claims,
    ):
        claimed = claims.take_each(selected, lambda target, why: _skipped(target, why, results))
        by_destination: dict[str, list[Target]] = {}
        for target in claimed:
            by_destination.setdefault(target.audience.destination, []).append(target)
        local = [target for target in claimed if not pushdown.pushes_down(config, target)]
        reads = PassReads(config.warehouse, local, spill, options.stop, state)
        run = Run(
            state,
            lease.holder,
            claims,
            options.retry_policy,
            options.stop,
            config.retention.group_history_days,
        )
        if options.apply:  # erasures go first, before any segment is read
            apply_unfinished(claimed, run, spill, config.guardrails)
        this_pass = _Pass(config, options, reads, run)

        def sync_destination(group: list[Target]) -> None:
            """The audiences of one destination, several at once: their pushes share the
            destination's pacer, so together they keep its window full. Once its daily
            quota is gone, those not started yet are deferred."""
            quota_gone = threading.Event()

            def sync(target: Target) -> None:
                if options.stop.is_set():
                    return
                if quota_gone.is_set():
                    results[id(target)] = _deferred(target)
                    return
                result = _sync_one(target, this_pass)
                results[id(target)] = result
                if result.status == "deferred":
                    quota_gone.set()

            _each(sync, group, options.audiences_at_once, "syncd-audience")

        try:
            groups = list(by_destination.values())
            _each(sync_destination, groups, options.destinations_at_once, "syncd-pass")
        finally:
            reads.close()
        if options.apply and not options.stop.is_set():
            prune_when_due(state, config.retention, lease.holder, datetime.now(UTC))
        finished = [results[id(target)] for target in selected if id(target) in results]
        if options.apply:  # in one insert, while the state's file is still this process's
            write_receipts(config, finished)
        if options.apply:  # queues messages only: delivery is on a thread of its own
            after_pass(config, state, finished, {t.name: t.ref for t in selected})
    return finished


@dataclass(frozen=True)
class _Pass:
    """What every audience of a pass shares: the config's pass-wide settings (warehouse,
    state, guardrails), the options, the segments read and the run."""

    config: SyncdConfig
    options: PassOptions
    reads: PassReads
    run: Run


def _skipped(target: Target, refused: str, results: dict[int, AudienceResult]) -> None:
    """An audience the pass could not claim (before any segment is read): skipped, with who
    holds it."""
    result = new_result(target)
    result.status, result.error = "skipped", refused
    results[id(target)] = result
    finish(result, 0.0)


def _sync_one(target: Target, this_pass: _Pass) -> AudienceResult:
    started = time.monotonic()
    result = new_result(target)
    _sync_audience(target, this_pass, result)
    finish(result, time.monotonic() - started)
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


def _deferred(target: Target) -> AudienceResult:
    result = new_result(target)
    result.status = "deferred"
    result.error = "the destination's daily quota is used up; the next run resumes"
    finish(result, 0.0)
    return result


def _plan(target: Target, this_pass: _Pass, result: AudienceResult) -> AudiencePlan | SourceError:
    """The audience's plan: made in the warehouse with pushdown (see `syncd.pushdown.plan`),
    else, or when pushdown falls back (a note says why), from the segment read here."""
    config, options, state = this_pass.config, this_pass.options, this_pass.run.state
    if pushdown.enabled(config):
        try:
            plan, note = pushdown.plan_in_warehouse(
                config,
                target,
                state,
                this_pass.reads.spill,
                allow_mass_removal=options.allow_mass_removal,
                stop=options.stop,
                erased=this_pass.reads.exclusions.erased_kinds(target.destination.kind),
            )
        except SourceError as error:
            return error
        result.notes.append(note)
        log.info("%s: %s", target.name, note)
        if plan is not None:
            return plan
    segment = this_pass.reads.get(target)
    if isinstance(segment, SourceError):
        return segment
    return plan_audience(
        target,
        segment,
        state,
        guardrails=config.guardrails,
        allow_mass_removal=options.allow_mass_removal,
        allow_mass_suppression=options.allow_mass_suppression,
    )


def _sync_audience(target: Target, this_pass: _Pass, result: AudienceResult) -> None:
    options = this_pass.options
    try:
        plan = _plan(target, this_pass, result)
    except duckdb.Error as error:
        result.status, result.error = "failed", working_database_error(error)
        log.error("%s: %s", target.name, result.error)
        return
    if isinstance(plan, SourceError):
        # A read the pass interrupted to stop is not a warehouse failure.
        result.status = "stopped" if options.stop.is_set() else "failed"
        result.error = str(plan)
        log.error("%s: %s", target.name, plan)
        return
    try:
        _describe(result, plan)
        if plan.refusals:
            result.status = "refused"
            result.error = "; ".join(str(check) for check in plan.refusals)
            log.error("%s: refused: %s", target.name, result.error)
        elif options.apply:
            apply_plan(plan, this_pass.run, result)
        else:
            result.status = "planned"
            result.requests = sum(plan.requests.values())
            if options.validate:
                _validate(plan, options, result)
    finally:
        plan.changes.drop()


def _validate(plan: AudiencePlan, options: PassOptions, result: AudienceResult) -> None:
    try:
        _, verdict = validate_plan(plan, retry_policy=options.retry_policy, stop=options.stop)
        result.notes.append(verdict)
    except DestinationError as error:
        result.status, result.error = "invalid", str(error)
        log.error("%s: %s", plan.target.name, error)


def _describe(result: AudienceResult, plan: AudiencePlan) -> None:
    result.rows_read = plan.segment.rows
    result.invalid = plan.segment.invalid_counts()
    result.members = plan.segment.member_count
    result.suppressed = plan.segment.left_out.total
    if plan.segment.groups is not None:
        result.treated_people = plan.segment.groups.treated
        result.held_out_people = plan.segment.groups.held_out
    result.held_before = plan.held
    result.adds = plan.changes.adds.rows
    result.removes = plan.changes.removes.rows
    result.refreshes = plan.changes.refreshes
    result.checks = [str(check) for check in plan.checks]
