"""The pushdown queries: a segment's members, and its diff against a state table, in SQL.

Every query is one statement over the same chain of CTEs, so the warehouse reads the
segment once per query and only its answer leaves it:

    syncd_segment     the segment's own SQL, verbatim
    syncd_text ... syncd_members   from its rows to its members (`chain`)
    syncd_held        the state table's rows of this audience

The statements: `members`, `adds`, `removes`, `changes` (removes then adds in one read of the
segment), `refreshes` and `stats`. `stats` must come first: a segment with undecidable rows
(values SQL cannot normalize exactly) must go through the local path, whose answer for those
rows the SQL does not know.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from syncd.identity import Dialect as IdentityDialect
from syncd.identity import IdentifierKind
from syncd.members import IDENTIFIER_COLUMNS
from syncd.pushdown.chain import (
    MEMBERS,
    SEGMENT_ROWS,
    UNDECIDABLE,
    UNDECIDABLE_ROWS,
    ConsentColumns,
    MemberChain,
)
from syncd.pushdown.dialects import Dialect, fenced, render
from syncd.pushdown.erasures import (
    ERASED_MEMBERS,
    ErasedValues,
    erasure_ctes,
    personal_columns,
)
from syncd.pushdown.kinds import is_pushdownable, pushdown_rules, string
from syncd.state.diff import fresh_until
from syncd.state.store import PRESENT

ADD, REMOVE = "add", "remove"


class NotPushdownable(ValueError):
    """The segment has a kind SQL cannot normalize exactly; the message says which and why."""


@dataclass(frozen=True)
class StateTable:
    """The warehouse table holding what audiences hold (the state store's `members` columns:
    destination, audience_id, member_key, the identifier columns, status, synced_at), and
    which audience of it the segment is compared with."""

    table: str  # e.g. "syncd_state.members", in the dialect's own quoting
    destination: str
    audience_id: str


@dataclass(frozen=True)
class PushdownQueries:
    """SQL text for one dialect. Members, adds and removes return the member_key and the
    identifier columns (MEMBER_SCHEMA's names); adds and removes are ordered by member_key."""

    dialect: Dialect
    members: str
    adds: str
    removes: str
    #: Removes then adds, in one statement (one read of the segment): an `operation` column
    #: ("remove" or "add") before the member columns, ordered by operation and member_key.
    changes: str
    #: One row: segment_rows, undecidable_rows, members (distinct members, what the local
    #: path's segment table holds), and a count per "<kind>__<reason>" column.
    stats: str
    #: Held members sent again because their membership would expire (with refresh_before).
    refreshes: str | None


@dataclass(frozen=True)
class SegmentStats:
    """The stats query's row, read back."""

    rows: int
    undecidable_rows: int
    #: Quarantined values and rows by "kind:reason", as SegmentMembers.invalid_counts() has
    #: them (zero counts left out).
    invalid: dict[str, int]
    #: Distinct members (the guardrails weigh removals and invalid rows against them).
    members: int
    #: Distinct members an erasure left out (not among `members`; never sent).
    erased: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> SegmentStats:
        counts = {name.lower(): _as_int(value) for name, value in row.items()}
        invalid = {
            name.replace("__", ":", 1): count
            for name, count in sorted(counts.items())
            if "__" in name and count and not name.endswith("__" + UNDECIDABLE)
        }
        return cls(
            counts[SEGMENT_ROWS],
            counts[UNDECIDABLE_ROWS],
            invalid,
            counts[MEMBERS],
            counts[ERASED_MEMBERS],
        )


def build_queries(
    segment_sql: str,
    identifiers: Mapping[IdentifierKind, str],
    identity: IdentityDialect,
    state: StateTable,
    dialect: Dialect | str,
    *,
    trust_e164_phones: bool = False,
    consent: ConsentColumns | None = None,
    refresh_before: dt.datetime | None = None,
    erased: ErasedValues | None = None,
) -> PushdownQueries:
    """The pushdown queries for one segment (its SQL and identifier columns, already limited
    to the kinds the destination carries) and one audience, by its network's `identity`
    dialect, in the warehouse's SQL `dialect`; with `erased`, no member an erasure covers
    is among the segment's (`erasures`). Raises NotPushdownable."""
    dialect = Dialect(dialect)
    ok, reason = is_pushdownable(identifiers, identity, trust_e164_phones=trust_e164_phones)
    if not ok:
        raise NotPushdownable(reason)
    if refresh_before is not None and refresh_before.tzinfo is None:
        raise ValueError("refresh_before must be timezone-aware")
    rules = pushdown_rules(identity, trust_e164_phones=trust_e164_phones)
    chain = MemberChain(
        {IdentifierKind(k): column for k, column in identifiers.items()}, rules, identity, consent
    )
    members = exp.select(*_member_columns()).from_("syncd_members")
    held_filter = exp.and_(
        exp.EQ(this=exp.column("destination"), expression=string(state.destination)),
        exp.EQ(this=exp.column("audience_id"), expression=string(state.audience_id)),
    )
    held = (
        exp.select("member_key", *IDENTIFIER_COLUMNS, "status", "synced_at")
        .from_(exp.to_table(state.table, dialect=dialect.value))
        .where(held_filter)
    )
    since, until = (
        (_timestamp(refresh_before), _timestamp(fresh_until()))
        if refresh_before is not None
        else (None, None)
    )
    present = exp.and_(
        _held_is("s"), exp.EQ(this=exp.column("status", "m"), expression=string(PRESENT))
    )
    if since is not None and until is not None:  # sent in the refresh window (see diff._stale)
        synced = exp.column("synced_at", "m")
        present = exp.and_(
            present,
            exp.GTE(this=synced, expression=since),
            exp.LTE(this=synced.copy(), expression=until),
        )
    not_held = exp.not_(_exists("syncd_held", "m", present))
    not_in_segment = exp.not_(_exists("syncd_members", "s", _held_is("s")))
    adds = _side("syncd_members", "s", not_held).order_by("member_key")
    removes = _side("syncd_held", "m", not_in_segment).order_by("member_key")
    # Both in one statement, which reads the segment once: removals first, as the pipeline
    # sends them (a Meta removal matches by any key, so it must not follow the add).
    changes = exp.union(
        _side("syncd_held", "m", not_in_segment.copy(), REMOVE),
        _side("syncd_members", "s", not_held.copy(), ADD),
        distinct=False,
    ).order_by(exp.column("operation").desc(), "member_key")
    refreshes = None
    if since is not None and until is not None:
        refreshes = (
            exp.select(exp.Count(this=exp.Star()).as_("refreshes"))
            .from_(exp.to_table("syncd_held").as_("m"))
            .where(
                exp.and_(
                    exp.EQ(this=exp.column("status", "m"), expression=string(PRESENT)),
                    exp.or_(
                        exp.LT(this=exp.column("synced_at", "m"), expression=since.copy()),
                        exp.GT(this=exp.column("synced_at", "m"), expression=until.copy()),
                    ),
                    _exists("syncd_members", "s", _held_is("s")),
                )
            )
        )

    # Each CTE is rendered once and the statements assembled as text: the segment's SQL is
    # not parsed (sqlglot must not rewrite a query it may not fully understand), and the
    # chain is shared by every statement.
    ctes = chain.ctes()
    pairs = erased.joined(chain.identifiers) if erased is not None else []
    if erased is not None and pairs:
        name, distinct = ctes.pop()
        assert name == "syncd_members", "the chain ends with its members"
        personal = personal_columns(chain.identifiers)
        ctes += erasure_ctes(distinct, erased, pairs, personal, dialect)
    chain_sql = [
        (name, render(body if name == "syncd_members" else fenced(body, dialect), dialect))
        for name, body in ctes
    ]
    held_sql = ("syncd_held", render(held, dialect))

    def statement(query: exp.Query, *, with_held: bool = True) -> str:
        ctes = [*chain_sql, held_sql] if with_held else chain_sql
        return _assemble(segment_sql, ctes, render(query, dialect))

    return PushdownQueries(
        dialect=dialect,
        members=statement(members, with_held=False),
        adds=statement(adds),
        removes=statement(removes),
        changes=statement(changes),
        stats=statement(chain.stats(erasing=bool(pairs)), with_held=False),
        refreshes=statement(refreshes) if refreshes is not None else None,
    )


def _member_columns(table: str | None = None) -> list[exp.Expression]:
    return [exp.column(name, table) for name in ("member_key", *IDENTIFIER_COLUMNS)]


def _side(
    table: str, alias: str, condition: exp.Expression, operation: str | None = None
) -> exp.Select:
    """Members of `table` (aliased) meeting `condition`, labelled with `operation` if any."""
    label = [string(operation).as_("operation")] if operation is not None else []
    return (
        exp.select(*label, *_member_columns(alias))
        .from_(exp.to_table(table).as_(alias))
        .where(condition)
    )


def _held_is(alias: str) -> exp.Expression:
    return exp.EQ(this=exp.column("member_key", "m"), expression=exp.column("member_key", alias))


def _exists(table: str, alias: str, condition: exp.Expression) -> exp.Expression:
    inner = exp.select(exp.Literal.number(1)).from_(exp.to_table(table).as_(alias))
    return exp.Exists(this=inner.where(condition))


def _as_int(value: object) -> int:
    """A count as a driver returns it (int, Decimal, numpy integer) or NULL."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return int(str(value))


def _timestamp(value: dt.datetime) -> exp.Expression:
    return exp.cast(string(value.isoformat(sep=" ")), "timestamptz")


def _assemble(segment_sql: str, ctes: list[tuple[str, str]], query: str) -> str:
    """One statement: the segment's SQL, untouched, first in the WITH clause, then the CTEs.
    (The newline before ")" keeps a trailing -- comment from swallowing it.)"""
    segment = segment_sql.strip().rstrip(";").rstrip()
    parts = [f"syncd_segment AS (\n{segment}\n)", *(f"{name} AS ({sql})" for name, sql in ctes)]
    return f"WITH {', '.join(parts)} {query}"
