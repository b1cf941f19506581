"""What one audience's pass did, in counts only: printed by the CLI, logged, measured, and
stored in its run record. Never a raw identifier."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from syncd import metrics
from syncd.destinations.base import MATCHED
from syncd.targets import Target

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
    #: Members of the segment left out because a suppression or an erasure covers them:
    #: never sent, removed where held (not among `members`).
    suppressed: int = 0
    #: With a holdout: the experiment's people sent (treated) and held out, this pass.
    treated_people: int | None = None
    held_out_people: int | None = None
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
    #: The audience's run record in the state (`runs.run_id`), once its plan is applied.
    run_id: str | None = None
    #: The erasure this run applied (`syncd forget`), None for an ordinary pass: such a run
    #: reads no segment, so alerts and status leave it out of pass history by this field.
    erasure: str | None = None
    #: When the audience's pass began (ISO 8601, UTC: a result is made as its pass begins),
    #: and how long it took (set by `finish`, after the run record, which has its own times).
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        return asdict(self)


def new_result(target: Target) -> AudienceResult:
    return AudienceResult(target.name, target.network, target.audience.audience_id)


def finish(result: AudienceResult, seconds: float) -> None:
    """The pass of one audience is over: its metrics, and one log line with its counts."""
    result.seconds = round(seconds, 3)
    metrics.observe_pass(
        result.audience, result.status, result.rows_read, result.invalid, result.members, seconds
    )
    metrics.observe_outcome(
        result.audience,
        result.status,
        sent=result.adds + result.removes,
        refused=result.refused_members + result.rejected_by_network,
        held=result.held_before + result.adds - result.removes,
        members=result.members,
        matched=result.audience_info.get(MATCHED),
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
