"""When `syncd run` syncs and pulls: durations written as a number and a unit, the
schedules built on them (an interval or a crontab), and the triggers `syncd run` fires them
with (which `syncd status` reads too, so it says when the daemon runs an audience next)."""

from __future__ import annotations

import re
from datetime import UTC
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from syncd.destinations.settings import StrictModel

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Schedule(StrictModel):
    every: str | None = Field(
        default=None,
        description="Run at this interval: a number and a unit, e.g. 30m, 1h, 1d.",
    )
    cron: str | None = Field(
        default=None,
        description='Run on a crontab schedule instead, e.g. "0 */2 * * *" (UTC).',
    )
    jitter_seconds: int = Field(
        default=30,
        ge=0,
        description="Start each run up to this many seconds late, so many audiences or "
        "replicas do not hit a network at the same instant.",
    )

    @field_validator("every")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return checked_duration(value)

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as error:
                raise ValueError(f"not a crontab expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of every or cron")
        return self

    @property
    def interval_seconds(self) -> float | None:
        return None if self.every is None else duration_seconds(self.every)


def checked_duration(value: str | None) -> str | None:
    """`value` unchanged when it is a duration (or None); a ValueError saying how to write
    one otherwise."""
    if value is not None and not _DURATION.match(value.strip()):
        raise ValueError("write a number and a unit: 45s, 30m, 1h or 1d")
    return value


def duration_seconds(value: str) -> float:
    """Seconds in a duration written as a number and a unit (45s, 30m, 1h, 1d)."""
    match = _DURATION.match(value.strip())
    if match is None:
        raise ValueError(f"not a duration: {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def trigger(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger of a schedule, with its jitter. apscheduler is imported here,
    not at the top, so loading a config does not load the scheduler."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if schedule.cron is not None:
        return CronTrigger(
            **_cron_fields(schedule.cron), timezone=UTC, jitter=schedule.jitter_seconds
        )
    return IntervalTrigger(
        seconds=schedule.interval_seconds, jitter=schedule.jitter_seconds, timezone=UTC
    )


def _cron_fields(crontab: str) -> dict[str, str]:
    """The five crontab fields by name (from_crontab takes no jitter, the constructor does)."""
    minute, hour, day, month, day_of_week = crontab.split()
    return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": day_of_week}
