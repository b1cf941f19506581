"""The credential rule: a destination's token expires within `alerts.credential_expiry_days`,
or its network refuses it.

Each network's check (`Network.credential_check`: Meta's token debugger, a Google OAuth
refresh) is one request, asked at most once an hour per destination across every process
sharing the state (`credential_checks` records when each was last asked, and a process
claims a destination before asking), and never while a pass waits: `syncd run` asks from a
job of its own, `syncd sync --once` after its passes.

The condition is raised on every audience of the destination rather than once under `*`:
the engine keeps one alert per rule and audience, so under `*` a second destination's token
failing while the first's alert is open would send nothing, and one renewed would not
resolve until both were. Per audience, each message names the audience and the destination,
and `syncd status` shows which audiences the token stops.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from syncd import metrics
from syncd.alerts.engine import Condition, observe
from syncd.config.models import SyncdConfig
from syncd.destinations.credentials import CredentialCheck
from syncd.destinations.registry import network_of
from syncd.state import StateStore, open_state

__all__ = ["CHECK_EVERY", "RULE", "check_credentials", "conditions"]

log = logging.getLogger(__name__)

RULE = "credential"
#: How often one destination's credentials are asked about, at most.
CHECK_EVERY = dt.timedelta(hours=1)

_DDL = (
    "CREATE TABLE IF NOT EXISTS credential_checks (destination VARCHAR PRIMARY KEY, "
    "checked_at TIMESTAMPTZ NOT NULL)"
)


def check_credentials(config: SyncdConfig, *, now: dt.datetime | None = None) -> None:
    """Ask about each due destination's credentials and bring the rule's alerts in line.
    Failures are logged, never raised: a credential check must not fail what called it."""
    days = config.alerts.credential_expiry_days
    if days is None:
        return
    now = now or dt.datetime.now(dt.UTC)
    try:
        with open_state(config.state) as state:
            due = _claim(state, _destinations_with_audiences(config), now)
        answers = {name: _ask(config, name) for name in due}
        with open_state(config.state) as state:
            checked = [
                audience.name
                for audience in config.audiences
                if answers.get(audience.destination, CredentialCheck(None)).valid is not None
            ]
            observe(config, state, RULE, checked, conditions(config, answers, days, now))
    except Exception:  # the state cannot be opened, a check broke: say so, carry on
        log.exception("credential check failed")


def conditions(
    config: SyncdConfig, answers: dict[str, CredentialCheck], days: int, now: dt.datetime
) -> list[Condition]:
    """The rule's condition on each audience of a destination whose token is refused or
    expires within ``days``."""
    found = []
    for audience in config.audiences:
        answer = answers.get(audience.destination)
        if answer is None or answer.valid is None:
            continue
        problem = _problem(answer, days, now)
        if problem is not None:
            network = network_of(config.destinations[audience.destination]).name
            message = f"{network} destination {audience.destination}: {problem}"
            found.append(Condition(RULE, audience.name, message, answer.fix))
    return found


def _problem(answer: CredentialCheck, days: int, now: dt.datetime) -> str | None:
    if answer.valid is False:
        return f"its credentials no longer work ({answer.reason})"
    if answer.expires_at is None or answer.expires_at - now > dt.timedelta(days=days):
        return None
    left = max((answer.expires_at - now).days, 0)
    return (
        f"{answer.reason} on {answer.expires_at:%Y-%m-%d %H:%M} UTC, in {left} day(s); "
        "every pass fails after that"
    )


def _ask(config: SyncdConfig, name: str) -> CredentialCheck:
    settings = config.destinations[name]
    checker = network_of(settings).check_credentials()
    if checker is None:
        return CredentialCheck(valid=None)
    try:
        answer = checker(settings)
    except Exception:  # a check's surprise must not stop the others
        log.exception("credential check of %s failed", name)
        return CredentialCheck(valid=None)
    log.info(
        "credentials of %s: %s",
        name,
        {True: "valid", False: "refused", None: "unknown"}[answer.valid],
        extra={"destination": name},
    )
    metrics.observe_credentials(name, answer.valid, answer.expires_at)
    return answer


def _destinations_with_audiences(config: SyncdConfig) -> list[str]:
    names = {audience.destination for audience in config.audiences}
    return [
        name
        for name, settings in config.destinations.items()
        if name in names and network_of(settings).credential_check is not None
    ]


def _claim(state: StateStore, names: Iterable[str], now: dt.datetime) -> list[str]:
    """The destinations not asked about within `CHECK_EVERY`, marked as asked now: another
    process claiming at the same moment gets none of them."""
    backend = state.backend
    backend.execute(_DDL)
    claimed = []
    for name in names:
        rows = backend.execute(
            "INSERT INTO credential_checks VALUES (?, ?) ON CONFLICT (destination) DO UPDATE "
            "SET checked_at = excluded.checked_at "
            "WHERE credential_checks.checked_at <= ? RETURNING destination",
            [name, now, now - CHECK_EVERY],
        )
        if rows:
            claimed.append(name)
    return claimed
