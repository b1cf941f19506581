"""The network features wired through a whole pass: audiences by name, full replace, members
refused by index, membership refresh, a used-up daily quota, and what a run records."""

from __future__ import annotations

import json

import duckdb
import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, Workspace, sha
from support.people import PEOPLE, emails, google_members, meta_members, rows

from syncd import in_flight
from syncd.destinations.google.sandbox.data_manager.quota import Quota
from syncd.state import StateStore

BAD_KEY = "00000000-0000-0000-0000-00000000000b"  # a member key with a corrupt hash


def meta_emails(*names: str) -> set[frozenset]:
    return {frozenset({("EMAIL", sha(f"{name}@example.com"))}) for name in names}


def state_rows(workspace: Workspace, sql: str) -> list[tuple]:
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as state:
        return state.execute(sql).fetchall()


def test_audiences_named_instead_of_numbered_are_found_or_created(workspace: Workspace) -> None:
    workspace.write_people(rows(PEOPLE))
    data = workspace.config_data()
    for audience, name in zip(
        data["audiences"], ("Cart abandoners", "Cart abandoners"), strict=True
    ):
        del audience["audience_id"]
        audience["audience_name"] = name

    meta, google = workspace.sync(data)

    assert (meta.status, google.status) == ("ok", "ok")
    (meta_id,) = [
        i for i, n in workspace.sandbox.meta.audiences().items() if n == "Cart abandoners"
    ]
    (google_id,) = [
        i for i, n in workspace.sandbox.google.user_lists().items() if n == "Cart abandoners"
    ]
    assert workspace.sandbox.meta.members(meta_id) == meta_members(PEOPLE)
    assert workspace.sandbox.google.members(google_id) == google_members(PEOPLE)

    again = workspace.sync(data)  # found by name this time: no second list, nothing re-sent
    assert [r.requests for r in again] == [0, 0]
    assert list(workspace.sandbox.meta.audiences().values()).count("Cart abandoners") == 1


def test_replace_mode_replaces_the_audience_in_one_session(workspace: Workspace) -> None:
    workspace.write_people(emails("a", "b", "c"))
    data = workspace.config_data()
    for audience in data["audiences"]:
        audience["mode"] = "replace"
    data["destinations"]["meta"]["batch_size"] = 2
    workspace.sync(data)
    workspace.write_people(emails("b", "c", "d", "e"))

    meta, google = workspace.sync(data)

    assert meta.status == "ok" and meta.notes == []
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_emails("b", "c", "d", "e")
    replaced = [r for r in workspace.sandbox.meta.requests if r.path.endswith("/usersreplace")]
    assert len(replaced) == 4  # two sessions (first pass and this one) of two batches each
    assert google.notes == ["this network has no full replace; sent changes instead"]
    assert (google.adds, google.removes) == (2, 1)

    workspace.sandbox.meta.refuse_replace(META_AUDIENCE)
    workspace.write_people(emails("b"))
    meta, _ = workspace.sync(data)
    assert meta.status == "ok"
    assert meta.notes[0].startswith("replace refused, sent changes instead")
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_emails("b")


@pytest.mark.parametrize("batch_size", [None, 1])
def test_members_refused_by_index_are_quarantined_and_the_rest_sent(
    workspace: Workspace, batch_size: int | None
) -> None:
    """The state names each refused member by its own key, whichever batch it was in (with
    batches of one, the two corrupt members are in two of the three removal batches, so at
    least one is past the first)."""
    workspace.write_people(emails("a", "b", "c"))
    data = workspace.config_data()
    data["destinations"]["google"]["batch_size"] = batch_size
    workspace.sync(data)
    corrupt = [BAD_KEY, BAD_KEY.replace("0b", "0c")]
    with duckdb.connect(str(workspace.root / "state.duckdb")) as state:  # corrupt held hashes
        for key in corrupt:
            state.execute(
                "INSERT INTO members (destination, audience_id, member_key, email, status, "
                "synced_at) VALUES ('google_data_manager:1234567890', ?, ?, 'not-hex', "
                "'present', now())",
                [GOOGLE_LIST, key],
            )
    workspace.write_people(emails("b", "c"))  # "a" and the corrupt members must go

    _, google = workspace.sync(data)

    assert google.status == "ok"
    assert google.refused_members == 2
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(f"{n}@example.com"))}) for n in ("b", "c")
    }
    assert state_rows(
        workspace,
        "SELECT kind, member_key FROM quarantine WHERE kind LIKE 'network:%' ORDER BY member_key",
    ) == [("network:remove", key) for key in corrupt]


def test_members_are_sent_again_before_their_membership_expires(workspace: Workspace) -> None:
    workspace.write_people(emails("old", "new"))
    workspace.sync()
    with duckdb.connect(str(workspace.root / "state.duckdb")) as state:
        state.execute(
            "UPDATE members SET synced_at = now() - INTERVAL 460 DAY WHERE email = ?",
            [sha("old@example.com")],
        )

    meta, google = workspace.sync()

    assert (google.adds, google.refreshes, google.requests) == (1, 1, 1)  # 450 days default
    assert (meta.adds, meta.refreshes, meta.requests) == (0, 0, 0)  # Meta has no expiry
    again = workspace.sync()
    assert [r.requests for r in again] == [0, 0]


def test_a_membership_sent_in_the_future_is_refreshed(workspace: Workspace) -> None:
    """A pass with the clock far ahead stamped its members in the future: later passes must
    still refresh them before Google's 540-day expiry, not count them fresh for years."""
    workspace.write_people(emails("ahead", "on-time"))
    workspace.sync()
    with duckdb.connect(str(workspace.root / "state.duckdb")) as state:
        state.execute(
            "UPDATE members SET synced_at = now() + INTERVAL 400 DAY WHERE email = ?",
            [sha("ahead@example.com")],
        )

    meta, google = workspace.sync()

    assert (google.refreshes, google.requests) == (1, 1)
    assert (meta.refreshes, meta.requests) == (0, 0)  # Meta has no expiry
    assert [r.requests for r in workspace.sync()] == [0, 0]


def test_a_used_up_daily_quota_defers_and_the_next_run_resumes(workspace: Workspace) -> None:
    workspace.write_people(emails(*"abcde"))
    data = workspace.config_data()
    data["destinations"]["google"]["batch_size"] = 2
    workspace.sandbox.google.quota = Quota(requests_per_day=2)

    _, google = workspace.sync(data)

    assert google.status == "deferred"
    assert "quota" in (google.error or "").lower()
    assert 0 < len(workspace.sandbox.google.members(GOOGLE_LIST)) < 5
    workspace.sandbox.google.quota = Quota()  # a new day
    _, google = workspace.sync(data)
    assert google.status == "ok"
    assert len(workspace.sandbox.google.members(GOOGLE_LIST)) == 5


def test_the_run_record_keeps_request_statuses_and_the_audience_read_back(
    workspace: Workspace,
) -> None:
    workspace.write_people(rows(PEOPLE))
    meta, google = workspace.sync()

    assert set(google.request_statuses.values()) == {"SUCCESS"}
    assert google.audience_info  # sizes and match rate as the API reports them
    assert meta.audience_info["operation_status_code"] == 200
    (summary,) = state_rows(workspace, "SELECT summary FROM runs WHERE audience = 'people->google'")
    recorded = json.loads(summary[0])
    assert recorded["request_statuses"] == google.request_statuses
    assert recorded["request_ids"] == google.request_ids


def test_google_never_receives_a_row_without_consent(workspace: Workspace) -> None:
    people = [
        ("yes@example.com", "granted", "granted"),
        ("half@example.com", "granted", "denied"),
        ("unknown@example.com", None, None),  # the destination default (granted) applies
        ("odd@example.com", "maybe", "granted"),  # neither yes nor no: never assumed
    ]
    workspace.write_people(
        [
            (email, None, "US", user_data, personalization, None)
            for email, user_data, personalization in people
        ]
    )
    data = workspace.config_data()
    data["segments"]["people"]["consent"] = {
        "ad_user_data": "first_name",  # the fixture table's spare columns carry the flags
        "ad_personalization": "last_name",
    }

    meta, google = workspace.sync(data)

    assert meta.invalid == {}
    assert google.invalid == {"row:no_consent": 2}
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(f"{n}@example.com"))}) for n in ("yes", "unknown")
    }
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) == 4  # Meta takes no consent flags

    people[0] = ("yes@example.com", "denied", "granted")  # consent withdrawn
    workspace.write_people(
        [
            (email, None, "US", user_data, personalization, None)
            for email, user_data, personalization in people
        ]
    )
    _, google = workspace.sync(data)
    assert google.removes == 1
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha("unknown@example.com"))})
    }


def test_a_push_of_many_batches_stages_them_a_group_at_a_time(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long push journals its members a group of batches at a time, each group staged
    ahead on a thread of its own, so the first request leaves early; no batch is sent
    before its group is staged; the audiences still come out exact, in the fewest
    requests, and nothing stays staged."""
    monkeypatch.setattr(in_flight, "BATCHES_PER_STAGE", 3)
    staged: list[tuple[str, str, int, int]] = []
    events: list[tuple[str, str, int]] = []  # in order: ("staged" | "sent", operation, batch)
    stage, send = StateStore.stage, in_flight.InFlight.send

    def recording(self, run_id, audience, changes, operation, size, batches):  # type: ignore[no-untyped-def]
        network = audience.destination.partition(":")[0]
        stage(self, run_id, audience, changes, operation, size, batches)
        staged.append((network, operation, batches.start, batches.stop - 1))
        if network == "meta":
            events.extend(("staged", operation, number) for number in batches)

    def sending(self, batch_id, number, chunk, what):  # type: ignore[no-untyped-def]
        audience, operation = what.split()[:2]  # "people->meta add batch 1/11"
        if audience.endswith("->meta"):
            events.append(("sent", operation, number))
        return send(self, batch_id, number, chunk, what)

    monkeypatch.setattr(StateStore, "stage", recording)
    monkeypatch.setattr(in_flight.InFlight, "send", sending)
    names = [f"p{i}" for i in range(21)]
    data = workspace.config_data()
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
    workspace.write_people(emails(*names))
    assert [r.requests for r in workspace.sync(data)] == [11, 11]
    assert sorted(staged) == sorted(  # batches first to last, 11 of them
        (network, "add", first, last)
        for network in ("meta", "google_data_manager")
        for first, last in ((1, 3), (4, 6), (7, 9), (10, 11))
    )
    sent = [event for event in events if event[0] == "sent"]
    assert [number for _, _, number in sent] == list(range(1, 12))
    for event in sent:  # each batch's members were staged before it was sent
        assert ("staged", *event[1:]) in events[: events.index(event)]

    staged.clear()
    kept, joined = names[7:], [f"q{i}" for i in range(8)]
    workspace.write_people(emails(*kept, *joined))
    meta, google = workspace.sync(data)

    assert (meta.removes, meta.adds, meta.requests) == (7, 8, 8)
    assert (google.removes, google.adds, google.requests) == (7, 8, 8)
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_emails(*kept, *joined)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == {
        frozenset({("emailAddress", sha(f"{name}@example.com"))}) for name in (*kept, *joined)
    }
    assert {(operation, first, last) for _, operation, first, last in staged} == {
        ("remove", 1, 3),
        ("remove", 4, 4),
        ("add", 1, 3),
        ("add", 4, 4),
    }
    assert state_rows(workspace, "SELECT status, count(*) FROM members GROUP BY 1") == [
        ("present", 2 * len(kept + joined))
    ]
