"""What the vectorized paths share: the text of a column, Python's whitespace, chunks on cores.

The vectorized paths only take rows whose meaning cannot differ between Python and Arrow:
pure-ASCII text. Python's str.strip()/split()/lower() and `re`'s \\s follow Unicode, Arrow's
ascii_* kernels and RE2 follow their own tables; on ASCII they agree once the whitespace set
is Python's own (which has \\x1c-\\x1f, that C's isspace() and RE2's \\s lack). Every other
row (non-ASCII, not a string, an odd type) is handed to the reference path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.identity.rules import MAX_VALUE_CHARS

#: The ASCII characters Python's str.isspace() (and so strip(), split() and re's \s) treats
#: as whitespace, derived rather than typed so it cannot drift.
ASCII_WHITESPACE = "".join(ch for ch in map(chr, range(128)) if ch.isspace())
#: The same set as the body of an RE2 character class.
WHITESPACE_CLASS = "".join(f"\\x{ord(ch):02x}" for ch in ASCII_WHITESPACE)

#: Columns shorter than two of these are not split across threads.
MIN_CHUNK_ROWS = 16_384

NULL_STRING = pa.scalar(None, pa.string())
EMPTY_STRING = pa.scalar("", pa.string())
TRUE = pa.scalar(True, pa.bool_())
FALSE = pa.scalar(False, pa.bool_())


def falses(size: int) -> pa.Array:
    """All-false booleans. (Typed scalars everywhere: an untyped Python value makes pyarrow
    try to import optional modules on every call, which costs more than many kernels.)"""
    return pa.repeat(FALSE, size)


def trues(size: int) -> pa.Array:
    return pa.repeat(TRUE, size)


def int32(value: int) -> pa.Scalar:
    return pa.scalar(value, pa.int32())


def string(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.string())


@dataclass(frozen=True)
class FastColumn:
    """A vectorized path's answer for every row: the normalized value (not yet hashed) or
    null, the reason or null, and `fallback` for rows the reference path must decide."""

    values: pa.Array
    reasons: pa.Array
    fallback: pa.Array


@dataclass(frozen=True)
class Text:
    """A string column split by how sure the vectorized path can be of each row."""

    text: pa.Array  # pa.string(); nulls where the cell is null
    ascii: pa.Array  # non-null ASCII text within MAX_VALUE_CHARS: the vectorized rows
    too_long: pa.Array  # text longer than MAX_VALUE_CHARS: reason too_long, whatever it holds
    fallback: pa.Array  # every other non-null row: non-ASCII text, for the reference path


def text_of(raw: pa.Array) -> pa.Array | None:
    """The column as pa.string() when its values' text is exactly what Python's as_text()
    gives (strings; integers, whose str() Arrow's cast reproduces); None for other types."""
    kind = raw.type
    if pa.types.is_dictionary(kind):
        if not (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)):
            return None
        raw = raw.dictionary_decode()
        kind = raw.type
    if pa.types.is_null(kind):
        return pa.nulls(len(raw), pa.string())
    if pa.types.is_string(kind):
        return raw
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        try:
            return raw.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowCapacityError):
            return None
    if pa.types.is_integer(kind):
        return raw.cast(pa.string())
    return None


def split_text(text: pa.Array) -> Text:
    """Which rows the vectorized path takes: only ASCII text, where Python and Arrow agree."""
    present = pc.is_valid(text)
    # Python counts characters: a string is too long only if its bytes are, and counting
    # characters is only needed then.
    too_long = pc.fill_null(pc.greater(pc.binary_length(text), int32(MAX_VALUE_CHARS)), FALSE)
    if pc.any(too_long).as_py():
        too_long = pc.fill_null(pc.greater(pc.utf8_length(text), int32(MAX_VALUE_CHARS)), FALSE)
    is_ascii = pc.fill_null(pc.string_is_ascii(text), FALSE)
    usable = pc.and_not(present, too_long)
    return Text(
        text=text,
        ascii=pc.and_(usable, is_ascii),
        too_long=too_long,
        fallback=pc.and_not(usable, is_ascii),
    )


def reasons_where(masks: Sequence[tuple[pa.Array, str]], length: int) -> pa.Array:
    """A reason column: the first reason whose mask is true, else null."""
    reasons = pa.nulls(length, pa.string())
    for mask, reason in reversed(masks):
        reasons = pc.if_else(mask, string(reason), reasons)
    return reasons


_WORKER_PREFIX = "syncd-identity"
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    """A forked child has none of the parent's threads: it starts its own pool."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = max(1, (os.cpu_count() or 1) - 1)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=_WORKER_PREFIX)
        return _pool


def map_chunks(
    function: Callable[[pa.Array, pa.Array | None], FastColumn],
    text: pa.Array,
    countries: pa.Array | None,
) -> FastColumn:
    """Run `function` over slices of the column on every core (Arrow kernels release the
    GIL), and put the answers back together in row order. The calling thread takes the
    first slice; a call from one of our own workers runs inline, so workers never wait on
    each other."""
    # One slice per core: every slice pays its own pattern compilation (a few ms for
    # phones), which more, smaller slices would pay again for little better balance.
    chunks = min(os.cpu_count() or 1, len(text) // MIN_CHUNK_ROWS)
    if chunks <= 1 or threading.current_thread().name.startswith(_WORKER_PREFIX):
        return function(text, countries)
    step = -(-len(text) // chunks)

    def run(start: int) -> FastColumn:
        sliced = countries.slice(start, step) if countries is not None else None
        return function(text.slice(start, step), sliced)

    others = [_executor().submit(run, start) for start in range(step, len(text), step)]
    parts = [run(0), *(other.result() for other in others)]
    return FastColumn(
        values=pa.concat_arrays([part.values for part in parts]),
        reasons=pa.concat_arrays([part.reasons for part in parts]),
        fallback=pa.concat_arrays([part.fallback for part in parts]),
    )
