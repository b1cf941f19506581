"""Pushdown benchmark: the same passes on a PostgreSQL warehouse, read locally and pushed down.

    python benchmarks/pushdown.py [--members N]      # needs the test extras (pgserver)

Starts a throwaway PostgreSQL server (as the tests do), fills `people` with N people
(default 1,000,000: emails with mixed case, padding and gmail dots; an E.164 phone for one in
three; 0.1% listed twice), keeps syncd's state in the same database, and syncs the segment to
both emulators (each in a process of its own, as in `benchmarks/sync.py`) twice per mode:

1. the first sync (every member is an add);
2. an incremental sync after 1% churn (0.5% of the people removed, 0.5% new ones added).

Each mode gets a fresh table, fresh state and fresh emulators; `local` reads every row and
normalizes, hashes and diffs on syncd's cores, `pushdown` runs that as SQL in PostgreSQL
(`warehouse.pushdown: true`, `trust_e164_phones: true`). For each pass it prints the wall
time, the plan time per network (read, identity and diff, or the pushdown queries), syncd's
own CPU, the rows and Arrow bytes that left the warehouse, and the adds and removes, which
must be equal in both modes. PostgreSQL's own CPU is not in syncd's: in pushdown it does the
hashing, on the other core.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from sync import TOKEN, Emulator, config_data  # noqa: E402

DUPLICATE_EVERY = 1_000
CHURN_EVERY = 200  # one person in 200 leaves, as many new ones join: 1% churn
MODES = ("local", "pushdown")

_PEOPLE = """
    SELECT i,
        CASE WHEN i % 7 = 0 THEN '  ' ELSE '' END
        || CASE WHEN i % 3 = 0 THEN 'Shopper.' ELSE 'shopper' END || i::text || '@'
        || (ARRAY['gmail.com', 'Example.com', 'yahoo.com', 'outlook.com', 'shop.example.org',
                  'googlemail.com'])[i % 6 + 1] AS email,
        CASE WHEN i % 3 = 0 THEN '+1201' || (2000000 + i % 7000000)::text END AS phone,
        'US' AS country
    FROM generate_series({start}, {stop} - 1) AS i
"""


def fill(uri: str, members: int) -> None:
    """`people`: one row per person, 0.1% twice (in upper case)."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS people")
        db.execute(f"CREATE TABLE people AS {_PEOPLE.format(start=0, stop=members)}")
        db.execute(
            "INSERT INTO people SELECT i, upper(email), phone, country FROM people "
            f"WHERE i % {DUPLICATE_EVERY} = 1"
        )
        db.execute("ANALYZE people")


def churn(uri: str, members: int) -> None:
    """0.5% of the people leave, as many new ones arrive."""
    import psycopg

    joined = _PEOPLE.format(start=members, stop=members + members // CHURN_EVERY)
    with psycopg.connect(uri, autocommit=True) as db:
        db.execute(f"DELETE FROM people WHERE i % {CHURN_EVERY} = 0")
        db.execute(f"INSERT INTO people {joined}")


def config(uri: str, mode: str, urls: dict[str, str]) -> Any:
    from syncd.config import load_config

    data = config_data(
        urls,
        warehouse={"kind": "postgres", "dsn": "${PG_DSN}", "pushdown": mode == "pushdown"},
        segment={
            "sql": "SELECT email, phone, country FROM people",
            "identifiers": {"email": "email", "phone": "phone"},
            "country_column": "country",
            "trust_e164_phones": True,
        },
        state={"kind": "postgres", "dsn": "${PG_DSN}", "schema": f"syncd_{mode}"},
    )
    import yaml

    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"syncd-pushdown-bench-{mode}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        return load_config(path, environ={"BENCH_TOKEN": TOKEN, "PG_DSN": uri})
    finally:
        path.unlink()


class Meter:
    """What a pass took: plan seconds per network and the rows and bytes the warehouse sent."""

    def __init__(self) -> None:
        from syncd import pipeline
        from syncd.sources.postgres import PostgresSource

        self.plan: dict[str, float] = defaultdict(float)
        self.rows = 0
        self.bytes = 0
        self._lock = threading.Lock()
        plan, read = pipeline._plan, PostgresSource.read

        def timed_plan(target: Any, *args: Any) -> Any:
            started = time.perf_counter()
            try:
                return plan(target, *args)
            finally:
                self.plan[target.network] += time.perf_counter() - started

        def counted_read(source: Any, sql: str, **options: Any) -> Iterator[Any]:
            for batch in read(source, sql, **options):
                with self._lock:
                    self.rows += batch.num_rows
                    self.bytes += batch.nbytes
                yield batch

        pipeline._plan = timed_plan  # type: ignore[assignment]
        PostgresSource.read = counted_read  # type: ignore[method-assign]
        self._restore: Callable[[], None] = lambda: (
            setattr(pipeline, "_plan", plan),
            setattr(PostgresSource, "read", read),
        )

    def close(self) -> None:
        self._restore()


def measured_pass(syncd_config: Any) -> dict[str, Any]:
    from syncd.pipeline import PassOptions, sync_all

    meter = Meter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    try:
        results = sync_all(syncd_config, PassOptions())
    finally:
        meter.close()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    for result in results:
        if result.status != "ok":
            raise RuntimeError(f"{result.network}: {result.status}: {result.error}")
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "plan": dict(meter.plan),
        "rows": meter.rows,
        "mb": meter.bytes / 2**20,
        "changes": {r.network: (r.adds, r.removes, r.requests) for r in results},
        "notes": sorted({note for r in results for note in r.notes}),
    }


def run_mode(uri: str, members: int, mode: str) -> list[dict[str, Any]]:
    fill(uri, members)
    emulators = {kind: Emulator(kind) for kind in ("meta", "google")}
    try:
        syncd_config = config(uri, mode, {k: e.url for k, e in emulators.items()})
        first = measured_pass(syncd_config)
        churn(uri, members)
        return [first, measured_pass(syncd_config)]
    finally:
        for emulator in emulators.values():
            emulator.close()


def print_table(reports: dict[str, list[dict[str, Any]]]) -> None:
    print(
        f"\n{'pass':<11} {'mode':<9} {'wall':>7} {'plan meta':>10} {'plan google':>12} "
        f"{'syncd CPU':>10} {'rows out':>11} {'MB out':>8}  adds/removes/requests (meta; google)"
    )
    for index, label in enumerate(("first sync", "1% churn")):
        for mode in MODES:
            r = reports[mode][index]
            changes = "; ".join(
                f"{a:,}/{d:,}/{n}" for a, d, n in (r["changes"][k] for k in ("meta", "google"))
            )
            print(
                f"{label:<11} {mode:<9} {r['wall']:>6.1f}s {r['plan'].get('meta', 0):>9.1f}s "
                f"{r['plan'].get('google', 0):>11.1f}s {r['cpu']:>9.1f}s {r['rows']:>11,} "
                f"{r['mb']:>8.1f}  {changes}"
            )
        local, pushed = reports["local"][index], reports["pushdown"][index]
        same = local["changes"] == pushed["changes"]
        print(
            f"{'':<11} pushdown/local: wall {pushed['wall'] / local['wall']:.2f}x, syncd CPU "
            f"{pushed['cpu'] / local['cpu']:.2f}x, rows out "
            f"{pushed['rows'] / max(local['rows'], 1):.4f}x; same changes: {same}"
        )
    for mode in MODES:
        notes = sorted({n for r in reports[mode] for n in r["notes"]})
        print(f"notes ({mode}): {'; '.join(notes) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()
    from postgres_server import postgres_server

    print(f"load average {os.getloadavg()[0]:.2f} before; {os.cpu_count()} cores")
    started = time.perf_counter()
    with postgres_server() as server:
        reports = {}
        for mode in MODES:
            print(f"{mode}: {args.members:,} members ...", flush=True)
            reports[mode] = run_mode(server.uri, args.members, mode)
    print_table(reports)
    print(
        f"\ntotal {time.perf_counter() - started:.0f}s; load average "
        f"{os.getloadavg()[0]:.2f} after (other processes may share these cores)"
    )


if __name__ == "__main__":
    main()
