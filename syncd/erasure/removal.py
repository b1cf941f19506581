"""One erasure applied to one audience: the members the state holds (in any status) that
share a value with it are removed through the ordinary push, so journaling, crash safety,
pacing, retries and Google's request statuses all apply, in ceil(members / batch size)
requests. The caller holds the audience's claim (`syncd.claims`).

The outcome is read back from the state, not from the push: `done` when the audience holds
none of them and no removal of them waits on Google, `pending` while one does, `failed`
(with the network's reason) while any is still held, `not_held` when there was nothing to
remove and nothing was sent.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from syncd.apply import Run, apply_plan
from syncd.config.models import Guardrails
from syncd.erasure.digests import linked_values
from syncd.lift.person import PERSON_KINDS
from syncd.members import MEMBER_SCHEMA, QUARANTINE_SCHEMA
from syncd.plan import CountedSegment, build_plan
from syncd.results import AudienceResult, new_result
from syncd.state import Changes, Spill, SpillTable
from syncd.state import erasures as records
from syncd.state.backends import Backend
from syncd.state.erasures import AudienceKey, Outcome
from syncd.targets import Target

log = logging.getLogger("syncd")

_MEMBER_COLUMNS = ", ".join(MEMBER_SCHEMA.names)
_NO_QUARANTINE = QUARANTINE_SCHEMA.empty_table()


def audience_key(target: Target) -> AudienceKey:
    """How erasure records name the target's audience."""
    return AudienceKey(
        target.name, target.ref.destination, target.ref.audience_id, target.destination.kind
    )


def erase_from(
    erasure_id: str, target: Target, run: Run, spill: Spill, guardrails: Guardrails
) -> Outcome:
    """Remove the erasure's people from the target's audience and record the outcome."""
    key = audience_key(target)
    backend = run.state.backend
    before = records.outcome_of(backend, erasure_id, key)
    members = before.members if before else 0
    requests = before.requests if before else 0
    held = run.state.member_count(target.ref)  # folds what a dead push left first
    matched, waiting = records.held_matching(backend, erasure_id, key)
    if not matched and not waiting:
        outcome = records.DONE if members else records.NOT_HELD
        return _record(backend, erasure_id, key, outcome, members, requests, None)
    removes = _removes(run, spill, erasure_id, key)
    started = time.monotonic()
    result = _apply(erasure_id, target, run, spill, guardrails, removes, held)
    left, waiting = records.held_matching(backend, erasure_id, key)
    members, requests = max(members, removes.rows), requests + result.requests
    log.info(
        "%s: erasure %s: %d members removed in %d requests (%.1f s), %d left, %d waiting",
        target.name,
        erasure_id,
        removes.rows - left,
        result.requests,
        time.monotonic() - started,
        left,
        waiting,
        extra={"audience": target.name},
    )
    if left:
        why = result.error or "the network did not take every removal"
        reason = f"{left:,} of the members are still held: {why}"
        return _record(backend, erasure_id, key, records.FAILED, members, requests, reason)
    if waiting:
        reason = (
            f"the network acknowledged the removal of {waiting:,} members and is still "
            "processing it"
        )
        return _record(backend, erasure_id, key, records.PENDING, members, requests, reason)
    return _record(backend, erasure_id, key, records.DONE, members, requests, None)


def _apply(
    erasure_id: str,
    target: Target,
    run: Run,
    spill: Spill,
    guardrails: Guardrails,
    removes: SpillTable,
    held: int,
) -> AudienceResult:
    """Push the removals as a plan of changes (never a replacement, whatever the audience's
    mode); the plan's guardrails are recorded but never hold an erasure back."""
    adds = SpillTable(spill, spill.create("erasure_adds", MEMBER_SCHEMA), 0)
    changes = Changes(adds, removes, held="false", owned=(adds.name, removes.name))
    incremental = dataclasses.replace(
        target, audience=target.audience.model_copy(update={"mode": "incremental"})
    )
    segment = CountedSegment(
        rows=0,
        member_count=held - removes.rows,
        quarantine=_NO_QUARANTINE,
        invalid={},
        unusable=0,
    )
    plan = build_plan(
        incremental,
        segment,
        changes,
        held=held,
        state=run.state,
        guardrails=guardrails,
        allow_mass_removal=True,
    )
    result = new_result(target)
    result.erasure = erasure_id
    result.held_before, result.removes, result.members = held, removes.rows, held - removes.rows
    result.checks = [str(check) for check in plan.checks]
    result.notes.append(f"erasure {erasure_id}")
    try:
        apply_plan(plan, run, result)
    finally:
        changes.drop()
    return result


def _removes(run: Run, spill: Spill, erasure_id: str, key: AudienceKey) -> SpillTable:
    """The audience's members sharing a value with the erasure, copied into the spill (the
    state's SQL finds them; only they cross over). Their personal values join the request's
    (`linked_values`), before anything is sent."""
    backend = run.state.backend
    kinds = records.erased_kinds(backend, erasure_id, key.network)
    condition, parameters = records.matching(backend, erasure_id, key, "members", kinds)
    name = spill.create("erasure_removes", MEMBER_SCHEMA)
    rows = 0
    for chunk in backend.stream(
        f"SELECT {_MEMBER_COLUMNS} FROM members WHERE destination = ? AND audience_id = ? "
        f"AND {condition}",
        [key.destination, key.audience_id, *parameters],
    ):
        spill.append(name, chunk)
        rows += len(chunk)
    removes = SpillTable(spill, name, rows)
    personal = ", ".join(kind.value for kind in PERSON_KINDS)
    linked = linked_values(key.network, spill.arrow(f"SELECT {personal} FROM {name}"))
    records.add_values(backend, erasure_id, linked)
    return removes


def _record(
    backend: Backend,
    erasure_id: str,
    key: AudienceKey,
    outcome: str,
    members: int,
    requests: int,
    reason: str | None,
) -> Outcome:
    records.record_outcome(
        backend, erasure_id, key, outcome, members=members, requests=requests, reason=reason
    )
    found = records.outcome_of(backend, erasure_id, key)
    assert found is not None
    return found
