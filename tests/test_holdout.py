"""Holdouts (issue 24): a stable, random share of a segment's people is never sent, on any
network, and is removed where syncd had put it.

The people a test expects held out come from `support.holdouts.held_out`, which applies the
documented rule by hand, not through the code under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from conftest import META_AUDIENCE, TOKEN, Workspace, sha
from postgres_server import PostgresServer
from support.holdouts import google_emails, held_out, meta_emails

from syncd.config import ConfigError, load_config
from syncd.lift import experiment_salt
from syncd.pipeline import sync_all
from syncd.state import AudienceRef, StateStore, open_state
from syncd.summary import format_results
from syncd.targets import resolve

EMAILS = [f"shopper{i}@example.com" for i in range(300)]
NOW = dt.datetime.now(dt.UTC)


def hashed(emails: set[str]) -> set[str]:
    return {sha(email) for email in emails}


def with_holdout(workspace: Workspace, holdout: dict | None, **audience_holdout: dict) -> dict:
    data = workspace.config_data()
    if holdout is not None:
        data["segments"]["people"]["holdout"] = holdout
    for audience in data["audiences"]:
        if audience["destination"] in audience_holdout:
            audience["holdout"] = audience_holdout[audience["destination"]]
    return data


def test_a_segment_holdout_is_never_sent_and_is_the_same_people_on_every_network(
    workspace: Workspace,
) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in EMAILS])
    results = sync_all(workspace.config(with_holdout(workspace, {"fraction": 0.2})))

    out = held_out("people", EMAILS, 0.2)
    assert 30 < len(out) < 90  # about 20% of 300: the rule is really applied
    treated = hashed(set(EMAILS) - out)
    assert meta_emails(workspace) == treated
    assert google_emails(workspace) == treated
    assert {(r.treated_people, r.held_out_people) for r in results} == {(300 - len(out), len(out))}
    shown = f"{300 - len(out)} people treated, {len(out)} held out"
    assert format_results(results).count(shown) == 2


def test_the_same_people_are_held_out_across_passes_batch_sizes_and_warehouses(
    workspace: Workspace, postgres: PostgresServer
) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in EMAILS])
    data = with_holdout(workspace, {"fraction": 0.3})
    sync_all(workspace.config(data))
    first = meta_emails(workspace)

    for destination in data["destinations"].values():
        destination["batch_size"] = 7
    again = sync_all(workspace.config(data))
    assert [r.requests for r in again] == [0, 0]  # nobody moved between the groups

    with psycopg.connect(postgres.uri, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS holdout_people")
        db.execute("CREATE TABLE holdout_people (email text, phone text, country text)")
        with db.cursor().copy("COPY holdout_people FROM STDIN") as copy:
            for email in reversed(EMAILS):  # another order, another warehouse
                copy.write_row((email.upper(), None, "US"))
    data["warehouse"] = {"kind": "postgres", "dsn": "${PG_DSN}"}
    data["segments"]["people"]["sql"] = "select * from holdout_people"
    environ = {"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri}
    from_postgres = sync_all(load_config(workspace.write_config(data), environ=environ))
    assert [r.requests for r in from_postgres] == [0, 0]
    assert meta_emails(workspace) == first == hashed(set(EMAILS) - held_out("people", EMAILS, 0.3))


def test_people_moved_into_a_holdout_are_removed_and_a_salt_draws_anew(
    workspace: Workspace,
) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in EMAILS])
    sync_all(workspace.config(with_holdout(workspace, None)))
    assert meta_emails(workspace) == hashed(set(EMAILS))

    results = sync_all(workspace.config(with_holdout(workspace, {"fraction": 0.1})))
    out = held_out("people", EMAILS, 0.1)
    assert [(r.adds, r.removes) for r in results] == [(0, len(out))] * 2
    assert meta_emails(workspace) == hashed(set(EMAILS) - out)

    sync_all(workspace.config(with_holdout(workspace, {"fraction": 0.1, "salt": "2027"})))
    redrawn = held_out("people", EMAILS, 0.1, "2027")
    assert redrawn != out
    assert meta_emails(workspace) == google_emails(workspace) == hashed(set(EMAILS) - redrawn)


def test_an_audience_holdout_replaces_its_segments_for_that_audience_only(
    workspace: Workspace,
) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in EMAILS])
    data = with_holdout(workspace, {"fraction": 0.2}, meta={"fraction": 0.5})
    sync_all(workspace.config(data))

    assert meta_emails(workspace) == hashed(set(EMAILS) - held_out("people->meta", EMAILS, 0.5))
    assert google_emails(workspace) == hashed(set(EMAILS) - held_out("people", EMAILS, 0.2))


@pytest.mark.parametrize("fraction", [0, 1, 1.5, "half"])
def test_a_holdout_fraction_outside_zero_to_one_is_refused_with_its_place(
    workspace: Workspace, fraction: object
) -> None:
    with pytest.raises(ConfigError) as refused:
        workspace.config(with_holdout(workspace, {"fraction": fraction}))
    assert "segments.people.holdout.fraction" in str(refused.value)


@pytest.mark.parametrize("state", ["duckdb", "postgres"])
def test_the_state_keeps_when_each_person_entered_and_left_each_group(
    workspace: Workspace, postgres: PostgresServer, state: str
) -> None:
    """Issue 24's membership history: one stay per person and group, opened by the pass
    that first finds them there and closed by the first that finds them elsewhere or gone;
    hashes only, on either state database."""
    data = with_holdout(workspace, {"fraction": 0.1})
    data["audiences"] = data["audiences"][:1]  # Meta only
    if state == "postgres":
        schema = f"history_{uuid.uuid4().hex[:8]}"
        data["state"] = {"kind": "postgres", "dsn": "${PG_DSN}", "schema": schema}
    environ = {"TEST_TOKEN": TOKEN, "PG_DSN": postgres.uri}

    def sync(emails: list[str], fraction: float) -> pa.Table:
        """A pass over `emails`, then the audience's history of stays."""
        workspace.write_people([(email, None, "US", None, None, None) for email in emails])
        data["segments"]["people"]["holdout"] = {"fraction": fraction}
        config = load_config(workspace.write_config(data), environ=environ)
        assert [r.status for r in sync_all(config)] == ["ok"]
        with open_state(config.state) as store:
            history = store.group_history(resolve(config, config.audiences[0], NOW).ref)
        return history

    first = sync(EMAILS, 0.1)
    out = held_out("people", EMAILS, 0.1)
    keys = {f"email:{sha(email)}": email for email in EMAILS}
    assert sorted(first.column("person_key").to_pylist()) == sorted(keys)
    pairs = zip(*_columns(first, "person_key", "held_out"), strict=True)
    assert {keys[k] for k, h in pairs if h} == out
    assert first.column("left_at").null_count == len(first)

    assert sync(EMAILS, 0.1).equals(first)  # nothing changed: nothing recorded

    stayed = EMAILS[50:]
    third = sync(stayed, 0.2)
    more = held_out("people", stayed, 0.2)
    rows = list(zip(*_columns(third, "person_key", "held_out", "left_at"), strict=True))
    open_stays = {(keys[k], h) for k, h, left in rows if left is None}
    assert open_stays == {(email, email in more) for email in stayed}
    closed = {(keys[k], h) for k, h, left in rows if left is not None}
    gone = {(email, email in out) for email in EMAILS[:50]}
    moved = {(email, False) for email in more - out}  # treated, then held out
    assert closed == gone | moved


def _columns(table: pa.Table, *names: str) -> list[list[object]]:
    return [table.column(name).to_pylist() for name in names]


def test_a_redrawn_holdout_closes_the_old_experiment_and_old_stays_are_pruned(
    tmp_path: Path,
) -> None:
    """Stays of an audience's earlier experiment (another salt) close when the new one is
    recorded; finished stays older than the retention go, open ones never do."""
    audience = AudienceRef("meta:act_1", "1")
    day = [dt.datetime(2026, 1, d, tzinfo=dt.UTC) for d in range(1, 5)]
    with StateStore.at(tmp_path / "state.duckdb") as store, store.spill() as spill:

        def record(experiment: str, people: str, at: dt.datetime, kept: dt.datetime) -> None:
            table = spill.create_as(
                "groups", f"SELECT * FROM (VALUES {people}) AS t(person_key, held_out)"
            )
            store.record_groups(audience, experiment, table, at, kept)

        record("old", "('email:a', false), ('email:b', true)", day[0], day[0])
        record("new", "('email:a', true)", day[1], day[0])
        stays = store.group_history(audience).to_pylist()
        assert {(s["experiment"], s["person_key"], s["left_at"]) for s in stays} == {
            ("old", "email:a", day[1]),
            ("old", "email:b", day[1]),
            ("new", "email:a", None),
        }
        record("new", "('email:a', true)", day[3], day[2])  # the old stays ended before day 3
        assert [
            (s["experiment"], s["left_at"]) for s in store.group_history(audience).to_pylist()
        ] == [("new", None)]


def test_a_person_held_out_by_one_row_is_not_sent_by_another(workspace: Workspace) -> None:
    """One person on two rows (email and phone; the phone alone) gets a group per row, by
    each row's first identifier. When the email's row is held out and the phone's is not,
    the phone is still not sent: nobody held out is ever reached."""
    prefix = experiment_salt("people").encode() + b"\x1f"

    def held(key: str) -> bool:
        return int.from_bytes(hashlib.sha256(prefix + key.encode()).digest()[:8]) < 2**63

    email, phone = next(
        (f"twice{i}@example.com", f"+1415555{i:04d}")
        for i in range(1000)
        if held(f"email:{sha(f'twice{i}@example.com')}")
        and not held(f"phone:{sha(f'+1415555{i:04d}')}")
    )
    # Everyone shares a name, country and zip: only emails, phones and ids tell people apart.
    others = [(e, None, "US", "Ann", "Lee", "94110") for e in EMAILS[:20]]
    workspace.write_people(
        [
            (email, phone, "US", "Ann", "Lee", "94110"),
            (None, phone, "US", None, None, None),
            *others,
        ]
    )
    data = with_holdout(workspace, {"fraction": 0.5})
    names = {"first_name": "first_name", "last_name": "last_name", "zip": "zip"}
    data["segments"]["people"]["identifiers"] |= names
    sync_all(workspace.config(data))

    sent = {
        value for member in workspace.sandbox.meta.members(META_AUDIENCE) for _, value in member
    }
    assert sha(email) not in sent and sha(phone.lstrip("+")) not in sent
    assert len(sent) >= 8  # the other people's treated half went, names and all
