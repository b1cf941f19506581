"""The demo's known truth for the audience P&L: orders in the week after the first sync,
drawn so that each segment's audiences add a lift the demo chose, for the P&L to recover.

Who is treated comes from syncd's own state (`group_history`), joined back to the shop's
visitors by the person key syncd derives (`syncd.lift.person.person_keys`): the orders are
drawn for the groups the pass really formed, never for a re-implementation of them.

A person converts at most once in the week, with probability

    base rate of their first segment in TRUE_LIFTS (OTHER_RATE in none)
    x (1 + lift) for every segment of TRUE_LIFTS whose treated group they are in.

Segments overlap (most abandoned carts are non-buyers too), and each segment's holdout is
drawn independently of the others (a salt per experiment), so for each segment the treated
convert at (1 + its lift) times the rate of its held-out people, whatever else they are in:
the relative lift is exactly the table's, and the expected incremental conversions are the
sum over its treated people of their rate without it, times its lift. Everything derives
from `random.Random(seed)` and the people's keys, so a seed gives the same orders on every
run, shifted to the day the demo runs.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import duckdb
import pyarrow as pa

from syncd.config import SyncdConfig
from syncd.lift.person import person_keys
from syncd.state import open_state
from syncd.targets import Target, targets


@dataclass(frozen=True)
class TrueLift:
    """One segment's truth: held-out people order at `base_rate` in the week, treated
    people at base_rate x (1 + `lift`)."""

    base_rate: float
    lift: float


#: The truth per segment with a holdout, in the order a person's base rate is taken (the
#: first segment they are in). recent_buyers, an exclusion audience, has no holdout.
TRUE_LIFTS: Mapping[str, TrueLift] = MappingProxyType(
    {
        "frequent_shoppers": TrueLift(0.25, 0.0),
        "abandoned_carts": TrueLift(0.20, 0.30),
        "first_time_buyers": TrueLift(0.12, 0.10),
        "wishlist_users": TrueLift(0.10, 0.15),
        "non_buyers": TrueLift(0.03, 0.05),
    }
)
#: The weekly conversion rate of people in no segment of TRUE_LIFTS (recent buyers, ...).
OTHER_RATE = 0.15
#: The share of each segment's people held out: 0.3 of the demo's 20,000 visitors leaves
#: abandoned carts about 1,000 held-out people, enough to find its +30% most times.
HOLDOUT_FRACTION = 0.3
#: The seed the orders are drawn from by default, the shop's. With it and the demo's
#: 20,000 visitors every segment's 95% interval holds its true lift (tests/test_demo.py);
#: over seeds 1 to 40, 193 of 200 intervals did, as 95% intervals should.
ORDER_SEED = 7
#: Orders fall within this many days after the first pass: inside the P&L's 7-day
#: attribution window (`syncd.lift.pnl.ATTRIBUTION_DAYS`).
ORDER_DAYS = 6
#: The shop's table of the orders placed after the first sync, and the `outcomes:` query
#: syncd reads it by (the shop's `orders` feed the segments, so they stay as synced).
ORDERS_TABLE = "orders_after_sync"
OUTCOMES_SQL = (
    "SELECT v.email, v.phone, v.country, o.ordered_at, o.amount\n"
    f"FROM {ORDERS_TABLE} AS o JOIN visitors AS v ON v.visitor_id = o.visitor_id"
)
#: Order values: log-normal around a median of 60 (a long tail of large baskets).
_MEDIAN_ORDER, _ORDER_SIGMA = 60.0, 0.5


@dataclass(frozen=True)
class SegmentTruth:
    """What the P&L of one segment should find: its table row, its treated people and the
    conversions its audiences add in expectation."""

    segment: str
    truth: TrueLift
    treated: int
    expected_incremental: float


@dataclass(frozen=True)
class Orders:
    """What `write_orders` drew: the truth per segment, the orders and the last day any
    order can fall on (the P&L's window must reach it)."""

    segments: dict[str, SegmentTruth]
    orders: int
    last_day: dt.date


def write_orders(config: SyncdConfig, shop: Path, seed: int = ORDER_SEED) -> Orders:
    """Draw the week's orders for the groups the first pass formed and write them to
    ORDERS_TABLE of the shop (replacing it). Call after the first sync."""
    held = _one_target_per_segment(config)
    with open_state(config.state) as state:
        histories = {name: state.group_history(t.ref) for name, t in held.items()}
    groups = {name: _groups(t, histories[name]) for name, t in held.items()}
    start = max(max(h["entered_at"].to_pylist()) for h in histories.values() if len(h))
    with duckdb.connect(str(shop)) as db:
        read = db.sql("SELECT * FROM visitors ORDER BY visitor_id").to_arrow_table()
        visitors = read.combine_chunks().to_batches()[0]  # person_keys reads one batch
        shape = next(iter(held.values())).segment.shape()
        keys = person_keys(visitors, shape).to_pylist()
        rng = random.Random(seed)
        expected = dict.fromkeys(groups, 0.0)
        treated = {name: sum(not h for h in people.values()) for name, people in groups.items()}
        rows: dict[str, list[object]] = {"visitor_id": [], "ordered_at": [], "amount": []}
        seen: set[str] = set()
        for visitor_id, key in zip(visitors["visitor_id"].to_pylist(), keys, strict=True):
            if key is None or key in seen:  # no key: outside every experiment; one draw a person
                continue
            seen.add(key)
            rate = _rate(key, groups, expected)
            converts, hours = rng.random() < rate, rng.uniform(0.2, ORDER_DAYS * 24)
            amount = round(rng.lognormvariate(math.log(_MEDIAN_ORDER), _ORDER_SIGMA), 2)
            if converts:
                rows["visitor_id"].append(visitor_id)
                rows["ordered_at"].append(start + dt.timedelta(hours=hours))
                rows["amount"].append(amount)
        _replace_table(db, rows)
    truth = {
        name: SegmentTruth(name, TRUE_LIFTS[name], treated[name], expected[name]) for name in groups
    }
    return Orders(truth, len(rows["visitor_id"]), (start + dt.timedelta(days=ORDER_DAYS)).date())


def _one_target_per_segment(config: SyncdConfig) -> dict[str, Target]:
    """The first audience of each segment in TRUE_LIFTS with a holdout: a segment's
    audiences share its experiment, so any one of them holds its groups."""
    found: dict[str, Target] = {}
    for target in targets(config, dt.datetime.now(dt.UTC)):
        name = target.audience.segment
        if target.experiment is not None and name in TRUE_LIFTS:
            found.setdefault(name, target)
    return found


def _groups(target: Target, history: pa.Table) -> dict[str, bool]:
    """Person key -> held out, for the segment's current experiment."""
    assert target.experiment is not None
    return {
        row["person_key"]: row["held_out"]
        for row in history.to_pylist()
        if row["experiment"] == target.experiment.salt
    }


def _rate(key: str, groups: dict[str, dict[str, bool]], expected: dict[str, float]) -> float:
    """The person's chance to order in the week; adds what each segment treating them
    adds in expectation to `expected`."""
    member = [name for name in TRUE_LIFTS if key in groups.get(name, {})]
    rate = TRUE_LIFTS[member[0]].base_rate if member else OTHER_RATE
    treated_in = [name for name in member if not groups[name][key]]
    for name in treated_in:
        rate *= 1 + TRUE_LIFTS[name].lift
    for name in treated_in:
        lift = TRUE_LIFTS[name].lift
        expected[name] += rate / (1 + lift) * lift
    return rate


def _replace_table(db: duckdb.DuckDBPyConnection, rows: dict[str, list[object]]) -> None:
    typed = pa.table(
        {
            "visitor_id": pa.array(rows["visitor_id"], pa.int64()),
            "ordered_at": pa.array(rows["ordered_at"], pa.timestamp("us", "UTC")),
            "amount": pa.array(rows["amount"], pa.float64()),
        }
    )
    db.register("drawn", typed)
    db.execute(
        f"CREATE OR REPLACE TABLE {ORDERS_TABLE} AS SELECT row_number() OVER () AS order_id, "
        "visitor_id, ordered_at, CAST(amount AS DECIMAL(10, 2)) AS amount FROM drawn"
    )
    db.unregister("drawn")
