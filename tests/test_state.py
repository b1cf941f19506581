"""State and diff on their own, with no network: DuckDB file, Arrow tables in and out."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from syncd.identity import sha256_hex
from syncd.members import IDENTIFIER_COLUMNS, MEMBER_SCHEMA, member_key
from syncd.state import AudienceRef, StateStore
from syncd.state.backends import PostgresBackend
from syncd.state.diff import _in_rowid_order
from syncd.state.store import StateFormatError

AUDIENCE = AudienceRef("meta:act_1", "42")
OTHER = AudienceRef("meta:act_1", "43")


@pytest.fixture(params=["duckdb", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StateStore]:
    """Opens the same store each call: every test runs on both backends."""
    if request.param == "duckdb":
        return lambda: StateStore.at(tmp_path / "state.duckdb")
    uri = request.getfixturevalue("postgres_uri")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    return lambda: StateStore(PostgresBackend(uri, schema))


def members(*emails: str) -> pa.Table:
    rows = []
    for email in emails:
        values = (email, None, None, None, None, None, None, None)
        rows.append({"member_key": member_key(values), "email": email})
    return pa.Table.from_pylist(rows, schema=MEMBER_SCHEMA)


def keys(table: pa.Table) -> set[str]:
    return set(table["email"].to_pylist())


def test_diff_of_an_empty_audience_adds_everything(make_store: Callable[[], StateStore]) -> None:
    with make_store() as state:
        diff = state.diff(AUDIENCE, members("a", "b"))
        assert keys(diff.adds) == {"a", "b"}
        assert len(diff.removes) == 0
        assert diff.adds.schema == MEMBER_SCHEMA


def commit(state: StateStore, audience: AudienceRef, operation: str, table: pa.Table) -> None:
    """Send-and-acknowledge, as the pipeline does around a successful request."""
    batch = state.begin_batch("run", audience, operation, 1, table)
    state.acknowledge_batch(batch, audience, operation, table, "request-1")


def test_diff_after_commits_is_only_the_change(make_store: Callable[[], StateStore]) -> None:
    with make_store() as state:
        commit(state, AUDIENCE, "add", members("a", "b", "c"))
        commit(state, OTHER, "add", members("z"))
        diff = state.diff(AUDIENCE, members("b", "c", "d"))
        assert keys(diff.adds) == {"d"}
        assert keys(diff.removes) == {"a"}


def test_acknowledged_removals_forget_only_that_audience(
    make_store: Callable[[], StateStore],
) -> None:
    with make_store() as state:
        commit(state, AUDIENCE, "add", members("a", "b"))
        commit(state, OTHER, "add", members("a"))
        commit(state, AUDIENCE, "remove", members("a"))
    with make_store() as reopened:  # committed means durable
        assert keys(reopened.members(AUDIENCE)) == {"b"}
        assert keys(reopened.members(OTHER)) == {"a"}
        assert reopened.member_count(AUDIENCE) == 1


def test_adding_twice_is_idempotent(make_store: Callable[[], StateStore]) -> None:
    with make_store() as state:
        commit(state, AUDIENCE, "add", members("a"))
        commit(state, AUDIENCE, "add", members("a"))
        assert state.member_count(AUDIENCE) == 1


def test_an_unacknowledged_add_is_sent_again_or_removed(
    make_store: Callable[[], StateStore],
) -> None:
    """A crash after sending an add: the network may or may not hold those members."""
    with make_store() as state:
        run = state.start_run("people->meta", AUDIENCE, "a-process-that-dies")
        state.begin_batch(run, AUDIENCE, "add", 1, members("a", "b"))
        other = state.start_run("people->other", OTHER, "a-live-process")
        state.begin_batch(other, OTHER, "add", 1, members("c"))
    with make_store() as restarted:
        recovery = restarted.recover(AUDIENCE)
        assert (recovery.interrupted_runs, recovery.batches_in_flight) == (1, 1)
        # Another audience's pass is not this one's to recover: its lease is not held here.
        assert [
            run["status"] for run in restarted.runs() if run["audience"] == "people->other"
        ] == ["running"]
        diff = restarted.diff(AUDIENCE, members("a"))  # "b" left the segment meanwhile
        assert keys(diff.adds) == {"a"}  # maybe never arrived: send again (idempotent)
        assert keys(diff.removes) == {"b"}  # maybe arrived: must go, or it is lost


def test_an_unacknowledged_removal_is_sent_again_or_undone(
    make_store: Callable[[], StateStore],
) -> None:
    with make_store() as state:
        commit(state, AUDIENCE, "add", members("a", "b"))
        state.begin_batch("run-1", AUDIENCE, "remove", 1, members("a", "b"))
    with make_store() as restarted:
        diff = restarted.diff(AUDIENCE, members("b"))  # "b" came back to the segment
        assert keys(diff.removes) == {"a"}
        assert keys(diff.adds) == {"b"}  # its removal may have landed: add it again


def test_a_failed_batch_keeps_its_members_in_flight(make_store: Callable[[], StateStore]) -> None:
    with make_store() as state:
        batch = state.begin_batch("run-1", AUDIENCE, "add", 1, members("a"))
        state.fail_batch(batch, "HTTP 500")
        assert keys(state.diff(AUDIENCE, members("a")).adds) == {"a"}
        assert [b["status"] for b in state.batches("run-1")] == ["failed"]


def test_staged_batches_go_in_flight_a_group_ahead_and_settle_with_the_next_commit(
    make_store: Callable[[], StateStore],
) -> None:
    """A staged push writes its batch rows ten batches to a commit: each batch is in flight
    before its request leaves, its acknowledgment waits for the next commit, and the
    batches marked but never sent are withdrawn when the push ends, however it ends."""
    with make_store() as state:

        def journaled(run_id: str) -> list[tuple[object, ...]]:
            rows = state.batches(run_id)
            return sorted((r["batch_number"], r["status"], r["members"]) for r in rows)

        with state.staged_batches("run-1", "add", rows=205, size=10) as journal:
            journal.acknowledge(journal.begin(1), "request-1")
            assert journaled("run-1") == [(n, "sent", 10) for n in range(1, 11)]
            for number in range(2, 11):
                journal.acknowledge(journal.begin(number), f"request-{number}")
            assert journaled("run-1") == [(n, "sent", 10) for n in range(1, 11)]
            journal.acknowledge(journal.begin(11), "request-11")
            assert journaled("run-1") == [(n, "acknowledged", 10) for n in range(1, 11)] + [
                (n, "sent", 10) for n in range(11, 21)
            ]
            for number in range(12, 22):
                journal.acknowledge(journal.begin(number), f"request-{number}")
        assert journaled("run-1") == [(n, "acknowledged", 10) for n in range(1, 21)] + [
            (21, "acknowledged", 5)  # the last batch holds what is left
        ]

        with state.staged_batches("run-2", "remove", rows=100, size=10) as journal:
            journal.fail(journal.begin(1), "HTTP 500")
        assert journaled("run-2") == [(1, "failed", 10)]

        with (
            pytest.raises(KeyboardInterrupt),
            state.staged_batches("run-3", "add", rows=100, size=10) as journal,
        ):
            journal.acknowledge(journal.begin(1), "request-1")
            raise KeyboardInterrupt  # a stop between two batches
        assert journaled("run-3") == [(1, "acknowledged", 10)]


def test_a_push_that_fails_reports_its_own_error_when_the_journal_cannot_close(
    make_store: Callable[[], StateStore],
) -> None:
    """The error that ended a push is the one reported, even when the state went away with
    it and the journal cannot be closed: the next pass folds what is left."""
    state = make_store()
    with (
        pytest.raises(KeyboardInterrupt),
        state.staged_batches("run-1", "add", rows=100, size=10) as journal,
    ):
        journal.begin(1)
        state.close()
        raise KeyboardInterrupt
    with make_store() as reopened:
        assert [b["status"] for b in reopened.batches("run-1")][:1] == ["sent"]


def test_runs_are_journaled_with_their_summary(make_store: Callable[[], StateStore]) -> None:
    with make_store() as state:
        run_id = state.start_run("s->meta", AUDIENCE, "host:1")
        assert state.runs()[0]["status"] == "running"
        state.finish_run(run_id, "ok", {"adds": 3})
        (run,) = state.runs()
        assert (run["run_id"], run["status"], run["summary"]) == (run_id, "ok", '{"adds": 3}')
        assert run["finished_at"] >= run["started_at"]


def _as_written_before_uuid_keys(state: StateStore) -> None:
    """Turn a state back into what syncd wrote before member keys were UUIDs: the SHA-256
    hex of the sent values joined by \\x1f, as text, and no state_format row."""
    joined = " || chr(31) || ".join(f"coalesce({name}, '')" for name in IDENTIFIER_COLUMNS)
    backend = state.backend
    for table in ("members", "batch_members"):
        if backend.sql_dialect == "duckdb":
            backend.execute(
                f"ALTER TABLE {table} ALTER member_key SET DATA TYPE VARCHAR USING sha256({joined})"
            )
        else:
            backend.execute(
                f"UPDATE {table} SET member_key = "
                f"encode(sha256(convert_to({joined}, 'UTF8')), 'hex')"
            )
    backend.execute("DELETE FROM state_format")


def test_a_duckdb_state_stores_hashes_uncompressed(tmp_path: Path) -> None:
    """SHA-256 hex compresses to half at best, and compressing it was half of the CPU of
    staging a first sync: hashed columns are stored as they are, the others compressed."""
    with StateStore.at(tmp_path / "state.duckdb") as state:
        rows = [{"email": sha256_hex(str(n)), "country": "US"} for n in range(5000)]
        for row in rows:
            row["member_key"] = member_key((row["email"], None, None, None, "US", None, None, None))
        table = pa.Table.from_pylist(rows, schema=MEMBER_SCHEMA)
        commit(state, AUDIENCE, "add", table)
        state.backend.execute("CHECKPOINT")
        stored = dict(
            state.backend.execute(
                "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info("
                "'members') WHERE segment_type = 'VARCHAR' GROUP BY 1"
            )
        )
    assert stored["email"] == ["Uncompressed"]
    assert "Uncompressed" not in stored["country"]


def test_a_state_with_sha256_member_keys_is_migrated_to_uuid_keys(
    make_store: Callable[[], StateStore],
) -> None:
    with make_store() as state:
        commit(state, AUDIENCE, "add", members("a", "b", "c"))
        state.begin_batch("run", AUDIENCE, "remove", 2, members("c"))  # c: removal in flight
        _as_written_before_uuid_keys(state)
        old_keys = {key for (key,) in state.backend.execute("SELECT member_key FROM members")}
        assert old_keys == {
            sha256_hex("\x1f".join([email] + [""] * 7)) for email in ("a", "b", "c")
        }

    with make_store() as state:
        ((in_flight,),) = state.backend.execute(
            "SELECT CAST(member_key AS VARCHAR) FROM batch_members"
        )
        assert in_flight == members("c")["member_key"][0].as_py()
        assert state.members(AUDIENCE).sort_by("email")["member_key"].to_pylist() == [
            members(email)["member_key"][0].as_py() for email in ("a", "b", "c")
        ]
        diff = state.diff(AUDIENCE, members("a", "b", "d"))
        assert keys(diff.adds) == {"d"}
        assert keys(diff.removes) == {"c"}
        assert state.backend.execute("SELECT version FROM state_format") == [(2,)]


def test_a_duckdb_state_with_statuses_as_text_is_upgraded_to_an_enum(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    held = "SELECT email, status, synced_at FROM members ORDER BY email"
    with StateStore.at(path) as state:
        commit(state, AUDIENCE, "add", members("a", "b", "c"))
        state.begin_batch("run", AUDIENCE, "remove", 2, members("c"))  # c: removal in flight
        # as the files of earlier versions hold them
        state.backend.execute("ALTER TABLE members ALTER status SET DATA TYPE VARCHAR")
        before = state.backend.execute(held)
    assert [status for _, status, _ in before] == ["present", "present", "removing"]

    with StateStore.at(path) as state:
        assert state.backend.execute(held) == before
        assert state.backend.execute(
            "SELECT data_type FROM duckdb_columns() WHERE column_name = 'status' "
            "AND table_name = 'members'"
        ) == [("ENUM('present', 'adding', 'removing', 'staged')",)]
        diff = state.diff(AUDIENCE, members("a", "b", "d"))
        assert keys(diff.adds) == {"d"}
        assert keys(diff.removes) == {"c"}


def test_a_state_of_a_newer_member_key_format_is_refused(
    make_store: Callable[[], StateStore],
) -> None:
    with make_store() as state:
        state.backend.execute("UPDATE state_format SET version = 3 WHERE name = 'member_key'")
    with pytest.raises(StateFormatError, match="format 3, written by a newer syncd"):
        make_store()


def test_a_newer_state_is_refused_before_anything_in_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    with StateStore.at(path) as state:
        state.backend.execute("UPDATE state_format SET version = 3 WHERE name = 'member_key'")
        state.backend.execute("DROP TABLE leases")  # say format 3 has no such table
    with pytest.raises(StateFormatError):
        StateStore.at(path)
    with duckdb.connect(str(path)) as db:
        tables = db.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'leases'")
        assert tables.fetchall() == [(0,)]


def test_rows_read_out_of_order_are_put_back_in_rowid_order() -> None:
    """Batches are cut by rowid, as the journal numbered them: rows that ever came back
    from a read in another order are sorted, and rows in order are left as they are."""
    in_order = pa.table({"rowid": [5, 6, 7, 8], "email": ["a", "b", "c", "d"]})
    assert _in_rowid_order(in_order) is in_order
    shuffled = pa.table({"rowid": [7, 5, 8, 6], "email": ["c", "a", "d", "b"]})
    assert _in_rowid_order(shuffled).column("email").to_pylist() == ["a", "b", "c", "d"]


def test_counting_without_the_lease_leaves_a_live_push_staged_members(
    make_store: Callable[[], StateStore],
) -> None:
    """A live push stages members for batches it has not marked in flight yet; a reader
    without the audience's lease (`syncd report`) counts them and must not fold them away,
    which only the lease holder may do."""
    with make_store() as state:
        key = members("a")["member_key"][0].as_py()
        state.backend.execute(
            "INSERT INTO members (destination, audience_id, member_key, email, status, "
            "synced_at, batch_id) VALUES (?, ?, ?, 'a', 'staged', now(), 'run:add:12')",
            [AUDIENCE.destination, AUDIENCE.audience_id, key],
        )
        assert state.held_count(AUDIENCE) == 1
        assert state.held_count(AUDIENCE) == 1  # still there: nothing was folded
        assert state.member_count(AUDIENCE) == 0  # the holder's fold drops what was not sent


def test_a_lease_is_renewed_while_a_long_statement_holds_the_store(
    make_store: Callable[[], StateStore],
) -> None:
    """The renewal runs on a connection of its own: behind a fold of ten million members
    (here, a transaction held open on the store's connection) it would wait, and the lease
    could run out while its pass still works."""
    with make_store() as state:
        assert state.hold_lease("audience", "me", 60)
        in_transaction, release = threading.Event(), threading.Event()

        def long_statement() -> None:
            with state.backend.transaction():
                state.backend.execute("UPDATE runs SET status = status")
                in_transaction.set()
                release.wait(30)

        holder = threading.Thread(target=long_statement)
        holder.start()
        try:
            assert in_transaction.wait(10)
            renewed: list[bool] = []
            renewal = threading.Thread(
                target=lambda: renewed.append(state.hold_lease("audience", "me", 60))
            )
            renewal.start()
            renewal.join(10)
            assert renewed == [True]  # done while the transaction is still open
            assert state.lease_holder("audience") == "me"
        finally:
            release.set()
            holder.join()
