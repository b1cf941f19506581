"""Leases: which process may write an audience's state and push to its network right now.

Every writer (a daemon's pass, a one-shot `sync --once`, a `plan`, which folds the journal)
takes the audience's lease first, so two processes sharing a PostgreSQL state never push
one audience at once, and recovery of a dead pass (`StateStore.recover`) can trust that no
live process owns what it repairs.

Taking a lease is one statement: an upsert that only overwrites a lease of the same holder
or one that has expired, with the time read from the database. A read followed by a write
let two processes both win (under PostgreSQL's default isolation, two processes taking the
same 300 fresh leases both won 111 of them), and a client's own clock let a replica one
hour ahead take leases in the middle of a pass. Lease statements run on a connection of
their own (`Backend.execute_aside`): a renewal that waited behind a long fold could let
the lease run out while its pass still works. PostgreSQL makes a second upsert of one lease
wait for the first; DuckDB, without row locks, fails it, so on a DuckDB file they take
turns (the daemon renews its leases while a pass claims them: a duplicate key, once).
"""

from __future__ import annotations

from syncd.state.backends import Backend

#: Take the lease when it is free, expired, or already ours; RETURNING says whether we did.
_HOLD = (
    "INSERT INTO leases (name, holder, expires_at) "
    "VALUES (?, ?, now() + ? * INTERVAL '1 second') "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
    "WHERE leases.holder = excluded.holder OR leases.expires_at <= now() "
    "RETURNING holder"
)


def hold(backend: Backend, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease on `name` for `seconds`; False while another holder has it
    and it has not expired."""
    return bool(backend.execute_aside(_HOLD, [name, holder, float(seconds)]))


def take_over(backend: Backend, name: str, dead: str, holder: str, seconds: float) -> bool:
    """Take the lease on `name` from `dead`, a holder known to have ended, unless someone
    else took it meanwhile."""
    return bool(
        backend.execute_aside(
            "UPDATE leases SET holder = ?, expires_at = now() + ? * INTERVAL '1 second' "
            "WHERE name = ? AND holder = ? RETURNING holder",
            [holder, float(seconds), name, dead],
        )
    )


def holder_of(backend: Backend, name: str) -> str | None:
    """Who holds the lease on `name` now, if anyone (for messages)."""
    rows = backend.execute_aside(
        "SELECT holder FROM leases WHERE name = ? AND expires_at > now()", [name]
    )
    return str(rows[0][0]) if rows else None


def release(backend: Backend, holder: str, names: list[str] | None = None) -> None:
    """Give up the leases of `holder` (`names` only, or all), so a peer need not wait for
    them to expire."""
    if names is None:
        backend.execute_aside("DELETE FROM leases WHERE holder = ?", [holder])
        return
    for name in names:
        backend.execute_aside("DELETE FROM leases WHERE holder = ? AND name = ?", [holder, name])
