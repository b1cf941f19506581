"""One audience's plan made inside the warehouse: `pushdown: true` on a PostgreSQL warehouse.

The segment is normalized, hashed and diffed against what the audience holds as SQL
(`syncd.pushdown.queries`), in the warehouse's database, where the config requires the state
to be too; so only the changes leave it. They land in the pass's spill as the tables
`syncd.state.diff` makes, and the plan is an ordinary `AudiencePlan`: the guardrails, the
push and the journal do not know where it was made.

The local path stays the reference, and an audience goes through it, with a note saying
why, when:
- a kind it maps has no exact SQL rule (`is_pushdownable`: names, zips, phones without
  `trust_e164_phones`), or it replaces the whole audience (`mode: replace` sends every
  member, not changes); both are known before anything runs (`refusal`);
- the `stats` query finds rows SQL cannot decide (`undecidable_rows`), whose answer only the
  local path knows. `stats` runs first for that reason.

Erased people (`syncd forget`) are left out in the warehouse too (`syncd.pushdown.erasures`,
reading the state's `erasure_values` beside `members`), so an erasure costs a pass a few
hash joins, not the pushdown; the suppressions query, read from the warehouse but matched
on the network's normalized identifiers, still sends its audiences to the local path.

What the local path does differently:
- quarantine: it records each refused value's row number, kind and reason; rows are not
  numbered in SQL, so a pushed-down run records the counts by kind and reason only (the
  run's `invalid`), and no quarantine rows;
- a `country_column` the query does not return is not an error here (SQL never reads it:
  phones are pushed down only as E.164, zips never).
"""

from __future__ import annotations

import logging
import threading

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from syncd.config.models import PostgresState, SyncdConfig
from syncd.identity import IdentifierKind
from syncd.members import MEMBER_SCHEMA, NO_USABLE_IDENTIFIER, QUARANTINE_SCHEMA
from syncd.plan import AudiencePlan, CountedSegment, build_plan
from syncd.pushdown.chain import ConsentColumns
from syncd.pushdown.dialects import Dialect
from syncd.pushdown.erasures import ErasedValues
from syncd.pushdown.kinds import is_pushdownable
from syncd.pushdown.queries import (
    ADD,
    REMOVE,
    PushdownQueries,
    SegmentStats,
    StateTable,
    build_queries,
)
from syncd.read.exclusions import ERASURE_VALUES
from syncd.read.segments import LeftOut
from syncd.sources import Source, SourceError, open_source
from syncd.sources.postgres_config import PostgresWarehouse
from syncd.sources.watch import WatchedSource
from syncd.state import PRESENT, AudienceRef, Changes, Spill, SpillTable, StateStore
from syncd.targets import Target

log = logging.getLogger("syncd")

#: The adds as `syncd.state.diff` makes them: members, whether the audience holds each in
#: some state (the journal stages those it does not hold straight into `members`), and
#: whether it holds it as present (then the add is a refresh).
ADDS_SCHEMA = MEMBER_SCHEMA.append(pa.field("held", pa.bool_())).append(
    pa.field("refresh", pa.bool_())
)
PUSHED_DOWN = "pushdown: normalized, hashed and diffed in the warehouse; only changes left it"


def enabled(config: SyncdConfig) -> bool:
    warehouse = config.warehouse
    return isinstance(warehouse, PostgresWarehouse) and warehouse.pushdown


def refusal(target: Target) -> str | None:
    """Why the audience is read locally whatever its rows hold, or None if it need not be."""
    if target.audience.mode == "replace":
        return "mode: replace sends the whole segment, not changes"
    if target.experiment is not None:
        return "a holdout assigns people by identifiers SQL does not normalize here"
    if target.suppressions is not None:
        return "suppressions are matched by the network's normalized identifiers"
    ok, reason = is_pushdownable(
        _carried(target),
        target.capabilities.dialect,
        trust_e164_phones=target.segment.trust_e164_phones,
    )
    return None if ok else reason


def pushes_down(config: SyncdConfig, target: Target) -> bool:
    """Whether the audience is planned in the warehouse unless its rows say otherwise: its
    segment needs no local read for it (`syncd.read.per_pass` reads segments once per
    pass)."""
    return enabled(config) and refusal(target) is None


def plan_in_warehouse(
    config: SyncdConfig,
    target: Target,
    state: StateStore,
    spill: Spill,
    *,
    allow_mass_removal: bool = False,
    stop: threading.Event | None = None,
    erased: frozenset[tuple[str, bool]] = frozenset(),
) -> tuple[AudiencePlan | None, str]:
    """The audience's plan, its changes read from the warehouse into `spill`, and a note
    saying so; or None and the note saying why the local path must plan it. `erased`: the
    (kind, rehashed) pairs the state's `erasure_values` holds for the audience's network
    (`syncd.read.exclusions.Exclusions.erased_kinds`), whose members are left out. Raises
    SourceError (naming the segment) when the warehouse fails, or its queries outlast the
    segment's timeout or `stop` is set (they are interrupted, as a local read's are)."""
    reason = refusal(target)
    if reason is not None:
        return None, f"pushdown: {reason}; read locally"
    segment_name, state_table = target.audience.segment, _state_table(config, target.ref)
    held = state.member_count(target.ref)  # folds the journal first, as the local diff does
    sql = _queries(target, state_table, _erased(config, target, erased))
    try:
        # A connection of its own: destinations are planned side by side, on threads.
        connection = open_source(config.warehouse)
        source = WatchedSource(
            connection, segment_name, target.read_timeout, stop or threading.Event()
        )
        try:
            stats = SegmentStats.from_row(_one_row(source, sql.stats))
            if stats.undecidable_rows:
                return None, (
                    f"pushdown: {stats.undecidable_rows} rows need the local path "
                    "(undecidable in SQL); read locally"
                )
            changes_sql = _with_held(sql.changes, state_table)
            changes = _read_changes(source, changes_sql, spill)
        finally:
            connection.close()
    except SourceError as error:
        raise SourceError(f"segment {segment_name}: pushdown: {error}") from None
    segment = CountedSegment(
        rows=stats.rows,
        member_count=stats.members,
        quarantine=QUARANTINE_SCHEMA.empty_table(),
        invalid=stats.invalid,
        unusable=stats.invalid.get(f"row:{NO_USABLE_IDENTIFIER}", 0),
        left_out=LeftOut(erased=stats.erased),
    )
    plan = build_plan(
        target,
        segment,
        changes,
        held=held,
        state=state,
        guardrails=config.guardrails,
        allow_mass_removal=allow_mass_removal,
    )
    return plan, PUSHED_DOWN


def _carried(target: Target) -> dict[IdentifierKind, str]:
    """The segment's identifiers the network takes, as the local path limits them."""
    kinds = target.capabilities.identifier_kinds
    return {k: c for k, c in target.segment.identifiers.items() if k in kinds}


def _state_table(config: SyncdConfig, ref: AudienceRef) -> StateTable:
    """The state's `members`, in the warehouse's database (the config validated that)."""
    return StateTable(_in_state(config, "members"), ref.destination, ref.audience_id)


def _erased(
    config: SyncdConfig, target: Target, kinds: frozenset[tuple[str, bool]]
) -> ErasedValues | None:
    """The state's erasures of the target's network, when it has any."""
    if not kinds:
        return None
    return ErasedValues(_in_state(config, ERASURE_VALUES), target.destination.kind, kinds)


def _in_state(config: SyncdConfig, table: str) -> str:
    """A state table by its qualified name, as the warehouse reads it."""
    state = config.state
    assert isinstance(state, PostgresState), "the config requires PostgreSQL state"
    schema = state.schema_name.replace('"', '""')
    return f'"{schema}".{table}'


def _queries(
    target: Target, state_table: StateTable, erased: ErasedValues | None
) -> PushdownQueries:
    segment = target.segment
    return build_queries(
        segment.sql,
        _carried(target),
        target.capabilities.dialect,
        state_table,
        Dialect.POSTGRES,
        trust_e164_phones=segment.trust_e164_phones,
        consent=_consent(target),
        refresh_before=target.refresh_before,
        erased=erased,
    )


def _consent(target: Target) -> ConsentColumns | None:
    """Consent as `syncd.read.consent.consent_mask` applies it: only where the network
    needs it (the target has consent defaults then)."""
    defaults = target.consent
    if defaults is None:
        return None
    columns = target.segment.consent
    return ConsentColumns(
        columns.ad_user_data if columns else None,
        columns.ad_personalization if columns else None,
        defaults.ad_user_data,
        defaults.ad_personalization,
    )


def _one_row(source: Source, sql: str) -> dict[str, object]:
    rows = pa.Table.from_batches(list(source.read(sql))).to_pylist()
    if len(rows) != 1:
        raise SourceError(f"the stats query returned {len(rows)} rows, not one")
    return rows[0]


def _with_held(changes: str, state: StateTable) -> str:
    """The changes query, each row told whether the audience holds its member in any state
    (`held`) and as present (`refresh`), as `syncd.state.diff` marks its adds. Index
    lookups on the state's primary key, for the changed members only."""
    members = exp.to_table(state.table, dialect=Dialect.POSTGRES.value).as_("m")

    def holds(*also: exp.Expression) -> str:
        where = exp.and_(
            exp.column("destination", "m").eq(exp.Literal.string(state.destination)),
            exp.column("audience_id", "m").eq(exp.Literal.string(state.audience_id)),
            exp.column("member_key", "m").eq(exp.column("member_key", "c")),
            *also,
        )
        query = exp.select(exp.Literal.number(1)).from_(members.copy()).where(where)
        return exp.Exists(this=query).sql(dialect=Dialect.POSTGRES.value)

    present = exp.column("status", "m").eq(exp.Literal.string(PRESENT))
    return f"SELECT c.*, {holds()} AS held, {holds(present)} AS refresh FROM ({changes}) AS c"


def _read_changes(source: Source, sql: str, spill: Spill) -> Changes:
    """Stream the changes into two spill tables, removes and adds, a batch at a time."""
    adds = spill.create("adds", ADDS_SCHEMA)
    removes = spill.create("removes", MEMBER_SCHEMA)
    try:
        for batch in source.read(sql):
            table = pa.Table.from_batches([batch])
            for name, operation, columns in (
                (removes, REMOVE, MEMBER_SCHEMA.names),
                (adds, ADD, ADDS_SCHEMA.names),
            ):
                rows = table.filter(pc.equal(table["operation"], operation))
                spill.append(name, rows.select(columns))
        refreshes = spill.execute(f"SELECT count(*) FROM {adds} WHERE refresh")[0][0]
    except BaseException:
        spill.drop(adds, removes)
        raise
    return Changes(
        SpillTable(spill, adds, spill.count(adds)),
        SpillTable(spill, removes, spill.count(removes)),
        int(refreshes),
        owned=(adds, removes),
    )
