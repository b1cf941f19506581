"""When an audience is next due, as `syncd run` decides it: its next scheduled pass (from
the daemon's own triggers) and when its members must be sent again before the network lets
them expire."""

from __future__ import annotations

import datetime as dt

from syncd.config.models import Schedule
from syncd.config.schedule import trigger as schedule_trigger


def next_run(schedule: Schedule, last_start: dt.datetime | None, at: dt.datetime) -> dt.datetime:
    """When `syncd run` starts the audience's next pass, from its last pass's start, before
    the schedule's jitter (up to `jitter_seconds` later); at or before `at` means due now.

    An audience never synced is due now on an interval (the daemon starts those as it
    starts) and at its next time on a crontab."""
    trigger = schedule_trigger(schedule.model_copy(update={"jitter_seconds": 0}))
    if last_start is None and schedule.cron is None:
        return at
    found = trigger.get_next_fire_time(last_start, at)
    return found if found is not None else at


def describe_schedule(schedule: Schedule) -> str:
    """The schedule as the config writes it: "every 1h" or "cron 0 */2 * * *"."""
    return f"every {schedule.every}" if schedule.cron is None else f"cron {schedule.cron}"


def refresh_due(
    oldest_sent: dt.datetime | None, refresh_before: dt.datetime | None, at: dt.datetime
) -> dt.datetime | None:
    """When the member sent longest ago is due to be sent again, or None when the network
    keeps members for good (`refresh_before` None, see `syncd.targets.Target`) or nothing is
    held. A pass refreshes every member last sent before `refresh_before`, which is `at`
    less the destination's refresh period."""
    if oldest_sent is None or refresh_before is None:
        return None
    return oldest_sent + (at - refresh_before)
