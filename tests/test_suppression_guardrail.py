"""The removal guardrail with suppressions: only removals of held members the exclusions left
out are the suppression guard's to judge. People who opted out long ago are never held, so
they must not shrink the removal share a broken segment is judged by."""

from __future__ import annotations

import duckdb
from conftest import META_AUDIENCE, Workspace

from syncd.pipeline import sync_all


def people(start: int, stop: int) -> list[tuple]:
    return [(f"member{i}@example.com", None, "US", None, None, None) for i in range(start, stop)]


def suppressing(workspace: Workspace, start: int, stop: int, limit: float = 0.5) -> dict:
    """A config whose suppressions are member{start}..member{stop - 1} (a table written
    beside `people`, after it: `write_people` replaces the warehouse)."""
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute(
            "CREATE OR REPLACE TABLE opt_outs AS SELECT 'member' || i || '@example.com' AS email "
            "FROM range(?, ?) t(i)",
            [start, stop],
        )
    data = workspace.config_data()
    data["suppressions"] = {"sql": "select * from opt_outs", "identifiers": {"email": "email"}}
    data["guardrails"] = {"max_suppressed_fraction": limit}
    return data


def test_long_suppressed_people_do_not_let_a_broken_segment_remove_more(
    workspace: Workspace,
) -> None:
    workspace.write_people(people(0, 260))
    data = suppressing(workspace, 200, 260)  # opted out before the first pass: never held
    assert [(r.status, r.members) for r in sync_all(workspace.config(data))] == [("ok", 200)] * 2

    # The segment breaks: 120 of the 200 held go (60%), the suppressed still come back.
    workspace.write_people(people(120, 260))
    meta, google = sync_all(workspace.config(suppressing(workspace, 200, 260)))
    assert (meta.status, google.status) == ("refused", "refused")
    assert "120 of 200 held (60.0%; limit 50%)" in (meta.error or "")
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) == 200


def test_held_people_opting_out_are_judged_by_the_suppression_guard_alone(
    workspace: Workspace,
) -> None:
    workspace.write_people(people(0, 150))
    sync_all(workspace.config())
    data = suppressing(workspace, 0, 90, limit=0.7)  # 60% of the held opt out at once
    results = sync_all(workspace.config(data))
    assert [(r.status, r.removes, r.suppressed) for r in results] == [("ok", 90, 90)] * 2
    assert any("removal_share: ok (0 of 150 held" in check for check in results[0].checks)
