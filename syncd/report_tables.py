"""Tables syncd writes for BI tools to read (the P&L, the run receipts), where it writes its
spend table (`syncd.spend.report_backend`): a PostgreSQL warehouse's schema, else the state's
database. A DuckDB warehouse is opened read-only and replaced whole by a shop's exports, so a
table written there would vanish with the next export.

Rows cross into either backend as text (PostgreSQL's temporary tables of Arrow data hold
text) and are cast back to each column's type in SQL, so one statement serves both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from syncd.config.models import PostgresState, SyncdConfig
from syncd.sources.postgres_config import PostgresWarehouse

#: How long a write waits for a lock on its table, and runs at most, in PostgreSQL: an
#: analyst's open transaction on the receipts table must not hold the pass (and, in the
#: daemon, every pass after it) for as long as it stays open. Past it the write fails and
#: says so; the state's `runs` keep the history.
LOCK_TIMEOUT_SECONDS = 5.0
STATEMENT_TIMEOUT_SECONDS = 60.0


def write_rows(
    config: SyncdConfig,
    name: str,
    columns: Mapping[str, str],
    rows: Sequence[Mapping[str, object]],
    *,
    replace: bool,
) -> str:
    """Write `rows` (a value per column of `columns`, name -> SQL type) into table `name`, in
    one transaction: replacing the table when `replace`, else appending to it (created when
    missing). Returns where it went, for a command or a note to say. `name` is a plain
    identifier, checked by the caller."""
    from syncd.spend import report_backend

    data = pa.table({c: pa.array([_text(row[c]) for row in rows], pa.string()) for c in columns})
    names = ", ".join(columns)
    casts = ", ".join(f"CAST({c} AS {kind}) AS {c}" for c, kind in columns.items())
    definition = ", ".join(f"{c} {kind}" for c, kind in columns.items())
    backend = report_backend(config)
    try:
        with backend.transaction(), backend.registered(f"{name}_incoming", data):
            if backend.sql_dialect == "postgres":  # for this transaction only
                backend.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS * 1000:.0f}ms'")
                timeout = STATEMENT_TIMEOUT_SECONDS * 1000
                backend.execute(f"SET LOCAL statement_timeout = '{timeout:.0f}ms'")
            if replace:
                backend.execute(f"DROP TABLE IF EXISTS {name}")
            backend.execute(f"CREATE TABLE IF NOT EXISTS {name} ({definition})")
            backend.execute(f"INSERT INTO {name} ({names}) SELECT {casts} FROM {name}_incoming")
    finally:
        backend.close()
    return where(config)


def where(config: SyncdConfig) -> str:
    """Where `write_rows` puts its tables, in words."""
    if isinstance(config.warehouse, PostgresWarehouse):
        return "the warehouse (PostgreSQL)"
    if isinstance(config.state, PostgresState):
        return "the state's PostgreSQL schema"
    return f"the state's database ({config.state.path})"


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)
