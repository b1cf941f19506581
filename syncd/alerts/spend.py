"""The spend rules, checked after each spend pull on the audiences of every destination
that pulled without error (one that failed or was skipped says nothing new):

- `spend_on_empty`: the pull's window holds spend for an audience whose state holds no
  members: money on an empty list (an emptied segment, a list that never filled).
- `spend_stopped`: an audience that had spend got none for `alerts.spend_stopped_days`
  days up to the day the pull reached (its ad sets paused or ended, its budget spent, or
  the list too small to serve).

An audience's spend is the spend table's rows of its destination's network and account
filed under its segment (each pull files rows under the segment of the audience they
belong to).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from syncd.alerts.engine import Condition, observe
from syncd.config.models import Audience, SyncdConfig
from syncd.state import StateStore, open_state
from syncd.targets import audience_ref

__all__ = ["EMPTY", "STOPPED", "PulledWindow", "observe_spend"]

log = logging.getLogger(__name__)

EMPTY, STOPPED = "spend_on_empty", "spend_stopped"
_EMPTY_FIX = (
    "check the segment: `syncd plan CONFIG --audience {name}` shows what a pass would send, "
    "and an empty segment empties the list; if the list is meant to be empty, pause or "
    "retarget the ad sets or ad groups that target it"
)
_STOPPED_FIX = (
    "look at the campaigns and ad sets (ad groups) that target it in the network's ads "
    "manager: paused, ended, out of budget, or the list too small to serve (Google needs "
    "100+ matched members, 1,000 on some surfaces); if that was meant, remove the audience "
    "from the config or ignore this alert (it clears when spend resumes)"
)


class PulledWindow(Protocol):
    """One destination's pull as the rules read it: `syncd.spend.pull.DestinationPull`,
    described here rather than imported, since the pull calls these rules."""

    destination: str
    network: str
    account_id: str
    since: dt.date
    until: dt.date
    status: str


@dataclass(frozen=True)
class _Spent:
    """One audience's spend as the rules read it."""

    last_day: dt.date | None  # the latest day with any cost, ever
    window_cost: float  # cost within the pull's window
    currency: str


def observe_spend(config: SyncdConfig, pulled: Sequence[PulledWindow]) -> None:
    """Both rules over the audiences of the destinations a pull read without error.
    Failures are logged, never raised: alerts must not fail a spend pull."""
    pulls = [pull for pull in pulled if pull.status == "ok"]
    if not pulls:
        return
    try:
        spent = _spent(config, pulls)
        with open_state(config.state) as state:
            _observe(config, state, pulls, spent)
    except Exception:
        log.exception("spend alerts could not be checked")


def _observe(
    config: SyncdConfig,
    state: StateStore,
    pulls: Sequence[PulledWindow],
    spent: dict[str, _Spent],
) -> None:
    settings = config.alerts
    empty: list[Condition] = []
    stopped: list[Condition] = []
    checked: list[str] = []
    for pull in pulls:
        for audience in _audiences(config, pull):
            checked.append(audience.name)
            seen = spent.get(audience.name)
            if seen is None or seen.last_day is None:
                continue
            if settings.spend_on_empty and seen.window_cost > 0:
                held = state.held_count(audience_ref(config, audience))
                if held == 0:
                    empty.append(_empty(audience, pull, seen))
            days = settings.spend_stopped_days
            if days is not None and (pull.until - seen.last_day).days >= days:
                stopped.append(_stopped(audience, pull, seen))
    observe(config, state, EMPTY, checked, empty)
    observe(config, state, STOPPED, checked, stopped)


def _empty(audience: Audience, pull: PulledWindow, seen: _Spent) -> Condition:
    cost = f"{seen.window_cost:,.2f} {seen.currency}".rstrip()
    message = (
        f"{cost} spent on it from {pull.since} to {pull.until} ({pull.network} account "
        f"{pull.account_id}), but syncd holds no members in it: that money reaches nobody "
        "from this list"
    )
    return Condition(EMPTY, audience.name, message, _EMPTY_FIX.format(name=audience.name))


def _stopped(audience: Audience, pull: PulledWindow, seen: _Spent) -> Condition:
    assert seen.last_day is not None
    message = (
        f"no spend since {seen.last_day} ({(pull.until - seen.last_day).days} days up to "
        f"{pull.until}, {pull.network} account {pull.account_id}), after it had spend"
    )
    return Condition(STOPPED, audience.name, message, _STOPPED_FIX)


def _audiences(config: SyncdConfig, pull: PulledWindow) -> list[Audience]:
    return [a for a in config.audiences if a.destination == pull.destination]


def _spent(config: SyncdConfig, pulls: Sequence[PulledWindow]) -> dict[str, _Spent]:
    """Per audience (config name) of the pulled destinations: its latest day with cost and
    its cost within its pull's window, from the spend table."""
    from syncd.spend import report_backend

    found: dict[str, _Spent] = {}
    backend = report_backend(config)
    try:
        for pull in pulls:
            rows = backend.execute(
                "SELECT segment, MAX(date), "
                "SUM(CASE WHEN date BETWEEN ? AND ? THEN cost ELSE 0 END), MAX(currency) "
                "FROM spend WHERE network = ? AND account_id = ? AND cost > 0 GROUP BY segment",
                [pull.since, pull.until, pull.network, pull.account_id],
            )
            by_segment = {row[0]: row[1:] for row in rows}
            for audience in _audiences(config, pull):
                if audience.segment in by_segment:
                    last, cost, currency = by_segment[audience.segment]
                    found[audience.name] = _Spent(last, float(cost or 0), currency or "")
    finally:
        backend.close()
    return found
