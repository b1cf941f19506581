"""The people of an erasure request as given: one person a line, one value per kind named
(comma-separated, in the order of the kinds, when several are). Values stay in memory as
Arrow columns of raw text and are never printed: a bad line is told by its number only.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from syncd.identity import IdentifierKind
from syncd.lift.person import PERSON_KINDS

#: The kinds that name one person on their own; a name or a zip names many.
ERASABLE: tuple[IdentifierKind, ...] = PERSON_KINDS


@dataclass(frozen=True)
class People:
    """The lines read: per kind, a column of raw values (null where the cell was empty),
    each row's line number, and the lines that could not be read at all, with why."""

    kinds: tuple[IdentifierKind, ...]
    columns: dict[IdentifierKind, pa.Array]
    lines: pa.Array
    #: Line number -> reason ("not_utf8", "cells": not one cell per kind).
    unreadable: dict[int, str]

    def __len__(self) -> int:
        return len(self.lines)


def read_people(source: Iterable[bytes], kinds: Sequence[IdentifierKind]) -> People:
    """Read `source` (lines of bytes, as a file or stdin gives them). Blank lines are skipped;
    a line with the wrong number of cells or bytes that are not UTF-8 is unreadable."""
    if not kinds:
        raise ValueError("name at least one kind")
    values: list[list[str | None]] = [[] for _ in kinds]
    lines: list[int] = []
    unreadable: dict[int, str] = {}
    for number, raw in enumerate(source, start=1):
        try:
            text = raw.rstrip(b"\r\n").decode("utf-8")
        except UnicodeDecodeError:
            unreadable[number] = "not_utf8"
            continue
        if not text.strip():
            continue
        cells = _cells(text, len(kinds))
        if cells is None:
            unreadable[number] = "cells"
            continue
        if not any(cell.strip() for cell in cells):
            continue
        for column, cell in zip(values, cells, strict=True):
            column.append(cell if cell.strip() else None)
        lines.append(number)
    return People(
        tuple(kinds),
        {kind: pa.array(column, pa.string()) for kind, column in zip(kinds, values, strict=True)},
        pa.array(lines, pa.int64()),
        unreadable,
    )


def _cells(text: str, count: int) -> list[str] | None:
    """The line's cells: the whole line for one kind (an external id may hold a comma),
    else CSV cells (quotes allowed); None when their number is not `count`."""
    if count == 1:
        return [text]
    cells = next(csv.reader([text]), [])
    return cells if len(cells) == count else None
