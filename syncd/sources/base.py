"""What every warehouse reader shares: the protocol, its error and the batch size. Apart from
the package's `open_source`, which imports each reader, so that the readers need not import
the package that imports them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

import pyarrow as pa

#: Rows per Arrow batch: large enough to amortize per-batch work, small enough to keep
#: memory flat whatever the segment's size.
BATCH_ROWS = 100_000

_QUOTED_LITERAL = re.compile(r"'[^']*'")


class SourceError(Exception):
    """The warehouse could not give the segment; the message names the segment and the fix."""


class Source(Protocol):
    def read(self, sql: str, timeout_seconds: int | None = None) -> Iterator[pa.RecordBatch]:
        """Run `sql` and stream its result; raises SourceError. With `timeout_seconds`, the
        warehouse stops the query past it where it can (`syncd.sources.watch` makes sure)."""
        ...

    def interrupt(self) -> None:
        """Stop the running read now, from another thread (a watcher: a timeout, SIGTERM);
        that read raises SourceError. Harmless when no read runs."""
        ...

    def close(self) -> None: ...


def redact_literals(message: str) -> str:
    """Warehouse errors quote the values they choke on ("could not convert 'a@b.com'"):
    those may be identifiers, so every single-quoted literal is blanked out."""
    return _QUOTED_LITERAL.sub("'…'", message)
