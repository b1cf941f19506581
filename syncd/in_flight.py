"""The two helpers a push runs beside its loop over batches: the window of requests in
flight (`InFlight`), and the journal's staging of the batches' members a group ahead of
the batch being sent (`StagedAhead`). Both know nothing of plans or networks: the push
gives them what to call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import pyarrow as pa

from syncd.destinations import PushResult
from syncd.pacing import Pacer

log = logging.getLogger("syncd")

#: How many batches' members one insert stages (`StateStore.stage`): a million members, so
#: a large push starts sending after a second, not after its whole audience is staged, and
#: stages each following million on a thread of its own while it sends the one before.
BATCHES_PER_STAGE = 100


@dataclass(frozen=True)
class Sent:
    """A batch on its way: its journal id, number, members and name for messages."""

    batch_id: str
    number: int
    chunk: pa.Table
    what: str


class InFlight:
    """The window of one operation's requests: each batch is sent (`send`, which sends one
    request and retries it) on a thread of its own, at most the pacer's window at once, and
    settled (`settle`, which journals what became of it) on the pass's thread in the order
    the answers come (the journal takes acknowledgments in any order). The first failure
    stops new sends; the requests already out are waited for and journaled, then it is
    raised. Leaving the block any other way (stopped) also waits for them: a request that
    left is never abandoned unjournaled."""

    def __init__(
        self,
        pacer: Pacer,
        send: Callable[[pa.Table, str], PushResult],
        settle: Callable[[Sent, Future[PushResult]], None],
    ) -> None:
        self._pacer = pacer
        self._send = send
        self._settle = settle
        self._pool = ThreadPoolExecutor(
            max_workers=pacer.pace.max_in_flight, thread_name_prefix="syncd-send"
        )
        self._pending: dict[Future[PushResult], Sent] = {}
        self._error: BaseException | None = None

    def __enter__(self) -> InFlight:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._settle_all()
        finally:
            self._pool.shutdown(wait=True)

    def send(self, batch_id: str, number: int, chunk: pa.Table, what: str) -> None:
        """Send a batch already marked in flight in the journal."""
        answer = self._pool.submit(self._send, chunk, what)
        self._pending[answer] = Sent(batch_id, number, chunk, what)

    def make_room(self) -> None:
        """Return once another request may leave; raise the first failure once every
        request out has been settled."""
        while self._pending and len(self._pending) >= self._pacer.window:
            self._settle_next()
        if self._error is not None:
            self.drain()

    def drain(self) -> None:
        """Settle every request out; raise the first failure among them."""
        self._settle_all()
        if self._error is not None:
            raise self._error

    def _settle_all(self) -> None:
        while self._pending:
            self._settle_next()

    def _settle_next(self) -> None:
        done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
        for answer in done:
            sent = self._pending.pop(answer)
            try:
                self._settle(sent, answer)
            except Exception as error:  # journaled as failed; later ones still settle
                self._error = self._error or error


class StagedAhead:
    """The members of one operation's `batches`, staged BATCHES_PER_STAGE batches at a time
    (`stage`, given the numbers of a group's batches) on a thread of its own, a group ahead
    of the batch being sent: with the DuckDB state the staging (DuckDB's work, outside the
    GIL and beside the push's commits, see `Backend.append`) runs on the core that the
    requests leave idle. A batch is sent only once its group is staged (`wait_for`), so the
    journal is as exact as before; a group staged for batches that are never sent means
    nothing, and the next fold drops it."""

    def __init__(self, stage: Callable[[range], None], batches: int) -> None:
        self._stage_group = stage
        self._batches = batches
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="syncd-stage")
        self._staging: dict[int, Future[None]] = {}  # by the group's first batch

    def __enter__(self) -> StagedAhead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True)  # a group still being staged is written whole
        for first, group in self._staging.items():  # staged ahead of a push that ended
            if group.exception() is not None:
                log.error(
                    "could not stage batches %d-%d ahead; nothing was sent for them",
                    first,
                    first + BATCHES_PER_STAGE - 1,
                    exc_info=group.exception(),
                )

    def wait_for(self, number: int) -> None:
        """Batch `number` may be sent on return: its group is staged, and the next group is
        being staged."""
        if (number - 1) % BATCHES_PER_STAGE:
            return
        group = self._staging.pop(number, None) or self._stage(number)
        group.result()
        following = number + BATCHES_PER_STAGE
        if following <= self._batches:
            self._staging[following] = self._stage(following)

    def _stage(self, first: int) -> Future[None]:
        batches = range(first, min(first + BATCHES_PER_STAGE, self._batches + 1))
        return self._pool.submit(self._stage_group, batches)
