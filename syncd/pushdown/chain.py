"""The CTE chain from a segment's rows to its members, in SQL: what every pushdown query
(`queries`) reads the segment through.

    syncd_text        each mapped column as text (CAST, as syncd.identity.as_text does)
    syncd_normalized  each kind normalized (`kinds`), before its validity check
    syncd_checked     each kind's status: absent, too_long, undecidable, valid or a reason
    syncd_values      what is sent per kind (hashed where the network hashes), consent
    syncd_members     distinct members with their member_key, usable (and consented) rows

and the `stats` query over it: rows, undecidable rows, members, and a count per refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from syncd.identity import MAX_VALUE_CHARS, IdentifierKind
from syncd.identity import Dialect as IdentityDialect
from syncd.members import IDENTIFIER_COLUMNS, NO_CONSENT, NO_USABLE_IDENTIFIER
from syncd.pushdown.dialects import Sha256Hex
from syncd.pushdown.erasures import MEMBERS, counted, member_counts
from syncd.pushdown.kinds import (
    ADDRESS_KINDS,
    PERSONAL_KINDS,
    KindSql,
    ascii_lower,
    count_where,
    string,
    strip,
)
from syncd.pushdown.member_keys import member_key_expression

__all__ = [
    "GRANTED_VALUES",
    "MEMBERS",
    "SEGMENT_ROWS",
    "UNDECIDABLE",
    "UNDECIDABLE_ROWS",
    "ConsentColumns",
    "MemberChain",
]

#: `syncd.plan._granted`'s values that mean yes, after str(value).strip().lower().
GRANTED_VALUES = ("granted", "true", "yes", "y", "1", "t")

ABSENT, TOO_LONG, UNDECIDABLE, VALID = "absent", "too_long", "undecidable", "valid"
#: The columns of the `stats` row besides the count per "<kind>__<reason>".
SEGMENT_ROWS, UNDECIDABLE_ROWS = "segment_rows", "undecidable_rows"


@dataclass(frozen=True)
class ConsentColumns:
    """Per-row consent, as `syncd.plan.consent_mask` reads it: a column per signal (or None)
    and the destination's default ("granted" or "denied") for NULL cells."""

    ad_user_data: str | None
    ad_personalization: str | None
    default_ad_user_data: str
    default_ad_personalization: str


class MemberChain:
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

    def stats(self, *, erasing: bool = False) -> exp.Select:
        """One row of counts; `erasing` when the chain's members go through `erasures`'
        CTEs, which count those left out (`ERASED_MEMBERS`)."""
        # The members' counts in the same statement: PostgreSQL materializes syncd_values,
        # which both read, so the segment is still scanned once.
        counts: list[exp.Expression] = [
            exp.Count(this=exp.Star()).as_(SEGMENT_ROWS),
            count_where(
                exp.or_(*(self._status_is(kind, UNDECIDABLE) for kind in self.rules), exp.false())
            ).as_(UNDECIDABLE_ROWS),
            *member_counts(),
        ]
        for kind, rule in self.rules.items():
            refusals = (reason for _, reason in rule.refusals)
            for reason in dict.fromkeys((TOO_LONG, *refusals, rule.reason, UNDECIDABLE)):
                counts.append(
                    count_where(self._status_is(kind, reason)).as_(f"{kind.value}__{reason}")
                )
        usable = self._usable()
        counts.append(count_where(exp.not_(usable)).as_(f"row__{NO_USABLE_IDENTIFIER}"))
        if self.consent is not None:
            refused = exp.and_(usable.copy(), exp.not_(exp.column("consented")))
            counts.append(count_where(refused).as_(f"row__{NO_CONSENT}"))
        members = counted(erasing=erasing)
        return exp.select(*counts).from_("syncd_values").join(members, join_type="cross")

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


def _number(value: int) -> exp.Literal:
    return exp.Literal.number(value)


def _quoted(column: str) -> exp.Column:
    """A segment column by its exact name, as the local path finds it in the result."""
    return exp.column(exp.to_identifier(column, quoted=True))
