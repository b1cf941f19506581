"""Retention benchmark: what one daily prune (`syncd.state.retention.prune`) costs a pass.

    python benchmarks/retention.py [--journal 1000000] [--postgres]   # --postgres: pgserver

Builds a state a busy daemon could have after half a year: 200 audiences with 250 runs each
(50,000 runs over 180 days, 10 batches and 2 quarantine rows a run), and a batch journal of
`--journal` rows (`batch_members`) spread over 100 audiences, 4 of them not run for 60 days
(their journal is applied, as `removed_member_days` says) and the rest run today. Then it
times the first prune (which applies 2 of the 4 old journals, `AUDIENCES_PER_PRUNE`, and
deletes the quarantine of runs older than 30 days and the oldest expired runs, as many as
`BATCHES_PER_PRUNE` allows), a second one (the other 2 journals, runs and batches again),
a third (runs and batches only), and one with every period at a year, which finds nothing
to delete: what a day's prune costs once a state has caught up.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from syncd.config.retention import Retention  # noqa: E402
from syncd.state import StateStore  # noqa: E402
from syncd.state.backends import PostgresBackend  # noqa: E402
from syncd.state.retention import prune  # noqa: E402

AUDIENCES, RUNS_EACH, BATCHES_EACH = 200, 250, 10
JOURNALED, OLD_JOURNALS = 100, 4


def fill(state: StateStore, journal_rows: int) -> None:
    """Runs, batches, quarantine and journal rows, made in SQL (both dialects)."""
    execute, key = state.backend.execute, state.backend.member_key_type
    runs = AUDIENCES * RUNS_EACH
    # Run i belongs to audience i % 200 and started i // 200 * 0.72 days ago (the last of
    # each audience 179 days ago... the first today); audiences 0-3 last ran 60 days ago.
    age = "(CASE WHEN i % 200 < 4 THEN 60 ELSE 0 END + (i / 200) * 0.72) * INTERVAL '1 day'"
    execute(
        "INSERT INTO runs SELECT 'run' || CAST(i AS VARCHAR), 'seg' || CAST(i % 200 AS VARCHAR), "
        "'meta:act_1', CAST(i % 200 AS VARCHAR), 'bench', now() - "
        + age
        + ", now() - "
        + age
        + ", CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'ok' END, '{\"members\": 1}', NULL "
        f"FROM generate_series(0, {runs - 1}) t(i)"
    )
    execute(
        "INSERT INTO batches SELECT r.run_id || ':remove:' || CAST(b AS VARCHAR), r.run_id, "
        "'remove', b, 10000, 'acknowledged', 'req', r.started_at, r.started_at, NULL "
        f"FROM runs r, generate_series(1, {BATCHES_EACH}) s(b)"
    )
    execute(
        "INSERT INTO quarantine SELECT run_id, audience, q, 'email', 'invalid email', NULL "
        "FROM runs, generate_series(1, 2) s(q)"
    )
    # The journal: each journaled audience's rows in the last batch of its latest run.
    execute(
        "INSERT INTO batch_members (batch_id, destination, audience_id, member_key, email) "
        "SELECT 'run' || CAST(i % 100 AS VARCHAR) || ':remove:1', 'meta:act_1', "
        f"CAST(i % 100 AS VARCHAR), CAST(md5(CAST(i AS VARCHAR)) AS {key}), "
        f"md5('e' || CAST(i AS VARCHAR)) || md5(CAST(i AS VARCHAR)) "
        f"FROM generate_series(0, {journal_rows - 1}) t(i)"
    )


@contextlib.contextmanager
def open_store(postgres: bool) -> object:
    if not postgres:
        with (
            tempfile.TemporaryDirectory() as directory,
            StateStore.at(Path(directory) / "state.duckdb") as state,
        ):
            yield state
        return
    from postgres_server import postgres_server

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with postgres_server() as server, StateStore(PostgresBackend(server.uri, schema)) as state:
        yield state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journal", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with open_store(args.postgres) as state:
        fill(state, args.journal)
        count = state.backend.execute
        before = {t: count(f"SELECT count(*) FROM {t}")[0][0] for t in ("runs", "batches")}
        before["batch_members"] = count("SELECT count(*) FROM batch_members")[0][0]
        print(f"{'postgres' if args.postgres else 'duckdb'} state: {before}")
        nothing_due = Retention(removed_member_days=365, run_days=365, quarantine_days=365)
        for label, retention in (
            ("first prune", Retention()),
            ("second prune", Retention()),
            ("third prune", Retention()),
            ("nothing due", nothing_due),
        ):
            started = time.perf_counter()
            pruned = prune(state, retention, "bench", datetime.now(UTC))
            print(f"{label}: {time.perf_counter() - started:.2f} s  {pruned}")
        left = count("SELECT count(*) FROM batch_members")[0][0]
        print(f"batch_members left: {left:,}")


if __name__ == "__main__":
    main()
