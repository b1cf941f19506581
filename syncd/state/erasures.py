"""Erasure records (`syncd forget`): which people were asked to be forgotten, as hashes only,
and what became of the request on every audience, so a request survives a crash and is
resumed until every audience confirms it.

`erasures` holds one row per request, `erasure_values` what the state's `members` columns
hold for each erased value on each network (the SHA-256 of it where the network takes the
kind in clear, `rehashed`, so no identifier is ever stored), and `erasure_outcomes` one row
per audience: `pending` until tried (or while Google still processes the removal), then
`done`, `not_held` (the audience held none of them: nothing sent) or `failed` with the
network's reason. The read stage excludes erased people from every later pass
(`syncd.read.exclusions`); `syncd audit` and `syncd status` read these tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from syncd.lift.person import PERSON_KINDS
from syncd.state.backends import Backend

DDL = """
CREATE TABLE IF NOT EXISTS erasures (
    erasure_id VARCHAR PRIMARY KEY,
    requested_at TIMESTAMPTZ NOT NULL,
    people INTEGER NOT NULL,
    invalid_lines INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS erasure_values (
    erasure_id VARCHAR NOT NULL,
    network VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    digest VARCHAR NOT NULL,
    rehashed BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS erasure_outcomes (
    erasure_id VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    destination VARCHAR NOT NULL,
    audience_id VARCHAR NOT NULL,
    network VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    members INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    reason VARCHAR,
    updated_at TIMESTAMPTZ NOT NULL
)
"""

PENDING, DONE, NOT_HELD, FAILED = "pending", "done", "not_held", "failed"
#: Outcomes that need nothing more.
SETTLED = frozenset({DONE, NOT_HELD})

#: The shape of `erasure_values` rows of one request, as `record_request` takes them.
VALUES_SCHEMA = pa.schema(
    [
        ("network", pa.string()),
        ("kind", pa.string()),
        ("digest", pa.string()),
        ("rehashed", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class AudienceKey:
    """An audience an erasure reaches: its config name, its state key (`AudienceRef`'s
    destination and id) and its network (the registry kind)."""

    audience: str
    destination: str
    audience_id: str
    network: str


@dataclass(frozen=True)
class Outcome:
    """What an erasure did on one audience."""

    erasure_id: str
    key: AudienceKey
    outcome: str
    members: int
    requests: int
    reason: str | None
    updated_at: datetime


@dataclass(frozen=True)
class ErasureRecord:
    """One request and its outcomes, in config order of first recording."""

    erasure_id: str
    requested_at: datetime
    people: int
    invalid_lines: int
    status: str
    finished_at: datetime | None
    #: Erased values per network (registry kind): how many hashes the record holds.
    values: Mapping[str, int]
    outcomes: Sequence[Outcome]


def create(backend: Backend) -> None:
    """The three tables, where missing (from `syncd.state.schema.create_or_upgrade`)."""
    for statement in filter(str.strip, DDL.split(";")):
        backend.execute(statement)


def record_request(
    backend: Backend,
    erasure_id: str,
    *,
    people: int,
    invalid_lines: int,
    values: pa.Table,
    audiences: Sequence[AudienceKey],
) -> bool:
    """Record a request with its values (`VALUES_SCHEMA`) and a pending outcome for every
    audience, in one transaction; False when a request of that id exists already (the same
    people asked again: it is resumed instead)."""
    now = datetime.now(UTC)
    with backend.transaction():
        if backend.execute("SELECT 1 FROM erasures WHERE erasure_id = ?", [erasure_id]):
            return False
        backend.execute(
            "INSERT INTO erasures VALUES (?, ?, ?, ?, ?, NULL)",
            [erasure_id, now, people, invalid_lines, PENDING],
        )
        with backend.registered("erased_now", values.cast(VALUES_SCHEMA)):
            backend.execute(
                "INSERT INTO erasure_values SELECT ?, network, kind, digest, rehashed "
                "FROM erased_now",
                [erasure_id],
            )
        _insert_missing(backend, erasure_id, audiences, now)
    return True


def add_values(backend: Backend, erasure_id: str, values: pa.Table) -> None:
    """More values of a recorded request (`VALUES_SCHEMA`): those it does not hold yet."""
    if not len(values):
        return
    with backend.transaction(), backend.registered("erased_more", values.cast(VALUES_SCHEMA)):
        backend.execute(
            "INSERT INTO erasure_values SELECT DISTINCT ?, network, kind, digest, rehashed "
            "FROM erased_more m WHERE NOT EXISTS (SELECT 1 FROM erasure_values v WHERE "
            "v.erasure_id = ? AND v.network = m.network AND v.kind = m.kind "
            "AND v.digest = m.digest)",
            [erasure_id, erasure_id],
        )


def add_outcomes(backend: Backend, erasure_id: str, audiences: Sequence[AudienceKey]) -> None:
    """A pending outcome for each of `audiences` the request has none on yet (an audience
    added to the config after the request was recorded)."""
    now = datetime.now(UTC)
    with backend.transaction():
        if _insert_missing(backend, erasure_id, audiences, now):
            _settle_status(backend, erasure_id, now)


def _insert_missing(
    backend: Backend, erasure_id: str, audiences: Sequence[AudienceKey], now: datetime
) -> int:
    """Pending outcomes for the audiences the request has none on; how many were added."""
    known = {
        (str(destination), str(audience_id))
        for destination, audience_id in backend.execute(
            "SELECT destination, audience_id FROM erasure_outcomes WHERE erasure_id = ?",
            [erasure_id],
        )
    }
    added = 0
    for key in audiences:
        if (key.destination, key.audience_id) not in known:
            backend.execute(
                "INSERT INTO erasure_outcomes VALUES (?, ?, ?, ?, ?, ?, 0, 0, NULL, ?)",
                [erasure_id, *_key_values(key), PENDING, now],
            )
            known.add((key.destination, key.audience_id))
            added += 1
    return added


def record_outcome(
    backend: Backend,
    erasure_id: str,
    key: AudienceKey,
    outcome: str,
    *,
    members: int,
    requests: int,
    reason: str | None = None,
) -> None:
    """What the erasure did on one audience (an audience new since the request gets a row),
    and the request's status from all its outcomes."""
    now = datetime.now(UTC)
    where = "erasure_id = ? AND destination = ? AND audience_id = ?"
    with backend.transaction():
        updated = backend.execute(
            f"UPDATE erasure_outcomes SET audience = ?, outcome = ?, members = ?, requests = ?, "
            f"reason = ?, updated_at = ? WHERE {where} RETURNING 1",
            [
                key.audience,
                outcome,
                members,
                requests,
                reason,
                now,
                erasure_id,
                key.destination,
                key.audience_id,
            ],
        )
        if not updated:
            backend.execute(
                "INSERT INTO erasure_outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [erasure_id, *_key_values(key), outcome, members, requests, reason, now],
            )
        _settle_status(backend, erasure_id, now)


def _settle_status(backend: Backend, erasure_id: str, now: datetime) -> None:
    """`done` once every outcome is done or not held, `failed` while one failed (and none
    waits), else `pending`; `finished_at` is when it became done."""
    counts = dict(
        backend.execute(
            "SELECT outcome, count(*) FROM erasure_outcomes WHERE erasure_id = ? GROUP BY 1",
            [erasure_id],
        )
    )
    if set(counts) <= SETTLED:
        status = DONE
    elif PENDING in counts:
        status = PENDING
    else:
        status = FAILED
    backend.execute(
        "UPDATE erasures SET status = ?, finished_at = CASE WHEN ? THEN coalesce(finished_at, ?) "
        "END WHERE erasure_id = ?",
        [status, status == DONE, now, erasure_id],
    )


def unfinished(backend: Backend) -> list[str]:
    """The requests not done yet, oldest first."""
    rows = backend.execute(
        f"SELECT erasure_id FROM erasures WHERE status <> '{DONE}' "
        "ORDER BY requested_at, erasure_id"
    )
    return [str(row[0]) for row in rows]


def unfinished_on(backend: Backend, destination: str, audience_id: str) -> list[Outcome]:
    """The outcomes on one audience (by state key) still pending or failed, oldest request
    first: what a pass of it applies before anything else."""
    rows = backend.execute(
        f"SELECT {_OUTCOME_COLUMNS} FROM erasure_outcomes o JOIN erasures e "
        "ON e.erasure_id = o.erasure_id WHERE o.destination = ? AND o.audience_id = ? "
        f"AND o.outcome NOT IN ('{DONE}', '{NOT_HELD}') ORDER BY e.requested_at, o.erasure_id",
        [destination, audience_id],
    )
    return [_outcome(row) for row in rows]


def outcome_of(backend: Backend, erasure_id: str, key: AudienceKey) -> Outcome | None:
    """The erasure's outcome on one audience, if recorded."""
    rows = backend.execute(
        f"SELECT {_OUTCOME_COLUMNS} FROM erasure_outcomes o WHERE o.erasure_id = ? "
        "AND o.destination = ? AND o.audience_id = ?",
        [erasure_id, key.destination, key.audience_id],
    )
    return _outcome(rows[0]) if rows else None


def read(backend: Backend, erasure_id: str) -> ErasureRecord | None:
    """One request with its outcomes, or None when the state has none of that id."""
    found = backend.execute(
        "SELECT requested_at, people, invalid_lines, status, finished_at FROM erasures "
        "WHERE erasure_id = ?",
        [erasure_id],
    )
    if not found:
        return None
    requested_at, people, invalid_lines, status, finished_at = found[0]
    values = backend.execute(
        "SELECT network, count(*) FROM erasure_values WHERE erasure_id = ? GROUP BY 1 ORDER BY 1",
        [erasure_id],
    )
    outcomes = backend.execute(
        f"SELECT {_OUTCOME_COLUMNS} FROM erasure_outcomes o WHERE o.erasure_id = ? "
        "ORDER BY o.audience, o.destination, o.audience_id",
        [erasure_id],
    )
    return ErasureRecord(
        erasure_id,
        requested_at,
        int(people),
        int(invalid_lines),
        str(status),
        finished_at,
        {str(network): int(count) for network, count in values},
        [_outcome(row) for row in outcomes],
    )


def erased_kinds(backend: Backend, erasure_id: str, network: str) -> dict[str, bool]:
    """The kinds the erasure holds values of on `network`, each with whether its values are
    rehashed (compared with the SHA-256 of the member column)."""
    rows = backend.execute(
        "SELECT DISTINCT kind, rehashed FROM erasure_values WHERE erasure_id = ? AND network = ?",
        [erasure_id, network],
    )
    return {str(kind): bool(rehashed) for kind, rehashed in rows}


#: The member columns that tell a person (`syncd.lift.person.PERSON_KINDS`): an erased
#: person's other members are found by these, not by names or zips many people share.
PERSONAL_COLUMNS = tuple(kind.value for kind in PERSON_KINDS)


def matching(
    backend: Backend, erasure_id: str, key: AudienceKey, table: str, kinds: Mapping[str, bool]
) -> tuple[str, list[object]]:
    """SQL condition (and its parameters) on rows of `table` (`members` or
    `pending_removals`, unqualified columns) of the audience `key` that hold the erased
    people: rows sharing a value with the erasure on the audience's network, and then, in
    one linking round, rows sharing an email, phone or id with one of the audience's rows
    that did (held, or removed and waiting on Google), so a person's phone-only member
    leaves with the member that had their erased email and that phone. `kinds` as
    `erased_kinds` gives them.

    One round only, as the read stage links (`syncd.read.builder`): a chain of shared values
    beyond one hop is not followed. Each hop trusts a shared value to mean the same person;
    a household phone already makes one hop reach a second person, and a chain would spread
    that to whole households, at the cost of a round per hop over the audience. The later
    passes leave out exactly what this removes, as long as the segment still has the row
    that ties the person's values together."""
    erased, erased_parameters = _erased(backend, erasure_id, key.network, "held", kinds)
    held = " UNION ALL ".join(
        f"SELECT {{column}} FROM {source} held WHERE destination = ? AND audience_id = ? "
        f"AND {{column}} IS NOT NULL AND {erased}"
        for source in ("members", "pending_removals")
    )
    linked = [f"{table}.{column} IN ({held.format(column=column)})" for column in PERSONAL_COLUMNS]
    audience = [key.destination, key.audience_id, *erased_parameters]
    return "(" + " OR ".join(linked) + ")", audience * 2 * len(linked)


def _erased(
    backend: Backend, erasure_id: str, network: str, table: str, kinds: Mapping[str, bool]
) -> tuple[str, list[object]]:
    """SQL condition (and its parameters) on rows of `table` sharing a value with the
    erasure on `network`. A rehashed kind is compared by the SHA-256 of the column, in the
    backend's SQL."""
    conditions, parameters = [], []
    for kind, rehashed in sorted(kinds.items()):
        column = f"{table}.{kind}"
        if rehashed:
            column = (
                f"encode(sha256(convert_to({column}, 'UTF8')), 'hex')"
                if backend.sql_dialect == "postgres"
                else f"sha256({column})"
            )
        conditions.append(
            f"{column} IN (SELECT digest FROM erasure_values WHERE erasure_id = ? "
            "AND network = ? AND kind = ?)"
        )
        parameters += [erasure_id, network, kind]
    return "(" + (" OR ".join(conditions) or "false") + ")", parameters


def held_matching(backend: Backend, erasure_id: str, key: AudienceKey) -> tuple[int, int]:
    """How many members the audience holds (in any status) that hold the erased people
    (`matching`), and how many such removals Google has acknowledged but not yet confirmed
    (`pending_removals`)."""
    kinds = erased_kinds(backend, erasure_id, key.network)
    counts = []
    for table in ("members", "pending_removals"):
        condition, parameters = matching(backend, erasure_id, key, table, kinds)
        ((count,),) = backend.execute(
            f"SELECT count(*) FROM {table} WHERE destination = ? AND audience_id = ? "
            f"AND {condition}",
            [key.destination, key.audience_id, *parameters],
        )
        counts.append(int(count))
    return counts[0], counts[1]


_OUTCOME_COLUMNS = (
    "o.erasure_id, o.audience, o.destination, o.audience_id, o.network, o.outcome, "
    "o.members, o.requests, o.reason, o.updated_at"
)


def _outcome(row: Sequence[object]) -> Outcome:
    erasure, audience, destination, audience_id, network, outcome, members, requests, *rest = row
    reason, at = rest
    key = AudienceKey(str(audience), str(destination), str(audience_id), str(network))
    return Outcome(
        str(erasure),
        key,
        str(outcome),
        int(members),  # type: ignore[call-overload]
        int(requests),  # type: ignore[call-overload]
        None if reason is None else str(reason),
        at,  # type: ignore[arg-type]
    )


def _key_values(key: AudienceKey) -> list[str]:
    return [key.audience, key.destination, key.audience_id, key.network]
