"""The character tables that make SQL case and whitespace rules equal to Python's.

The reference rules use Python's str.split()/strip() (Unicode whitespace, which includes
\\x1c-\\x1f and U+0085 that SQL's TRIM and most regex \\s lack) and str.lower()/upper()
(Python's Unicode tables, which no warehouse's LOWER() follows exactly: PostgreSQL's depends
on the database's locale, and a Turkish one lowercases "I" to a dotless i). So the SQL never
calls LOWER(), UPPER() or a regex \\s: it spells Python's own tables out as TRANSLATE()
arguments. Every table here is derived from the running Python, never typed, so it cannot
drift from the reference.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

#: Python's str.lower() is per character except for the capital sigma, which becomes a final
#: sigma (U+03C2) at the end of a word and U+03C3 elsewhere (CPython's handle_capital_sigma).
#: SQL cannot follow that context cheaply, so values holding it are left to the local path.
CONTEXTUAL_LOWER = "\u03a3"

ASCII_UPPER = string.ascii_uppercase
ASCII_LOWER = string.ascii_lowercase


def _codepoints() -> list[str]:
    return [chr(code) for code in range(0x110000) if not 0xD800 <= code < 0xE000]


@dataclass(frozen=True)
class LowerTable:
    """str.lower() as SQL can apply it: REPLACE each expansion, then TRANSLATE."""

    expansions: dict[str, str]  # characters whose lowercase is several characters ("İ")
    source: str  # characters whose lowercase is one other character ...
    target: str  # ... and that character, position by position


@dataclass(frozen=True)
class LowerChunk:
    """Part of the lowercase table, for characters from `first` to `last` (code points)."""

    first: str
    last: str
    source: str
    target: str


#: Where the lowercase table is cut. TRANSLATE costs its table's length for every character
#: of a value (the whole table, 1,400 characters, took ~100 µs per email on PostgreSQL 16 and
#: ~50 µs on DuckDB), so a value only pays the parts whose range it has characters in: an
#: email with an "é" pays Latin-1's 30 (~13 µs on PostgreSQL, ~4 µs on DuckDB, in all).
#: Latin-1, Latin Extended-A, -B, Greek, Cyrillic, up to Latin Extended Additional, it and
#: Greek Extended, the rest of the BMP, the other planes.
LOWER_CHUNK_BOUNDS = (0x80, 0x100, 0x180, 0x250, 0x400, 0x530, 0x1E00, 0x2000, 0x10000, 0x110000)


@dataclass(frozen=True)
class UpperToAscii:
    """str.upper() restricted to what can end in an ASCII country code: the characters whose
    uppercase is one ASCII letter (U+0131 -> "I") or two (U+00DF -> "SS", U+FB01 -> "FI").
    Any other character keeps a value from being a valid code, in Python and in SQL alike."""

    expansions: dict[str, str]
    source: str
    target: str


def runs(characters: str) -> list[tuple[str, str]]:
    """The sorted `characters` as (first, last) runs of consecutive code points."""
    found: list[tuple[str, str]] = []
    for ch in sorted(set(characters)):
        if found and ord(found[-1][1]) + 1 == ord(ch):
            found[-1] = (found[-1][0], ch)
        else:
            found.append((ch, ch))
    return found


@cache
def whitespace() -> str:
    """Every character Python's str.isspace() (so split(), strip() and re's \\s) counts."""
    return "".join(ch for ch in _codepoints() if ch.isspace())


@cache
def ascii_whitespace() -> str:
    return "".join(ch for ch in whitespace() if ch.isascii())


@cache
def lower_table() -> LowerTable:
    expansions: dict[str, str] = {}
    source: list[str] = []
    target: list[str] = []
    for ch in _codepoints():
        lowered = ch.lower()
        if lowered == ch or ch == CONTEXTUAL_LOWER:
            continue
        if len(lowered) == 1:
            source.append(ch)
            target.append(lowered)
        else:
            expansions[ch] = lowered
    # REPLACE runs before TRANSLATE: an expansion must already be lowercase, or TRANSLATE
    # would change it again where Python's single pass does not.
    for lowered in expansions.values():
        if lowered.lower() != lowered:
            raise AssertionError(f"lowercase expansion {lowered!r} is not stable")
    return LowerTable(expansions, "".join(source), "".join(target))


@cache
def upper_to_ascii() -> UpperToAscii:
    expansions: dict[str, str] = {}
    source: list[str] = []
    target: list[str] = []
    for ch in _codepoints():
        upper = ch.upper()
        if upper == ch or not all(letter in ASCII_UPPER for letter in upper):
            continue
        if len(upper) == 1:
            source.append(ch)
            target.append(upper)
        elif len(upper) == 2:  # longer ones ("ﬃ" -> "FFI") can never make a 2-letter code
            expansions[ch] = upper
    return UpperToAscii(expansions, "".join(source), "".join(target))


@cache
def lower_chunks() -> tuple[LowerChunk, ...]:
    """The non-ASCII part of `lower_table()`, cut at LOWER_CHUNK_BOUNDS. TRANSLATE by the
    parts one after the other equals TRANSLATE by the whole, because no lowercase result is
    itself in the table (checked): a part never changes what another part produced."""
    table = lower_table()
    if set(table.target) & set(table.source):
        raise AssertionError("a lowercase letter has a lowercase of its own")
    chunks = []
    for low, high in pairwise(LOWER_CHUNK_BOUNDS):
        pairs = [
            (a, b) for a, b in zip(table.source, table.target, strict=True) if low <= ord(a) < high
        ]
        if pairs:
            source = "".join(a for a, _ in pairs)
            target = "".join(b for _, b in pairs)
            chunks.append(LowerChunk(min(source), max(source), source, target))
    if sum(len(chunk.source) for chunk in chunks) + len(ASCII_UPPER) != len(table.source):
        raise AssertionError("the chunks do not cover the lowercase table")
    return tuple(chunks)
