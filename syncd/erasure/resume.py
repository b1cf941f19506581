"""Unfinished erasures applied, audience by audience, under the audiences' claims: by
`syncd forget` (a request just recorded, and every earlier one not done), and by every pass
that applies, before it reads a segment (`syncd.pipeline.sync_all`), so the daemon applies
pending erasures ahead of any other work.

A running daemon (`syncd run`) also looks for unfinished erasures every
`daemon_interval(config)` seconds, between its passes, and applies them on the audiences it
holds (`forget` with its lease): an audience another process holds is left pending with who
holds it, and that daemon applies the erasure within that interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from syncd.apply import Run
from syncd.claims import Claims, Lease, process_name
from syncd.config.models import Guardrails, SyncdConfig
from syncd.destinations.retry import RetryPolicy
from syncd.erasure.digests import Digests
from syncd.erasure.removal import audience_key, erase_from
from syncd.state import Spill, open_state
from syncd.state import erasures as records
from syncd.state.backends import Backend
from syncd.state.erasures import ErasureRecord
from syncd.targets import Target, targets

log = logging.getLogger("syncd")

#: Audiences erased at once (their pushes share each destination's pacer, as a pass's do).
AUDIENCES_AT_ONCE = 4
#: How often at most a daemon looks for unfinished erasures (`daemon_interval`).
DAEMON_EVERY_SECONDS = 30.0

Progress = Callable[[str], None]


def apply_unfinished(
    claimed: Sequence[Target],
    run: Run,
    spill: Spill,
    guardrails: Guardrails,
    progress: Progress | None = None,
) -> None:
    """Every unfinished erasure outcome of the `claimed` audiences, oldest request first;
    an audience with none costs one query. A fault fails that audience's outcome, never
    the caller."""
    backend = run.state.backend

    def erase(target: Target) -> None:
        try:
            erase_all(target)
        except Exception:  # the state failed: the audience's pass says so, if it runs at all
            log.exception("%s: could not apply its erasures", target.name)

    def erase_all(target: Target) -> None:
        for unfinished in records.unfinished_on(
            backend, target.ref.destination, target.ref.audience_id
        ):
            if run.stop.is_set():
                return
            if progress:
                progress(f"{target.name}: erasure {unfinished.erasure_id}: removing")
            try:
                outcome = erase_from(unfinished.erasure_id, target, run, spill, guardrails)
            except Exception as error:  # this audience's outcome says so; the others go on
                log.exception("%s: erasure %s failed", target.name, unfinished.erasure_id)
                records.record_outcome(
                    backend,
                    unfinished.erasure_id,
                    audience_key(target),
                    records.FAILED,
                    members=unfinished.members,
                    requests=unfinished.requests,
                    reason=f"unexpected error: {error!r}",
                )
                continue
            if progress:
                progress(
                    f"{target.name}: erasure {unfinished.erasure_id}: {outcome.outcome} "
                    f"({outcome.members:,} members, {outcome.requests} requests)"
                )

    workers = max(1, min(len(claimed), AUDIENCES_AT_ONCE))
    with ThreadPoolExecutor(workers, thread_name_prefix="syncd-erasure") as pool:
        list(pool.map(erase, claimed))


def daemon_interval(config: SyncdConfig) -> float:
    """Seconds between a daemon's looks for unfinished erasures: `DAEMON_EVERY_SECONDS`, or
    as often as it renews its leases when that is sooner (one query when there is none)."""
    return min(DAEMON_EVERY_SECONDS, config.daemon.lease_seconds / 3)


def forget(
    config: SyncdConfig,
    request: Digests | None,
    *,
    retry_policy: RetryPolicy | None = None,
    progress: Progress | None = None,
    lease: Lease | None = None,
    stop: threading.Event | None = None,
) -> list[ErasureRecord]:
    """Record `request` (unless it is recorded already), then apply every unfinished
    erasure to every audience of the config this process can claim, under `lease` (by
    default this process's, given back at the end); the records touched, oldest first."""
    lease = lease or Lease(process_name(), config.daemon.lease_seconds)
    with open_state(config.state) as state, state.spill() as spill:
        backend = state.backend
        every = targets(config, datetime.now(UTC))
        if request is not None:
            created = records.record_request(
                backend,
                request.erasure_id,
                people=request.people,
                invalid_lines=len(request.invalid),
                values=request.values,
                audiences=[audience_key(target) for target in every],
            )
            if progress and not created:
                progress(f"erasure {request.erasure_id} was recorded before: resuming it")
        unfinished = records.unfinished(backend)
        for erasure_id in unfinished:  # audiences added to the config since it was recorded
            records.add_outcomes(backend, erasure_id, [audience_key(t) for t in every])
        due = [t for t in every if records.unfinished_on(backend, *_state_key(t))]
        with Claims(state, lease) as claims:
            claimed = claims.take_each(due, lambda target, why: _held(target, why, backend))
            run = Run(
                state,
                lease.holder,
                claims,
                retry_policy or RetryPolicy(),
                stop or threading.Event(),
                config.retention.group_history_days,
            )
            apply_unfinished(claimed, run, spill, config.guardrails, progress)
        touched = [*unfinished]
        if request is not None and request.erasure_id not in touched:
            touched.append(request.erasure_id)
        found = (records.read(backend, erasure_id) for erasure_id in touched)
        return [record for record in found if record is not None]


def _held(target: Target, refused: str, backend: Backend) -> None:
    """An audience another process holds: its outcomes stay pending and say who holds it
    (a daemon applies the erasure at its next look, `daemon_interval`)."""
    for unfinished in records.unfinished_on(backend, *_state_key(target)):
        records.record_outcome(
            backend,
            unfinished.erasure_id,
            audience_key(target),
            records.PENDING,
            members=unfinished.members,
            requests=unfinished.requests,
            reason=f"not tried: {refused}; a running syncd daemon applies it within "
            f"{DAEMON_EVERY_SECONDS:.0f} s",
        )


def _state_key(target: Target) -> tuple[str, str]:
    return target.ref.destination, target.ref.audience_id
