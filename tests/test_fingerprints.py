"""Row fingerprints stand in for identity only where identity would say the same.

Each test syncs a segment to the emulators (the state then holds fingerprinted members),
changes the warehouse and the state, and plans every audience twice on copies of the
state: with fingerprints, and with them turned off (the full path). The plans must be
equal: the same adds and removes with the same identifiers, the same member count, the
same quarantine records and the same refreshes.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

import duckdb
import pytest
from conftest import Workspace

from syncd import members as members_module
from syncd.members import MEMBER_SCHEMA
from syncd.plan import plan_audience
from syncd.read import builder, scan
from syncd.read.per_pass import PassReads
from syncd.read.segments import FingerprintedSegment
from syncd.sources import SourceError
from syncd.state import open_state
from syncd.targets import targets

# (email, phone, country, first, last, zip)
BEFORE = [
    ("  Alice.Smith@Gmail.com ", "(415) 555-0132", "us", None, None, None),
    ("bob@example.com", "+44 20 7946 0958", "GB", None, None, None),
    ("carol@example.org", None, "DE", None, None, None),
    ("dave@example.com", "n/a", "FR", None, None, None),  # phone quarantined, email synced
    ("erin@example.com", "+33 6 12 34 56 78", "FR", None, None, None),
    ("frank@example.com", None, None, None, None, None),
    ("grace@example.com", None, "US", None, None, None),
    ("grace@example.com", None, "US", None, None, None),  # the very same row twice
    ("not-an-email", "12", "US", None, None, None),  # nothing usable
    ("heidi\x1f@example.com", None, "US", None, None, None),  # the separator, in a value
]
AFTER = [
    BEFORE[0],
    ("BOB@example.com ", "+44 20 7946 0958", "GB", None, None, None),  # new spelling
    BEFORE[3],
    ("erin@example.com", "+33 6 12 34 56 79", "FR", None, None, None),  # new phone
    BEFORE[5],
    BEFORE[6],
    BEFORE[7],
    BEFORE[8],
    BEFORE[9],
    ("ivan@example.com", "+1 650 253 0000", "US", None, None, None),  # joined
    ("ivan@example.com", "+1 650 253 0000", "US", None, None, None),
]  # carol left


def plans(
    workspace: Workspace, state: Path, *, fingerprints: bool, matched: bool = True
) -> dict[str, object]:
    """Every audience's plan, in plain values, made on the state file at `state`; `matched`
    says whether fingerprints are expected to decide."""
    data = workspace.config_data()
    data["state"] = {"path": str(state)}
    config = workspace.config(data)
    share = builder.FINGERPRINTED_SHARE if fingerprints else float("inf")
    found: dict[str, object] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builder, "FINGERPRINTED_SHARE", share)
        with open_state(config.state) as store, store.spill() as spill:
            every = targets(config, dt.datetime.now(dt.UTC))
            segments = PassReads(config.warehouse, every, spill, threading.Event())
            for target in every:
                segment = segments.get(target)
                assert isinstance(segment, FingerprintedSegment) == (fingerprints and matched)
                assert not isinstance(segment, SourceError)
                plan = plan_audience(target, segment, store, guardrails=config.guardrails)
                columns = ", ".join(MEMBER_SCHEMA.names)
                adds, removes = (
                    spill.execute(f"SELECT {columns} FROM {table.name} ORDER BY member_key")
                    for table in (plan.changes.adds, plan.changes.removes)
                )
                quarantine = spill.execute(
                    f"SELECT row_number, kind, reason FROM {plan.segment.quarantine.name} "
                    "ORDER BY ALL"
                )
                found[target.name] = {
                    "adds": adds,
                    "removes": removes,
                    "members": plan.segment.member_count,
                    "held": plan.held,
                    "invalid": plan.segment.invalid_counts(),
                    "quarantine": quarantine,
                    "refreshes": plan.changes.refreshes,
                    "unusable": plan.segment.unusable,
                }
            segments.close()
    return found


def assert_plans_equal(workspace: Workspace, *, matched: bool = True) -> dict[str, object]:
    """Plan on two copies of the state, with and without fingerprints; returns the plans."""
    state = workspace.root / "state.duckdb"
    with_fingerprints, without = workspace.root / "a.duckdb", workspace.root / "b.duckdb"
    shutil.copy(state, with_fingerprints)
    shutil.copy(state, without)
    expected = plans(workspace, without, fingerprints=False)
    assert plans(workspace, with_fingerprints, fingerprints=True, matched=matched) == expected
    return expected


def test_a_changed_segment_plans_the_same_with_fingerprints(workspace: Workspace) -> None:
    workspace.write_people(BEFORE)
    assert {r.status for r in workspace.sync()} == {"ok"}
    workspace.write_people(AFTER)
    expected = assert_plans_equal(workspace)
    meta = expected["people->meta"]
    assert isinstance(meta, dict)
    assert len(meta["adds"]) == 2 and len(meta["removes"]) == 2  # not a vacuous comparison
    assert meta["quarantine"]  # dave's phone and the unusable row, counted again


def test_members_in_flight_and_due_for_refresh_plan_the_same(workspace: Workspace) -> None:
    workspace.write_people(BEFORE)
    workspace.sync()
    workspace.write_people(AFTER)
    with duckdb.connect(str(workspace.root / "state.duckdb")) as state:
        for (destination,) in state.execute("SELECT DISTINCT destination FROM members").fetchall():
            keys = [
                key
                for (key,) in state.execute(
                    "SELECT member_key FROM members WHERE destination = ? ORDER BY 1",
                    [destination],
                ).fetchall()
            ]
            changes = [
                ("status = 'adding'", keys[:1]),
                ("status = 'removing'", keys[1:2]),
                ("synced_at = TIMESTAMPTZ '2020-01-01 00:00:00+00'", keys[2:4]),
                ("fingerprint = NULL", keys[4:5]),
            ]
            for change, chosen in changes:
                state.execute(
                    f"UPDATE members SET {change} WHERE member_key IN (SELECT unnest(?))",
                    [chosen],
                )
    data = workspace.config_data()
    data["destinations"]["google"]["refresh_after_days"] = 30
    workspace.write_config(data)
    original = workspace.config_data
    workspace.config_data = lambda: data  # type: ignore[method-assign]
    try:
        expected = assert_plans_equal(workspace)
    finally:
        workspace.config_data = original  # type: ignore[method-assign]
    google = expected["people->google"]
    assert isinstance(google, dict) and google["refreshes"]


def test_consent_and_its_defaults_plan_the_same(workspace: Workspace) -> None:
    """Consent columns are part of a row's fingerprint, and the defaults part of its salt:
    changing the defaults between passes must not let old fingerprints decide."""
    data = workspace.config_data()
    data["segments"]["people"]["sql"] = (
        "SELECT *, CASE WHEN email LIKE 'bob%' THEN 'denied' WHEN email LIKE 'erin%' "
        "THEN NULL ELSE 'granted' END AS consent FROM people"
    )
    data["segments"]["people"]["consent"] = {
        "ad_user_data": "consent",
        "ad_personalization": "consent",
    }
    data["destinations"]["google"]["consent"] = {
        "ad_user_data": "granted",
        "ad_personalization": "granted",
    }
    original = workspace.config_data
    workspace.config_data = lambda: data  # type: ignore[method-assign]
    try:
        workspace.write_people(BEFORE)
        workspace.sync()
        workspace.write_people(AFTER)
        assert_plans_equal(workspace)
        data["destinations"]["google"]["consent"]["ad_personalization"] = "denied"
        expected = assert_plans_equal(workspace)
    finally:
        workspace.config_data = original  # type: ignore[method-assign]
    google = expected["people->google"]
    assert isinstance(google, dict) and google["invalid"].get("row:no_consent")


def test_only_changed_rows_take_identity_and_members_learn_new_spellings(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass sends through identity the rows no held fingerprint matches, and rows with a
    quarantined value; a held member found under a new spelling takes its fingerprint."""
    workspace.write_people(BEFORE)
    workspace.sync()
    workspace.write_people(AFTER)
    seen: list[str | None] = []
    build = members_module.build_members

    def counting(batch, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.extend(batch.column("email").to_pylist())
        return build(batch, *args, **kwargs)

    monkeypatch.setattr(builder, "build_members", counting)
    results = workspace.sync()
    assert {r.status for r in results} == {"ok"}
    changed = {"BOB@example.com ", "erin@example.com", "ivan@example.com"}
    refused = {"dave@example.com", "not-an-email", "heidi\x1f@example.com"}
    assert set(seen) == changed | refused  # each network: the same rows
    seen.clear()
    workspace.sync()
    assert set(seen) == refused  # bob's new spelling is now the member's fingerprint


def test_rows_that_outgrow_their_memory_take_identity_and_plan_the_same(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raw rows kept for fingerprints are bounded: past the limit, identity runs for
    every row, those kept and those still to come, and the plan is the same."""
    workspace.write_people(BEFORE)
    workspace.sync()
    workspace.write_people(AFTER)
    monkeypatch.setattr(scan, "RAW_ROWS_LIMIT", 0)
    expected = assert_plans_equal(workspace, matched=False)
    meta = expected["people->meta"]
    assert isinstance(meta, dict) and len(meta["adds"]) == 2
