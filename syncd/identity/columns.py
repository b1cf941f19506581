"""Whole columns through the identifier rules: the vectorized paths, then the reference.

`normalize_column` runs a kind's vectorized path (emails, phones) on slices of the column on
every core; the rows a slice's fast path leaves alone (`FastColumn.fallback`) are decided by
the reference rule itself, per distinct (value, country); then the whole column is hashed in
one vectorized pass (`hashing`), which gives the same hex as the rule's own sha256_hex.
Columns of other types (bytes, floats, ...) and kinds without a vectorized path (names,
countries, zips, mobile ids, external ids) go through the reference path whole: those
columns repeat values so much that its per-distinct cache already does most of the work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.identity.dialects import Dialect
from syncd.identity.emails import normalize_emails
from syncd.identity.hashing import sha256_hex_array
from syncd.identity.kinds import IdentifierKind
from syncd.identity.phones import normalize_phones
from syncd.identity.rules import IdentifierRule, InvalidIdentifier, as_text, rule_of
from syncd.identity.vector import FastColumn, falses, map_chunks, text_of

_FAST_PATHS: dict[IdentifierKind, Callable[[Dialect, pa.Array, pa.Array | None], FastColumn]] = {
    IdentifierKind.EMAIL: normalize_emails,
    IdentifierKind.PHONE: normalize_phones,
}


@dataclass(frozen=True)
class IdentifierColumn:
    """One identifier column ready to send: values (null where absent or invalid) and the
    reason for every invalid row (null elsewhere)."""

    values: pa.Array
    reasons: pa.Array


def normalize_column(
    dialect: Dialect,
    kind: IdentifierKind,
    raw: pa.Array,
    countries: pa.Array | None = None,
) -> IdentifierColumn:
    """Apply a network's rule to a column; `countries` gives each row's ISO code (or null)."""
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if isinstance(countries, pa.ChunkedArray):
        countries = countries.combine_chunks()
    fast = _FAST_PATHS.get(kind)
    text = text_of(raw) if fast is not None else None
    country_text = _countries_of(countries)
    if fast is None or text is None or (countries is not None and country_text is None):
        return normalize_column_reference(dialect, kind, raw, countries)

    rule = rule_of(dialect, kind)
    cache: dict[tuple[str, str | None], tuple[str | None, str | None]] = {}

    def settled(chunk: pa.Array, chunk_countries: pa.Array | None) -> FastColumn:
        return _settle(rule, fast(dialect, chunk, chunk_countries), chunk, chunk_countries, cache)

    column = map_chunks(settled, text, country_text)
    values = sha256_hex_array(column.values) if rule.hashed else column.values
    return IdentifierColumn(values, column.reasons)


def _countries_of(countries: pa.Array | None) -> pa.Array | None:
    """Row countries as pa.string(), when they are strings (codes), else None."""
    if countries is None or pa.types.is_integer(countries.type):
        return None
    return text_of(countries)


def _settle(
    rule: IdentifierRule,
    column: FastColumn,
    text: pa.Array,
    countries: pa.Array | None,
    cache: dict[tuple[str, str | None], tuple[str | None, str | None]],
) -> FastColumn:
    """The fast path's answer with its fallback rows decided by the reference rule, per
    distinct (value, country). Values stay unhashed: the column is hashed in one pass.
    (The text is what as_text() gives for every row the fast path takes.)"""
    if not pc.any(column.fallback).as_py():
        return column
    rows = pc.indices_nonzero(column.fallback)
    country_values = countries.take(rows).to_pylist() if countries is not None else None
    values: list[str | None] = []
    reasons: list[str | None] = []
    for index, value in enumerate(text.take(rows).to_pylist()):
        country = country_values[index] if country_values is not None else None
        key = (value, country)
        result = cache.get(key)
        if result is None:
            result = cache[key] = _normalized_or_reason(rule, value, country)
        values.append(result[0])
        reasons.append(result[1])
    fallback = column.fallback
    return FastColumn(
        values=pc.replace_with_mask(column.values, fallback, pa.array(values, pa.string())),
        reasons=pc.replace_with_mask(column.reasons, fallback, pa.array(reasons, pa.string())),
        fallback=falses(len(fallback)),
    )


def normalize_column_reference(
    dialect: Dialect,
    kind: IdentifierKind,
    raw: pa.Array,
    countries: pa.Array | None = None,
) -> IdentifierColumn:
    """The reference path: the per-value rule for each distinct (value, country)."""
    rule = rule_of(dialect, kind)
    country_values = countries.to_pylist() if countries is not None else [None] * len(raw)
    cache: dict[tuple[object, str | None], tuple[str | None, str | None]] = {}
    values: list[str | None] = []
    reasons: list[str | None] = []
    for value, country in zip(raw.to_pylist(), country_values, strict=True):
        key = (value, country)
        result = cache.get(key)
        if result is None:
            result = cache[key] = _send_or_reason(rule, value, country)
        values.append(result[0])
        reasons.append(result[1])
    return IdentifierColumn(pa.array(values, pa.string()), pa.array(reasons, pa.string()))


def _send_or_reason(
    rule: IdentifierRule, value: object, country: str | None
) -> tuple[str | None, str | None]:
    """(value to send, None), (None, reason) when invalid, or (None, None) when absent:
    a NULL or blank cell is a missing identifier, not a bad one."""
    return _outcome(rule.apply, value, country)


def _normalized_or_reason(
    rule: IdentifierRule, value: object, country: str | None
) -> tuple[str | None, str | None]:
    """`_send_or_reason` before hashing: the same rule, the same reasons."""
    return _outcome(rule.normalize, value, country)


def _outcome(
    step: Callable[[str, str | None], str], value: object, country: str | None
) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    try:
        text = as_text(value)
        if not text.strip():
            return None, None
        return step(text, country), None
    except InvalidIdentifier as invalid:
        return None, invalid.reason
