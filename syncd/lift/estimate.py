"""What one audience added over a window, from its treated and its held-out group.

Randomization makes the held-out group what the treated group would have done without the
audience, so the difference of the groups' per-person means, times the treated group's size,
is what the audience added: incremental conversions from the conversion rates (the share of
people who converted at least once), incremental revenue from revenue per person. Each comes
with a 95% interval from the normal approximation with each group's own sample variance
(Welch's unpooled standard error, with normal rather than t quantiles: the groups here have
hundreds of people or more). Revenue arrives as sufficient statistics (people, sum, sum of
squares), so the state never holds revenue per person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

#: Two-sided significance level of every interval and test here (95% intervals).
ALPHA = 0.05
#: The probability with which an effect of the minimum detectable size is found significant.
POWER = 0.8
_Z = NormalDist().inv_cdf(1 - ALPHA / 2)
_Z_POWER = NormalDist().inv_cdf(POWER)


@dataclass(frozen=True)
class GroupOutcomes:
    """One group over the window: its people, how many converted, and their revenue.

    `revenue` is the sum over the group's people of each one's revenue in the window, and
    `revenue_squares` the sum of the squares of those per-person revenues (people who bought
    nothing count as zeros in both); with `people` they are all the variance needs.
    """

    people: int
    converters: int
    revenue: float = 0.0
    revenue_squares: float = 0.0

    def __post_init__(self) -> None:
        if self.people < 0 or not 0 <= self.converters <= self.people:
            raise ValueError(
                f"a group has people >= 0 and 0 <= converters <= people, "
                f"got {self.people} people and {self.converters} converters"
            )
        if not (math.isfinite(self.revenue) and math.isfinite(self.revenue_squares)):
            raise ValueError("revenue and its sum of squares must be finite")
        # Cauchy-Schwarz: sum**2 <= n * sum of squares, else the inputs are not one group's.
        if self.revenue**2 > self.people * self.revenue_squares * (1 + 1e-9) + 1e-9:
            raise ValueError(
                f"a sum of squares of {self.revenue_squares} cannot come from {self.people} "
                f"people with revenue {self.revenue}: is it the square of the sum?"
            )


@dataclass(frozen=True)
class Interval:
    """A 95% confidence interval; `high` may be infinite (see `Ratio`)."""

    low: float
    high: float


@dataclass(frozen=True)
class Lift:
    """An incremental total: treated minus held-out mean, times the treated group's size.

    `interval` is None where the data cannot give one: a group of fewer than two people (no
    variance), or both groups constant (no conversions in either, say), where the normal
    approximation has nothing to stand on. `significant` is whether the interval excludes
    zero, the two-sided test at 5%; never without an interval.
    """

    value: float
    interval: Interval | None
    significant: bool


@dataclass(frozen=True)
class Ratio:
    """A lift divided by spend, or spend by a lift, with the interval its lift's maps to."""

    value: float | None
    interval: Interval | None


@dataclass(frozen=True)
class Estimate:
    """The audience P&L line for one audience and window.

    Per group: people, conversion rate, revenue per person; None for a group with no people.
    With either group empty there is nothing to compare, and the lifts, ratios and minimum
    detectable effect are all None.

    `cost_per_incremental_conversion` is spend / incremental conversions. Its value is None
    unless incremental conversions are positive. Its interval is [spend/high, spend/low] of
    the conversions' interval when that interval's lower bound is positive; when only the
    upper bound is, the interval is [spend/high, inf] (the audience may have added nothing,
    so no cost per conversion is too high); when neither is, it is None.
    `incremental_roas` is incremental revenue / spend, with the revenue interval divided by
    spend (a negative lower bound says the audience may lose money). With zero spend both are
    None: a missing spend report must not read as a free audience.

    `minimum_detectable_effect` is in absolute conversion rate: see
    `minimum_detectable_effect`. A lift well below it, significant or not, means little yet.
    """

    treated_people: int
    held_out_people: int
    conversion_rate_treated: float | None
    conversion_rate_held_out: float | None
    revenue_per_person_treated: float | None
    revenue_per_person_held_out: float | None
    incremental_conversions: Lift | None
    incremental_revenue: Lift | None
    spend: float
    cost_per_incremental_conversion: Ratio | None
    incremental_roas: Ratio | None
    minimum_detectable_effect: float | None


def estimate(treated: GroupOutcomes, held_out: GroupOutcomes, spend: float) -> Estimate:
    """The estimate for one audience from its two groups' outcomes and its spend."""
    if not (math.isfinite(spend) and spend >= 0):
        raise ValueError(f"spend is a finite amount >= 0, got {spend!r}")
    spend = float(spend)
    conversions: Lift | None = None
    revenue: Lift | None = None
    cost: Ratio | None = None
    roas: Ratio | None = None
    mde: float | None = None
    if treated.people and held_out.people:
        conversions = _lift(
            (treated.people, treated.converters, treated.converters),
            (held_out.people, held_out.converters, held_out.converters),
        )
        revenue = _lift(
            (treated.people, treated.revenue, treated.revenue_squares),
            (held_out.people, held_out.revenue, held_out.revenue_squares),
        )
        if spend > 0:
            cost = _cost(spend, conversions)
            roas = Ratio(revenue.value / spend, _scaled(revenue.interval, 1 / spend))
        mde = minimum_detectable_effect(
            treated.people, held_out.people, held_out.converters / held_out.people
        )
    return Estimate(
        treated_people=treated.people,
        held_out_people=held_out.people,
        conversion_rate_treated=_mean(treated.people, treated.converters),
        conversion_rate_held_out=_mean(held_out.people, held_out.converters),
        revenue_per_person_treated=_mean(treated.people, treated.revenue),
        revenue_per_person_held_out=_mean(held_out.people, held_out.revenue),
        incremental_conversions=conversions,
        incremental_revenue=revenue,
        spend=spend,
        cost_per_incremental_conversion=cost,
        incremental_roas=roas,
        minimum_detectable_effect=mde,
    )


def minimum_detectable_effect(
    treated_people: int, held_out_people: int, held_out_rate: float
) -> float | None:
    """The smallest rise `d` of the conversion rate over `held_out_rate` that `estimate` finds
    significant (5%, two-sided) with 80% probability, for these group sizes.

    The test rejects when the observed difference exceeds z_0.975 standard errors, so the rise
    found with probability 80% is the `d` that solves
        d = (z_0.975 + z_0.8) * sqrt((p + d)(1 - p - d) / n_t + p(1 - p) / n_h),
    with p the held-out rate; using p(1 - p) on both sides, the textbook shortcut, makes the
    true power fall short of 80% when the lift raises the variance. The right side is concave
    in d, so d minus it is convex and not positive at 0: it turns positive once, where
    bisection finds it. None for a group under two people, or when even a treated rate of 1
    would not be detected that often.
    """
    if treated_people < 2 or held_out_people < 2:
        return None
    p, z = held_out_rate, _Z + _Z_POWER

    def shortfall(d: float) -> float:
        return d - z * math.sqrt(
            (p + d) * (1 - p - d) / treated_people + p * (1 - p) / held_out_people
        )

    low, high = 0.0, 1.0 - p
    if shortfall(high) <= 0:
        return None
    for _ in range(60):  # halves the bracket down to 2**-60 of a rate
        middle = (low + high) / 2
        low, high = (middle, high) if shortfall(middle) <= 0 else (low, middle)
    return high


def _mean(people: int, total: float) -> float | None:
    return total / people if people else None


def _lift(treated: tuple[int, float, float], held_out: tuple[int, float, float]) -> Lift:
    """Welch's difference of means scaled to the treated group; each side (n, sum, sum sq)."""
    (n_t, sum_t, squares_t), (n_h, sum_h, squares_h) = treated, held_out
    value = (sum_t / n_t - sum_h / n_h) * n_t
    if n_t < 2 or n_h < 2:
        return Lift(value, None, significant=False)
    error = n_t * math.sqrt(
        _variance(n_t, sum_t, squares_t) / n_t + _variance(n_h, sum_h, squares_h) / n_h
    )
    if error == 0:
        return Lift(value, None, significant=False)
    interval = Interval(value - _Z * error, value + _Z * error)
    return Lift(value, interval, significant=interval.low > 0 or interval.high < 0)


def _variance(people: int, total: float, squares: float) -> float:
    """The sample variance; clipped at 0, which rounding can undershoot for constant data."""
    return max(0.0, (squares - total * total / people) / (people - 1))


def _cost(spend: float, conversions: Lift) -> Ratio:
    value = spend / conversions.value if conversions.value > 0 else None
    interval = conversions.interval
    if interval is None or interval.high <= 0:
        return Ratio(value, None)
    upper = spend / interval.low if interval.low > 0 else math.inf
    return Ratio(value, Interval(spend / interval.high, upper))


def _scaled(interval: Interval | None, factor: float) -> Interval | None:
    return None if interval is None else Interval(interval.low * factor, interval.high * factor)
