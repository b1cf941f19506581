"""Sending one audience's plan, batch by batch, with every batch journaled in the state.

A batch is journaled (its members marked in flight) before it is sent and settled after
the network acknowledged it. The members of the batches are written to the journal a
hundred batches to a bulk insert, a group ahead of the batch being sent (`StagedAhead`,
`StateStore.stage`), so a batch then costs one row when it is sent and one update when it
is settled, and the batches stream out of the pass's spill a few at a time: memory stays
flat however many members change. Several batches are in flight at once (`InFlight`, as
wide as the destination's `Pacer` allows) and are settled in the order their answers come.
Members the network refuses by index are quarantined and the rest of their batch is sent
again, so one bad hash never holds back 9,999 good ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import pyarrow as pa

from syncd import metrics
from syncd.destinations import Destination, DestinationError, ErrorClass, PushResult
from syncd.destinations.base import MemberErrors, split_by_index
from syncd.destinations.retry import RetryPolicy, call_with_retries
from syncd.in_flight import InFlight, Sent, StagedAhead
from syncd.members import MEMBER_KEY_FIELD
from syncd.pacing import NotSent, Pace, Pacer
from syncd.plan import AudiencePlan
from syncd.state import StateStore
from syncd.state.journal import Pending, StagedBatches
from syncd.statuses import APPLIED, FINAL, StatusWatch

log = logging.getLogger("syncd")

#: How long a request may stay PROCESSING before its members are sent again: Google says
#: its outcome can take from 30 minutes to 24 hours ("Data Manager API troubleshooting",
#: https://www.skills.sh/google/skills/data-manager-api-troubleshooting).
PENDING_FOR = timedelta(days=2)
#: Final statuses of a request that was not applied.
NOT_APPLIED = FINAL - APPLIED


class Stopped(Exception):
    """The pass was asked to stop; raised between batches, never inside one."""


@dataclass
class Tally:
    """What the network said, added up over a push: `syncd.apply` copies it to the result."""

    requests: int = 0
    rejected_by_network: int = 0
    skipped_no_consent: int = 0
    refused_members: int = 0
    request_ids: list[str] = field(default_factory=list)
    #: Members the network acknowledged but said it did not apply: left in flight, so the
    #: next pass sends them again, with why.
    unapplied: int = 0
    unapplied_reasons: list[str] = field(default_factory=list)


class Pusher:
    """Pushes one plan to one network audience (`network_id`, resolved by the caller)."""

    def __init__(
        self,
        *,
        run_id: str,
        plan: AudiencePlan,
        destination: Destination,
        network_id: str,
        state: StateStore,
        retry_policy: RetryPolicy,
        stop: threading.Event,
        pacer: Pacer | None = None,
        statuses: StatusWatch | None = None,
        earlier: list[Pending] | None = None,
        lease_lost: threading.Event | None = None,
    ) -> None:
        self.run_id = run_id
        self.plan = plan
        self.destination = destination
        self.network_id = network_id
        self.state = state
        self.retry_policy = retry_policy
        self.stop = stop
        self.lease_lost = lease_lost or threading.Event()
        self.target = plan.target
        self.pacer = pacer or Pacer(Pace())
        #: Where acknowledged requests go to have their statuses read (asynchronous networks),
        #: with the requests of earlier passes still processing when those passes ended.
        self.statuses = statuses
        self.earlier = {pending.request_id: pending for pending in earlier or ()}
        if statuses is not None:
            statuses.add(self.earlier)
        self.tally = Tally()
        self._tally_lock = threading.Lock()  # requests answered on the window's threads
        #: Each acknowledged request's batch and member count, for statuses that come later.
        self._batch_of_request: dict[str, tuple[str, int]] = {}

    def incremental(self) -> None:
        """Removals first, all of them, then adds: on Meta a removal matches by any key, so
        removing a member's old version after adding its new one could take the person out
        again. Within an operation, up to the pacer's window of batches is in flight."""
        changes, size = self.plan.changes, self.target.batch_size
        self.state.fold(self.target.ref)  # what a pass that died left in the journal
        operations = (("remove", self.destination.remove), ("add", self.destination.add))
        for operation, push in operations:
            if operation == "add" and self.tally.unapplied:
                # A removal the network did not apply is sent again next pass; an add sent
                # now would land before it, and a removal matches by any key.
                self.tally.unapplied_reasons.append("the adds wait for the removals")
                return
            batches = self.plan.requests[operation]
            rows = changes.table(operation).rows
            stage = partial(
                self.state.stage, self.run_id, self.target.ref, changes, operation, size
            )
            with (
                StagedAhead(stage, batches) as staging,
                self.state.staged_batches(self.run_id, operation, rows, size) as journal,
                InFlight(
                    self.pacer,
                    partial(self._send, push),
                    partial(self._settle, journal, operation, push),
                ) as flight,
            ):
                for number, chunk in enumerate(changes.batches(operation, size), start=1):
                    what = f"{self.target.name} {operation} batch {number}/{batches}"
                    flight.make_room()
                    if self.stop.is_set() or self.lease_lost.is_set():
                        why = "lost its lease" if self.lease_lost.is_set() else "stopped"
                        raise Stopped(f"{why} before {what}; the next pass completes the audience")
                    staging.wait_for(number)
                    flight.send(journal.begin(number), number, chunk, what)
                flight.drain()

    def replace(self) -> None:
        """The whole segment as one replacement session (Meta usersreplace). Every member is
        in flight until the session ends, so a crash midway leaves the next pass exact."""
        segment = self.plan.segment
        batch_id = self.state.begin_replace(self.run_id, self.target.ref, segment.members)
        try:
            results = self.destination.replace(
                self.network_id, segment.batches(self.target.batch_size), segment.members.rows
            )
        except DestinationError as error:
            self.state.fail_batch(batch_id, str(error))
            raise
        self.tally.requests += len(results)
        self.state.acknowledge_replace(batch_id, self.target.ref, results[0].request_id)
        self._count(results)

    def settle_statuses(self, statuses: dict[str, str], now: datetime) -> str | None:
        """Apply what the network said of its requests (Google's asynchronous ingestion),
        before `finish` folds the journal; returns a note on those of earlier passes.

        This pass's requests that failed go back in flight, so their members are sent
        again next pass; those still processing are kept pending, and the next pass reads
        them again. Requests of earlier passes that were applied are confirmed; those that
        failed, that the network no longer knows, or that stayed processing past
        `PENDING_FOR` go back in flight."""
        for request_id, status in statuses.items():
            if request_id in self._batch_of_request and status in NOT_APPLIED:
                batch_id, members = self._batch_of_request[request_id]
                reason = f"the network reported the request {status}"
                self.state.fail_batch(batch_id, reason)
                self._not_applied(f"{self.target.name} batch {batch_id}: {reason}", members)
        self.state.mark_pending(
            [
                batch_id
                for request_id, (batch_id, _) in self._batch_of_request.items()
                if statuses.get(request_id, "PROCESSING") not in FINAL
            ]
        )
        return self._settle_earlier(statuses, now) if self.earlier else None

    def _settle_earlier(self, statuses: dict[str, str], now: datetime) -> str:
        applied: list[str] = []
        not_applied: dict[str, list[Pending]] = {}  # by reason
        for request_id, pending in self.earlier.items():
            status = statuses.get(request_id, "PROCESSING")
            hours = (now - pending.sent_at).total_seconds() / 3600
            if status in APPLIED:
                applied.append(pending.batch_id)
            elif status in FINAL or now - pending.sent_at > PENDING_FOR:
                reason = f"the network reported a request {status} {hours:.0f} h after it was sent"
                not_applied.setdefault(reason, []).append(pending)
        self.state.confirm_pending(self.target.ref, applied)
        for reason, batches in not_applied.items():
            self.state.revert_pending(self.target.ref, [b.batch_id for b in batches], reason)
            members = sum(batch.members for batch in batches)
            self._not_applied(f"{self.target.name}: {reason}", members)
        reverted = sum(len(batches) for batches in not_applied.values())
        waiting = len(self.earlier) - len(applied) - reverted
        return (
            f"requests of earlier passes: {len(applied)} applied, {reverted} not (sent again "
            f"next pass), {waiting} still processing"
        )

    def _not_applied(self, why: str, members: int) -> None:
        self.tally.unapplied += members
        self.tally.unapplied_reasons.append(why)
        log.warning("%s; its %d members are sent again next pass", why, members)

    def finish(self) -> None:
        """Apply the journal to the audience's members, whatever became of the push: what
        was acknowledged is held, what was in flight stays possibly either way."""
        self.state.fold(self.target.ref)

    def _settle(
        self,
        journal: StagedBatches,
        operation: str,
        push: Callable[[str, pa.Table], PushResult],
        sent: Sent,
        answer: Future[PushResult],
    ) -> None:
        """Journal what became of one batch sent on the window (on the pass's thread, as
        every journal write is): acknowledged, refused in part, or failed."""
        chunk = sent.chunk
        try:
            acknowledged = answer.result()
        except MemberErrors as refused:
            first_row = (sent.number - 1) * self.target.batch_size
            acknowledged, chunk = self._without_refused(
                operation, push, chunk, first_row, refused, sent.what
            )
        except DestinationError as error:
            journal.fail(sent.batch_id, str(error))
            raise
        except NotSent as unsent:  # it waited for the quota when the pass was told to stop
            journal.fail(sent.batch_id, str(unsent))
            raise Stopped(
                f"stopped before {sent.what}; the next pass completes the audience"
            ) from None
        self._count([acknowledged])
        if acknowledged.unapplied:
            reason = f"the network applied {len(chunk) - acknowledged.unapplied} of {len(chunk)}"
            journal.fail(sent.batch_id, reason)
            self._not_applied(f"{sent.what}: {reason}", len(chunk))
            return
        journal.acknowledge(sent.batch_id, acknowledged.request_id)
        request_ids = [r for r in acknowledged.request_ids or (acknowledged.request_id,) if r]
        for request_id in request_ids:
            self._batch_of_request[request_id] = (sent.batch_id, len(chunk))
        if self.statuses is not None:
            self.statuses.add(request_ids)
        metrics.MEMBERS_CHANGED.labels(self.target.name, self.target.network, operation).inc(
            len(chunk)
        )
        log.info(
            "%s: %d members acknowledged",
            sent.what,
            len(chunk),
            extra={"audience": self.target.name, "run_id": self.run_id},
        )

    def _without_refused(
        self,
        operation: str,
        push: Callable[[str, pa.Table], PushResult],
        chunk: pa.Table,
        first_row: int,
        refused: MemberErrors,
        what: str,
    ) -> tuple[PushResult, pa.Table]:
        """Quarantine the members the network named (`chunk` is the changes' rows from
        `first_row`), send the others again (unless the network already applied them), and
        return what was acknowledged."""
        good, bad = split_by_index(chunk, refused.indexes)
        keys = self.plan.changes.member_keys(operation, [first_row + i for i in refused.indexes])
        bad = bad.add_column(0, MEMBER_KEY_FIELD, keys)
        reasons = [refused.reasons[index] for index in refused.indexes]
        self.state.quarantine_members(self.run_id, self.target.name, operation, bad, reasons)
        self.state.forget_in_flight(self.target.ref, operation, bad)
        self.tally.refused_members += len(bad)
        log.warning(
            "%s: the network refused %d members (%s); sending the other %d",
            what,
            len(bad),
            ", ".join(sorted(set(reasons))),
            len(good),
        )
        if refused.applied or not len(good):
            return PushResult(received=len(good)), good
        return self._send(push, good, what), good

    def _send(
        self, push: Callable[[str, pa.Table], PushResult], chunk: pa.Table, what: str
    ) -> PushResult:
        """One batch's request, retried as the policy says, each attempt paced."""
        network_id = self.network_id

        def paced() -> PushResult:
            with self.pacer.sending(self.stop.wait):
                return push(network_id, chunk)

        return call_with_retries(
            paced,
            self.retry_policy,
            what,
            on_outcome=self._outcome,
            on_wait=self._waited,
            sleep=self.stop.wait,
        )

    def _count(self, results: list[PushResult]) -> None:
        for result in results:
            self.tally.rejected_by_network += result.invalid
            self.tally.skipped_no_consent += result.skipped_no_consent
            ids = result.request_ids or ((result.request_id,) if result.request_id else ())
            self.tally.request_ids.extend(ids)

    def _outcome(self, outcome: str) -> None:
        with self._tally_lock:
            self.tally.requests += 1
        metrics.REQUESTS.labels(self.target.network, outcome).inc()
        if outcome == "ok":
            self.pacer.answered()

    def _waited(self, seconds: float, error: DestinationError) -> None:
        metrics.RETRIES.labels(self.target.network).inc()
        if error.error_class is ErrorClass.RATE_LIMITED:
            self.pacer.throttled(seconds)
            metrics.RATE_LIMIT_WAIT.labels(self.target.network).inc(seconds)
