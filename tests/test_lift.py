"""syncd.lift: assignment is stable and uniform; the estimate's intervals cover the truth."""

from __future__ import annotations

import math
import random
import uuid

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from syncd.lift import (
    Estimate,
    GroupOutcomes,
    InvalidKey,
    estimate,
    experiment_salt,
    held_out,
    is_held_out,
    minimum_detectable_effect,
    threshold,
)

SALT = experiment_salt("abandoned_carts")
KEYS = pa.array([str(uuid.UUID(int=i * 7919 + 1)) for i in range(100_000)])
Z = 1.959963984540054  # NormalDist().inv_cdf(0.975)
Z_POWER = 0.8416212335729143  # NormalDist().inv_cdf(0.8)


# --- assignment -------------------------------------------------------------------------------

# (key, first 8 bytes of SHA-256(SALT 0x1f key) as a big-endian integer), checked against
# DuckDB's sha256 below; a change here reshuffles every running experiment.
VECTORS = [
    ("alice@example.com", 8537452014850749353),
    ("00000000-0000-0000-0000-000000000001", 7073362591187176588),
    ("Zoë", 17312172699740276971),
    ("42", 730505479254371891),
]


def test_salts_are_fixed_and_differ_by_name_and_user_salt() -> None:
    assert SALT == "896011249792b8d268a287eb56dc2ca8"
    assert experiment_salt("abandoned_carts", "2025-q3") == "95a71a1498112779831584719d969009"
    assert experiment_salt("non_buyers") != SALT
    for name, salt in [("", None), ("a\x1fb", None), ("carts", ""), ("carts", "x\x1f")]:
        with pytest.raises(ValueError, match="0x1f"):
            experiment_salt(name, salt)


@pytest.mark.parametrize(("key", "hashed"), VECTORS)
def test_fixed_vectors_pin_the_bucket_border(key: str, hashed: int) -> None:
    # The bucket is hashed / 2**64: a fraction one float step below it holds the key out
    # nowhere, one step above it does, in both the per-value and the Arrow function.
    bucket = hashed / 2**64
    below, above = math.nextafter(bucket, 0), math.nextafter(bucket, 1)
    assert not is_held_out(SALT, key, below)
    assert is_held_out(SALT, key, above)
    assert held_out(SALT, pa.array([key]), below).to_pylist() == [False]
    assert held_out(SALT, pa.array([key]), above).to_pylist() == [True]


def test_duckdb_sql_gives_the_same_groups() -> None:
    # Both SQL forms: the digest's first 8 bytes as an unsigned integer, and (for engines
    # without one) its first 16 hex digits against the threshold's.
    keys = [key for key, _ in VECTORS] + KEYS.slice(0, 2000).to_pylist()
    limit = threshold(0.3)
    connection = duckdb.connect()
    connection.register("people", pa.table({"row": range(len(keys)), "key": keys}))
    rows = connection.execute(
        "SELECT ('0x' || left(sha256($salt || chr(31) || key), 16))::UBIGINT < $limit::UHUGEINT,"
        " left(sha256($salt || chr(31) || key), 16) < $hex FROM people ORDER BY row",
        {"salt": SALT, "limit": limit, "hex": format(limit, "016x")},
    ).fetchall()
    expected = [is_held_out(SALT, key, 0.3) for key in keys]
    assert [as_integer for as_integer, _ in rows] == expected
    assert [as_hex for _, as_hex in rows] == expected
    assert [hashed < limit for _, hashed in VECTORS] == expected[:4]
    # The float 0.1 is 0x1.999999999999ap-4, so 0.1 * 2**64 is 0x1999999999999a00.
    assert format(threshold(0.1), "016x") == "1999999999999a00"


def test_arrow_matches_per_value_also_on_slices_and_large_strings() -> None:
    keys = KEYS.slice(500, 3000)
    expected = [is_held_out(SALT, key, 0.25) for key in keys.to_pylist()]
    assert held_out(SALT, keys, 0.25).to_pylist() == expected
    assert held_out(SALT, keys.cast(pa.large_string()), 0.25).to_pylist() == expected
    assert 0 < sum(expected) < len(expected)


def test_fraction_zero_holds_nobody_and_one_everybody() -> None:
    keys = KEYS.slice(0, 10_000)
    assert not pc.any(held_out(SALT, keys, 0.0)).as_py()
    assert pc.all(held_out(SALT, keys, 1.0)).as_py()
    assert len(held_out(SALT, keys, 1.0)) == 10_000
    assert not any(is_held_out(SALT, key, 0.0) for key in keys.to_pylist()[:100])
    assert all(is_held_out(SALT, key, 1.0) for key in keys.to_pylist()[:100])


def test_realized_share_is_within_binomial_bounds() -> None:
    # 100k keys at 10%: mean 10,000, sd sqrt(100,000 * 0.1 * 0.9) = 94.9; 4 sd either side.
    for fraction in (0.1, 0.5):
        held = pc.sum(held_out(SALT, KEYS, fraction)).as_py()
        sd = math.sqrt(len(KEYS) * fraction * (1 - fraction))
        assert abs(held - len(KEYS) * fraction) < 4 * sd


def test_two_salts_are_nearly_independent() -> None:
    # Two independent 10% holdouts of 100k overlap on 1% (1,000, sd 31.5): 4 sd either side.
    first = held_out(SALT, KEYS, 0.1)
    second = held_out(experiment_salt("abandoned_carts", "2025-q3"), KEYS, 0.1)
    both = pc.sum(pc.and_(first, second)).as_py()
    assert abs(both - 1000) < 4 * math.sqrt(100_000 * 0.01 * 0.99)


def test_growing_the_fraction_only_moves_people_into_the_holdout() -> None:
    smaller, larger = held_out(SALT, KEYS, 0.1), held_out(SALT, KEYS, 0.2)
    assert not pc.any(pc.and_not(smaller, larger)).as_py()
    assert pc.sum(larger).as_py() > pc.sum(smaller).as_py()


def test_null_and_empty_keys_are_refused() -> None:
    with pytest.raises(InvalidKey, match="null"):
        is_held_out(SALT, None, 0.1)  # type: ignore[arg-type]
    with pytest.raises(InvalidKey, match="empty"):
        is_held_out(SALT, "", 0.1)
    with pytest.raises(InvalidKey, match=r"2 person key.*null, the first at row 1"):
        held_out(SALT, pa.array(["a", None, "b", None]), 0.1)
    with pytest.raises(InvalidKey, match="row 2"):
        held_out(SALT, pa.array(["a", "b", ""]), 0.1)
    with pytest.raises(TypeError, match="strings"):
        held_out(SALT, pa.array([1, 2]), 0.1)


def test_bad_fractions_and_salts_are_refused() -> None:
    for fraction in (-0.1, 1.1, math.nan):
        with pytest.raises(ValueError, match="between 0 and 1"):
            is_held_out(SALT, "a", fraction)
    with pytest.raises(ValueError, match="salt"):
        is_held_out("", "a", 0.1)


# --- estimate: worked by hand -----------------------------------------------------------------


def test_small_example_by_hand_with_an_inconclusive_lift() -> None:
    # Treated: 4 people with revenue [0, 10, 0, 30] -> 2 converters, sum 40, squares 1000.
    # Held out: 3 people with [0, 0, 15] -> 1 converter, sum 15, squares 225. Spend 10.
    result = estimate(GroupOutcomes(4, 2, 40.0, 1000.0), GroupOutcomes(3, 1, 15.0, 225.0), 10.0)
    assert (result.conversion_rate_treated, result.conversion_rate_held_out) == (0.5, 1 / 3)
    assert (result.revenue_per_person_treated, result.revenue_per_person_held_out) == (10, 5)
    # Conversions: 4 * (1/2 - 1/3) = 2/3. Sample variances 2*2/(4*3) = 1/3 and 1*2/(3*2) = 1/3;
    # se = 4 * sqrt(1/3/4 + 1/3/3) = 4 * sqrt(7/36) = 1.763834; half width 1.96 * se = 3.457051.
    conversions = result.incremental_conversions
    assert conversions is not None and conversions.interval is not None
    assert conversions.value == pytest.approx(2 / 3)
    assert conversions.interval.low == pytest.approx(2 / 3 - 3.457051, abs=1e-6)
    assert conversions.interval.high == pytest.approx(2 / 3 + 3.457051, abs=1e-6)
    assert not conversions.significant
    # Revenue: 4 * (10 - 5) = 20. Variances (1000 - 40**2/4)/3 = 200 and (225 - 15**2/3)/2 = 75;
    # se = 4 * sqrt(200/4 + 75/3) = 4 * sqrt(75) = 34.641016; half width 67.895144.
    revenue = result.incremental_revenue
    assert revenue is not None and revenue.interval is not None
    assert revenue.value == pytest.approx(20)
    assert revenue.interval.low == pytest.approx(-47.895144, abs=1e-6)
    assert revenue.interval.high == pytest.approx(87.895144, abs=1e-6)
    assert not revenue.significant
    # Cost 10 / (2/3) = 15; the conversions' interval straddles 0, so the cost interval is
    # [10 / 4.123718, inf] = [2.424996, inf]. iROAS 20 / 10 = 2, interval the revenue's / 10.
    cost, roas = result.cost_per_incremental_conversion, result.incremental_roas
    assert cost is not None and cost.value == pytest.approx(15)
    assert cost.interval is not None and cost.interval.high == math.inf
    assert cost.interval.low == pytest.approx(2.424996, abs=1e-6)
    assert roas is not None and roas.value == pytest.approx(2)
    assert roas.interval is not None
    assert (roas.interval.low, roas.interval.high) == pytest.approx((-4.7895144, 8.7895144))
    # MDE: at p = 1/3, even a treated rate of 1 (d = 2/3) gives only
    # 2.801585 * sqrt(0 + (2/9)/3) = 0.762 > 2/3 standard errors short of 80% power: none.
    assert result.minimum_detectable_effect is None


def test_example_by_hand_with_a_significant_lift() -> None:
    # 120 of 1,000 treated and 20 of 250 held out converted; no revenue; spend 100.
    result = estimate(GroupOutcomes(1000, 120), GroupOutcomes(250, 20), 100.0)
    # 1000 * (0.12 - 0.08) = 40. Variances 120*880/(1000*999) = 0.1057057 and
    # 20*230/(250*249) = 0.0738956; se = 1000 * sqrt(0.1057057/1000 + 0.0738956/250)
    # = 1000 * sqrt(4.012880e-4) = 20.032175; half width 1.96 * 20.032175 = 39.262342.
    conversions = result.incremental_conversions
    assert conversions is not None and conversions.interval is not None
    assert conversions.value == pytest.approx(40)
    assert conversions.interval.low == pytest.approx(0.737658, abs=1e-6)
    assert conversions.interval.high == pytest.approx(79.262342, abs=1e-6)
    assert conversions.significant
    # Cost 100 / 40 = 2.5, interval [100 / 79.262342, 100 / 0.737658] = [1.261633, 135.5641].
    cost = result.cost_per_incremental_conversion
    assert cost is not None and cost.value == pytest.approx(2.5)
    assert cost.interval is not None
    assert (cost.interval.low, cost.interval.high) == pytest.approx((1.261633, 135.5641), rel=1e-6)
    # No revenue in either group: a lift of 0 with no interval, and an iROAS of 0 without one.
    assert result.incremental_revenue is not None
    assert result.incremental_revenue.interval is None
    assert result.incremental_roas is not None and result.incremental_roas.value == 0


# --- estimate: edge cases ---------------------------------------------------------------------


def test_an_empty_group_gives_rates_for_the_other_and_nothing_compared() -> None:
    result = estimate(GroupOutcomes(100, 10, 500.0, 30_000.0), GroupOutcomes(0, 0), 50.0)
    assert result.conversion_rate_treated == 0.1 and result.conversion_rate_held_out is None
    assert result.revenue_per_person_treated == 5 and result.revenue_per_person_held_out is None
    assert result.incremental_conversions is None and result.incremental_revenue is None
    assert result.cost_per_incremental_conversion is None and result.incremental_roas is None
    assert result.minimum_detectable_effect is None


def test_a_group_of_one_gives_a_lift_without_an_interval() -> None:
    result = estimate(GroupOutcomes(10, 5), GroupOutcomes(1, 0), 0.0)
    conversions = result.incremental_conversions
    assert conversions is not None and conversions.value == pytest.approx(5)
    assert conversions.interval is None and not conversions.significant


def test_zero_conversions_in_both_groups() -> None:
    result = estimate(GroupOutcomes(1000, 0), GroupOutcomes(1000, 0), 20.0)
    conversions = result.incremental_conversions
    assert conversions is not None and conversions.value == 0
    assert conversions.interval is None and not conversions.significant
    assert result.cost_per_incremental_conversion is not None
    assert result.cost_per_incremental_conversion.value is None
    assert result.cost_per_incremental_conversion.interval is None
    # At p = 0 the MDE solves d = K * sqrt(d (1 - d) / n_t), K = 1.959964 + 0.841621 = 2.801585,
    # so d = K**2 / (n_t + K**2) = 7.848880 / 1007.848880 = 0.0077878.
    assert result.minimum_detectable_effect == pytest.approx(0.0077878, abs=1e-7)


def test_zero_spend_gives_no_cost_and_no_roas() -> None:
    result = estimate(GroupOutcomes(1000, 120, 1.0, 1.0), GroupOutcomes(250, 20), 0.0)
    assert result.incremental_conversions is not None
    assert result.cost_per_incremental_conversion is None and result.incremental_roas is None


def test_a_negative_lift_has_no_cost_but_a_negative_roas() -> None:
    result = estimate(GroupOutcomes(1000, 50, 500.0, 5000.0), GroupOutcomes(1000, 100), 10.0)
    cost, roas = result.cost_per_incremental_conversion, result.incremental_roas
    assert cost is not None and cost.value is None and cost.interval is None
    assert roas is not None and roas.value == pytest.approx(50)


def test_inconsistent_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="converters"):
        GroupOutcomes(10, 11)
    with pytest.raises(ValueError, match="square of the sum"):
        GroupOutcomes(4, 2, 40.0, 40.0)  # 40**2 = 1600 > 4 * 40
    with pytest.raises(ValueError, match="finite"):
        GroupOutcomes(4, 2, math.inf, math.inf)
    for spend in (-1.0, math.nan):
        with pytest.raises(ValueError, match="spend"):
            estimate(GroupOutcomes(10, 1), GroupOutcomes(10, 1), spend)


# --- minimum detectable effect ----------------------------------------------------------------


def test_mde_shrinks_with_larger_groups_and_exceeds_the_textbook_shortcut() -> None:
    mdes = [minimum_detectable_effect(n, n // 4, 0.08) for n in (400, 4000, 40_000)]
    assert all(mde is not None for mde in mdes)
    assert mdes[0] > mdes[1] > mdes[2]  # type: ignore[operator]
    # The shortcut K * sqrt(p (1 - p) (1/n_t + 1/n_h)) ignores the treated rate's larger
    # variance; the solved MDE is a little above it, and the gap closes with size.
    shortcut = (Z + Z_POWER) * math.sqrt(0.08 * 0.92 * (1 / 40_000 + 1 / 10_000))
    assert shortcut < mdes[2] < shortcut * 1.05  # type: ignore[operator]
    assert minimum_detectable_effect(1000, 1000, 1.0) is None
    assert minimum_detectable_effect(1, 1000, 0.1) is None


# --- simulation -------------------------------------------------------------------------------

SEEDS = 400
TREATED, HELD_OUT = 4000, 1000  # a 20% holdout
BASE_RATE, ORDER_VALUE = 0.08, 50.0


def _binomial(rng: random.Random, people: int, rate: float) -> int:
    """Converters among `people` Bernoulli(rate) trials, drawn by skipping geometric gaps
    between successes: the same law as a loop over people, ~1/rate times fewer draws."""
    log_miss = math.log1p(-rate)
    converters, position = 0, -1
    while True:
        position += 1 + int(math.log(1.0 - rng.random()) / log_miss)
        if position >= people:
            return converters
        converters += 1


def _group(rng: random.Random, people: int, rate: float) -> GroupOutcomes:
    """A group whose converters each spend an exponential amount with mean ORDER_VALUE."""
    orders = [rng.expovariate(1 / ORDER_VALUE) for _ in range(_binomial(rng, people, rate))]
    return GroupOutcomes(people, len(orders), sum(orders), sum(v * v for v in orders))


def _runs(name: str, treated_rate: float) -> list[Estimate]:
    runs = []
    for seed in range(SEEDS):
        rng = random.Random(f"{name}-{seed}")
        treated = _group(rng, TREATED, treated_rate)
        runs.append(estimate(treated, _group(rng, HELD_OUT, BASE_RATE), 1000.0))
    return runs


def test_intervals_cover_the_true_lift_in_about_95_percent_of_seeds() -> None:
    lift = 0.02
    truth_conversions = lift * TREATED  # 80
    truth_revenue = lift * ORDER_VALUE * TREATED  # 4,000
    runs = _runs("coverage", BASE_RATE + lift)
    conversions = [r.incremental_conversions.interval for r in runs]
    revenue = [r.incremental_revenue.interval for r in runs]
    covered_c = sum(i.low <= truth_conversions <= i.high for i in conversions) / SEEDS
    covered_r = sum(i.low <= truth_revenue <= i.high for i in revenue) / SEEDS
    assert 0.92 <= covered_c <= 0.98, covered_c
    assert 0.92 <= covered_r <= 0.98, covered_r


def test_without_a_true_lift_about_5_percent_are_significant() -> None:
    runs = _runs("null", BASE_RATE)
    conversions = sum(r.incremental_conversions.significant for r in runs) / SEEDS
    revenue = sum(r.incremental_revenue.significant for r in runs) / SEEDS
    assert 0.02 <= conversions <= 0.08, conversions
    assert 0.02 <= revenue <= 0.08, revenue


def test_an_effect_of_the_mde_is_detected_80_percent_of_seeds_and_twice_it_nearly_all() -> None:
    mde = minimum_detectable_effect(TREATED, HELD_OUT, BASE_RATE)
    assert mde is not None
    for multiple, low, high in [(1, 0.72, 0.88), (2, 0.95, 1.0)]:
        runs = _runs(f"power-{multiple}", BASE_RATE + multiple * mde)
        found = [r.incremental_conversions for r in runs]
        detected = sum(lift.significant and lift.value > 0 for lift in found) / SEEDS
        assert low <= detected <= high, (multiple, detected)
