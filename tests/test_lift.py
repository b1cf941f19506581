"""syncd.lift: holdout assignment is stable, uniform, and the same in SQL."""

from __future__ import annotations

import math
import uuid

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from syncd.lift import InvalidKey, experiment_salt, held_out, is_held_out, threshold

SALT = experiment_salt("abandoned_carts")
KEYS = pa.array([str(uuid.UUID(int=i * 7919 + 1)) for i in range(100_000)])


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
    keys = [key for key, _ in VECTORS] + KEYS.slice(0, 2000).to_pylist()
    limit = threshold(0.3)
    connection = duckdb.connect()
    connection.register("people", pa.table({"row": range(len(keys)), "key": keys}))
    rows = connection.execute(
        "SELECT ('0x' || left(sha256(? || chr(31) || key), 16))::UBIGINT < ?::UHUGEINT "
        "FROM people ORDER BY row",
        [SALT, limit],
    ).fetchall()
    assert [held for (held,) in rows] == [is_held_out(SALT, key, 0.3) for key in keys]
    assert [hashed < limit for _, hashed in VECTORS] == [held for (held,) in rows[:4]]


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
