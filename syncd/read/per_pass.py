"""Each segment read once per pass, for every network that needs it, in one scan; a worker
that needs a segment another is reading waits for it. A read past its segment's timeout, or
one under way when the pass is asked to stop, is interrupted."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

from syncd.config.models import Consent, Warehouse
from syncd.read.exclusions import Exclusions
from syncd.read.scan import Read, spill_segments
from syncd.read.segments import ReadSegment
from syncd.sources import Source, SourceError, open_source
from syncd.sources.watch import WatchedSource
from syncd.state import Spill, StateStore
from syncd.targets import Target

#: Targets with one key share their segment's members: same segment, same network's rules,
#: same consent defaults.
ReadKey = tuple[str, str, Consent | None]


class PassReads:
    """The segments of a pass's `targets` (those the pass reads locally), each read when
    the first of them asks for it; a target planned elsewhere that falls back to a local
    read asks for itself. The people no audience may hold (`exclusions`: suppressed, and
    erased in `state`) are read once for the whole pass."""

    def __init__(
        self,
        warehouse: Warehouse,
        targets: Sequence[Target],
        spill: Spill,
        stop: threading.Event,
        state: StateStore | None = None,
    ) -> None:
        self._warehouse = warehouse
        self._targets = targets
        self.spill = spill
        self._stop = stop
        self.exclusions = Exclusions(spill, state)
        self._read: dict[ReadKey, ReadSegment | SourceError] = {}
        self._source: Source | None = None
        self._lock = threading.Lock()

    def get(self, target: Target) -> ReadSegment | SourceError:
        key = read_key(target)
        with self._lock:
            if key not in self._read:
                self._source = self._source or open_source(self._warehouse)
                segment = target.audience.segment
                unread = [target] + [
                    other
                    for other in self._targets
                    if other is not target
                    and other.audience.segment == segment
                    and read_key(other) not in self._read
                ]
                source = WatchedSource(self._source, segment, target.read_timeout, self._stop)
                self._read.update(_read(source, unread, self.spill, self.exclusions))
            return self._read[key]

    def close(self) -> None:
        if self._source is not None:
            self._source.close()


def read_key(target: Target) -> ReadKey:
    return target.audience.segment, target.network, target.consent


def _read(
    source: Source, targets: list[Target], spill: Spill, exclusions: Exclusions
) -> dict[ReadKey, ReadSegment | SourceError]:
    """The members of one segment for every network these targets need, from one scan. A
    network's members read for one incremental audience alone may be matched with that
    audience's by fingerprint (`syncd.fingerprints`)."""
    sharing = Counter(read_key(target) for target in targets)
    reads = {
        read_key(target): Read(
            target, sharing[read_key(target)] == 1 and target.audience.mode == "incremental"
        )
        for target in targets
    }
    try:
        spilled = spill_segments(source, list(reads.values()), spill, exclusions)
    except SourceError as error:
        return dict.fromkeys(reads, error)
    return dict(zip(reads, spilled, strict=True))
