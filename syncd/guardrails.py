"""Guardrails: the checks that stop a sync from doing damage a person did not mean.

A removal that goes through keeps costing nothing; a wiped audience stops a campaign. So a
plan that would empty an audience from an empty query, remove a large share of it, leave
most of its segment out by suppressions, or feed it from a segment that is mostly unreadable
is refused, with the reason and the way to go ahead. Every decision, passed or not, is kept
on the plan so `syncd plan` can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from syncd.config.models import Guardrails

#: Below this an audience does not serve ads anyway, so heavy churn in it is normal.
GUARDED_AUDIENCE_SIZE = 100


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.verdict} ({self.detail})"


def check_plan(
    *,
    rows: int,
    unusable_rows: int,
    members: int,
    held: int,
    removes: int,
    min_serving_size: int,
    limits: Guardrails,
    allow_mass_removal: bool,
    suppressed: int = 0,
    erased: int = 0,
    left_out_removes: int = 0,
    allow_mass_suppression: bool = False,
) -> list[Check]:
    """Every guardrail decision for one audience's plan, in a fixed order. `members` are the
    segment's members sent; `suppressed` and `erased` those the suppressions query and
    erasures left out besides, `left_out_removes` the removals among them (the ones the
    audience held). Those removals are the suppression guard's to judge, not the removal
    share's: a wave of opt-outs passes one flag, not two. The others' are not subtracted:
    people who opted out long ago are never held, and subtracting them every pass would let
    a broken segment remove the limit plus the suppressed share."""
    by_segment = removes - left_out_removes
    return [
        _empty_segment(members + suppressed + erased, held, allow_mass_removal),
        _removal_share(held, by_segment, limits.max_removal_fraction, allow_mass_removal),
        _suppressed_share(
            members + suppressed + erased,
            suppressed,
            limits.max_suppressed_fraction,
            allow_mass_suppression,
        ),
        _invalid_share(rows, unusable_rows, limits.max_invalid_fraction),
        _serving_size(members, min_serving_size),
    ]


def _empty_segment(members: int, held: int, allowed: bool) -> Check:
    if members > 0 or held == 0:
        return Check("empty_segment", Verdict.OK, f"{members:,} members")
    if allowed:
        return Check("empty_segment", Verdict.WARN, f"emptying {held:,} members, as allowed")
    return Check(
        "empty_segment",
        Verdict.REFUSE,
        f"the segment has no members but the audience holds {held:,}: refusing to empty it "
        "(an empty table or a broken query is the usual cause); pass --allow-mass-removal "
        "if this is intended",
    )


def _removal_share(held: int, removes: int, limit: float, allowed: bool) -> Check:
    return _share_check(
        "removal_share",
        f"{removes:,} of {held:,} held",
        whole=held,
        part=removes,
        limit=limit,
        allowed=allowed,
        fix="pass --allow-mass-removal, or raise guardrails.max_removal_fraction",
    )


def _suppressed_share(read: int, suppressed: int, limit: float, allowed: bool) -> Check:
    """The suppressions query's share of the segment's members (erasures are not counted:
    each is one person's own request, and always goes through)."""
    return _share_check(
        "suppressed_share",
        f"{suppressed:,} of {read:,} members suppressed",
        whole=read,
        part=suppressed,
        limit=limit,
        allowed=allowed,
        fix="holding the audience; a suppressions query that suddenly covers most of "
        "an audience is more often broken (a missing WHERE, a join on the wrong table) than a "
        "wave of opt-outs; check suppressions.sql, then pass --allow-mass-suppression if "
        "they did opt out, or raise guardrails.max_suppressed_fraction",
    )


def _share_check(
    name: str, counted: str, *, whole: int, part: int, limit: float, allowed: bool, fix: str
) -> Check:
    """A share of an audience (`part` of `whole`) against its limit: fine on audiences
    under GUARDED_AUDIENCE_SIZE or within the limit, a warning when the pass was allowed
    past it, else refused with `fix`."""
    share = part / whole if whole else 0.0
    detail = f"{counted} ({share:.1%}; limit {limit:.0%})"
    if whole < GUARDED_AUDIENCE_SIZE or share <= limit:
        return Check(name, Verdict.OK, detail)
    if allowed:
        return Check(name, Verdict.WARN, detail + ", allowed")
    return Check(name, Verdict.REFUSE, f"{detail}: {fix}")


def _invalid_share(rows: int, unusable: int, limit: float) -> Check:
    share = unusable / rows if rows else 0.0
    detail = f"{unusable:,} of {rows:,} rows unusable ({share:.1%}; limit {limit:.0%})"
    if share <= limit:
        return Check("invalid_rows", Verdict.OK, detail)
    return Check(
        "invalid_rows",
        Verdict.REFUSE,
        detail + ": check the identifier columns of the segment, or raise "
        "guardrails.max_invalid_fraction",
    )


def _serving_size(members: int, minimum: int) -> Check:
    detail = f"{members:,} members; the network serves from {minimum:,} matched"
    verdict = Verdict.OK if members >= minimum else Verdict.WARN
    return Check("serving_size", verdict, detail)
