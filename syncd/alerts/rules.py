"""The rules judged after each pass: an audience failed or was held by a guardrail; the
network refused more than a share of the members sent; its match rate fell since the last
good pass; its size drifted from what syncd holds. Each rule says which audiences the pass
let it judge and which of them are in its condition, and `observe` does the rest.

A judge returns a Condition, None when the audience is fine, or `UNMEASURED` when the pass
left it nothing to judge by (the network gave no size or rate): such an audience is not
checked, so an open alert stays open instead of resolving and firing again next pass.

A pass that was skipped (another replica holds the audience), stopped or only planned says
nothing of an audience's health: its open alerts stay as they are.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from enum import Enum

from syncd import metrics
from syncd.alerts import delivery, overdue
from syncd.alerts.engine import Condition, observe
from syncd.config.models import SyncdConfig
from syncd.destinations.base import MATCHED
from syncd.results import AudienceResult
from syncd.state import AudienceRef, StateStore

log = logging.getLogger("syncd.alerts")

#: Each audience's state key, by its config name.
Refs = Mapping[str, AudienceRef]

FAILED = "audience_failed"
REFUSED = "members_refused"
MATCH_RATE = "match_rate_drop"
SIZE_DRIFT = "size_drift"


class Unmeasured(Enum):
    """A judge's answer when the pass did not let it tell fine from not."""

    UNMEASURED = "unmeasured"


UNMEASURED = Unmeasured.UNMEASURED
#: What a judge says of one audience: in the condition, fine (None), or not judged.
Verdict = Condition | Unmeasured | None

#: Statuses that say nothing of the audience's health.
_UNJUDGED = frozenset({"skipped", "stopped", "planned"})
#: Statuses of a pass that pushed and read the audience back.
_COMPLETED = frozenset({"ok", "incomplete"})
#: Match rates over this many of an audience's latest good passes make its baseline.
_HISTORY = 50

_FIXES = {
    "refused": "if the segment is right, do what the guardrail says above (it held the "
    "audience as it was); otherwise fix the segment's query or its table",
    "deferred": "nothing is lost: the next run resumes; if it recurs, spread the audiences' "
    "schedules or ask the network for a larger daily quota",
    "incomplete": "nothing is lost: the next pass sends the unapplied members again; if it "
    "recurs, check the audience's status in the network's UI",
}
_FIX_FAILED = "do what the error says; the next pass tries again"


def after_pass(
    config: SyncdConfig,
    state: StateStore,
    results: Sequence[AudienceResult],
    refs: Refs,
) -> None:
    """Judge every rule on the pass's results (and refresh overdue on every audience);
    `refs` are the audiences' state keys, from the pass's targets. Alerts never fail a
    pass: a rule that cannot be judged is logged and skipped."""
    settings = config.alerts
    judged = [result for result in results if result.status not in _UNJUDGED]
    done = [result for result in judged if result.status in _COMPLETED]
    for result in done:
        size = network_size(result.audience_info)
        if size is not None:
            metrics.observe_network_size(result.audience, size[0])
    rules: list[tuple[str, object, Sequence[AudienceResult], Callable[..., Verdict]]] = [
        (FAILED, settings.audience_failed, judged, _failed),
        (REFUSED, settings.refused_share, done, _refused),
        (MATCH_RATE, settings.match_rate_drop_points, done, _match_rate),
        (SIZE_DRIFT, settings.size_drift_fraction, done, _size_drift),
    ]
    for rule, setting, checked, judge in rules:
        if setting is None or setting is False:
            continue
        try:
            verdicts = [(result.audience, judge(config, state, result, refs)) for result in checked]
            measured = [audience for audience, verdict in verdicts if verdict is not UNMEASURED]
            conditions = [verdict for _, verdict in verdicts if isinstance(verdict, Condition)]
            observe(config, state, rule, measured, conditions)
        except Exception as error:
            log.error("alerts: could not judge %s: %s", rule, error)
    overdue.check(config, state)
    delivery.wake(config)  # also sends what an earlier run left in the outbox


def _failed(config: SyncdConfig, state: StateStore, result: AudienceResult, refs: Refs) -> Verdict:
    if result.status == "ok":
        return None
    error = result.error or "no reason given"
    return Condition(
        FAILED,
        result.audience,
        f"its pass ended {result.status}: {error}",
        _FIXES.get(result.status, _FIX_FAILED),
    )


def _refused(config: SyncdConfig, state: StateStore, result: AudienceResult, refs: Refs) -> Verdict:
    sent = result.adds + result.removes
    refused = result.refused_members + result.rejected_by_network
    limit = config.alerts.refused_share
    assert limit is not None
    if not sent or refused / sent <= limit:
        return None
    return Condition(
        REFUSED,
        result.audience,
        f"the network refused {refused:,} of the {sent:,} members sent ({refused / sent:.1%}, "
        f"above {limit:.1%}); they are quarantined with the network's reasons and sent "
        "again each pass",
        "read the reasons (`syncd sync --once` prints them; the state's quarantine table "
        "holds them per member) and fix the segment's identifiers or their mapping",
    )


def _match_rate(
    config: SyncdConfig, state: StateStore, result: AudienceResult, refs: Refs
) -> Verdict:
    """This pass's match rate against the baseline of the good passes before it: a pass
    whose rate fell more than the threshold below the baseline does not move it, so a
    condition that lasts keeps being measured against the rate before it began. Without
    this pass's rate (Google's while it processes, a failed read-back) or a baseline there
    is nothing to judge."""
    points = config.alerts.match_rate_drop_points
    assert points is not None
    current = _rate(result.audience_info, result.members)
    if current is None:
        return UNMEASURED
    baseline: float | None = None
    for rate in _match_rates(state, result.audience)[:-1]:  # the last is this pass's
        if baseline is None or (baseline - rate) * 100 <= points:
            baseline = rate
    if baseline is None:
        return UNMEASURED
    if (baseline - current) * 100 <= points:
        return None
    return Condition(
        MATCH_RATE,
        result.audience,
        f"the network matched {current:.0%} of its {result.members:,} members, down from "
        f"{baseline:.0%} at its last good pass (more than {points:g} points)",
        "check what changed in the segment's identifiers (a column now empty or differently "
        "formatted, a new source of rows); the network matches hashed values only as its "
        "normalization rules say",
    )


def _match_rates(state: StateStore, audience: str) -> list[float]:
    """Match rates of the audience's latest good passes, oldest first. An erasure's run
    (`syncd forget`, its summary's "erasure" set) read no segment: it is no pass here."""
    rows = state.backend.execute(
        "SELECT summary FROM runs WHERE audience = ? AND status = 'ok' AND summary IS NOT NULL "
        "ORDER BY finished_at DESC LIMIT ?",
        [audience, _HISTORY],
    )
    rates = []
    for (summary,) in reversed(rows):
        record = json.loads(summary)
        if record.get("erasure"):
            continue
        members = record.get("members")
        rate = _rate(record.get("audience_info") or {}, members if isinstance(members, int) else 0)
        if rate is not None:
            rates.append(rate)
    return rates


def _rate(info: dict[str, object], members: int) -> float | None:
    """Matched members (`MATCHED`, every network's) over members sent, as the spend report
    computes it; None when the network did not say."""
    matched = info.get(MATCHED)
    if not members or not isinstance(matched, int) or isinstance(matched, bool):
        return None
    return min(matched / members, 1.0)


def _size_drift(
    config: SyncdConfig, state: StateStore, result: AudienceResult, refs: Refs
) -> Verdict:
    fraction = config.alerts.size_drift_fraction
    assert fraction is not None
    size = network_size(result.audience_info)
    if size is None:
        return UNMEASURED
    held = state.held_count(refs[result.audience])
    low, high, uploaded = size
    if low > held * (1 + fraction):
        what = "members" if uploaded else "matched people"
        return Condition(
            SIZE_DRIFT,
            result.audience,
            f"the network reports at least {low:,.0f} {what} in it, but syncd holds "
            f"{held:,} (more than {fraction:.0%} apart): something other than syncd adds to "
            "it, or removals did not apply",
            "make syncd the only writer of this audience (stop other uploads or tools "
            "targeting it), or give syncd a new audience of its own",
        )
    if uploaded and high < held * (1 - fraction):
        return Condition(
            SIZE_DRIFT,
            result.audience,
            f"the network reports at most {high:,.0f} members in it, but syncd holds {held:,} "
            f"(more than {fraction:.0%} apart): members expired or were removed outside syncd",
            "check the list's membership duration and who else edits it; syncd sends only "
            "changes, so re-send everything by giving the audience a new id",
        )
    return None


def network_size(info: dict[str, object]) -> tuple[float, float, bool] | None:
    """What the network says the audience holds, as (low, high, uploaded): `uploaded` when
    the bounds count the members sent, else they count the people matched, which only
    bound it from below. The bounds allow for the network's rounding. None when the network
    gives no bounded count now.

    Google gives its matched sizes and `match_rate_percentage` (a whole percent): the
    members it holds are size / rate, within half a percent of rounding either way. Meta
    gives the matched count as a range, `approximate_count_lower_bound` to `..._upper_bound`
    (-1 when too small to say; https://developers.facebook.com/docs/marketing-api/reference/
    custom-audience/). Other networks give `MATCHED` alone, which is not judged: TikTok's
    `cover_num` lags 24-48 h behind changes (docs/tiktok.md), so after any large change it
    would differ from what syncd holds with nothing wrong."""
    matched = info.get(MATCHED)
    rate = info.get("match_rate_percentage")
    if isinstance(matched, int) and isinstance(rate, int) and rate > 0 and matched > 0:
        return matched * 100 / (rate + 0.5), matched * 100 / max(rate - 0.5, 0.5), True
    lower = info.get("approximate_count_lower_bound")
    if isinstance(lower, int) and not isinstance(lower, bool) and lower >= 0:
        return float(lower), float(lower), False
    return None
