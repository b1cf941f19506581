"""phonenumbers' metadata, compiled for Arrow: what `phones` needs of one region.

A `Plan` holds one region's (or one non-geographic calling code's) patterns and length
tables exactly as phonenumbers has them, and `type_ok` / `viable` / `starts` run those
patterns over whole arrays with RE2. phonenumbers' patterns are regular expressions without
backreferences or lookaround, so RE2's full and prefix matches decide the same languages as
Python's `re`; over ASCII digits `\\d` means the same in both.

A plan is built on first use, and only kept when it gives phonenumbers' own answers
(`_number_type_helper`, `re.match`, `re.fullmatch`) on the region's example numbers and on
variants of them; otherwise, or when RE2 refuses a pattern, the region has no plan and its
rows go to the reference path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata, PhoneNumberType, phonenumberutil

from syncd.identity.vector import falses, int32

#: The phonenumbers internals the fast path replays; without them it stays off.
_test_number_length = getattr(phonenumberutil, "_test_number_length", None)
_number_type_helper = getattr(phonenumberutil, "_number_type_helper", None)
#: The national number lengths `parse` accepts (2 and 17 in phonenumbers 8 and 9).
MIN_NSN = getattr(phonenumberutil, "_MIN_LENGTH_FOR_NSN", None)
MAX_NSN = getattr(phonenumberutil, "_MAX_LENGTH_FOR_NSN", None)
AVAILABLE = None not in (_test_number_length, _number_type_helper, MIN_NSN, MAX_NSN)

#: `_number_type_helper` tries these after the general description, in this order.
_NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)
_LITERALS = re.compile(r"[0-9]+(?:\|[0-9]+)*")
_VR = phonenumberutil.ValidationResult
_SHORT_RESULTS = frozenset({_VR.TOO_SHORT, _VR.IS_POSSIBLE_LOCAL_ONLY, _VR.INVALID_LENGTH})


@dataclass(frozen=True)
class Desc:
    """One PhoneNumberDesc: its pattern and possible lengths (empty: any length)."""

    pattern: str
    lengths: frozenset[int]


@dataclass(frozen=True, eq=False)
class Plan:
    """One region's metadata, as the fast path uses it (one per region, compared by
    identity)."""

    region: str
    country_code: int
    general: str | None  # the general pattern; None matches nothing
    general_lengths: frozenset[int]
    types: tuple[Desc, ...]  # the number types that make a number valid
    leading_digits: str | None
    #: national_prefix_for_parsing when it is literal alternatives ("0", "0|180020") and
    #: has no transform rule: these are replayed. Any other form is `prefix_pattern`,
    #: which is not: rows it matches go to the reference path.
    prefixes: tuple[str, ...]
    prefix_pattern: str | None
    idd_prefixes: tuple[str, ...]  # international_prefix as literal alternatives, or
    idd_pattern: str | None  # as a pattern
    short_lengths: pa.Array  # lengths `_test_number_length` finds too short or local only
    long_lengths: pa.Array  # lengths it finds too long


@cache
def plan_for_region(region: str) -> Plan | None:
    """The plan of a supported region, or None when the fast path cannot use it."""
    if not AVAILABLE or region not in phonenumbers.SUPPORTED_REGIONS:
        return None
    return _checked(region, PhoneMetadata.metadata_for_region(region, None))


@cache
def plan_for_code(code: int) -> Plan | None:
    """The plan of a calling code's main region (or of the non-geographic code): the
    metadata `parse` reads a number with once it knows the code."""
    region = phonenumbers.region_code_for_country_code(code)
    if region != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return plan_for_region(region)
    if not AVAILABLE:
        return None
    return _checked(region, PhoneMetadata.metadata_for_region_or_calling_code(code, region))


def type_ok(numbers: pa.Array, plan: Plan) -> pa.Array:
    """`_number_type_helper(number, metadata) != UNKNOWN` for every national number."""
    size = len(numbers)
    if plan.general is None or not size:
        return falses(size)
    lengths = pc.binary_length(numbers)
    allowed = [n for n in pc.unique(lengths).to_pylist() if _union_for_length(plan, n)]
    if not allowed:
        return falses(size)
    general = full(numbers, plan.general)
    if len(allowed) == 1:
        ok = pc.match_substring_regex(numbers, _union_for_length(plan, allowed[0]))
        return pc.and_(pc.and_(general, ok), pc.equal(lengths, int32(allowed[0])))
    ok = falses(size)
    for length in allowed:
        rows = pc.equal(lengths, int32(length))
        matched = pc.match_substring_regex(
            pc.filter(numbers, rows), _union_for_length(plan, length)
        )
        ok = pc.replace_with_mask(ok, rows, matched)
    return pc.and_(general, ok)


@lru_cache(maxsize=4096)
def _union_for_length(plan: Plan, length: int) -> str | None:
    """One RE2 pattern: the number types that allow `length`, any of them fully matching."""
    if plan.general_lengths and length not in plan.general_lengths:
        return None
    patterns = [d.pattern for d in plan.types if not d.lengths or length in d.lengths]
    if not patterns:
        return None
    return "^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$"


def viable(numbers: pa.Array, plan: Plan) -> pa.Array:
    """`_match_national_number(number, general_desc, False)`: the general pattern only."""
    if plan.general is None:
        return falses(len(numbers))
    return full(numbers, plan.general)


def full(numbers: pa.Array, pattern: str) -> pa.Array:
    """re.fullmatch(pattern, number) for every number."""
    return pc.match_substring_regex(numbers, f"^(?:{pattern})$")


def starts(numbers: pa.Array, pattern: str) -> pa.Array:
    """re.match(pattern, number) is not None, for every number."""
    return pc.match_substring_regex(numbers, f"^(?:{pattern})")


def starts_any(numbers: pa.Array, literals: tuple[str, ...], pattern: str | None) -> pa.Array:
    """`starts` for literal alternatives (cheap) or a pattern."""
    if pattern is not None:
        return starts(numbers, pattern)
    hit = falses(len(numbers))
    for literal in literals:
        hit = pc.or_(hit, pc.starts_with(numbers, literal))
    return hit


def _literals(pattern: str | None) -> tuple[str, ...] | None:
    """A pattern's alternatives when it is only literal digit strings ("0", "00|011")."""
    if pattern and _LITERALS.fullmatch(pattern):
        return tuple(pattern.split("|"))
    return None


def _checked(region: str, metadata: PhoneMetadata | None) -> Plan | None:
    if metadata is None:
        return None
    try:
        plan = _plan(region, metadata)
        return plan if _agrees_with_phonenumbers(plan, metadata) else None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, re.error):  # RE2 refused a pattern
        return None


def _plan(region: str, metadata: PhoneMetadata) -> Plan:
    general = metadata.general_desc
    types = []
    for name in _NUMBER_TYPES:
        if name == "mobile" and metadata.same_mobile_and_fixed_line_pattern:
            continue  # `_number_type_helper` does not look at it then
        desc = getattr(metadata, name)
        if desc is not None and desc.national_number_pattern:
            types.append(Desc(desc.national_number_pattern, frozenset(desc.possible_length)))
    prefix = metadata.national_prefix_for_parsing or None
    prefixes = None if metadata.national_prefix_transform_rule else _literals(prefix)
    idd = metadata.international_prefix or None
    results = {size: _test_number_length("0" * size, metadata) for size in range(26)}
    short = sorted(n for n, r in results.items() if r in _SHORT_RESULTS)
    long = sorted(n for n, r in results.items() if r == _VR.TOO_LONG)
    return Plan(
        region=region,
        country_code=metadata.country_code,
        general=(general.national_number_pattern or None) if general is not None else None,
        general_lengths=frozenset(general.possible_length) if general is not None else frozenset(),
        types=tuple(types),
        leading_digits=metadata.leading_digits,
        prefixes=prefixes or (),
        prefix_pattern=prefix if prefix and prefixes is None else None,
        idd_prefixes=_literals(idd) or (),
        idd_pattern=idd if idd and _literals(idd) is None else None,
        short_lengths=pa.array(short, pa.int32()),
        long_lengths=pa.array(long, pa.int32()),
    )


def _agrees_with_phonenumbers(plan: Plan, metadata: PhoneMetadata) -> bool:
    """The plan gives phonenumbers' answers on the region's example numbers and variants
    of them (one digit short, one long, without the first digit, another first digit)."""
    samples: set[str] = set()
    for name in ("general_desc", *_NUMBER_TYPES):
        desc = getattr(metadata, name)
        example = desc.example_number if desc is not None else None
        if example:
            samples |= {example, example[:-1], example + "0", example[1:], "1" + example}
            samples |= {"0" + example, "00" + example}
    texts = sorted(s for s in samples if s)
    if not texts:
        return True
    numbers = pa.array(texts, pa.string())
    expected = [_number_type_helper(s, metadata) != PhoneNumberType.UNKNOWN for s in texts]
    if type_ok(numbers, plan).to_pylist() != expected:
        return False
    general = re.compile(plan.general) if plan.general else None
    if viable(numbers, plan).to_pylist() != [bool(general and general.fullmatch(s)) for s in texts]:
        return False
    checks = [
        (plan.leading_digits, (), plan.leading_digits),
        (metadata.national_prefix_for_parsing, plan.prefixes, plan.prefix_pattern),
        (metadata.international_prefix, plan.idd_prefixes, plan.idd_pattern),
    ]
    for source, literals, pattern in checks:
        if source:
            compiled = re.compile(source)
            expected = [compiled.match(s) is not None for s in texts]
            if starts_any(numbers, literals, pattern).to_pylist() != expected:
                return False
    return True
