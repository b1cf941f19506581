"""The refresh-overdue rule: an audience whose last good pass is older than its refresh
window, so the network's copy drifts from the segment (and, past the network's membership
window, members start to expire).

Unlike the other rules it needs no pass: a daemon whose passes all hang, or a cron job that
stopped running, produces no result to judge. `syncd run` checks it on its own clock
(`CHECK_EVERY_SECONDS`), and every pass checks it for every audience too.
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta

from syncd.alerts.engine import Condition, observe
from syncd.config.models import Audience, SyncdConfig
from syncd.state import StateStore, open_state
from syncd.state.runs import NOT_ERASURE

log = logging.getLogger("syncd.alerts")

OVERDUE = "refresh_overdue"
#: How often `syncd run` checks it between passes.
CHECK_EVERY_SECONDS = 300
#: Fire times of a crontab read for its longest gap (a weekday-only schedule's weekend).
_CRON_FIRES = 8


def check(config: SyncdConfig, state: StateStore, now: datetime | None = None) -> None:
    """Judge every audience of the config that has run at least once (an audience never
    run is not late yet); logs instead of raising, as alerts never fail a pass. An
    erasure's run is no good pass: it removes members and reads no segment."""
    if config.alerts.refresh_overdue_intervals is None:
        return
    now = now or datetime.now(UTC)
    try:
        runs = {
            str(audience): (last_ok, first)
            for audience, last_ok, first in state.backend.execute(
                "SELECT audience, max(finished_at) FILTER (WHERE status = 'ok' AND "
                f"{NOT_ERASURE}), min(started_at) FROM runs GROUP BY audience"
            )
        }
        conditions = []
        for audience in config.audiences:
            if audience.name not in runs:
                continue
            last_ok, first = runs[audience.name]
            condition = _late(config, audience, last_ok, first, now)
            if condition is not None:
                conditions.append(condition)
        checked = [a.name for a in config.audiences if a.name in runs]
        observe(config, state, OVERDUE, checked, conditions)
    except Exception as error:
        log.error("alerts: could not judge %s: %s", OVERDUE, error)


def check_now(config: SyncdConfig) -> None:
    """`check` on a state opened for it: the daemon's periodic job."""
    try:
        with open_state(config.state) as state:
            check(config, state)
    except Exception as error:
        log.error("alerts: could not judge %s: %s", OVERDUE, error)


def window(config: SyncdConfig, audience: Audience, now: datetime) -> timedelta:
    """How long an audience may go without a good pass: its schedule's interval (a
    crontab's longest gap) times `alerts.refresh_overdue_intervals`, or its network's
    refresh window (`refresh_days`, before memberships expire) when shorter."""
    intervals = config.alerts.refresh_overdue_intervals
    assert intervals is not None
    schedule = audience.schedule or config.schedule
    seconds = schedule.interval_seconds or _cron_gap(schedule.cron or "", now)
    windows = [timedelta(seconds=seconds * intervals)]
    refresh_days = config.destinations[audience.destination].refresh_days()
    if refresh_days:
        windows.append(timedelta(days=refresh_days))
    return min(windows)


def _late(
    config: SyncdConfig,
    audience: Audience,
    last_ok: datetime | None,
    first: datetime,
    now: datetime,
) -> Condition | None:
    allowed = window(config, audience, now)
    since = last_ok or first
    waited = now - since
    if waited <= allowed:
        return None
    last = (
        f"its last good pass ended {_span(waited)} ago" if last_ok else "it never had a good pass"
    )
    return Condition(
        OVERDUE,
        audience.name,
        f"{last}, and it is due at least every {_span(allowed)}: the network's audience no "
        "longer follows the segment",
        "see why its passes fail (its audience_failed alert, or `syncd sync --once` with "
        "--audience), and check that `syncd run` is running and holds its lease",
    )


def _cron_gap(crontab: str, now: datetime) -> float:
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(crontab, timezone=UTC)
    fires: list[datetime] = []
    previous = None
    for _ in range(_CRON_FIRES):
        fire = trigger.get_next_fire_time(previous, previous or now)
        if fire is None:
            break
        fires.append(fire)
        previous = fire + timedelta(seconds=1)
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(fires)]
    return max(gaps, default=86_400.0)


def _span(delta: timedelta) -> str:
    """A duration as a person says it: 3h, 2d 4h, 45m."""
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return " ".join(part for part in parts if part) or "under a minute"
