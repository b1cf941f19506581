"""A pass holds a source batch and a network batch at a time, not the segment: members stream
from the warehouse through identity into DuckDB spill tables (on disk past a memory limit),
and out to the network in batches of the request limit. No timing is asserted: what is
checked is what the pass holds, and what it sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from conftest import META_AUDIENCE, Workspace
from support.targets import META_SETTINGS, target_for

from syncd.config.models import Segment
from syncd.identity import sha256_hex
from syncd.members import IDENTIFIER_COLUMNS, member_key
from syncd.read.scan import spill_segment
from syncd.sources.duckdb import DuckDBSource
from syncd.state import Changes, spill
from syncd.state.backends import DuckDBBackend

LIMIT = 10_000


def write_segment(workspace: Workspace, people: int) -> None:
    with duckdb.connect(str(workspace.warehouse)) as db:
        db.execute(
            "CREATE OR REPLACE TABLE people AS SELECT "
            "'Shopper.' || CAST(i AS VARCHAR) || '@Example.com' AS email, "
            "NULL::VARCHAR AS phone, 'US' AS country FROM range(?) t(i)",
            [people],
        )


def meta_only(workspace: Workspace) -> dict:
    data = workspace.config_data()
    data["audiences"] = [a for a in data["audiences"] if a["destination"] == "meta"]
    return data


def arrow_peak(workspace: Workspace, people: int) -> tuple[int, list[int]]:
    """Sync `people` members to Meta from an empty state; the peak of Arrow memory allocated
    during the pass, and the size of every batch the push took from the spill."""
    write_segment(workspace, people)
    (workspace.root / "state.duckdb").unlink(missing_ok=True)
    workspace.sandbox.meta.clear_requests()
    pushed: list[int] = []
    original = Changes.batches

    def batches(self: Changes, operation: str, size: int) -> Iterator[pa.Table]:
        for batch in original(self, operation, size):
            pushed.append(len(batch))
            yield batch

    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Changes, "batches", batches)
            (meta,) = workspace.sync(meta_only(workspace))
    finally:
        pa.set_memory_pool(previous)
    assert (meta.status, meta.members, meta.adds) == ("ok", people, people)
    return pool.max_memory(), pushed


def test_a_pass_holds_batches_not_the_segment(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spill, "MEMORY_LIMIT", "48MB")  # DuckDB spills to disk past this

    small_peak, _ = arrow_peak(workspace, 100_000)
    large_peak, pushed = arrow_peak(workspace, 300_000)

    # The members went out in full batches, streamed from the spill one at a time...
    assert pushed == [LIMIT] * 30
    adds = [r for r in workspace.sandbox.meta.requests if r.operation == "add"]
    assert [r.count for r in adds] == [LIMIT] * 30
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) == 300_000
    # ...and three times the segment took no more Arrow memory: the pass holds a source
    # batch (100,000 rows, through identity) and a network batch, whatever the segment's
    # size. (Holding the segment's members, as passes once did, takes 45 MB at 100,000
    # members and 66 MB at 300,000.)
    assert large_peak < 1.1 * small_peak, (small_peak, large_peak)


def test_the_state_and_the_spill_keep_their_blocks_within_the_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both DuckDB instances a pass opens (the state's, and a spill of its own beside a
    PostgreSQL state) are limited, and keep that much memory for their blocks. The memory
    kept never shrinks: a store opened with a lower limit while the process holds the file
    open (its stores share one instance) keeps it."""
    monkeypatch.setattr(spill, "MEMORY_LIMIT", "48MB")
    settings = "SELECT current_setting('memory_limit'), current_setting('block_allocator_memory')"

    state = DuckDBBackend(tmp_path / "state.duckdb")
    with spill.Spill.standalone() as scratch:
        found = [state.execute(settings)[0], scratch.execute(settings)[0]]
    monkeypatch.setattr(spill, "MEMORY_LIMIT", "32MB")
    again = DuckDBBackend(tmp_path / "state.duckdb")
    found.append(again.execute(settings)[0])
    again.close()
    state.close()

    assert found == [("45.7 MiB", "45.7 MiB")] * 2 + [("30.5 MiB", "45.7 MiB")]


def test_people_listed_again_are_one_member_each_and_batches_stay_whole(tmp_path: Path) -> None:
    """Repeats in the middle of a segment: each person is one member, and a first sync still
    cuts the members into whole batches (they are cut by row number)."""
    emails = [f"person{i}@example.com" for i in range(3_000)]
    listed = [*emails[:1_000], *emails[::3], *emails[1_000:], *(e.upper() for e in emails[::7])]
    with duckdb.connect(str(tmp_path / "shop.duckdb")) as db:
        db.execute("CREATE TABLE people AS SELECT unnest(?) AS email", [listed])
    segment = Segment(sql="SELECT email FROM people", identifiers={"email": "email"})
    expected = {
        member_key(tuple(sha256_hex(e) if c == "email" else None for c in IDENTIFIER_COLUMNS))
        for e in emails
    }

    with spill.Spill.standalone() as scratch:
        source = DuckDBSource(tmp_path / "shop.duckdb")
        spilled = spill_segment(source, target_for(segment, META_SETTINGS), scratch)
        source.close()
        none = scratch.create_as("removes", f"SELECT * FROM {spilled.members.name} LIMIT 0")
        batches = list(Changes(spilled.members, none).batches("add", 1_000))

    assert spilled.rows == len(listed)
    assert [len(batch) for batch in batches] == [1_000] * 3
    sent = [tuple(row[c] for c in IDENTIFIER_COLUMNS) for b in batches for row in b.to_pylist()]
    keys = [member_key(values) for values in sent]
    assert len(keys) == len(expected) and set(keys) == expected
