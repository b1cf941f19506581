"""Turn segment rows into network members: one row of the segment is one person.

A member carries every identifier the network gets for that person (never identifiers of
two people), and a `member_key` derived from them, which is what the state diff compares.

The key is the MD5 of the values sent, written as a UUID, as dbt's surrogate keys are: it
names a member within syncd's state, and is no security boundary (it is computed from the
values it sits beside, hashed already where the network hashes them). 128 bits keep it
exact: two distinct members of a 10M-member audience collide with odds near 1e-25 (a collision
someone crafts through a clear-text external_id would make two people one member, or stop
the audience at the state's primary key: nothing leaks). And as a UUID, 16 bytes wide,
DuckDB joins it about eight times faster than a 64-character SHA-256 hex string (5M
members: 0.5 s against 4.9 s), which is most of what a diff costs.

Rows that cannot be matched at all are quarantined with a reason; an invalid phone beside a
valid email only loses the phone.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from syncd.identity import (
    Dialect,
    IdentifierKind,
    InvalidIdentifier,
    as_text,
    md5_uuid,
    normalize_column,
    normalize_country,
)
from syncd.identity.dialects import ALWAYS_HASHED

IDENTIFIER_COLUMNS: tuple[str, ...] = tuple(kind.value for kind in IdentifierKind)

#: Identifiers every dialect hashes: SHA-256 hex in every table that stores them.
HASHED_COLUMNS: tuple[str, ...] = tuple(
    kind.value for kind in IdentifierKind if kind in ALWAYS_HASHED
)

#: SQL tables (the spill's, DuckDB state) store the key as a UUID: see the module docstring.
MEMBER_KEY_FIELD = pa.field("member_key", pa.string(), nullable=False, metadata={"sql": "UUID"})

#: The shape of members everywhere after identity: in plans, in pushes and in state.
MEMBER_SCHEMA = pa.schema(
    [MEMBER_KEY_FIELD] + [pa.field(name, pa.string()) for name in IDENTIFIER_COLUMNS]
)

#: What a network batch carries: the identifiers sent, without the key, which names a member
#: in syncd's state only. Reading 10M keys out of DuckDB as text cost a CPU-second; the few
#: members a network refuses are looked up by row (`Changes.member_keys`).
SENT_SCHEMA = pa.schema([MEMBER_SCHEMA.field(name) for name in IDENTIFIER_COLUMNS])

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

#: Identifiers that single out a person on their own.
_PERSONAL = (
    IdentifierKind.EMAIL,
    IdentifierKind.PHONE,
    IdentifierKind.MADID,
    IdentifierKind.EXTERNAL_ID,
)
_ADDRESS = (
    IdentifierKind.FIRST_NAME,
    IdentifierKind.LAST_NAME,
    IdentifierKind.COUNTRY,
    IdentifierKind.ZIP,
)
NO_USABLE_IDENTIFIER = "no_usable_identifier"
NO_CONSENT = "no_consent"
#: `member_key` joins the values with it (`member_key_sql` and the pushdown SQL too).
KEY_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class SegmentShape:
    """The part of a segment's config identity needs: which column holds which identifier,
    and where a row's country comes from (phones and US zips are read by country)."""

    identifiers: Mapping[IdentifierKind, str]
    country_column: str | None = None
    default_country: str | None = None

    @property
    def country_source(self) -> str | None:
        """The column a row's country is read from: `country_column`, else the column of
        the country identifier."""
        return self.country_column or self.identifiers.get(IdentifierKind.COUNTRY)

    def carried(self, kinds: Collection[IdentifierKind]) -> SegmentShape:
        """The shape for a network sent only `kinds`. The country's column stays even when
        the network is not sent a country (TikTok): it still decides how a national phone
        is read, and a UK number read as a US one is another number or none."""
        identifiers = {kind: column for kind, column in self.identifiers.items() if kind in kinds}
        return SegmentShape(identifiers, self.country_source, self.default_country)


@dataclass(frozen=True)
class MemberBatch:
    """Members built from one batch of segment rows (their IDENTIFIER_COLUMNS: keys are
    computed where they are stored, see `member_key_sql`), and what was quarantined."""

    members: pa.Table
    quarantine: pa.Table
    rows: int
    #: Per row of the batch, whether it became a member (the members are those rows, in order).
    kept: pa.Array


def build_members(
    batch: pa.RecordBatch,
    shape: SegmentShape,
    dialect: Dialect,
    first_row: int = 0,
    consented: pa.Array | None = None,
) -> MemberBatch:
    """Normalize and hash one batch by a network's `dialect`; `first_row` numbers quarantine
    records. Rows whose `consented` flag is false are never members: they are counted as
    no_consent."""
    countries = row_countries(batch, shape)
    values: dict[IdentifierKind, pa.Array] = {}
    quarantined: list[pa.Table] = []
    for kind, column in shape.identifiers.items():
        normalized = normalize_column(dialect, kind, batch.column(column), countries)
        values[kind] = normalized.values
        quarantined.append(_quarantine_records(normalized.reasons, kind.value, first_row))

    if dialect.address_all_or_nothing:
        values = _address_all_or_nothing(values)
    usable = _usable(values, len(batch))
    reasons = pc.if_else(usable, pa.scalar(None, pa.string()), NO_USABLE_IDENTIFIER)
    if consented is not None:
        refused = pc.and_(usable, pc.invert(consented))
        reasons = pc.if_else(refused, NO_CONSENT, reasons)
        usable = pc.and_(usable, consented)
    quarantined.append(_quarantine_records(reasons, "row", first_row))

    columns = {
        name: values.get(IdentifierKind(name), pa.nulls(len(batch), pa.string()))
        for name in IDENTIFIER_COLUMNS
    }
    members = pa.table(columns).filter(usable)
    return MemberBatch(members, pa.concat_tables(quarantined), len(batch), usable)


def member_key(values: tuple[str | None, ...]) -> str:
    """A stable id of one member, from the values sent for it (already hashed where the
    network hashes): the same person sent the same way has the same key. This is the
    reference; `member_key_sql` computes the same where members are stored."""
    return md5_uuid(KEY_SEPARATOR.join(value or "" for value in values))


def member_key_sql(columns: Collection[str]) -> str:
    """`member_key` as DuckDB SQL (a UUID) over a table with the identifier `columns`
    (the others count as NULL). A pass computes keys in the statement that stores a batch
    of members, rather than hashing in Arrow and storing the keys' text for DuckDB to
    parse again (1M members, with the spelling below's predecessor: 0.61 s against 0.85 s).

    The SQL is the reference's string spelled for speed: `concat` of the values and of one
    run of separators per gap, and the digest's bytes cast to a UUID. `concat_ws` over
    eight arguments and the parsing of the digest's hex were a third of the key's cost:
    1M keys of an email each, on one core, take 0.34 s against 0.52 s."""
    tokens: list[str | None] = []  # the reference's string: values, and None for separators
    for index, name in enumerate(IDENTIFIER_COLUMNS):
        tokens += [None] * (index > 0) + ([f"coalesce({name}, '')"] if name in columns else [])
    parts = [
        f"repeat(chr({ord(KEY_SEPARATOR)}), {len(list(run))})" if separators else next(run)
        for separators, run in itertools.groupby(tokens, key=lambda token: token is None)
    ]
    return f"CAST(unhex(md5(concat({', '.join(parts)}))) AS UUID)"


def row_countries(batch: pa.RecordBatch, shape: SegmentShape) -> pa.Array:
    """Each row's country, decided once per distinct value (a segment has a few hundred
    countries at most, and millions of rows)."""
    column = shape.country_source
    fallback = shape.default_country
    if not column:
        return pa.array([fallback] * len(batch), pa.string())
    encoded = pc.dictionary_encode(batch.column(column))
    decided = [_country_or_none(v) or fallback for v in encoded.dictionary.to_pylist()]
    countries = pc.take(pa.array(decided, pa.string()), encoded.indices)
    return pc.fill_null(countries, fallback) if fallback is not None else countries


def _country_or_none(value: object) -> str | None:
    if value is None:
        return None
    try:
        return normalize_country(as_text(value))
    except InvalidIdentifier:
        return None


def _address_all_or_nothing(
    values: dict[IdentifierKind, pa.Array],
) -> dict[IdentifierKind, pa.Array]:
    """Names, country and postal code as one complete address (Google takes them only so)."""
    if not all(kind in values for kind in _ADDRESS):
        return {kind: array for kind, array in values.items() if kind not in _ADDRESS}
    complete = _all_valid([values[kind] for kind in _ADDRESS])
    return {
        kind: pc.if_else(complete, array, pa.scalar(None, pa.string()))
        if kind in _ADDRESS
        else array
        for kind, array in values.items()
    }


def _usable(values: dict[IdentifierKind, pa.Array], rows: int) -> pa.Array:
    """A row is usable with one personal identifier, or a full name with a place."""
    usable = pa.array([False] * rows)
    for kind in _PERSONAL:
        if kind in values:
            usable = pc.or_(usable, pc.is_valid(values[kind]))
    names = [
        values[k] for k in (IdentifierKind.FIRST_NAME, IdentifierKind.LAST_NAME) if k in values
    ]
    places = [values[k] for k in (IdentifierKind.COUNTRY, IdentifierKind.ZIP) if k in values]
    if len(names) == 2 and places:
        usable = pc.or_(usable, pc.and_(_all_valid(names), _any_valid(places)))
    return usable


def _all_valid(arrays: list[pa.Array]) -> pa.Array:
    result = pc.is_valid(arrays[0])
    for array in arrays[1:]:
        result = pc.and_(result, pc.is_valid(array))
    return result


def _any_valid(arrays: list[pa.Array]) -> pa.Array:
    result = pc.is_valid(arrays[0])
    for array in arrays[1:]:
        result = pc.or_(result, pc.is_valid(array))
    return result


def _quarantine_records(reasons: pa.Array, kind: str, first_row: int) -> pa.Table:
    rows = pc.indices_nonzero(pc.is_valid(reasons))
    return pa.table(
        {
            "row_number": pc.add(rows.cast(pa.int64()), first_row),
            "kind": pa.array([kind] * len(rows), pa.string()),
            "reason": pc.take(reasons, rows),
        },
        schema=QUARANTINE_SCHEMA,
    )
