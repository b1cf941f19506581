"""From what was read of a segment and what the audience holds to a plan: what to add,
what to remove, and how many requests that takes. Building a plan sends nothing, so
`syncd plan` is safe. The changes stay in the pass's spill until the push streams them out
(see `syncd.state.spill`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pyarrow as pa

from syncd.config.models import Guardrails
from syncd.guardrails import Check, Verdict, check_plan
from syncd.identity import versions
from syncd.read.segments import FingerprintedSegment, LeftOut, SpilledSegment
from syncd.state import AudienceRef, Changes, SpillTable, StateStore
from syncd.targets import Target

# `syncd.demo.command` still imports audience_ref from here; it lives in `syncd.targets`.
from syncd.targets import audience_ref as audience_ref


@dataclass(frozen=True)
class CountedSegment:
    """A segment diffed without a table of its members: inside the warehouse
    (`syncd.pushdown.plan`), or by fingerprints (`FingerprintedSegment`). Only its counts
    are here, for the guardrails and the run record, so a plan on it sends changes only,
    never a full replace."""

    rows: int
    member_count: int
    #: Empty when pushed down: rows are not numbered in SQL, so refusals are counted
    #: (`invalid`), not listed.
    quarantine: pa.Table | SpillTable
    invalid: dict[str, int]
    unusable: int
    #: None: an audience in a holdout is never diffed without its members
    #: (`syncd.pushdown.plan.refusal`, `syncd.read.builder`).
    groups: None = None
    #: Erased members the warehouse left out (`syncd.pushdown.erasures`); suppressions are
    #: matched on a segment's members read locally.
    left_out: LeftOut = field(default_factory=LeftOut)

    def invalid_counts(self) -> dict[str, int]:
        return dict(self.invalid)


@dataclass(frozen=True)
class AudiencePlan:
    """One audience's plan: its target, what was read of its segment, how many members it
    holds, the changes (in the pass's spill until `changes.drop`) and the checks' verdicts."""

    target: Target
    segment: SpilledSegment | CountedSegment
    held: int
    changes: Changes
    checks: list[Check]

    @property
    def requests(self) -> dict[str, int]:
        """The fewest requests that carry the plan: ceil(changes / batch size) per operation."""
        size = self.target.batch_size
        return {
            "add": math.ceil(self.changes.adds.rows / size),
            "remove": math.ceil(self.changes.removes.rows / size),
        }

    @property
    def refusals(self) -> list[Check]:
        return [check for check in self.checks if check.verdict is Verdict.REFUSE]


def plan_audience(
    target: Target,
    segment: SpilledSegment | FingerprintedSegment,
    state: StateStore,
    *,
    guardrails: Guardrails,
    allow_mass_removal: bool = False,
    allow_mass_suppression: bool = False,
) -> AudiencePlan:
    """The plan of one audience from its segment as read here (`syncd.read`); its changes
    live in the segment's spill until `drop`."""
    held = state.member_count(target.ref)
    if isinstance(segment, FingerprintedSegment):
        changes, members = state.fingerprint_changes(
            target.ref, segment.delta, segment.unmatched, target.refresh_before
        )
        planned: SpilledSegment | CountedSegment = CountedSegment(
            segment.rows, members, segment.quarantine, segment.invalid, segment.unusable
        )
    else:
        changes = state.changes(target.ref, segment.members, target.refresh_before)
        planned = segment
    return build_plan(
        target,
        planned,
        changes,
        held=held,
        state=state,
        guardrails=guardrails,
        allow_mass_removal=allow_mass_removal,
        allow_mass_suppression=allow_mass_suppression,
    )


def build_plan(
    target: Target,
    segment: SpilledSegment | CountedSegment,
    changes: Changes,
    *,
    held: int,
    state: StateStore,
    guardrails: Guardrails,
    allow_mass_removal: bool = False,
    allow_mass_suppression: bool = False,
) -> AudiencePlan:
    """The plan of one audience from its segment and its changes, however they were made
    (here, or in the warehouse by `syncd.pushdown.plan`), with the guardrails' verdicts and
    the identity rules' (against the rules of the audience's last complete pass in
    `state`)."""
    capabilities = target.capabilities
    left_out = segment.left_out
    checks = check_plan(
        rows=segment.rows,
        unusable_rows=segment.unusable,
        members=segment.member_count,
        held=held,
        removes=changes.removes.rows,
        min_serving_size=capabilities.min_serving_size,
        limits=guardrails,
        allow_mass_removal=allow_mass_removal,
        suppressed=left_out.suppressed,
        erased=left_out.erased,
        left_out_removes=_removes_among(changes.removes, left_out.keys),
        allow_mass_suppression=allow_mass_suppression,
    )
    checks.append(_identity_rules(target.network, held, _rules_before(state, target.ref)))
    return AudiencePlan(target, segment, held, changes, checks)


def _removes_among(removes: SpillTable, keys: SpillTable | None) -> int:
    """How many removals are of members the exclusions left out (`keys`): held members
    whose removal is the suppression guard's to judge. Counted here, on the removals and the
    left-out keys (both small beside the segment), as only the diff knows who is held."""
    if keys is None or not removes.rows or not keys.rows:
        return 0
    ((count,),) = removes.spill.execute(
        f"SELECT count(*) FROM {removes.name} WHERE member_key IN "
        f"(SELECT member_key FROM {keys.name})"
    )
    return int(count)


def _rules_before(state: StateStore, ref: AudienceRef) -> int | None:
    """The identity rules version of the audience's last complete pass, from its run record
    (`syncd.identity.versions`); None before its first."""
    found = state.backend.execute(
        "SELECT summary FROM runs WHERE destination = ? AND audience_id = ? AND status = 'ok' "
        "ORDER BY started_at DESC LIMIT 1",
        [ref.destination, ref.audience_id],
    )
    return versions.version_of_summary(found[0][0]) if found else None


def _identity_rules(network: str, held: int, before: int | None) -> Check:
    """The rules version this plan runs; a warning, saying what changed, when the audience
    holds members made by other rules: those whose identifiers change are re-keyed once."""
    now = f"rules v{versions.RULES_VERSION}"
    if not held or before is None or before == versions.RULES_VERSION:
        return Check(versions.CHECK_NAME, Verdict.OK, now)
    changes = "; ".join(versions.changes_since(network, before)) or "other rules"
    return Check(
        versions.CHECK_NAME,
        Verdict.WARN,
        f"{now}; identity rules changed since the last pass (v{before}): {changes}; members "
        "whose identifiers change are removed under their old key and added under the new one",
    )
