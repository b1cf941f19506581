"""Phones, vectorized: phonenumbers' parse + is_valid_number + E.164, replayed on Arrow arrays
with phonenumbers' own metadata (`phone_plans`), for the shapes real columns hold.

The reference (`rules._parse_phone`) strips the value, turns a leading "00" into "+", parses
it with phonenumbers (as international after "+", else as national to the row's country and,
failing that, as international), checks it with is_valid_number and formats E.164: about
73 k values/s. This module does the same to whole arrays.

It takes an ASCII row only when, after Python's strip() and the "00" rule, the text is an
optional leading "+" then digits and the separators " ().-", with 3 to 20 digits. On such
text phonenumbers' `parse` (phonenumberutil, version 9) comes down to these steps, each
replayed here with the same data and the same decisions:

1. No extension, RFC 3966 context, second number or vanity letter can be present and the
   text is viable, so the number is its digits D.
2. After "+": the calling code is the shortest prefix of D (one to three digits) that is a
   known code, and the rest is read with the metadata of the code's main region. No known
   code: the parse fails.
3. Without "+", with a supported region: a D that starts with the region's IDD prefix goes
   to the reference path. A D that starts with the region's own calling code loses it when
   D does not match the general pattern but the rest does, or when D is too long
   (`_maybe_extract_country_code`).
4. The national prefix is stripped as `_maybe_strip_national_prefix_carrier_code` does, then
   kept only if the length test allows (`parse`), when the prefix is literal alternatives
   without a transform rule (US "1", GB "0|180020", DE, FR and IN "0"). Rows that any other
   prefix pattern matches go to the reference path (BR's carrier codes, AR, JP, ...).
5. Valid when its region (the code's one region, or the first in order whose leading digits,
   or for a region without them whose patterns, match) has a general pattern and a
   number-type pattern that both fully match, each allowing its length.
6. E.164 is "+", the calling code and the national number, leading zeros included.

A national number that is not valid is then read as international, as the reference does.
Calling codes or regions with fewer than MIN_GROUP_ROWS rows in a slice go to the reference
path too: compiling their patterns would cost more than phonenumbers does for so few values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata, phonenumberutil

from syncd.identity.dialects import Dialect
from syncd.identity.phone_plans import (
    AVAILABLE,
    MAX_NSN,
    MIN_NSN,
    Plan,
    plan_for_code,
    plan_for_region,
    starts,
    starts_any,
    type_ok,
    viable,
)
from syncd.identity.vector import (
    ASCII_WHITESPACE,
    EMPTY_STRING,
    FALSE,
    NULL_STRING,
    FastColumn,
    falses,
    int32,
    reasons_where,
    split_text,
    string,
    trues,
)

#: Calling codes or regions with fewer rows than this in a slice go to the reference path.
MIN_GROUP_ROWS = 64

_SEPARATORS = (" ", "(", ")", "-", ".", "+")
_MIN_DIGITS, _MAX_DIGITS = 3, 20
#: Well under phonenumbers' 250-character input limit, with the "+" of the retry.
_MAX_TEXT = 200
_CALLING_CODES = phonenumberutil.COUNTRY_CODE_TO_REGION_CODE
_CODES_BY_LENGTH = {
    size: pa.array(sorted(str(code) for code in _CALLING_CODES if len(str(code)) == size))
    for size in (1, 2, 3)
}


@dataclass(frozen=True)
class _Read:
    """Per row: valid, its calling code and national number (E.164 without "+"), or
    fallback to the reference path."""

    valid: pa.Array
    codes: pa.Array
    numbers: pa.Array
    fallback: pa.Array

    def filter(self, rows: pa.Array) -> _Read:
        return _Read(*(pc.filter(array, rows) for array in self._arrays()))

    def _arrays(self) -> tuple[pa.Array, ...]:
        return self.valid, self.codes, self.numbers, self.fallback


def normalize_phones(dialect: Dialect, text: pa.Array, countries: pa.Array | None) -> FastColumn:
    """E.164 phones (without "+" unless `dialect.phone_plus`) for the rows this path can
    prove; the others are marked fallback."""
    rows = split_text(text)
    size = len(text)
    stripped = pc.ascii_trim(text, ASCII_WHITESPACE)
    present = pc.and_(rows.ascii, pc.fill_null(pc.not_equal(stripped, EMPTY_STRING), FALSE))
    plus = pc.or_(pc.starts_with(stripped, "+"), pc.starts_with(stripped, "00"))
    plus = pc.fill_null(plus, FALSE)
    no_country = pc.is_null(countries) if countries is not None else trues(size)
    needs_country = pc.and_(pc.and_not(present, plus), no_country)
    todo = pc.and_not(present, needs_country)

    valid, fallback, phones = falses(size), rows.fallback, pa.nulls(size, pa.string())
    if not AVAILABLE:  # a phonenumbers this was not written for
        fallback = pc.or_(fallback, todo)
    elif pc.any(todo).as_py():
        read = _read(
            pc.filter(stripped, todo),
            pc.filter(plus, todo),
            pc.filter(countries, todo) if countries is not None else None,
        )
        valid = pc.replace_with_mask(valid, todo, read.valid)
        fallback = pc.replace_with_mask(fallback, todo, read.fallback)
        if dialect.phone_plus:
            e164 = pc.binary_join_element_wise(string("+"), read.codes, read.numbers, "")
        else:
            e164 = pc.binary_join_element_wise(read.codes, read.numbers, "")
        phones = pc.replace_with_mask(phones, todo, e164)
    return FastColumn(
        values=pc.if_else(valid, phones, NULL_STRING),
        reasons=reasons_where(
            [
                (rows.too_long, "too_long"),
                (needs_country, "phone_needs_country"),
                (pc.and_not(pc.and_not(todo, valid), fallback), "invalid_phone"),
            ],
            size,
        ),
        fallback=fallback,
    )


def _read(text: pa.Array, plus: pa.Array, countries: pa.Array | None) -> _Read:
    """Steps 1 to 6 for present, stripped ASCII text."""
    size = len(text)
    digits, shaped = _digits(text)
    positions = _positions(size)
    parts = [(pc.filter(positions, pc.invert(shaped)), None)]
    international = [pc.filter(positions, pc.and_(shaped, plus))]
    national = pc.and_not(shaped, plus)
    if countries is not None and pc.any(national).as_py():
        national_rows = pc.filter(positions, national)
        for region, members in _groups(pc.filter(countries, national)):
            rows = pc.take(national_rows, members)
            read = _national_group(region, pc.take(digits, rows)) if _worth(rows) else None
            if read is None:
                parts.append((rows, None))
                continue
            final = pc.or_(read.valid, read.fallback)
            if pc.all(final).as_py():
                parts.append((rows, read))
            else:  # not valid as national: the reference reads "+" + text next
                parts.append((pc.filter(rows, final), read.filter(final)))
                international.append(pc.filter(rows, pc.invert(final)))
    international_rows = pa.concat_arrays(international)
    if len(international_rows):
        parts += _international(international_rows, pc.take(digits, international_rows))
    return _assemble(parts)


def _digits(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """D for each row (after "+" or "00"), and whether the row has the shape we take.
    (Literal replaces beat one regex replace threefold, and skipping the rows without
    separators saves less than finding them costs.)"""
    body = text
    for separator in _SEPARATORS:
        body = pc.replace_substring(body, separator, "")
    double_zero = pc.starts_with(text, "00")
    if pc.any(double_zero).as_py():
        body = pc.if_else(double_zero, pc.utf8_slice_codeunits(body, 2), body)
    pluses = pc.count_substring(text, "+")
    plus_first = pc.or_(
        pc.equal(pluses, int32(0)),
        pc.and_(pc.equal(pluses, int32(1)), pc.starts_with(text, "+")),
    )
    count = pc.binary_length(body)
    shaped = pc.and_(
        pc.and_(pc.ascii_is_decimal(body), plus_first),
        pc.and_(
            pc.and_(
                pc.greater_equal(count, int32(_MIN_DIGITS)),
                pc.less_equal(count, int32(_MAX_DIGITS)),
            ),
            pc.less_equal(pc.binary_length(text), int32(_MAX_TEXT)),
        ),
    )
    return body, pc.fill_null(shaped, FALSE)


def _international(rows: pa.Array, digits: pa.Array) -> list[tuple[pa.Array, _Read | None]]:
    """Step 2, then 4 to 6: D read as calling code + national number."""
    code = pa.nulls(len(digits), pa.string())
    for size in (3, 2, 1):  # the shortest known prefix wins, so it is written last
        head = pc.utf8_slice_codeunits(digits, 0, size)
        known = pc.and_(
            pc.is_in(head, value_set=_CODES_BY_LENGTH[size]),
            pc.greater_equal(pc.binary_length(digits), int32(size)),
        )
        code = pc.if_else(known, head, code)
    has_code = pc.is_valid(code)
    parts: list[tuple[pa.Array, _Read | None]] = []
    if not pc.all(has_code).as_py():  # parse raises INVALID_COUNTRY_CODE
        unknown = pc.filter(rows, pc.invert(has_code))
        parts.append((unknown, _invalid(len(unknown))))
    rows, code, digits = (pc.filter(a, has_code) for a in (rows, code, digits))
    for calling_code, members in _groups(code):
        plan = plan_for_code(int(calling_code))
        group = pc.take(rows, members)
        if plan is None or not _worth(group):
            parts.append((group, None))
            continue
        national = pc.utf8_slice_codeunits(pc.take(digits, members), len(calling_code))
        parts.append((group, _national_number(national, plan, calling_code)))
    return parts


def _national_group(region: str, digits: pa.Array) -> _Read | None:
    """Step 3, then 4 to 6: D read as a national number of `region`; None: fall back."""
    plan = plan_for_region(region)
    main = plan_for_code(plan.country_code) if plan is not None else None
    if plan is None or main is None:
        return None
    code = str(plan.country_code)
    size = len(digits)
    fallback = falses(size)
    if plan.idd_prefixes or plan.idd_pattern:
        fallback = starts_any(digits, plan.idd_prefixes, plan.idd_pattern)
    coded, national = falses(size), digits
    with_code = pc.starts_with(digits, code)
    if pc.any(with_code).as_py():
        # _maybe_extract_country_code: the region's own calling code, written without "+".
        full = pc.filter(digits, with_code)
        rest, unsure = _strip_prefix(pc.utf8_slice_codeunits(full, len(code)), plan, False)
        both = viable(pa.concat_arrays([rest, full]), plan)
        drop = pc.or_(
            pc.and_not(both.slice(0, len(rest)), both.slice(len(rest))),
            pc.is_in(pc.binary_length(full), value_set=plan.long_lengths),
        )
        fallback = pc.or_(fallback, pc.replace_with_mask(falses(size), with_code, unsure))
        coded = pc.replace_with_mask(coded, with_code, drop)
        national = pc.replace_with_mask(national, with_code, pc.if_else(drop, rest, full))
    if main is plan or not pc.any(coded).as_py():
        read = _national_number(national, plan, code)
    else:  # the code was dropped: `parse` reads the rest with the code's main region
        read = _national_number(national, plan, code)
        by_main = _national_number(pc.filter(national, coded), main, code)
        pairs = zip(read._arrays(), by_main._arrays(), strict=True)
        read = _Read(*(pc.replace_with_mask(a, coded, b) for a, b in pairs))
    return _Read(read.valid, read.codes, read.numbers, pc.or_(read.fallback, fallback))


def _national_number(national: pa.Array, plan: Plan, code: str) -> _Read:
    """Steps 4 to 6 for national numbers read with `plan`."""
    number, unsure = _strip_prefix(national, plan, True)
    possible = pc.and_(
        pc.greater_equal(pc.binary_length(national), int32(MIN_NSN)),
        pc.less_equal(pc.binary_length(number), int32(MAX_NSN)),
    )
    valid, undecided = _valid(number, int(code))
    return _Read(
        valid=pc.and_(possible, valid),
        codes=pa.repeat(string(code), len(national)),
        numbers=number,
        fallback=pc.or_(unsure, pc.and_(possible, undecided)),
    )


def _strip_prefix(numbers: pa.Array, plan: Plan, check_length: bool) -> tuple[pa.Array, pa.Array]:
    """`_maybe_strip_national_prefix_carrier_code`, then with `check_length` the length test
    `parse` applies to its result; and the rows this cannot decide."""
    if plan.prefix_pattern is not None:
        return numbers, starts(numbers, plan.prefix_pattern)
    none = falses(len(numbers))
    hits, matched = [], none
    for prefix in plan.prefixes:  # re.match takes the first alternative that matches
        hit = pc.and_not(pc.starts_with(numbers, prefix), matched)
        hits.append(hit)
        matched = pc.or_(matched, hit)
    if not plan.prefixes or not pc.any(matched).as_py():
        return numbers, none
    original = pc.filter(numbers, matched)
    cut = original
    for prefix, hit in zip(plan.prefixes, hits, strict=True):
        hit = pc.filter(hit, matched)
        if pc.any(hit).as_py():
            cut = pc.if_else(hit, pc.utf8_slice_codeunits(original, len(prefix)), cut)
    # Not stripped when the number was viable and would no longer be (one regex call for
    # both: each call compiles the pattern again).
    both = viable(pa.concat_arrays([original, cut]), plan)
    kept = pc.and_not(both.slice(0, len(original)), both.slice(len(original)))
    chosen = pc.if_else(kept, original, cut)
    if check_length:
        short = pc.is_in(pc.binary_length(chosen), value_set=plan.short_lengths)
        chosen = pc.if_else(short, original, chosen)
    return pc.replace_with_mask(numbers, matched, chosen), none


def _valid(numbers: pa.Array, code: int) -> tuple[pa.Array, pa.Array]:
    """is_valid_number for national numbers of one calling code; and the rows it cannot
    decide (a region without a plan)."""
    size = len(numbers)
    regions = _CALLING_CODES.get(code, ())
    if len(regions) == 1:
        plan = plan_for_code(code)
        return (type_ok(numbers, plan), falses(size)) if plan else (falses(size), trues(size))
    plans = []
    for region in regions:
        if PhoneMetadata.metadata_for_region(region.upper(), None) is None:
            continue
        plan = plan_for_region(region)
        if plan is None:
            return falses(size), trues(size)
        plans.append(plan)
    # region_code_for_number: the first region whose leading digits match or, for a region
    # without them, whose patterns do; the number must then be valid there.
    valid_rows: list[pa.Array] = []
    todo, subset = _positions(size), numbers
    for index, plan in enumerate(plans):
        if not len(todo):
            break
        if plan.leading_digits is None:
            chosen = type_ok(subset, plan)
            valid_rows.append(pc.filter(todo, chosen))
        else:
            chosen = starts(subset, plan.leading_digits)
            ok = type_ok(pc.filter(subset, chosen), plan)
            valid_rows.append(pc.filter(pc.filter(todo, chosen), ok))
        todo, subset = pc.filter(todo, pc.invert(chosen)), pc.filter(subset, pc.invert(chosen))
        if index == 0 and len(todo):  # rows no later region can take are invalid: drop them
            takeable = _takeable(subset, plans[1:])
            todo, subset = pc.filter(todo, takeable), pc.filter(subset, takeable)
    if not valid_rows:
        return falses(size), falses(size)
    everything = _positions(size)
    return pc.is_in(everything, value_set=pa.concat_arrays(valid_rows)), falses(size)


def _takeable(numbers: pa.Array, plans: list[Plan]) -> pa.Array:
    """Rows that one of `plans` would be chosen for, by leading digits or patterns."""
    leading = [plan.leading_digits for plan in plans if plan.leading_digits is not None]
    takeable = starts(numbers, "|".join(f"(?:{p})" for p in leading)) if leading else None
    for plan in plans:
        if plan.leading_digits is None:
            ok = type_ok(numbers, plan)
            takeable = ok if takeable is None else pc.or_(takeable, ok)
    return takeable if takeable is not None else falses(len(numbers))


def _groups(keys: pa.Array) -> Iterator[tuple[str, pa.Array]]:
    """(key, the positions of its rows) for each distinct key (a region, a calling code)."""
    distinct = pc.unique(keys)
    if len(distinct) == 1:
        yield distinct[0].as_py(), _positions(len(keys))
        return
    grouped = pa.table({"key": keys, "row": _positions(len(keys))})
    grouped = grouped.group_by("key").aggregate([("row", "list")])
    for key, rows in zip(
        grouped.column("key").to_pylist(),
        grouped.column("row_list").combine_chunks(),
        strict=True,
    ):
        yield key, rows.values


def _worth(rows: pa.Array) -> bool:
    """Enough rows to pay for compiling a region's patterns (else: the reference path)."""
    return len(rows) >= MIN_GROUP_ROWS


def _assemble(parts: list[tuple[pa.Array, _Read | None]]) -> _Read:
    """The answers of all parts (each: its rows' positions, and answers or None to fall
    back; together: every row once), in row order."""
    answers = [read if read is not None else _fallback(len(rows)) for rows, read in parts]
    order = pc.sort_indices(pa.concat_arrays([rows for rows, _ in parts]))
    columns = zip(*(read._arrays() for read in answers), strict=True)
    return _Read(*(pc.take(pa.concat_arrays(list(column)), order) for column in columns))


def _positions(size: int) -> pa.Array:
    return pc.indices_nonzero(trues(size))


def _fallback(size: int) -> _Read:
    nulls = pa.nulls(size, pa.string())
    return _Read(falses(size), nulls, nulls, trues(size))


def _invalid(size: int) -> _Read:
    nulls = pa.nulls(size, pa.string())
    return _Read(falses(size), nulls, nulls, falses(size))
