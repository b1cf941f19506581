"""The pushdown queries: a segment's members, and its diff against a state table, in SQL.

Every query is one statement over the same chain of CTEs, so the warehouse reads the
segment once per query and only its answer leaves it:

    syncd_segment     the segment's own SQL, verbatim
    syncd_text        each mapped column as text (CAST, as syncd.identity.as_text does)
    syncd_normalized  each kind normalized (`kinds`), before its validity check
    syncd_checked     each kind's status: absent, too_long, undecidable, valid or a reason
    syncd_values      what is sent per kind (hashed where the network hashes), consent
    syncd_members     distinct members with their member_key, usable (and consented) rows
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

from syncd.identity import MAX_VALUE_CHARS, IdentifierKind
from syncd.identity import Dialect as IdentityDialect
from syncd.members import IDENTIFIER_COLUMNS, NO_CONSENT, NO_USABLE_IDENTIFIER
from syncd.pushdown.dialects import Dialect, Sha256Hex, fenced, render
from syncd.pushdown.kinds import (
    ADDRESS_KINDS,
    PERSONAL_KINDS,
    KindSql,
    ascii_lower,
    is_pushdownable,
    pushdown_rules,
    string,
    strip,
)
from syncd.pushdown.member_keys import member_key_expression
from syncd.state.diff import fresh_until
from syncd.state.store import PRESENT

#: `syncd.plan._granted`'s values that mean yes, after str(value).strip().lower().
GRANTED_VALUES = ("granted", "true", "yes", "y", "1", "t")

ABSENT, TOO_LONG, UNDECIDABLE, VALID = "absent", "too_long", "undecidable", "valid"
ADD, REMOVE = "add", "remove"
SEGMENT_ROWS, UNDECIDABLE_ROWS, MEMBERS = "segment_rows", "undecidable_rows", "members"


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
class ConsentColumns:
    """Per-row consent, as `syncd.plan.consent_mask` reads it: a column per signal (or None)
    and the destination's default ("granted" or "denied") for NULL cells."""

    ad_user_data: str | None
    ad_personalization: str | None
    default_ad_user_data: str
    default_ad_personalization: str


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

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> SegmentStats:
        counts = {name.lower(): _as_int(value) for name, value in row.items()}
        invalid = {
            name.replace("__", ":", 1): count
            for name, count in sorted(counts.items())
            if "__" in name and count and not name.endswith("__" + UNDECIDABLE)
        }
        return cls(counts[SEGMENT_ROWS], counts[UNDECIDABLE_ROWS], invalid, counts[MEMBERS])


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
) -> PushdownQueries:
    """The pushdown queries for one segment (its SQL and identifier columns, already limited
    to the kinds the destination carries) and one audience, by its network's `identity`
    dialect, in the warehouse's SQL `dialect`. Raises NotPushdownable."""
    dialect = Dialect(dialect)
    ok, reason = is_pushdownable(identifiers, identity, trust_e164_phones=trust_e164_phones)
    if not ok:
        raise NotPushdownable(reason)
    if refresh_before is not None and refresh_before.tzinfo is None:
        raise ValueError("refresh_before must be timezone-aware")
    rules = pushdown_rules(identity, trust_e164_phones=trust_e164_phones)
    chain = _Chain(
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
    chain_sql = [
        (name, render(body if name == "syncd_members" else fenced(body, dialect), dialect))
        for name, body in chain.ctes()
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
        stats=statement(chain.stats(), with_held=False),
        refreshes=statement(refreshes) if refreshes is not None else None,
    )


class _Chain:
    """The CTEs from segment rows to members, for one segment and network."""

    def __init__(
        self,
        identifiers: dict[IdentifierKind, str],
        rules: dict[IdentifierKind, KindSql],
        identity: IdentityDialect,
        consent: ConsentColumns | None,
    ) -> None:
        self.identifiers = identifiers
        self.rules = {kind: rules[kind] for kind in identifiers}
        self.consent = consent
        # A dialect that takes names, country and zip only as one complete address: with
        # part of it unmapped, the mapped part is never sent (syncd.members, all or nothing).
        self.dropped = (
            set(ADDRESS_KINDS)
            if identity.address_all_or_nothing and not all(k in identifiers for k in ADDRESS_KINDS)
            else set()
        )

    def _consent_columns(self) -> list[tuple[str, str | None, str]]:
        if self.consent is None:
            return []
        return [
            (name, column, default)
            for name, column, default in (
                (
                    "ad_user_data",
                    self.consent.ad_user_data,
                    self.consent.default_ad_user_data,
                ),
                (
                    "ad_personalization",
                    self.consent.ad_personalization,
                    self.consent.default_ad_personalization,
                ),
            )
            if column is not None or default != "granted"
        ]

    def ctes(self) -> list[tuple[str, exp.Select]]:
        kinds = [kind.value for kind in self.rules]
        consent = self._consent_columns()
        text = exp.select(
            *(
                exp.cast(_quoted(column), "text").as_(f"t_{kind.value}")
                for kind, column in self.identifiers.items()
            ),
            *(
                exp.cast(_quoted(column), "text").as_(f"c_{name}")
                for name, column, _ in consent
                if column is not None
            ),
        ).from_("syncd_segment")
        consent_text = [f"c_{name}" for name, column, _ in consent if column is not None]
        normalized = exp.select(
            *(f"t_{kind}" for kind in kinds),
            *(self._normalized(rule).as_(f"n_{rule.kind.value}") for rule in self.rules.values()),
            *consent_text,
        ).from_("syncd_text")
        checked = exp.select(
            *(f"n_{kind}" for kind in kinds),
            *(self._status(rule).as_(f"s_{rule.kind.value}") for rule in self.rules.values()),
            *consent_text,
        ).from_("syncd_normalized")
        values = exp.select(
            *(self._sent(kind).as_(kind) for kind in IDENTIFIER_COLUMNS),
            *(f"s_{kind}" for kind in kinds),
            self._consented(consent).as_("consented"),
        ).from_("syncd_checked")
        members = (
            exp.select(member_key_expression().as_("member_key"), *IDENTIFIER_COLUMNS)
            .distinct()
            .from_("syncd_values")
            .where(exp.and_(self._usable(), exp.column("consented")))
        )
        return [
            ("syncd_text", text),
            ("syncd_normalized", normalized),
            ("syncd_checked", checked),
            ("syncd_values", values),
            ("syncd_members", members),
        ]

    def stats(self) -> exp.Select:
        # The members' count in the same statement: PostgreSQL materializes syncd_values,
        # which both read, so the segment is still scanned once.
        members = exp.select(exp.Count(this=exp.Star())).from_("syncd_members")
        counts: list[exp.Expression] = [
            exp.Count(this=exp.Star()).as_(SEGMENT_ROWS),
            _count_where(
                exp.or_(*(self._status_is(kind, UNDECIDABLE) for kind in self.rules), exp.false())
            ).as_(UNDECIDABLE_ROWS),
            exp.Subquery(this=members).as_(MEMBERS),
        ]
        for kind, rule in self.rules.items():
            refusals = (reason for _, reason in rule.refusals)
            for reason in dict.fromkeys((TOO_LONG, *refusals, rule.reason, UNDECIDABLE)):
                counts.append(
                    _count_where(self._status_is(kind, reason)).as_(f"{kind.value}__{reason}")
                )
        usable = self._usable()
        counts.append(_count_where(exp.not_(usable)).as_(f"row__{NO_USABLE_IDENTIFIER}"))
        if self.consent is not None:
            refused = exp.and_(usable.copy(), exp.not_(exp.column("consented")))
            counts.append(_count_where(refused).as_(f"row__{NO_CONSENT}"))
        return exp.select(*counts).from_("syncd_values")

    @staticmethod
    def _normalized(rule: KindSql) -> exp.Expression:
        # A value too long is refused before any rule runs on it, as in the reference.
        text = exp.column(f"t_{rule.kind.value}")
        short = exp.LTE(this=exp.Length(this=text), expression=_number(MAX_VALUE_CHARS))
        return exp.Case().when(short, rule.normalize(text.copy()))

    @staticmethod
    def _status(rule: KindSql) -> exp.Expression:
        """syncd.identity.columns._send_or_reason, as a label."""
        text = exp.column(f"t_{rule.kind.value}")
        normalized = exp.column(f"n_{rule.kind.value}")
        case = (
            exp.Case()
            .when(text.is_(exp.null()), string(ABSENT))
            .when(
                exp.GT(this=exp.Length(this=text.copy()), expression=_number(MAX_VALUE_CHARS)),
                string(TOO_LONG),
            )
            .when(exp.EQ(this=strip(text.copy()), expression=string("")), string(ABSENT))
        )
        if rule.undecidable is not None:
            case = case.when(rule.undecidable(text.copy(), normalized.copy()), string(UNDECIDABLE))
        for refused, reason in rule.refusals:
            case = case.when(refused(normalized.copy()), string(reason))
        return case.when(rule.valid(normalized.copy()), string(VALID)).else_(string(rule.reason))

    def _sent(self, column: str) -> exp.Expression:
        kind = IdentifierKind(column)
        rule = self.rules.get(kind)
        if rule is None or kind in self.dropped:
            return exp.cast(exp.null(), "text")
        value = rule.finish(exp.column(f"n_{column}"))
        if rule.hashed:
            value = Sha256Hex(this=value)
        return exp.Case().when(self._status_is(kind, VALID), value)

    def _consented(self, consent: list[tuple[str, str | None, str]]) -> exp.Expression:
        """syncd.plan.consent_mask: both signals granted, from the column or the default."""
        granted: list[exp.Expression] = []
        for name, column, default in consent:
            by_default = exp.true() if default == "granted" else exp.false()
            if column is None:
                granted.append(by_default)
                continue
            cell = exp.column(f"c_{name}")
            # str(value).strip().lower(): Python's lower() of a non-ASCII character never
            # gives one of these ASCII words, so ASCII lowercasing decides as it would.
            said = exp.In(
                this=ascii_lower(strip(cell.copy())),
                expressions=[string(value) for value in GRANTED_VALUES],
            )
            granted.append(exp.Case().when(cell.is_(exp.null()), by_default).else_(said))
        return exp.and_(*granted) if granted else exp.true()

    def _usable(self) -> exp.Expression:
        """A row is usable with one personal identifier (names, which could make an address
        usable, are never pushed down)."""
        present = [
            exp.not_(exp.column(kind.value).is_(exp.null()))
            for kind in PERSONAL_KINDS
            if kind in self.rules
        ]
        return exp.or_(*present, exp.false())

    @staticmethod
    def _status_is(kind: IdentifierKind, status: str) -> exp.Expression:
        return exp.EQ(this=exp.column(f"s_{kind.value}"), expression=string(status))


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


def _count_where(condition: exp.Expression) -> exp.Expression:
    # SUM(CASE ...) rather than COUNT(*) FILTER (...), which BigQuery lacks.
    ones = exp.Case().when(condition, _number(1)).else_(_number(0))
    return exp.Coalesce(this=exp.cast(exp.Sum(this=ones), "bigint"), expressions=[_number(0)])


def _as_int(value: object) -> int:
    """A count as a driver returns it (int, Decimal, numpy integer) or NULL."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return int(str(value))


def _timestamp(value: dt.datetime) -> exp.Expression:
    return exp.cast(string(value.isoformat(sep=" ")), "timestamptz")


def _number(value: int) -> exp.Literal:
    return exp.Literal.number(value)


def _quoted(column: str) -> exp.Column:
    """A segment column by its exact name, as the local path finds it in the result."""
    return exp.column(exp.to_identifier(column, quoted=True))


def _assemble(segment_sql: str, ctes: list[tuple[str, str]], query: str) -> str:
    """One statement: the segment's SQL, untouched, first in the WITH clause, then the CTEs.
    (The newline before ")" keeps a trailing -- comment from swallowing it.)"""
    segment = segment_sql.strip().rstrip(";").rstrip()
    parts = [f"syncd_segment AS (\n{segment}\n)", *(f"{name} AS ({sql})" for name, sql in ctes)]
    return f"WITH {', '.join(parts)} {query}"
