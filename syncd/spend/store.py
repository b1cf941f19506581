"""Where spend rows are kept: the warehouse when syncd may write there (PostgreSQL), so BI
tools join spend with segments directly; otherwise the state store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

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
        backend.execute(
            "CREATE TABLE IF NOT EXISTS spend_pulls (network VARCHAR NOT NULL, "
            "account_id VARCHAR NOT NULL, pulled_until DATE NOT NULL, "
            "pulled_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (network, account_id))"
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
        strings = rows.cast(SPEND_SCHEMA).select(list(SPEND_SCHEMA.names))
        with self._backend.transaction(), self._backend.registered("pulled", _portable(strings)):
            self._backend.execute(
                f"INSERT INTO spend SELECT {_casts()} FROM pulled "
                f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {_updates()}"
            )
        return len(rows)

    def replace_window(
        self,
        rows: pa.Table,
        *,
        network: str,
        account_id: str,
        audience_ids: Sequence[str],
        since: dt.date,
        until: dt.date,
    ) -> int:
        """Make the window [since, until] of these audiences on this account exactly `rows`,
        in one transaction; returns the rows written.

        A pull reads the whole window again, so what the network no longer reports there
        (an ad set that stopped targeting an audience, shrinking the split of the others)
        goes, instead of lingering beside the new numbers and counting twice. Other
        accounts, audiences and days are untouched.
        """
        strings = rows.cast(SPEND_SCHEMA).select(list(SPEND_SCHEMA.names))
        with self._backend.transaction():
            if audience_ids:
                marks = ", ".join("?" for _ in audience_ids)
                self._backend.execute(
                    "DELETE FROM spend WHERE network = ? AND account_id = ? "
                    f"AND date BETWEEN ? AND ? AND audience_id IN ({marks})",
                    [network, account_id, since, until, *audience_ids],
                )
            if len(rows):
                with self._backend.registered("pulled", _portable(strings)):
                    self._backend.execute(
                        f"INSERT INTO spend SELECT {_casts()} FROM pulled "
                        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {_updates()}"
                    )
        return len(rows)

    def pulled_until(self, network: str, account_id: str) -> dt.date | None:
        """The last day the latest pull of this account covered, or None before the first."""
        found = self._backend.execute(
            "SELECT pulled_until FROM spend_pulls WHERE network = ? AND account_id = ?",
            [network, account_id],
        )
        return found[0][0] if found else None

    def record_pull(self, network: str, account_id: str, until: dt.date) -> None:
        """Remember how far a pull of this account reached (never moving backwards)."""
        held = self.pulled_until(network, account_id)
        self._backend.execute(
            "INSERT INTO spend_pulls VALUES (?, ?, ?, ?) ON CONFLICT (network, account_id) "
            "DO UPDATE SET pulled_until = excluded.pulled_until, pulled_at = excluded.pulled_at",
            [network, account_id, max(until, held or until), dt.datetime.now(dt.UTC)],
        )

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


def _updates() -> str:
    return ", ".join(f"{name} = excluded.{name}" for name in SPEND_SCHEMA.names if name not in KEY)


def _casts() -> str:
    return ", ".join(
        f"CAST({field.name} AS {_SQL_TYPES[field.type]})"
        if field.type != pa.int64()
        else field.name
        for field in SPEND_SCHEMA
    )
