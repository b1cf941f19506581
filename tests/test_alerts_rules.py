"""The pass rules on the state alone: an audience the pass could not measure (no size, no
rate from the network) keeps its alerts as they are; size drift is judged only on a bounded
count (Google, Meta), never on TikTok's lagging one; erasure runs make no baseline."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Workspace
from support.people import PEOPLE
from support.people import rows as people_rows

from syncd import metrics
from syncd.alerts import overdue
from syncd.alerts.overdue import OVERDUE
from syncd.alerts.rules import MATCH_RATE, SIZE_DRIFT, after_pass
from syncd.config.alerts import Alerts
from syncd.config.models import SyncdConfig
from syncd.destinations.base import MATCHED
from syncd.results import AudienceResult
from syncd.state import AudienceRef, StateStore, open_state

AUDIENCE = "people->meta"
TIKTOK = "people->tiktok"
REFS = {
    AUDIENCE: AudienceRef("meta", "23800000000000001"),
    TIKTOK: AudienceRef("tiktok", "7000000000000000001"),
}
#: Pass rules only: refresh overdue is judged on the config's audiences, tested elsewhere.
CONFIG = SyncdConfig.model_construct(alerts=Alerts(refresh_overdue_intervals=None))


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.at(tmp_path / "state.duckdb") as store:
        yield store


def judge(
    state: StateStore, network: str = "meta", audience: str = AUDIENCE, **info: object
) -> None:
    """One completed pass of the audience whose read-back said `info`."""
    result = AudienceResult(audience, network, REFS[audience].audience_id, members=100)
    result.audience_info = dict(info)
    after_pass(CONFIG, state, [result], REFS)


def alerts(state: StateStore, rule: str) -> list[bool]:
    """Whether each alert of `rule` is open, oldest first."""
    rows = state.backend.execute(
        "SELECT resolved_at IS NULL FROM alerts WHERE rule = ? ORDER BY opened_at", [rule]
    )
    return [bool(open_) for (open_,) in rows]


def network_min(audience: str) -> float | None:
    """The size-drift gauge deploy/prometheus reads, or None when it is not exported."""
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if name == "syncd_audience_network_members_min" and labels == {"audience": audience}:
                return sample.value
    return None


def run(
    state: StateStore,
    matched: int,
    erasure: str | None = None,
    audience: str = AUDIENCE,
    ref: AudienceRef = REFS[AUDIENCE],
) -> None:
    """A run row as a pass (or, with `erasure`, an erasure pass: until `syncd forget` writes
    them, written here as `syncd.state.runs.finish` would) writes it, finished now."""
    summary = {"members": 100, "audience_info": {MATCHED: matched}, "erasure": erasure}
    now = dt.datetime.now(dt.UTC)
    state.backend.execute(
        "INSERT INTO runs (run_id, audience, destination, audience_id, holder, started_at, "
        "finished_at, status, summary) VALUES (?, ?, ?, ?, 'test', ?, ?, 'ok', ?)",
        [
            uuid.uuid4().hex,
            audience,
            ref.destination,
            ref.audience_id,
            now,
            now,
            json.dumps(summary, sort_keys=True),
        ],
    )


def test_a_meta_size_too_small_to_say_keeps_the_alert_open(state: StateStore) -> None:
    judge(state, approximate_count_lower_bound=5000, approximate_count_upper_bound=6000)
    assert alerts(state, SIZE_DRIFT) == [True]  # syncd holds none of them
    judge(state, approximate_count_lower_bound=-1, approximate_count_upper_bound=-1)
    judge(state)  # a failed read-back: no size at all
    assert alerts(state, SIZE_DRIFT) == [True]
    judge(state, approximate_count_lower_bound=0, approximate_count_upper_bound=0)
    assert alerts(state, SIZE_DRIFT) == [False]


def test_tiktok_count_is_not_judged_for_size_drift(state: StateStore) -> None:
    """TikTok gives `cover_num` (MATCHED) alone, a day or two behind changes."""
    judge(state, "tiktok", TIKTOK, **{MATCHED: 5000})
    assert alerts(state, SIZE_DRIFT) == []
    assert network_min(TIKTOK) is None
    judge(state, approximate_count_lower_bound=5000, approximate_count_upper_bound=6000)
    assert alerts(state, SIZE_DRIFT) == [True]
    assert network_min(AUDIENCE) == 5000


def test_a_match_rate_missing_while_google_processes_keeps_the_alert_open(
    state: StateStore,
) -> None:
    run(state, 90)
    run(state, 40)  # this pass's run row is written before the rules judge it
    judge(state, "google", **{MATCHED: 40})
    assert alerts(state, MATCH_RATE) == [True]
    run(state, 0)
    judge(state, "google", display_network_size=0)  # processing: no MATCHED yet
    assert alerts(state, MATCH_RATE) == [True]
    run(state, 90)
    judge(state, "google", **{MATCHED: 90})
    assert alerts(state, MATCH_RATE) == [False]


def test_an_erasure_run_is_not_part_of_the_match_rate_baseline(state: StateStore) -> None:
    """An erasure pass reads no segment: its members and rate say nothing of the segment."""
    run(state, 50)
    run(state, 95, erasure="e-1")
    run(state, 50)
    judge(state, **{MATCHED: 50})
    assert alerts(state, MATCH_RATE) == []


def test_an_erasure_run_is_no_good_pass_for_refresh_overdue(workspace: Workspace) -> None:
    """The audiences' passes were four hours ago (every 1h: due every 3h); an erasure ran
    on each since, writing an ok run: they are overdue all the same."""
    workspace.write_people(people_rows(PEOPLE))
    config = workspace.config()
    workspace.sync()
    with open_state(config.state) as state:
        state.backend.execute(
            "UPDATE runs SET started_at = started_at - INTERVAL '4 hours', "
            "finished_at = finished_at - INTERVAL '4 hours'"
        )
        for audience in config.audiences:
            ref = REFS.get(audience.name, REFS[AUDIENCE])
            run(state, 90, erasure="e-1", audience=audience.name, ref=ref)
        overdue.check(config, state)
        found = state.backend.execute(
            "SELECT audience FROM alerts WHERE rule = ? AND resolved_at IS NULL", [OVERDUE]
        )
    assert sorted(audience for (audience,) in found) == sorted(a.name for a in config.audiences)
