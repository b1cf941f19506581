"""What `syncd status` shows, gathered from the state and the config into one record: per
audience its last pass, members held, match rate, next run, open alerts, pending erasures
and refresh due; and for the whole state, open alerts, erasure requests not done and the
last spend pull.

Counts, times, statuses and syncd's own messages only: nothing here can name a person.
Tables other engineers' parts of syncd add (`alerts`, `erasures`, `erasure_outcomes`) read
as empty while a state does not have them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field

from syncd.config.models import SyncdConfig
from syncd.sources.postgres_config import PostgresWarehouse
from syncd.spend.report import latest_audience_info, matched_members
from syncd.state.backends import Backend
from syncd.state.journal import PRESENT
from syncd.state.runs import NOT_ERASURE
from syncd.status import reading, timing
from syncd.targets import Target, resolve

__all__ = ["AudienceStatus", "LastPass", "OpenAlert", "Status", "gather"]


@dataclass(frozen=True)
class LastPass:
    """The audience's latest run: `running` while a pass is live (or died unclosed)."""

    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    error: str | None

    @property
    def seconds(self) -> float | None:
        """How long the pass took; None while it runs."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class OpenAlert:
    """An alert not resolved yet (the `alerts` table); audience `*` is about a destination
    or credential as a whole."""

    rule: str
    audience: str
    opened_at: dt.datetime
    message: str
    fix: str


@dataclass(frozen=True)
class AudienceStatus:
    name: str
    network: str
    #: The audience as the state keys it: the network's id, or `name:...` until it has one.
    audience_id: str
    schedule: str
    last_pass: LastPass | None
    #: Members the network acknowledged.
    members_held: int
    #: Members sent or about to be, not acknowledged: the network may hold them or not, and
    #: the audience's next pass settles them.
    members_in_flight: int
    #: Matched by the network at the last pass that read the audience back, and that over
    #: the members the pass sent; None when the network has not said.
    matched_members: int | None
    match_rate: float | None
    next_run: dt.datetime
    #: When the member sent longest ago must be sent again; None where the network keeps
    #: members for good, or nothing is held.
    refresh_due: dt.datetime | None
    alerts: tuple[OpenAlert, ...] = ()
    #: Removals of erasure requests for this audience not confirmed yet, and those failed.
    erasures_pending: int = 0
    erasures_failed: int = 0


@dataclass(frozen=True)
class Status:
    at: dt.datetime
    #: Where the state is (a file, or a server and schema).
    state: str
    #: False when no state exists yet: nothing has synced.
    exists: bool
    audiences: tuple[AudienceStatus, ...]
    #: Every open alert, those of no single audience (`*`) included.
    alerts: tuple[OpenAlert, ...] = ()
    #: Erasure requests (`syncd forget`) not done yet.
    erasure_requests_pending: int = 0
    #: When spend was last pulled, where the spend table is in the state; else None.
    last_spend_pull: dt.datetime | None = None


@dataclass(frozen=True)
class _Held:
    members: int = 0
    in_flight: int = 0
    oldest: dt.datetime | None = None


@dataclass
class _Read:
    """What the state says, keyed for each audience to pick its part."""

    last_passes: dict[str, LastPass] = field(default_factory=dict)
    held: dict[tuple[str, str], _Held] = field(default_factory=dict)
    infos: Mapping[str, tuple[dict[str, object], int | None]] = field(default_factory=dict)
    alerts: tuple[OpenAlert, ...] = ()
    erasures: dict[tuple[str, str], int] = field(default_factory=dict)
    erasure_requests_pending: int = 0
    last_spend_pull: dt.datetime | None = None


def gather(config: SyncdConfig, at: dt.datetime) -> Status:
    """The status of every audience of `config` as of `at`, read from its state without
    writing it. Raises StateUnavailable when the state cannot be read."""
    backend = reading.open_reader(config.state)
    if backend is None:
        read, exists = _Read(), False
    else:
        with closing(backend):
            read, exists = _read(backend, spend_here=_spend_in_state(config)), True
    audiences = tuple(_audience(config, resolve(config, a, at), read, at) for a in config.audiences)
    return Status(
        at=at,
        state=reading.location(config.state),
        exists=exists,
        audiences=audiences,
        alerts=read.alerts,
        erasure_requests_pending=read.erasure_requests_pending,
        last_spend_pull=read.last_spend_pull,
    )


def _audience(config: SyncdConfig, target: Target, read: _Read, at: dt.datetime) -> AudienceStatus:
    schedule = target.audience.schedule or config.schedule
    last = read.last_passes.get(target.name)
    held = read.held.get((target.ref.destination, target.ref.audience_id), _Held())
    matched = matched_members(read.infos.get(target.name))
    return AudienceStatus(
        name=target.name,
        network=target.network,
        audience_id=target.ref.audience_id,
        schedule=timing.describe_schedule(schedule),
        last_pass=last,
        members_held=held.members,
        members_in_flight=held.in_flight,
        matched_members=int(matched[0]) if matched else None,
        match_rate=min(matched[0] / matched[1], 1.0) if matched else None,
        next_run=timing.next_run(schedule, last.started_at if last else None, at),
        refresh_due=timing.refresh_due(held.oldest, target.refresh_before, at),
        alerts=tuple(alert for alert in read.alerts if alert.audience == target.name),
        erasures_pending=read.erasures.get((target.name, "pending"), 0),
        erasures_failed=read.erasures.get((target.name, "failed"), 0),
    )


def _spend_in_state(config: SyncdConfig) -> bool:
    """Whether the spend table lives beside the state (`syncd.spend.report_backend`): its
    last pull is then one more read of an open connection, not a warehouse to connect to."""
    return not isinstance(config.warehouse, PostgresWarehouse)


def _read(backend: Backend, *, spend_here: bool) -> _Read:
    present = reading.tables(backend)
    read = _Read()
    if "runs" in present:
        read.last_passes = _last_passes(backend)
        read.infos = latest_audience_info(backend)
    if "members" in present:
        read.held = _held(backend)
    if "alerts" in present:
        read.alerts = _open_alerts(backend)
    if "erasure_outcomes" in present:
        read.erasures = {
            (row["audience"], row["outcome"]): int(row["n"])
            for row in _rows(
                backend,
                "SELECT audience, outcome, count(*) AS n FROM erasure_outcomes "
                "WHERE outcome IN ('pending', 'failed') GROUP BY audience, outcome",
            )
        }
    if "erasures" in present:
        ((pending,),) = backend.execute("SELECT count(*) FROM erasures WHERE status <> 'done'")
        read.erasure_requests_pending = int(pending)
    if spend_here and "spend_pulls" in present:
        ((pulled,),) = backend.execute("SELECT max(pulled_at) FROM spend_pulls")
        read.last_spend_pull = pulled
    return read


def _last_passes(backend: Backend) -> dict[str, LastPass]:
    """Each audience's latest pass (by config name, as runs and alerts name it): an
    erasure's run is none, as it reads no segment and moves no schedule."""
    rows = _rows(
        backend,
        "SELECT audience, started_at, finished_at, status, error FROM ("
        " SELECT *, ROW_NUMBER() OVER (PARTITION BY audience ORDER BY started_at DESC)"
        f" AS recency FROM runs WHERE {NOT_ERASURE}) AS latest WHERE recency = 1",
    )
    return {
        row["audience"]: LastPass(
            row["started_at"], row["finished_at"], row["status"], row["error"]
        )
        for row in rows
    }


def _held(backend: Backend) -> dict[tuple[str, str], _Held]:
    """Per audience (state key): its members the network acknowledged, those in flight (sent
    by a pass that failed or is still running, or staged for one: the network may hold them
    or not, and the next pass settles them), and when the acknowledged member sent longest
    ago was sent. Read as the state is, unfolded: a status holds no lease to fold it (which
    is also why `StateStore.held_count`, counting both, is not it)."""
    rows = _rows(
        backend,
        f"SELECT destination, audience_id, count(*) FILTER (WHERE status = '{PRESENT}') AS held,"
        f" count(*) FILTER (WHERE status <> '{PRESENT}') AS in_flight,"
        f" min(synced_at) FILTER (WHERE status = '{PRESENT}') AS oldest"
        " FROM members GROUP BY destination, audience_id",
    )
    return {
        (r["destination"], r["audience_id"]): _Held(
            int(r["held"]), int(r["in_flight"]), r["oldest"]
        )
        for r in rows
    }


def _open_alerts(backend: Backend) -> tuple[OpenAlert, ...]:
    rows = _rows(
        backend,
        "SELECT rule, audience, opened_at, message, fix FROM alerts"
        " WHERE resolved_at IS NULL ORDER BY opened_at, audience, rule",
    )
    return tuple(OpenAlert(**row) for row in rows)


def _rows(backend: Backend, sql: str) -> list[dict[str, object]]:
    return backend.arrow(sql).to_pylist()
