"""`syncd report --pnl-table NAME`: the P&L rows as a table a BI tool can read, where syncd
writes its spend table (`syncd.spend.report_backend`: a PostgreSQL warehouse's schema, else
the state's database). The table is replaced whole each time: it is the latest report, one
row per audience, and its since/until/attribution_days columns say which window it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from syncd.config.models import SyncdConfig
from syncd.lift.pnl_format import PNL_COLUMNS
from syncd.report_tables import write_rows


def write_pnl_table(config: SyncdConfig, name: str, rows: Sequence[Mapping[str, object]]) -> str:
    """Replace table `name` with `rows` (`syncd.lift.pnl_format.pnl_rows`), in one
    transaction; returns where it went, for the command to say. `name` is a plain
    identifier, checked by the caller."""
    return write_rows(config, name, PNL_COLUMNS, rows, replace=True)
