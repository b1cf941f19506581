"""Conversions read from the warehouse, keyed by person, in a scratch database.

The outcomes query returns raw identifiers (the orders table's email, say). Each batch is
turned into person keys (`syncd.lift.person`, the key the holdout assigns by) as it
arrives, and only (person_key, occurred_at, value) goes on: into a scratch DuckDB that the
estimate joins with the groups' history (`syncd.lift.pnl`). No identifier is written
anywhere or logged; rows that cannot be used are counted, not fatal, so a few broken
orders do not hide the P&L.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from syncd.config.experiments import Outcomes
from syncd.lift.person import PERSON_KINDS, person_keys
from syncd.members import SegmentShape
from syncd.sources import Source, SourceError

#: The scratch table's columns: all the estimate needs, and nothing that names a person.
OUTCOMES_DDL = "(person_key VARCHAR, occurred_at TIMESTAMPTZ, value DOUBLE)"


@dataclass(frozen=True)
class OutcomeCounts:
    """What reading one outcomes query found: rows kept, and rows left out and why."""

    kept: int = 0
    #: Rows with none of email, phone, external_id, madid valid: nobody to match them to.
    without_person: int = 0
    #: Rows whose time is NULL or not a time, or whose value is NULL or not a finite number.
    bad: int = 0

    def __add__(self, other: OutcomeCounts) -> OutcomeCounts:
        return OutcomeCounts(
            self.kept + other.kept,
            self.without_person + other.without_person,
            self.bad + other.bad,
        )


def scratch() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB in UTC (dates and zone-less times in the outcomes are UTC)."""
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute("SET enable_progress_bar = false")
    return db


def load_outcomes(
    source: Source,
    block: Outcomes,
    shape: SegmentShape,
    db: duckdb.DuckDBPyConnection,
    table: str,
) -> OutcomeCounts:
    """Stream `block`'s query from `source` into `table` of `db` (created here) as person
    key, time and value; `shape` is the identifier mapping rows are keyed by."""
    db.execute(f"CREATE TABLE {table} {OUTCOMES_DDL}")
    counts = OutcomeCounts()
    for batch in source.read(block.sql):
        counts += _append(db, table, _keyed(batch, block, shape))
    return counts


def _keyed(batch: pa.RecordBatch, block: Outcomes, shape: SegmentShape) -> pa.Table:
    """The batch as (person_key, occurred_at, value), the last two as the warehouse gave
    them; the identifier columns go no further than this function."""
    wanted = {block.occurred_at, *([block.value] if block.value else [])}
    wanted |= {shape.identifiers[kind] for kind in PERSON_KINDS if kind in shape.identifiers}
    wanted |= {shape.country_source} if shape.country_source else set()
    missing = sorted(wanted - set(batch.schema.names))
    if missing:
        raise SourceError(
            f"the outcomes query has no column {', '.join(missing)}; it returns "
            f"{', '.join(batch.schema.names)} (check outcomes.identifiers, occurred_at, value)"
        )
    value = batch.column(block.value) if block.value else pa.repeat(0.0, len(batch))
    return pa.table(
        {
            "person_key": person_keys(batch, shape),
            "occurred_at": batch.column(block.occurred_at),
            "value": value,
        }
    )


def _append(db: duckdb.DuckDBPyConnection, table: str, keyed: pa.Table) -> OutcomeCounts:
    """Cast time and value in SQL, row by row (TRY_CAST: a bad row is NULL, not an error),
    keep the good rows and count the others."""
    without_person = keyed.column("person_key").null_count
    keyed = keyed.filter(pc.is_valid(keyed.column("person_key")))
    db.register("incoming", keyed)
    try:
        db.execute(
            "CREATE OR REPLACE TEMP TABLE cast_incoming AS SELECT person_key, "
            "TRY_CAST(occurred_at AS TIMESTAMPTZ) AS occurred_at, "
            "TRY_CAST(value AS DOUBLE) AS value FROM incoming"
        )
    finally:
        db.unregister("incoming")
    usable = "occurred_at IS NOT NULL AND value IS NOT NULL AND isfinite(value)"
    db.execute(f"INSERT INTO {table} SELECT * FROM cast_incoming WHERE {usable}")
    found = db.execute(f"SELECT count(*) FILTER (WHERE {usable}), count(*) FROM cast_incoming")
    kept, rows = found.fetchone() or (0, 0)
    db.execute("DROP TABLE cast_incoming")
    return OutcomeCounts(kept, without_person, rows - kept)
