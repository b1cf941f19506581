"""Erased people left out inside the warehouse, as the local read leaves them out
(`syncd.read.exclusions`): no member sharing an email, phone, external id or mobile ad id
with an erasure of its network is sent, and one held is removed (it is not in the segment).

The erasures are read where they are kept: the state's `erasure_values`, which pushdown
finds in the warehouse's database beside `members`. So a query's text does not grow with
them, and each kind is one hash join against that network's distinct digests, whatever
their number (five years of erasure requests). A kind the network hashes is compared as
sent; one it takes in clear by the SHA-256 the erasure recorded (`rehashed`).

    syncd_distinct   the segment's distinct members (the chain's `syncd_members`)
    syncd_erased     the network's erased (kind, digest, rehashed), distinct
    syncd_matched    each member, and whether it has an erased value (`matched`)
    syncd_linking    the personal values of the matched members (few)
    syncd_flagged    each member, and whether it is left out (`erased`): matched, or
                     sharing a personal value with a matched one
    syncd_members    the members that are not

The link is the local read's one round (`syncd.read.builder.MemberBuilder._left_out`): a
person's phone-only row leaves with the row that had their erased email and that phone.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlglot import exp

from syncd.identity import IdentifierKind
from syncd.members import IDENTIFIER_COLUMNS
from syncd.pushdown.dialects import Dialect, Sha256Hex
from syncd.pushdown.kinds import PERSONAL_KINDS, count_where, string

#: The `stats` columns counting distinct members sent and left out by an erasure.
MEMBERS, ERASED_MEMBERS = "members", "erased_members"
_ERASED, _MATCHED, _LINKING = "syncd_erased", "syncd_matched", "syncd_linking"
_FLAGGED, _COUNTED = "syncd_flagged", "syncd_counted"


@dataclass(frozen=True)
class ErasedValues:
    """The state's `erasure_values` table in the warehouse (e.g. `"syncd".erasure_values`,
    in the dialect's quoting), the network whose rows apply (a registry kind), and the
    (kind, rehashed) pairs it holds for that network."""

    table: str
    network: str
    kinds: frozenset[tuple[str, bool]]

    def joined(self, carried: Collection[IdentifierKind]) -> list[tuple[str, bool]]:
        """The (kind, rehashed) pairs to compare, of the personal kinds `carried` sends."""
        personal = set(personal_columns(carried))
        return sorted(pair for pair in self.kinds if pair[0] in personal)


def personal_columns(carried: Collection[IdentifierKind]) -> list[str]:
    """The member columns that tell a person, of the kinds `carried` sends."""
    return [kind.value for kind in PERSONAL_KINDS if kind in carried]


def erasure_ctes(
    distinct: exp.Select,
    erased: ErasedValues,
    pairs: list[tuple[str, bool]],
    personal: list[str],
    dialect: Dialect,
) -> list[tuple[str, exp.Select]]:
    """The CTEs that turn `distinct` (the segment's distinct members) into `syncd_members`
    without the erased ones, comparing the kinds of `pairs` (`ErasedValues.joined`) and
    linking by the `personal` columns (`personal_columns`)."""
    values = (
        exp.select("kind", "digest", "rehashed")
        .distinct()
        .from_(exp.to_table(erased.table, dialect=dialect.value))
        .where(exp.column("network").eq(string(erased.network)))
    )
    matched = exp.select(*_members("d")).from_(exp.to_table("syncd_distinct").as_("d"))
    covered: list[exp.Expression] = []
    for index, (kind, rehashed) in enumerate(pairs):
        alias = f"e{index}"
        member: exp.Expression = exp.column(kind, "d")
        if rehashed:
            member = Sha256Hex(this=member)
        on = exp.and_(
            exp.column("kind", alias).eq(string(kind)),
            exp.column("rehashed", alias).eq(exp.true() if rehashed else exp.false()),
            exp.column("digest", alias).eq(member),
        )
        matched = matched.join(exp.to_table(_ERASED).as_(alias), on=on, join_type="left")
        covered.append(exp.not_(exp.column("digest", alias).is_(exp.null())))
    matched = matched.select(exp.or_(*covered).as_("matched"))
    linking = exp.select(*personal).from_(_MATCHED).where(exp.column("matched"))
    linked = [
        exp.Coalesce(
            this=exp.In(
                this=exp.column(column),
                query=exp.select(column)
                .from_(_LINKING)
                .where(exp.not_(exp.column(column).is_(exp.null())))
                .subquery(),
            ),
            expressions=[exp.false()],
        )
        for column in personal
    ]
    flagged = exp.select(*_members(), exp.or_(exp.column("matched"), *linked).as_("erased"))
    members = exp.select(*_members()).from_(_FLAGGED).where(exp.not_(exp.column("erased")))
    return [
        ("syncd_distinct", distinct),
        (_ERASED, values),
        (_MATCHED, matched),
        (_LINKING, linking),
        (_FLAGGED, flagged.from_(_MATCHED)),
        ("syncd_members", members),
    ]


def counted(*, erasing: bool) -> exp.Subquery:
    """A one-row table of the segment's members sent and left out by erasures, for the
    `stats` query to cross join: one scan of the members for both counts."""
    if not erasing:
        query = exp.select(
            exp.Count(this=exp.Star()).as_(MEMBERS), exp.Literal.number(0).as_(ERASED_MEMBERS)
        ).from_("syncd_members")
    else:
        query = exp.select(
            count_where(exp.not_(exp.column("erased"))).as_(MEMBERS),
            count_where(exp.column("erased")).as_(ERASED_MEMBERS),
        ).from_(_FLAGGED)
    return query.subquery(_COUNTED)


def member_counts() -> list[exp.Expression]:
    """The `stats` columns read from `counted`'s row (one value over every row of the
    segment, so any aggregate of it is it)."""
    return [
        exp.Max(this=exp.column(name, _COUNTED)).as_(name) for name in (MEMBERS, ERASED_MEMBERS)
    ]


def _members(table: str | None = None) -> list[exp.Expression]:
    return [exp.column(name, table) for name in ("member_key", *IDENTIFIER_COLUMNS)]
