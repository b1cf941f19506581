"""End to end: DuckDB segment -> identity -> diff -> real clients -> emulators on 127.0.0.1.

facebook-business talks HTTP to the Graph emulator and httpx to the Data Manager emulator;
each test then reads what the emulator holds and compares it with hashes computed here.
"""

from __future__ import annotations

import duckdb
import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, Workspace
from support.people import PEOPLE, google_members, meta_members, rows

from syncd.sandbox.server import RequestRecord
from syncd.state import AudienceRef, StateStore


def sent(log: list[RequestRecord]) -> list[RequestRecord]:
    return [record for record in log if record.method in ("POST", "DELETE")]


def test_audiences_equal_the_segment_after_a_sync(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    meta, google = workspace.sync()

    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(PEOPLE)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(PEOPLE)
    assert (meta.status, meta.rows_read, meta.members, meta.adds, meta.requests) == (
        "ok",
        7,
        5,
        5,
        1,
    )
    assert meta.invalid == {
        "email:invalid_email": 1,
        "phone:invalid_phone": 2,
        "row:no_usable_identifier": 1,
    }
    assert (google.status, google.adds, google.requests) == ("ok", 5, 1)
    assert len(google.request_ids) == 1


def test_second_sync_sends_nothing(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    workspace.sync()
    before = len(sent(workspace.sandbox.meta.requests)) + len(
        sent(workspace.sandbox.google.requests)
    )

    again = workspace.sync()

    assert [r.requests for r in again] == [0, 0]
    assert [(r.adds, r.removes) for r in again] == [(0, 0), (0, 0)]
    after = len(sent(workspace.sandbox.meta.requests)) + len(
        sent(workspace.sandbox.google.requests)
    )
    assert after == before


def test_segment_changes_land_exactly(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    workspace.sync()
    erin = (("erin@example.com", "+33 6 12 34 56 78", "FR"),
            ("erin@example.com", "33612345678", "erin@example.com", "+33612345678"))  # fmt: skip
    alice_new_phone = (("alice.smith@gmail.com", "+1 650 253 0000", "US"),
                       ("alice.smith@gmail.com", "16502530000", "alicesmith@gmail.com",
                        "+16502530000"))  # fmt: skip
    changed = [alice_new_phone, *PEOPLE[1:3], PEOPLE[4], erin]  # carol and dave left

    workspace.write_people(rows(changed))
    meta, google = workspace.sync()

    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(changed)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(changed)
    # Alice's phone changed: her old member goes, her new one comes.
    assert (meta.adds, meta.removes, meta.requests) == (2, 3, 2)
    assert (google.adds, google.removes, google.requests) == (2, 3, 2)


def test_requests_are_the_minimum_for_the_network_limit(workspace: Workspace) -> None:
    people = [(f"user{i}@example.com", None, "US", None, None, None) for i in range(25_001)]
    workspace.write_people(people)
    meta, google = workspace.sync()
    assert (meta.adds, meta.requests) == (25_001, 3)
    assert (google.adds, google.requests) == (25_001, 3)
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) == 25_001
    posts = [r.count for r in sent(workspace.sandbox.meta.requests)]
    assert sorted(posts) == [5_001, 10_000, 10_000]

    workspace.write_people(people[10_001:])  # 10,001 leave
    meta, google = workspace.sync()
    assert (meta.removes, meta.requests) == (10_001, 2)
    assert (google.removes, google.requests) == (10_001, 2)
    assert len(workspace.sandbox.google.members(GOOGLE_LIST)) == 15_000


def test_invalid_rows_are_quarantined_and_good_rows_still_sync(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    workspace.sync()
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        quarantined = state.execute(
            "SELECT audience, row_number, kind, reason FROM quarantine"
            " ORDER BY audience, row_number, kind"
        ).fetchall()
    assert quarantined == [
        ("people->google", 5, "phone", "invalid_phone"),
        ("people->google", 6, "email", "invalid_email"),
        ("people->google", 6, "phone", "invalid_phone"),
        ("people->google", 6, "row", "no_usable_identifier"),
        ("people->meta", 5, "phone", "invalid_phone"),
        ("people->meta", 6, "email", "invalid_email"),
        ("people->meta", 6, "phone", "invalid_phone"),
        ("people->meta", 6, "row", "no_usable_identifier"),
    ]
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) == 5


def test_a_failing_audience_does_not_stop_the_others(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    data = workspace.config_data()
    data["audiences"][0]["audience_id"] = "23859999999999999"  # not on the ad account
    meta, google = workspace.sync(data)

    assert meta.status == "failed"
    assert "Meta audience 23859999999999999" in (meta.error or "")
    assert google.status == "ok"
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(PEOPLE)
    # Nothing was acknowledged for the failed audience, so nothing was committed for it.
    data["audiences"][0]["audience_id"] = META_AUDIENCE
    meta, _ = workspace.sync(data)
    assert (meta.status, meta.adds) == ("ok", 5)


@pytest.mark.parametrize("destination", ["meta", "google"])
def test_a_refused_token_fails_once_with_the_fix(workspace: Workspace, destination: str) -> None:
    workspace.write_people(rows(PEOPLE))
    data = workspace.config_data()
    data["destinations"][destination]["access_token"] = "${EXPIRED:-expired-token}"
    results = {r.network: r for r in workspace.sync(data)}

    failed = results[destination]
    assert failed.status == "failed"
    assert failed.requests == 1
    fix = "META_ACCESS_TOKEN" if destination == "meta" else "GOOGLE_ACCESS_TOKEN"
    assert fix in (failed.error or "")
    emulator = getattr(workspace.sandbox, destination)
    assert len(sent(emulator.requests)) == 1  # refused once, not retried


def test_a_broken_segment_fails_its_audiences_with_the_reason(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    data = workspace.config_data()
    data["segments"]["people"]["sql"] = "select emial, phone, country from people"
    results = workspace.sync(data)
    assert [r.status for r in results] == ["failed", "failed"]
    assert "segment people: the query failed" in (results[0].error or "")
    assert "emial" in (results[0].error or "")

    data["segments"]["people"]["sql"] = "select phone, country from people"
    results = workspace.sync(data)
    assert "'email' (identifiers.email) not in the query result" in (results[0].error or "")


def test_a_working_database_failure_fails_its_audience_alone(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB out of memory in one audience's diff, and in another's journal, fails each
    audience with the reason instead of the pass; the next pass completes both."""
    workspace.write_people(rows(PEOPLE))
    workspace.sync()
    workspace.write_people(rows(PEOPLE[:4]))
    out_of_memory = duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
    # Both audiences hold fingerprinted members by now: their diffs are fingerprint_changes.
    changes, stage = StateStore.fingerprint_changes, StateStore.stage

    def failing_changes(self: StateStore, audience: AudienceRef, *args: object) -> object:
        if audience.destination.startswith("meta"):
            raise out_of_memory
        return changes(self, audience, *args)  # type: ignore[arg-type]

    def failing_stage(self: StateStore, run_id: str, audience: AudienceRef, *args: object) -> None:
        if audience.destination.startswith("google"):
            raise out_of_memory
        stage(self, run_id, audience, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(StateStore, "fingerprint_changes", failing_changes)
    monkeypatch.setattr(StateStore, "stage", failing_stage)
    meta, google = workspace.sync()

    for result in (meta, google):
        assert result.status == "failed"
        assert "syncd's working database failed: Out of Memory Error" in (result.error or "")
        assert "the next pass tries again" in (result.error or "")
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        runs = state.execute("SELECT status FROM runs ORDER BY started_at DESC LIMIT 1")
        assert runs.fetchall() == [("failed",)]  # the run that began is recorded as failed

    monkeypatch.undo()
    meta, google = workspace.sync()
    assert (meta.status, google.status) == ("ok", "ok")
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(PEOPLE[:4])
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(PEOPLE[:4])
