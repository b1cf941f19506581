"""The audience P&L: per audience with a holdout, what it added over a window, and at what
cost, from the state's group history, the warehouse's outcomes and the spend table.

Who counts: every person with a stay in the audience's current experiment (its salt; an
older experiment of the same audience is another set of people) that overlaps the window
[since 00:00 UTC, until 24:00 UTC). A person's group is the group of their FIRST stay in
the window, whatever happened later: intent to treat. Someone moved into the holdout
mid-window (a raised fraction) stays counted as treated, as they started; re-assigning
them by a later stay would make the groups depend on what happened after randomization,
and the comparison would no longer be between random halves.

What counts: a person's exposure starts when they entered that first stay, or at `since`
if earlier; a conversion is an outcome of theirs from that start to `attribution_days`
later, and no later than the window's end. The attribution window (7 days by default) is
the same for both groups, so it does not bias the difference; it bounds how long after
being put in an audience an order may still be credited to it. Long enough for a
retargeting ad to be seen and acted on (the networks' own default click windows are 7 to
28 days), short enough that a person who entered months ago does not keep adding orders
that have nothing to do with the audience, diluting the lift with noise. People who
entered too late for a full window are counted with what they had time to do, in both
groups alike.

All of it runs in SQL over the history (read from the state as Arrow, so a PostgreSQL
state works the same) and the scratch outcomes (`syncd.lift.outcomes`), in DuckDB: per
person one row, per group one, never a Python object per person.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from syncd.config.models import SyncdConfig
from syncd.destinations.registry import network_of
from syncd.lift.estimate import Estimate, GroupOutcomes, estimate
from syncd.lift.outcomes import OutcomeCounts, load_outcomes, scratch
from syncd.sources import Source, open_source
from syncd.targets import Target, targets

#: Days after a person's exposure starts in which their conversions count (`--attribution-days`).
ATTRIBUTION_DAYS = 7

_PER_PERSON = """
WITH stays AS (
    SELECT person_key, held_out, entered_at, row_number() OVER (
        PARTITION BY person_key ORDER BY entered_at, held_out) AS nth
    FROM history
    WHERE experiment = ? AND entered_at < ? AND (left_at IS NULL OR left_at > ?)
), people AS (
    SELECT person_key, held_out, greatest(entered_at, ?) AS start FROM stays WHERE nth = 1
), per_person AS (
    SELECT p.held_out, p.person_key, p.start, count(o.person_key) AS events,
        coalesce(sum(o.value), 0) AS revenue, min(o.occurred_at) AS first_at
    FROM people p LEFT JOIN {outcomes} o ON o.person_key = p.person_key
        AND o.occurred_at >= p.start AND o.occurred_at < p.start + to_days(?)
        AND o.occurred_at < ?
    GROUP BY p.held_out, p.person_key, p.start
)"""
_GROUPS = (
    _PER_PERSON
    + """
SELECT held_out, count(*), count(*) FILTER (WHERE events > 0), sum(revenue),
    sum(revenue * revenue)
FROM per_person GROUP BY held_out
"""
)
#: Per day of the window and group: the people whose exposure started by the day's end,
#: and those of them who converted by then (the same conversions `_GROUPS` counts).
_DAILY = (
    _PER_PERSON
    + """, days AS (
    SELECT CAST(unnest(generate_series(CAST(? AS DATE), CAST(? AS DATE), INTERVAL 1 DAY))
        AS DATE) AS day
)
SELECT d.day, p.held_out, count(*) FILTER (WHERE p.start < d.day + 1),
    count(*) FILTER (WHERE p.first_at < d.day + 1)
FROM days d CROSS JOIN per_person p GROUP BY d.day, p.held_out ORDER BY d.day, p.held_out
"""
)


@dataclass(frozen=True)
class DailyGroup:
    """One group on one day of the window: its people whose exposure had started by the
    day's end, and how many of them had converted by then (cumulative, for the chart of
    treated against held out over time)."""

    day: dt.date
    held_out: bool
    people: int
    converters: int


@dataclass(frozen=True)
class AudiencePnl:
    """One experiment's line: its two groups, its spend and the estimate from them. A
    segment's holdout is one line for all its audiences (`destination` and `network` list
    them, comma-separated); an audience's own holdout is a line of its own."""

    segment: str
    destination: str
    network: str
    treated: GroupOutcomes
    held_out: GroupOutcomes
    spend: float
    #: The spend's currency ("" with no spend rows; "EUR/USD" if the rows disagree).
    currency: str
    #: Whether the spend table had any row for the audience in the window: without, spend
    #: is 0 and the ratios are none, which the report says rather than call it free.
    spend_reported: bool
    estimate: Estimate
    #: The two groups day by day (`daily_groups`), days before anyone entered left out.
    daily: tuple[DailyGroup, ...] = ()


@dataclass(frozen=True)
class PnlReport:
    since: dt.date
    until: dt.date
    attribution_days: int
    audiences: list[AudiencePnl] = field(default_factory=list)
    #: Audiences with a holdout but no `outcomes:` for their segment (nor a top-level one).
    without_outcomes: list[str] = field(default_factory=list)
    outcomes: OutcomeCounts = field(default_factory=OutcomeCounts)

    @property
    def has_holdouts(self) -> bool:
        return bool(self.audiences or self.without_outcomes)


def build_pnl(
    config: SyncdConfig,
    since: dt.date,
    until: dt.date,
    attribution_days: int = ATTRIBUTION_DAYS,
) -> PnlReport:
    """The P&L of every audience with a holdout over [since, until] (whole UTC days).
    Reads the warehouse (the outcomes queries, once each), the state and the spend table;
    writes nothing. Raises SourceError when an outcomes query cannot be read."""
    from syncd.spend import open_spend_store
    from syncd.state import open_state

    if attribution_days < 1:
        raise ValueError(f"attribution_days is a number of days >= 1, got {attribution_days}")
    held = [t for t in targets(config, dt.datetime.now(dt.UTC)) if t.experiment is not None]
    report = PnlReport(since, until, attribution_days)
    if not held:
        return report
    with scratch() as db:
        measured, counts = _read_outcomes(config, held, db)
        without = [t.name for t in held if t.name not in measured]
        with open_state(config.state) as state:
            histories = {t.name: state.group_history(t.ref) for t in held if t.name in measured}
        with open_spend_store(config) as store:
            spend = store.rows(since, until)
        window = _Window(since, until, attribution_days)
        lines = [
            _experiment(
                db, shared, measured[shared[0].name], _history(shared, histories), spend, window
            )
            for shared in _by_experiment([t for t in held if t.name in measured])
        ]
    return PnlReport(since, until, attribution_days, lines, without, counts)


def _history(shared: list[Target], histories: dict[str, pa.Table]) -> pa.Table:
    """The stays of all the experiment's audiences: each records its own passes (one that
    failed, or was added later, records later or not at all), and a person's first stay in
    any of them is when their exposure started (the P&L takes the first per person)."""
    tables = [histories[target.name] for target in shared]
    return pa.concat_tables(tables, promote_options="permissive")


def _by_experiment(held: list[Target]) -> list[list[Target]]:
    """The audiences grouped by experiment (salt), in config order. A segment's holdout is
    shared by its audiences on every network: their treated people are targeted on all of
    them at once, so the lift is the networks' together and is weighed against their spend
    together; one line each would credit every network with the whole lift."""
    shared: dict[str, list[Target]] = {}
    for target in held:
        assert target.experiment is not None
        shared.setdefault(target.experiment.salt, []).append(target)
    return list(shared.values())


def _read_outcomes(
    config: SyncdConfig, held: list[Target], db: duckdb.DuckDBPyConnection
) -> tuple[dict[str, str], OutcomeCounts]:
    """Load each distinct outcomes block the audiences use, once; returns the scratch
    table of each audience that has one, and what the reads counted."""
    tables: dict[str, str] = {}  # the block and its shape -> its scratch table
    measured: dict[str, str] = {}
    counts = OutcomeCounts()
    source: Source | None = None
    try:
        for target in held:
            block = target.segment.outcomes or config.outcomes
            if block is None:
                continue
            shape = block.shape(target.segment.shape())
            key = f"{block.model_dump_json()}|{shape}"
            if key not in tables:
                source = source or open_source(config.warehouse)
                tables[key] = f"outcomes_{len(tables)}"
                counts += load_outcomes(source, block, shape, db, tables[key])
            measured[target.name] = tables[key]
    finally:
        if source is not None:
            source.close()
    return measured, counts


@dataclass(frozen=True)
class _Window:
    since: dt.date
    until: dt.date
    attribution_days: int

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.since, dt.time(), dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """Exclusive: the window holds the whole of its last day."""
        return dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), dt.UTC)


def _experiment(
    db: duckdb.DuckDBPyConnection,
    shared: list[Target],
    outcomes: str,
    history: pa.Table,
    spend_rows: pa.Table,
    window: _Window,
) -> AudiencePnl:
    """One experiment's line: its people and outcomes from its first audience's history
    (its audiences hold the same people in the same groups), the spend of them all."""
    target = shared[0]
    assert target.experiment is not None
    groups = {True: GroupOutcomes(0, 0), False: GroupOutcomes(0, 0)}
    daily: tuple[DailyGroup, ...] = ()
    if len(history):
        parameters = [target.experiment.salt, window.end, window.start, window.start]
        parameters += [window.attribution_days, window.end]
        db.register("history", history)
        try:
            found = db.execute(_GROUPS.format(outcomes=outcomes), parameters).fetchall()
            daily = daily_groups(db, outcomes, parameters, window)
        finally:
            db.unregister("history")
        for held_out, people, converters, revenue, squares in found:
            groups[held_out] = GroupOutcomes(people, converters, revenue, squares)
    spent = [_spend(one, spend_rows) for one in shared]
    cost = round(sum(one[0] for one in spent), 2)
    currency = "/".join(sorted({c for _, found, _ in spent for c in found.split("/") if c}))
    reported = any(one[2] for one in spent)
    return AudiencePnl(
        segment=target.audience.segment,
        destination=", ".join(one.audience.destination for one in shared),
        network=", ".join(network_of(one.destination).name for one in shared),
        treated=groups[False],
        held_out=groups[True],
        spend=cost,
        currency=currency,
        spend_reported=reported,
        estimate=estimate(groups[False], groups[True], cost),
        daily=daily,
    )


def daily_groups(
    db: duckdb.DuckDBPyConnection, outcomes: str, parameters: list[object], window: _Window
) -> tuple[DailyGroup, ...]:
    """Each group's people and converters by the end of each day of the window, from the
    same people and conversions as the P&L line (`history` registered in `db`, the
    `_GROUPS` parameters), leaving out the days before anyone entered."""
    found = db.execute(
        _DAILY.format(outcomes=outcomes), [*parameters, window.since, window.until]
    ).fetchall()
    return tuple(DailyGroup(day, held, people, conv) for day, held, people, conv in found if people)


def _spend(target: Target, rows: pa.Table) -> tuple[float, str, bool]:
    """The audience's cost in the window, its currency, and whether any row was found. An
    audience given by name is found by its segment: the spend puller files the rows of the
    audience it found by that name under the segment."""
    if not len(rows):
        return 0.0, "", False
    audience_id = target.audience.audience_id
    which = (
        pc.equal(rows["audience_id"], audience_id)
        if audience_id is not None
        else pc.equal(rows["segment"], target.audience.segment)
    )
    mine = rows.filter(
        pc.and_(
            pc.and_(
                pc.equal(rows["network"], network_of(target.destination).name),
                pc.equal(rows["account_id"], target.destination.account),
            ),
            which,
        )
    )
    if not len(mine):
        return 0.0, "", False
    currencies = sorted({c for c in mine["currency"].to_pylist() if c})
    return round(pc.sum(mine["cost"]).as_py() or 0.0, 2), "/".join(currencies), True
