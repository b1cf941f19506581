"""Sync benchmark: whole passes of `syncd sync` against the sandbox emulators, at scale.

    python benchmarks/sync.py [--members N] [--scaling] [--memory-limit 512MB]

Builds a DuckDB warehouse of N people (default 10,000,000; emails with mixed case, padding
and gmail dots, and 0.1% people listed twice) with SQL, starts the Meta and Google Data
Manager emulators, each in a process of its own, and runs, each in a fresh process:

1. the first sync of the segment to both networks (every member is an add);
2. an incremental sync after 1% churn: 0.5% of the people removed, 0.5% new ones added.

For each pass it prints the wall time and where it went (read + identity, diff, push), the
peak RSS of the syncd process, and the requests each network received against the minimum,
ceil(changes / 10,000) per operation. The push is split further into what syncd's own code
did (the journal, streaming batches out of the spill, building request bodies: the
client-side part of each request) and the emulators' time: each emulator reports the CPU
its process spent, which on a real network is the network's, not syncd's. Waits for rate
limits are counted apart (the emulators' budgets are not reached at these sizes, so they
are normally zero). `--scaling` runs both passes at 1M, 3M and 10M members and prints how
time and memory grow.

Every number comes from this run on this machine; other processes may share the cores, so
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

META_AUDIENCE = "23850000000000001"
GOOGLE_LIST = "9000001"
TOKEN = "benchmark-token"
LIMIT = 10_000
DUPLICATE_EVERY = 1_000  # one person in a thousand is listed twice (another spelling)
CHURN_EVERY = 200  # one person in 200 leaves, as many new ones join: 1% churn

_EMAIL = """
    CASE WHEN i % 7 = 0 THEN '  ' ELSE '' END
    || CASE WHEN i % 3 = 0 THEN 'Shopper.' ELSE 'shopper' END || CAST(i AS VARCHAR) || '@'
    || ['gmail.com', 'Example.com', 'yahoo.com', 'outlook.com', 'shop.example.org',
        'googlemail.com'][i % 6 + 1]
"""


# -- the warehouse -------------------------------------------------------------------------


def build_warehouse(path: Path, members: int, churned: bool) -> None:
    """`people`: one row per person (0.1% twice, in upper case), with DuckDB SQL only. With
    `churned`, one person in CHURN_EVERY is gone and as many new ones are there."""
    import duckdb

    kept = f"WHERE i % {CHURN_EVERY} <> 0" if churned else ""
    joined = f"UNION ALL SELECT i FROM range({members}, {members + members // CHURN_EVERY}) t(i)"
    with duckdb.connect(str(path)) as db:
        db.execute(
            f"""CREATE OR REPLACE TABLE people AS
            WITH ids AS (SELECT i FROM range({members}) t(i) {kept} {joined if churned else ""})
            SELECT {_EMAIL} AS email, 'US' AS country FROM ids
            UNION ALL
            SELECT upper({_EMAIL}) AS email, 'US' AS country FROM ids
            WHERE i % {DUPLICATE_EVERY} = 1"""
        )


def write_config(root: Path, urls: dict[str, str]) -> Path:
    import yaml

    config = {
        "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
        "segments": {
            "people": {
                "sql": "SELECT email, country FROM people",
                "identifiers": {"email": "email"},
                "country_column": "country",
            }
        },
        "destinations": {
            "meta": {
                "kind": "meta",
                "ad_account_id": "act_1000",
                "access_token": "${BENCH_TOKEN}",
                "endpoint": urls["meta"],
            },
            "google": {
                "kind": "google_data_manager",
                "operating_account_id": "1234567890",
                "access_token": "${BENCH_TOKEN}",
                "endpoint": urls["google"],
            },
        },
        "audiences": [
            {"segment": "people", "destination": "meta", "audience_id": META_AUDIENCE},
            {"segment": "people", "destination": "google", "audience_id": GOOGLE_LIST},
        ],
        "guardrails": {"max_removal_fraction": 1.0},
        "state": {"path": "state.duckdb"},
    }
    path = root / "syncd.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# -- the emulators, each in a process of its own -------------------------------------------


def serve(kind: str) -> None:
    """Run one emulator until stdin closes; print its URL, then its counters on "stats"."""
    from syncd.sandbox import DataManagerEmulator, MetaGraphEmulator

    emulator = (
        MetaGraphEmulator([META_AUDIENCE], TOKEN)
        if kind == "meta"
        else DataManagerEmulator([GOOGLE_LIST], TOKEN)
    )
    handled = {"seconds": 0.0}
    lock = threading.Lock()
    original = emulator.handle

    def timed(request: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(request)
        finally:
            with lock:
                handled["seconds"] += time.perf_counter() - started

    emulator.handle = timed  # type: ignore[method-assign]
    emulator.start()
    print(json.dumps({"url": emulator.base_url}), flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            requests = Counter(
                f"{r.operation}:{r.status}" for r in emulator.requests if r.operation
            )
            audience = META_AUDIENCE if kind == "meta" else GOOGLE_LIST
            with emulator._lock:  # size only: a copy of 10M members would cost seconds
                holder = emulator._audiences if kind == "meta" else emulator._lists  # type: ignore[attr-defined]
                size = len(holder[audience].members)
            stats = {
                "cpu": usage.ru_utime + usage.ru_stime,
                "handled": handled["seconds"],
                "requests": dict(requests),
                "size": size,
                "rss_mb": usage.ru_maxrss / 1024,
            }
            print(json.dumps(stats), flush=True)
    emulator.stop()


class Emulator:
    """An emulator process, and the counters it reported last."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = json.loads(self.process.stdout.readline())["url"]
        self.last = self.stats()

    def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def delta(self) -> dict[str, Any]:
        """Counters since the previous call: CPU, handler time, requests by operation."""
        now = self.stats()
        requests = Counter(now["requests"])
        requests.subtract(self.last["requests"])
        delta = {
            "cpu": now["cpu"] - self.last["cpu"],
            "handled": now["handled"] - self.last["handled"],
            "requests": {k: v for k, v in requests.items() if v},
            "size": now["size"],
            "rss_mb": now["rss_mb"],
        }
        self.last = now
        return delta

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# -- one pass, in a process of its own -----------------------------------------------------


def run_pass(config_path: str, memory_limit: str) -> None:
    """One `sync --once`, timed by phase; prints a JSON report (the parent parses it)."""
    from syncd.config import load_config
    from syncd.destinations.google.data_manager import DataManagerAudiences
    from syncd.destinations.meta.client import MetaCustomAudiences
    from syncd.pipeline import PassOptions, sync_all
    from syncd.push import Pusher
    from syncd.state import StateStore, spill

    spill.MEMORY_LIMIT = memory_limit
    seconds: dict[str, float] = defaultdict(float)

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - started

        return wrapper

    import syncd.pipeline as pipeline

    pipeline.spill_segments = timed("read", pipeline.spill_segments)  # type: ignore[assignment]
    pipeline.plan_audience = timed("diff", pipeline.plan_audience)  # type: ignore[assignment]
    Pusher.incremental = timed("push", Pusher.incremental)  # type: ignore[method-assign]
    Pusher.finish = timed("fold", Pusher.finish)  # type: ignore[method-assign]
    StateStore.stage = timed("stage", StateStore.stage)  # type: ignore[method-assign]
    StateStore.begin_staged_batch = timed("journal", StateStore.begin_staged_batch)  # type: ignore[method-assign]
    StateStore.acknowledge_batch = timed("journal", StateStore.acknowledge_batch)  # type: ignore[method-assign]
    StateStore.record_quarantine = timed("quarantine", StateStore.record_quarantine)  # type: ignore[method-assign]
    for client in (MetaCustomAudiences, DataManagerAudiences):
        client.add = timed("requests", client.add)  # type: ignore[method-assign]
        client.remove = timed("requests", client.remove)  # type: ignore[method-assign]
    DataManagerAudiences.settle = timed("settle", DataManagerAudiences.settle)  # type: ignore[method-assign]

    config = load_config(config_path, environ={"BENCH_TOKEN": TOKEN})
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    results = sync_all(config, PassOptions())
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "wall": wall,
        "cpu": (usage.ru_utime - cpu_before.ru_utime) + (usage.ru_stime - cpu_before.ru_stime),
        "rss_mb": usage.ru_maxrss / 1024,
        "seconds": dict(seconds),
        "audiences": [
            {
                "network": r.network,
                "status": r.status,
                "error": r.error,
                "rows": r.rows_read,
                "members": r.members,
                "adds": r.adds,
                "removes": r.removes,
                "requests": r.requests,
            }
            for r in results
        ],
    }
    print("REPORT " + json.dumps(report), flush=True)


def measured_pass(root: Path, config: Path, memory_limit: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--pass", str(config), "--memory-limit", memory_limit],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("REPORT "):
            return json.loads(line.removeprefix("REPORT "))
    raise RuntimeError(f"the pass failed:\n{completed.stderr[-4000:]}")


# -- the runs ------------------------------------------------------------------------------


def benchmark(members: int, memory_limit: str, quiet: bool = False) -> list[dict[str, Any]]:
    """A first sync and a 1%-churn incremental sync of `members` people; their reports."""
    root = Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    emulators: dict[str, Emulator] = {}
    try:
        started = time.perf_counter()
        build_warehouse(root / "shop.duckdb", members, churned=False)
        if not quiet:
            print(f"warehouse of {members:,} people built in {time.perf_counter() - started:.1f}s")
        emulators = {kind: Emulator(kind) for kind in ("meta", "google")}
        config = write_config(root, {k: e.url for k, e in emulators.items()})
        reports = []
        for label, churned in (("first sync", False), ("1% churn", True)):
            if churned:
                build_warehouse(root / "shop.duckdb", members, churned=True)
            report = measured_pass(root, config, memory_limit)
            report["label"] = label
            report["emulators"] = {k: e.delta() for k, e in emulators.items()}
            report["state_mb"] = (root / "state.duckdb").stat().st_size / 2**20
            reports.append(report)
            if not quiet:
                print_report(report)
        return reports
    finally:
        for emulator in emulators.values():
            emulator.close()
        shutil.rmtree(root, ignore_errors=True)


def print_report(report: dict[str, Any]) -> None:
    seconds = report["seconds"]
    emulators = report["emulators"]
    emulator_cpu = sum(e["cpu"] for e in emulators.values())
    requests = seconds.get("requests", 0.0)
    push = seconds.get("push", 0.0)
    other = report["wall"] - seconds.get("read", 0) - seconds.get("diff", 0) - push
    print(f"\n== {report['label']}: {report['wall']:.1f}s wall, peak RSS {report['rss_mb']:.0f} MB")
    print(f"  read + identity (both networks) {seconds.get('read', 0):7.1f}s")
    print(f"  diff (fold + anti-joins)        {seconds.get('diff', 0):7.1f}s")
    print(f"  push                            {push:7.1f}s")
    print(f"    stage journal (bulk)          {seconds.get('stage', 0):7.1f}s")
    print(f"    journal rows per batch        {seconds.get('journal', 0):7.1f}s")
    print(f"    requests (client + emulator)  {requests:7.1f}s")
    print(f"  fold journal into members       {seconds.get('fold', 0):7.1f}s")
    print(
        f"  settle + describe + records     {other - seconds.get('fold', 0):7.1f}s"
        f"  (Google status polls {seconds.get('settle', 0):.1f}s)"
    )
    print(
        f"  syncd process CPU {report['cpu']:.1f}s; emulator processes CPU {emulator_cpu:.1f}s"
        f" (handlers {sum(e['handled'] for e in emulators.values()):.1f}s)"
    )
    print(
        f"  wall without the emulators' CPU: {report['wall'] - min(emulator_cpu, requests):.1f}s"
        "  (their CPU overlaps syncd's requests, which wait for it)"
    )
    print(
        f"  state file {report['state_mb']:.0f} MB; emulator RSS "
        + ", ".join(f"{k} {e['rss_mb']:.0f} MB" for k, e in emulators.items())
    )
    for audience in report["audiences"]:
        network = audience["network"]
        kind = "meta" if network == "meta" else "google"
        received = emulators[kind]["requests"]
        sent = {
            op: sum(v for k, v in received.items() if k.startswith(f"{op}:"))
            for op in ("add", "remove")
        }
        if kind == "google":
            sent = {
                "add": sum(v for k, v in received.items() if k.startswith("ingest:")),
                "remove": sum(v for k, v in received.items() if k.startswith("remove:")),
            }
        minimum = {
            "add": math.ceil(audience["adds"] / LIMIT),
            "remove": math.ceil(audience["removes"] / LIMIT),
        }
        print(
            f"  {network:6s} {audience['status']:7s} rows {audience['rows']:,}, members "
            f"{audience['members']:,}, audience now {emulators[kind]['size']:,}; adds "
            f"{audience['adds']:,} in {sent['add']} requests (minimum {minimum['add']}), "
            f"removes {audience['removes']:,} in {sent['remove']} (minimum {minimum['remove']})"
            + (f"; {audience['error']}" if audience["error"] else "")
        )


def scaling(memory_limit: str) -> None:
    rows = []
    for members in (1_000_000, 3_000_000, 10_000_000):
        print(f"\nscaling: {members:,} members ...", flush=True)
        first, churn = benchmark(members, memory_limit, quiet=True)
        rows.append((members, first, churn))
        print_report(first)
        print_report(churn)
    print("\n== scaling (both networks per pass)")
    print(
        f"{'members':>11}  {'first sync':>10}  {'RSS':>7}  {'1% churn':>9}  {'RSS':>7}"
        "  first sync without emulator CPU"
    )
    for members, first, churn in rows:
        cpu = sum(e["cpu"] for e in first["emulators"].values())
        print(
            f"{members:>11,}  {first['wall']:>9.1f}s  {first['rss_mb']:>4.0f} MB  "
            f"{churn['wall']:>8.1f}s  {churn['rss_mb']:>4.0f} MB  "
            f"{first['wall'] - min(cpu, first['seconds'].get('requests', 0)):.1f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000_000)
    parser.add_argument("--scaling", action="store_true", help="1M, 3M and 10M members")
    parser.add_argument("--memory-limit", default="512MB", help="DuckDB's memory limit")
    parser.add_argument("--serve", choices=("meta", "google"), help=argparse.SUPPRESS)
    parser.add_argument("--pass", dest="pass_config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.pass_config:
        run_pass(args.pass_config, args.memory_limit)
        return
    print(f"load average {os.getloadavg()[0]:.2f} before; {os.cpu_count()} cores")
    started = time.perf_counter()
    if args.scaling:
        scaling(args.memory_limit)
    else:
        benchmark(args.members, args.memory_limit)
    print(
        f"\ntotal {time.perf_counter() - started:.0f}s; load average "
        f"{os.getloadavg()[0]:.2f} after (other processes may share these cores)"
    )


if __name__ == "__main__":
    main()
