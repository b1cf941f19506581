"""Where spend rows are kept: the warehouse when syncd may write there (PostgreSQL), so BI
tools join spend with segments directly; otherwise the state store."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from syncd.spend.table import KEY, SPEND_SCHEMA
from syncd.state.backends import Backend

_SQL_TYPES = {
    pa.date32(): "DATE",
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE PRECISION",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}
_COLUMNS = ", ".join(SPEND_SCHEMA.names)


class SpendStore:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        columns = ", ".join(
            f"{field.name} {_SQL_TYPES[field.type]}{'' if field.nullable else ' NOT NULL'}"
            for field in SPEND_SCHEMA
        )
        backend.execute(
            f"CREATE TABLE IF NOT EXISTS spend ({columns}, PRIMARY KEY ({', '.join(KEY)}))"
        )

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> SpendStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def upsert(self, rows: pa.Table) -> int:
        """Insert new rows and overwrite restated ones; returns the rows written."""
        if not len(rows):
            return 0
        updates = ", ".join(
            f"{name} = excluded.{name}" for name in SPEND_SCHEMA.names if name not in KEY
        )
        strings = rows.cast(SPEND_SCHEMA).select(list(SPEND_SCHEMA.names))
        with self._backend.transaction(), self._backend.registered("pulled", _portable(strings)):
            self._backend.execute(
                f"INSERT INTO spend SELECT {_casts()} FROM pulled "
                f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}"
            )
        return len(rows)

    def rows(self, since: dt.date, until: dt.date) -> pa.Table:
        table = self._backend.arrow(
            f"SELECT {_COLUMNS} FROM spend WHERE date BETWEEN ? AND ? "
            "ORDER BY date, network, segment, campaign_id, ad_set_id, audience_id",
            [since, until],
        )
        return table.cast(SPEND_SCHEMA) if len(table) else SPEND_SCHEMA.empty_table()


def _portable(rows: pa.Table) -> pa.Table:
    """Strings and 64-bit integers only: the types every backend can take a table of."""
    columns = {}
    for field in SPEND_SCHEMA:
        column = rows[field.name]
        columns[field.name] = column if field.type == pa.int64() else column.cast(pa.string())
    return pa.table(columns)


def _casts() -> str:
    return ", ".join(
        f"CAST({field.name} AS {_SQL_TYPES[field.type]})"
        if field.type != pa.int64()
        else field.name
        for field in SPEND_SCHEMA
    )
