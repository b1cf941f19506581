"""`syncd report --pnl-table NAME`: the P&L rows as a table a BI tool can read, where syncd
writes its spend table (`syncd.spend.report_backend`: a PostgreSQL warehouse's schema, else
the state's database). The table is replaced whole each time: it is the latest report, one
row per audience, and its since/until/attribution_days columns say which window it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from syncd.config.models import PostgresState, SyncdConfig
from syncd.lift.pnl_format import PNL_COLUMNS
from syncd.sources.postgres_config import PostgresWarehouse


def write_pnl_table(config: SyncdConfig, name: str, rows: Sequence[Mapping[str, object]]) -> str:
    """Replace table `name` with `rows` (`syncd.lift.pnl_format.pnl_rows`), in one
    transaction; returns where it went, for the command to say. `name` is a plain
    identifier, checked by the caller."""
    from syncd.spend import report_backend

    columns = PNL_COLUMNS
    # Arrow data crosses into either backend as text (PostgreSQL's temporary tables of it
    # hold text), and is cast back to each column's type in SQL.
    data = pa.table({c: pa.array([_text(row[c]) for row in rows], pa.string()) for c in columns})
    casts = ", ".join(f"CAST({c} AS {kind}) AS {c}" for c, kind in columns.items())
    definition = ", ".join(f"{c} {kind}" for c, kind in columns.items())
    backend = report_backend(config)
    try:
        with backend.transaction(), backend.registered("pnl_rows", data):
            backend.execute(f"DROP TABLE IF EXISTS {name}")
            backend.execute(f"CREATE TABLE {name} ({definition})")
            backend.execute(f"INSERT INTO {name} SELECT {casts} FROM pnl_rows")
    finally:
        backend.close()
    return _where(config)


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def _where(config: SyncdConfig) -> str:
    if isinstance(config.warehouse, PostgresWarehouse):
        return "the warehouse (PostgreSQL)"
    if isinstance(config.state, PostgresState):
        return "the state's PostgreSQL schema"
    return f"the state's database ({config.state.path})"
