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
import gc
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


#: One request in flight: this benchmark measures syncd's own time at zero latency, with the
#: stand-ins for the networks on the same two cores. Requests in flight would only have them
#: compete with syncd for those cores, and make their handling time overlap, so it could not
#: be taken out of the wall time (latency.py measures requests in flight, at real latency).
SEQUENTIAL = {"max_in_flight": 1}


def config_data(
    urls: dict[str, str], warehouse: dict[str, Any], segment: dict[str, Any], state: dict[str, Any]
) -> dict[str, Any]:
    """A config syncing `segment` (as "people") to the emulators at `urls`, one audience
    each; the guardrails let a benchmark's churn through whatever its size."""
    return {
        "warehouse": warehouse,
        "segments": {"people": segment},
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
                # This benchmark's emulator counts no quota (latency.py measures the quota):
                # syncd is told so, rather than pacing to the published 300 a minute.
                "requests_per_minute": 1_000_000,
            },
        },
        "audiences": [
            {"segment": "people", "destination": "meta", "audience_id": META_AUDIENCE},
            {"segment": "people", "destination": "google", "audience_id": GOOGLE_LIST},
        ],
        "guardrails": {"max_removal_fraction": 1.0},
        "state": state,
    }


def shop_config(urls: dict[str, str]) -> dict[str, Any]:
    """The benchmarks' config: the shop's emails to every audience, on a DuckDB state."""
    return config_data(
        urls,
        warehouse={"kind": "duckdb", "path": "shop.duckdb"},
        segment={
            "sql": "SELECT email, country FROM people",
            "identifiers": {"email": "email"},
            "country_column": "country",
        },
        state={"path": "state.duckdb"},
    )


def write_config(root: Path, urls: dict[str, str]) -> Path:
    import yaml

    config = shop_config(urls)
    for destination in config["destinations"].values():
        destination.update(SEQUENTIAL)
    path = root / "syncd.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# -- the emulators, each in a process of its own -------------------------------------------


def serve(kind: str) -> None:
    """Run one emulator until stdin closes; print its URL, then its counters on "stats"."""
    from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator
    from syncd.destinations.meta.sandbox import MetaGraphEmulator

    emulator = (
        MetaGraphEmulator([META_AUDIENCE], TOKEN)
        if kind == "meta"
        else DataManagerEmulator([GOOGLE_LIST], TOKEN)
    )
    handled: dict[str, float] = defaultdict(float)  # handler seconds by operation
    lock = threading.Lock()
    original = emulator.handle

    def timed(request: Any) -> Any:
        started = time.perf_counter()
        response = original(request)
        with lock:
            handled[response.operation] += time.perf_counter() - started
        # The members an emulator holds (10M at the largest size) are never part of a
        # cycle, but Python's cycle collector walked them all again and again: more than
        # half of the emulators' CPU (2M members: 19.6 of 34.9 CPU-seconds). Frozen out of
        # its view after each request, the stand-ins for the networks' servers take half
        # the CPU of the cores they share with syncd.
        gc.freeze()
        return response

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
                "handled": sum(handled.values()),
                "handled_changes": sum(handled[op] for op in ("add", "remove", "ingest")),
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
        self.process, self.url = serve_in_process([sys.executable, __file__, "--serve", kind])
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
            "handled_changes": now["handled_changes"] - self.last["handled_changes"],
            "requests": {k: v for k, v in requests.items() if v},
            "size": now["size"],
            "rss_mb": now["rss_mb"],
        }
        self.last = now
        return delta

    def close(self) -> None:
        stop_served(self.process)


def serve_in_process(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start an emulator process (`command`, which prints its URL as a JSON line, then
    answers `stats` lines on stdin): the process and its URL."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["url"]


def stop_served(process: subprocess.Popen[str]) -> None:
    """End an emulator process: closing its stdin asks it to stop; killed if it does not."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# -- one pass, in a process of its own -----------------------------------------------------


def stalls() -> dict[str, float]:
    """Seconds that some task on this machine waited for I/O and for a CPU, since boot
    (Linux pressure stall information; empty elsewhere), and the bytes this process read
    from and wrote to disk. A pass that is slow while its own CPU time is not shows up here:
    the cores or the disk were busy with something else."""
    counters: dict[str, float] = {}
    for resource_name in ("io", "cpu"):
        try:
            first = Path(f"/proc/pressure/{resource_name}").read_text().splitlines()[0]
        except OSError:
            continue
        total = dict(field.split("=") for field in first.split()[1:])["total"]
        counters[f"{resource_name} stall"] = int(total) / 1e6
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            name, value = line.split(": ")
            if name in ("read_bytes", "write_bytes"):
                counters[name] = int(value)
    except OSError:
        pass
    return counters


def run_pass(config_path: str, memory_limit: str) -> None:
    """One `sync --once`, timed by phase and audience; prints a JSON report for the parent.

    The audiences of the two networks run side by side (one worker per destination), so
    their phases overlap in time: each is timed on its own thread and reported per network.
    """
    from syncd.config import load_config
    from syncd.destinations.google.data_manager import DataManagerAudiences
    from syncd.destinations.meta.client import MetaCustomAudiences
    from syncd.in_flight import StagedAhead
    from syncd.pacing import Pacer
    from syncd.pipeline import PassOptions, sync_all
    from syncd.push import Pusher
    from syncd.read import per_pass
    from syncd.state import spill

    spill.MEMORY_LIMIT = memory_limit
    seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    current = threading.local()

    def add(phase: str, value: float, network: str | None = None) -> None:
        seconds[network or getattr(current, "network", "pass")][phase] += value

    def timed(
        phase: str, function: Callable[..., Any], network: str | None = None
    ) -> Callable[..., Any]:
        """`function`, its time added to `phase` of `network` (else the calling thread's:
        requests are sent on threads of the push's window, which belong to no audience)."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                add(phase, time.perf_counter() - started, network)

        return wrapper

    import syncd.pipeline as pipeline

    sync_one = pipeline._sync_one

    def labelled(target: Any, *args: Any) -> Any:
        current.network = target.network
        return timed("total", sync_one)(target, *args)

    def waited(pusher: Pusher, seconds_waited: float, error: Any) -> None:
        add("rate-limit and retry waits", seconds_waited)
        original_waited(pusher, seconds_waited, error)

    original_waited = Pusher._waited
    pipeline._sync_one = labelled  # type: ignore[assignment]
    per_pass.PassReads.get = timed("segment", per_pass.PassReads.get)  # type: ignore[method-assign]
    per_pass.spill_segments = timed("read", per_pass.spill_segments)  # type: ignore[assignment]
    pipeline.plan_audience = timed("diff", pipeline.plan_audience)  # type: ignore[assignment]
    Pusher.incremental = timed("push", Pusher.incremental)  # type: ignore[method-assign]
    Pusher.finish = timed("fold", Pusher.finish)  # type: ignore[method-assign]
    Pusher._waited = waited  # type: ignore[method-assign]
    # Waits for the quota and the network's pauses (Meta's usage headers, 429s).
    Pacer.acquire = timed("rate-limit and retry waits", Pacer.acquire)  # type: ignore[method-assign]
    Pacer.wait_for_resume = timed(  # type: ignore[method-assign]
        "rate-limit and retry waits", Pacer.wait_for_resume
    )
    # Staging runs a group of batches ahead on a thread of its own: what a push loses to it
    # is the time it waits for a group to be staged.
    StagedAhead.wait_for = timed("stage", StagedAhead.wait_for)  # type: ignore[method-assign]
    for network, client in (("meta", MetaCustomAudiences), ("google", DataManagerAudiences)):
        client.add = timed("requests", client.add, network)  # type: ignore[method-assign]
        client.remove = timed("requests", client.remove, network)  # type: ignore[method-assign]

    config = load_config(config_path, environ={"BENCH_TOKEN": TOKEN})
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    stalls_before = stalls()
    started = time.perf_counter()
    results = sync_all(config, PassOptions())
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "wall": wall,
        "stalls": {k: v - stalls_before[k] for k, v in stalls().items()},
        "cpu": (usage.ru_utime - cpu_before.ru_utime) + (usage.ru_stime - cpu_before.ru_stime),
        "rss_mb": usage.ru_maxrss / 1024,
        "seconds": {network: dict(phases) for network, phases in seconds.items()},
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


def own_time(report: dict[str, Any]) -> float:
    """syncd's own time: the critical-path estimate (`without_emulators`), but never less
    than syncd's CPU time spread over every core. The estimate alone credits syncd's work
    that overlaps the emulators' (staging runs beside the requests)."""
    return max(without_emulators(report), report["cpu"] / (os.cpu_count() or 1))


def without_emulators(report: dict[str, Any]) -> float:
    """The pass's wall time less the emulators' time on its critical path: the shared read,
    then the slower audience's own time once its emulator's handling time is taken out.
    An estimate: each audience waits for its emulator, and the two run side by side."""
    per = {k: v for k, v in report["seconds"].items() if k in ("meta", "google")}
    read = max((p.get("segment", 0.0) for p in per.values()), default=0.0)
    own = [
        p.get("total", 0.0) - p.get("segment", 0.0) - report["emulators"][k]["handled"]
        for k, p in per.items()
    ]
    return read + max(own, default=0.0)


def print_report(report: dict[str, Any]) -> None:
    per = {k: report["seconds"].get(k, {}) for k in ("meta", "google")}
    emulators = report["emulators"]
    emulator_cpu = sum(e["cpu"] for e in emulators.values())
    read = sum(p.get("read", 0.0) for p in per.values())
    print(
        f"\n== {report['label']}: {report['wall']:.1f}s wall, syncd peak RSS "
        f"{report['rss_mb']:.0f} MB; CPU: syncd {report['cpu']:.1f}s, emulators "
        f"{emulator_cpu:.1f}s"
    )
    machine = report["stalls"]
    if "io stall" in machine:
        print(
            f"  machine: some task waited {machine['io stall']:.1f}s for I/O and "
            f"{machine['cpu stall']:.1f}s for a CPU; syncd read "
            f"{machine.get('read_bytes', 0) / 2**20:.0f} MB from disk, wrote "
            f"{machine.get('write_bytes', 0) / 2**20:.0f} MB"
        )
    print(f"  read + identity, one scan for both networks      {read:7.1f}s")
    print("  per audience (the two run side by side)            meta   google")
    rows = (
        ("diff (fold, full outer join on member keys)", lambda p, k: p.get("diff", 0.0)),
        ("wait for the journal's staging (a group ahead)", lambda p, k: p.get("stage", 0.0)),
        ("requests: client + emulator", lambda p, k: p.get("requests", 0.0)),
        ("  of which the emulator's handler", lambda p, k: emulators[k]["handled_changes"]),
        (
            "  syncd's side (build, send, read the answer)",
            lambda p, k: p.get("requests", 0.0) - emulators[k]["handled_changes"],
        ),
        (
            "journal rows, batches out of the spill",
            lambda p, k: p.get("push", 0.0) - p.get("stage", 0.0) - p.get("requests", 0.0),
        ),
        ("fold the journal into members", lambda p, k: p.get("fold", 0.0)),
        ("rate-limit and retry waits", lambda p, k: p.get("rate-limit and retry waits", 0.0)),
        ("audience total (incl. waiting for the read)", lambda p, k: p.get("total", 0.0)),
    )
    for label, value in rows:
        meta, google = value(per["meta"], "meta"), value(per["google"], "google")
        print(f"    {label:46s} {meta:6.1f}s {google:6.1f}s")
    print(f"  wall less the emulators' handling time (estimate): {without_emulators(report):.1f}s")
    cores = os.cpu_count() or 1
    floor = report["cpu"] / cores
    print(f"  syncd's CPU time over {cores} cores (a floor for it):        {floor:.1f}s")
    print(f"  own time, the larger of the two:                        {own_time(report):.1f}s")
    print(
        f"  state file {report['state_mb']:.0f} MB; emulator RSS "
        + ", ".join(f"{k} {e['rss_mb']:.0f} MB" for k, e in emulators.items())
    )
    for audience in report["audiences"]:
        network = audience["network"]
        received = emulators[network]["requests"]
        names = {"add": "add", "remove": "remove"}
        if network == "google":
            names = {"add": "ingest", "remove": "remove"}
        sent = {
            op: sum(v for k, v in received.items() if k.split(":")[0] == name)
            for op, name in names.items()
        }
        minimum = {
            "add": math.ceil(audience["adds"] / LIMIT),
            "remove": math.ceil(audience["removes"] / LIMIT),
        }
        print(
            f"  {network:6s} {audience['status']:7s} rows {audience['rows']:,}, members "
            f"{audience['members']:,}, audience now {emulators[network]['size']:,}; adds "
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
    print("\n== scaling (both networks a pass; own: wall less emulator handling, >= CPU/cores)")
    print(
        f"{'members':>11}  {'first sync':>10}  {'own':>7}  {'RSS':>7}  {'1% churn':>9}  "
        f"{'own':>7}  {'RSS':>7}"
    )
    for members, first, churn in rows:
        print(
            f"{members:>11,}  {first['wall']:>9.1f}s  {own_time(first):>6.1f}s  "
            f"{first['rss_mb']:>4.0f} MB  {churn['wall']:>8.1f}s  "
            f"{own_time(churn):>6.1f}s  {churn['rss_mb']:>4.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000_000)
    parser.add_argument("--scaling", action="store_true", help="1M, 3M and 10M members")
    parser.add_argument("--memory-limit", default="256MB", help="DuckDB's memory limit")
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
