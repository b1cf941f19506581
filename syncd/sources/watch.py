"""Segment reads with a deadline and a stop signal.

A segment query that never ends would hold `syncd run`'s one pass worker for good, and no
warehouse hears SIGTERM. So each read runs under a watcher thread that interrupts the source
(`Source.interrupt`) when the segment's timeout passes or the pass is asked to stop. The
warehouses' own timeouts (given to `Source.read`) stop the query in the warehouse too; the
watcher is what DuckDB, which has none, relies on, and what every read falls back on.

Reads in progress are listed here, for the daemon's /readyz: a read still running past its
deadline is one whose warehouse did not answer the interrupt, and the pass is stuck.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from syncd.sources.base import Source, SourceError

log = logging.getLogger(__name__)

#: How often the watcher looks at the stop signal: SIGTERM interrupts a query this fast.
POLL_SECONDS = 0.1


@dataclass(eq=False)
class ActiveRead:
    """One segment read in progress."""

    segment: str
    timeout_seconds: int
    started: float = field(default_factory=time.monotonic)

    def overdue_seconds(self, now: float) -> float:
        return now - self.started - self.timeout_seconds


_active: set[ActiveRead] = set()
_active_lock = threading.Lock()


def overdue_reads(now: float | None = None) -> list[str]:
    """Why a pass is stuck: each read of this process still running past its deadline."""
    now = time.monotonic() if now is None else now
    with _active_lock:
        late = sorted(
            (read for read in _active if read.overdue_seconds(now) > 0),
            key=lambda read: read.started,
        )
    return [
        f"segment {read.segment}: its query has run {now - read.started:.0f}s, past its "
        f"{read.timeout_seconds}s timeout, and the warehouse has not stopped it"
        for read in late
    ]


class WatchedSource:
    """The pass's source as one segment sees it: every read gets the segment's timeout, and
    ends with a SourceError saying why when the timeout passes or `stop` is set."""

    def __init__(
        self, source: Source, segment: str, timeout_seconds: int, stop: threading.Event
    ) -> None:
        self._source = source
        self._segment = segment
        self._timeout = timeout_seconds
        self._stop = stop

    def read(self, sql: str, timeout_seconds: int | None = None) -> Iterator[pa.RecordBatch]:
        return self._read(sql, timeout_seconds or self._timeout)

    def interrupt(self) -> None:
        self._source.interrupt()

    def close(self) -> None:
        """Nothing to do: the source is the pass's, and the pass closes it."""

    def _read(self, sql: str, timeout: int) -> Iterator[pa.RecordBatch]:
        if self._stop.is_set():
            raise SourceError(_STOPPED)
        read = ActiveRead(self._segment, timeout)
        log.info("segment %s: reading (timeout %ds)", self._segment, timeout)
        watcher = _Watcher(self._source, read, self._stop)
        with _active_lock:
            _active.add(read)
        watcher.start()
        try:
            for batch in self._source.read(sql, timeout_seconds=timeout):
                if watcher.cause is not None:  # interrupted between two batches
                    raise SourceError(self._why(watcher.cause))
                yield batch
        except SourceError as error:
            cause = watcher.cause or (
                "timeout" if read.overdue_seconds(time.monotonic()) >= 0 else None
            )
            if cause is None:
                raise
            raise SourceError(self._why(cause)) from error
        finally:
            watcher.finish()
            with _active_lock:
                _active.discard(read)

    def _why(self, cause: str) -> str:
        if cause == "stop":
            return _STOPPED
        name = self._segment
        return (
            f"the query ran longer than its {self._timeout}s timeout and was stopped; make "
            f"segments.{name}.sql faster, or raise segments.{name}.timeout_seconds (unset, "
            "warehouse.statement_timeout_seconds applies)"
        )


_STOPPED = "the query was interrupted because syncd is stopping; the next pass reads it again"


class _Watcher:
    """Interrupts the source once, at the read's deadline or when `stop` is set."""

    def __init__(self, source: Source, read: ActiveRead, stop: threading.Event) -> None:
        self.cause: str | None = None
        self._source = source
        self._read = read
        self._stop = stop
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name=f"syncd-watch-{read.segment}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        deadline = self._read.started + self._read.timeout_seconds
        while not self._done.is_set():
            if self._stop.is_set():
                self.cause = "stop"
            elif time.monotonic() >= deadline:
                self.cause = "timeout"
            if self.cause is not None:
                self._source.interrupt()
                return
            self._done.wait(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
