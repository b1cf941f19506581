"""`syncd spend` and the daemon's spend job: pull every destination's spend into the table.

Each destination with audiences in the config is pulled on its own: one that fails (a
refused token, a network down) is reported and the others still land. The window is
[today - spend.lookback_days, today], reaching further back to where the previous pull of
that account stopped after a gap, and `spend.first_pull_days` back on the first pull
(never further). Rows replace what the table held for those audiences in that window, so
pulling twice changes nothing and a restated day is simply read again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from syncd import metrics
from syncd.alerts.spend import observe_spend
from syncd.config.models import Audience, SyncdConfig
from syncd.destinations.base import DestinationError
from syncd.destinations.registry import network_of
from syncd.destinations.retry import RetryPolicy
from syncd.destinations.settings import DestinationSettings
from syncd.spend.table import Pulled, SpendNotConfigured

log = logging.getLogger(__name__)


@dataclass
class DestinationPull:
    """One destination's pull: its window, the rows written, and how it went."""

    destination: str
    network: str
    account_id: str
    since: dt.date
    until: dt.date
    rows: int = 0
    status: str = "ok"  # ok, skipped or failed
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class PullSummary:
    pulls: list[DestinationPull] = field(default_factory=list)

    @property
    def rows_by_network(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for pull in self.pulls:
            totals[pull.network] = totals.get(pull.network, 0) + pull.rows
        return totals

    @property
    def notes(self) -> list[str]:
        return [f"{pull.destination}: {note}" for pull in self.pulls for note in pull.notes]

    @property
    def failed(self) -> list[DestinationPull]:
        return [pull for pull in self.pulls if pull.status == "failed"]

    def text(self) -> str:
        """A few lines for a terminal: one per destination, then the notes and errors."""
        if not self.pulls:
            return "No destination has audiences: nothing to pull."
        lines = []
        for pull in self.pulls:
            lines.append(
                f"{pull.destination} ({pull.network} {pull.account_id}): {pull.since} to "
                f"{pull.until}, {pull.rows:,} rows, {pull.status}"
            )
        for note in self.notes:
            lines.append(f"  note: {note}")
        for pull in self.failed:
            lines.append(f"  error: {pull.destination}: {pull.error}")
        totals = ", ".join(f"{rows:,} {network}" for network, rows in self.rows_by_network.items())
        lines.append(f"Spend rows written: {totals}.")
        return "\n".join(lines)


def pull_spend(
    config: SyncdConfig,
    since: dt.date | None = None,
    until: dt.date | None = None,
    *,
    today: dt.date | None = None,
    retry_policy: RetryPolicy | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> PullSummary:
    """Pull every destination that has audiences, upsert its rows, check the spend alert
    rules on what landed (`syncd.alerts.spend`), return what happened.

    `since`/`until` override the window (both days included; without `since` the window
    ends at `until`); `today` is for tests.
    """
    from syncd.spend import open_spend_store

    today = today or dt.date.today()
    policy = retry_policy or RetryPolicy()
    summary = PullSummary()
    targets = [
        (name, destination, [a for a in config.audiences if a.destination == name])
        for name, destination in config.destinations.items()
    ]
    # The store is held only to read and to write, never across a network call: another
    # replica sharing the state file waits for it meanwhile.
    with open_spend_store(config) as store:
        for name, destination, audiences in targets:
            if not audiences:
                continue
            network = network_of(destination).name
            last = until or today
            first = since or _window_start(
                config, store.pulled_until(network, destination.account), last
            )
            summary.pulls.append(DestinationPull(name, network, destination.account, first, last))
    by_name = {name: (destination, audiences) for name, destination, audiences in targets}
    for pull in summary.pulls:
        destination, audiences = by_name[pull.destination]
        _pull_into_store(config, pull, destination, audiences, policy, sleep)
        metrics.SPEND_PULLS.labels(pull.destination, pull.status).inc()
    observe_spend(config, summary.pulls)
    return summary


def _pull_into_store(
    config: SyncdConfig,
    pull: DestinationPull,
    destination: DestinationSettings,
    audiences: Sequence[Audience],
    policy: RetryPolicy,
    sleep: Callable[[float], object],
) -> None:
    """Fetch one destination's window and write it; every outcome lands in ``pull``."""
    from syncd.spend import open_spend_store

    name = pull.destination
    if pull.since > pull.until:
        pull.status, pull.error = "failed", f"--since {pull.since} is after --until {pull.until}"
        return
    started = time.monotonic()
    try:
        pulled = _pull_one(destination, audiences, pull.since, pull.until, policy, sleep)
    except _Skipped as skipped:
        pull.status = "skipped"
        pull.notes.append(str(skipped))
        log.warning("spend: %s: skipped: %s", name, skipped)
        return
    except DestinationError as error:
        pull.status, pull.error = "failed", str(error)
        log.error("spend: %s: %s", name, error)
        return
    except Exception as error:  # a surprise in one destination must not stop the rest
        pull.status, pull.error = "failed", f"{type(error).__name__}: {error}"
        log.exception("spend: %s: pull failed", name)
        return
    pull.notes.extend(pulled.notes)
    with open_spend_store(config) as store:
        pull.rows = store.replace_window(
            pulled.rows,
            network=pull.network,
            account_id=pull.account_id,
            audience_ids=pulled.audience_ids,
            since=pull.since,
            until=pull.until,
        )
        store.record_pull(pull.network, pull.account_id, pull.until)
    metrics.SPEND_ROWS.labels(name, pull.network).inc(pull.rows)
    metrics.SPEND_LAST_PULL.labels(name).set(time.time())
    segments = {audience.segment: audience.name for audience in audiences}
    columns = (pulled.rows[column].to_pylist() for column in ("segment", "date", "cost"))
    metrics.observe_spend(segments, zip(*columns, strict=True))
    log.info(
        "spend: %s: %d rows from %s to %s in %.1fs",
        name,
        pull.rows,
        pull.since,
        pull.until,
        time.monotonic() - started,
        extra={"destination": name, "rows": pull.rows},
    )


def _window_start(config: SyncdConfig, pulled_until: dt.date | None, last: dt.date) -> dt.date:
    """The lookback before `last`; after a gap, back to the day after the previous pull;
    on a first pull (or after a long gap), first_pull_days before `last`."""
    settings = config.spend
    earliest = last - dt.timedelta(days=settings.first_pull_days)
    if pulled_until is None:
        return earliest
    start = last - dt.timedelta(days=settings.lookback_days)
    return max(min(start, pulled_until + dt.timedelta(days=1)), earliest)


class _Skipped(Exception):
    """This destination's spend cannot be pulled as configured (not an error of a pull)."""


def _pull_one(
    destination: DestinationSettings,
    audiences: Sequence[Audience],
    since: dt.date,
    until: dt.date,
    policy: RetryPolicy,
    sleep: Callable[[float], object],
) -> Pulled:
    network = network_of(destination)
    pull = network.pull_spend()
    if pull is None:
        raise _Skipped(f"syncd cannot read {network.name}'s spend yet")
    try:
        return pull(
            destination,
            audiences,
            since,
            until,
            pulled_at=dt.datetime.now(dt.UTC),
            retry_policy=policy,
            sleep=sleep,
        )
    except SpendNotConfigured as missing:
        raise _Skipped(str(missing)) from None
