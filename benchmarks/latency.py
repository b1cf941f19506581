"""Latency benchmark: a first sync when every request takes as long as on a real network.

    python benchmarks/latency.py [--members 500000] [--latency-ms 400] [--jitter-ms 0]
    python benchmarks/latency.py --quota [--members 600000] [--per-minute 30]
    python benchmarks/latency.py --meta-throttle [--members 300000] [--budget 20] [--window-s 60]

Real networks answer a 10,000-member batch in roughly 0.3-2 s, so a large sync is bounded by
requests x latency unless several requests are in flight. This runs the emulators, each in a
process of its own, with a per-request latency, and times two commands side by side on the
same warehouse (the people of benchmarks/sync.py, in DuckDB), each against fresh emulators:

1. `syncd sync --once`: the first sync of one segment to Meta and to Data Manager;
2. a naive per-row script: each row normalized and hashed in Python (hashlib), one 10,000-row
   batch posted after another with httpx (Meta's form with a JSON payload, Data Manager's
   JSON body), one request at a time, no status polls.

It prints both wall times (each the whole process, interpreter start included), their ratio,
the add/ingest and remove requests each network received against the minimum
(ceil(members / 10,000)), the status calls, the most requests any network had in flight at
once, and the requests refused for rate: Data Manager's 429 RESOURCE_EXHAUSTED and Meta's
throttling codes. The emulators enforce the published budgets: Data Manager's 300 requests a
minute per budget, Meta's custom_audience calls per hour.

`--quota` is the quota-bound case, scaled down so that it runs in minutes: Data Manager alone,
with a budget of `--per-minute` requests a minute instead of 300 (each window a real minute,
counted as Google counts them), and the quota-bound minimum, ceil(members / 10,000) ingests
at that rate, beside syncd's wall time.

`--meta-throttle` is Meta's throttling, scaled down: Meta alone, its custom_audience budget
`--budget` calls per sliding `--window-s` seconds (Meta's is calls per rolling hour), so that
a first sync drives the usage headers past 100% partway and gets throttling codes (80003).
Against fresh emulators, it runs syncd and the naive script (which, on a throttling code,
sleeps 1 s and sends the batch again) each twice: under the published budget (never
throttled: how long the work takes) and under the small one. It checks that the audience
holds exactly the segment (every member's EMAIL hash against the warehouse's, trimmed and
lowercased) and prints, for each, the time over the budget's recovery time:

    recovery = floor((calls - 1) / budget) x window: the least time the budget puts between
               the first and the last call it counts (the k-th call must wait for the
               (k - budget)-th to leave the window);
    over     = wall(small budget) - wall(published budget) - recovery

as a share of the wall time under the small budget (target <= 10%), beside the throttled
answers, the time from the first to the last counted call split into what the budget forced
and what the client waited with budget to spare, and the timeline of the requests.

Each command is the code next to this script (PYTHONPATH), so a copy of an older commit
measures that commit. Other processes may share the cores: the load average is printed.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from sync import (  # noqa: E402
    GOOGLE_LIST,
    LIMIT,
    META_AUDIENCE,
    TOKEN,
    build_warehouse,
    serve_in_process,
    shop_config,
    stop_served,
)

OPERATING_ACCOUNT = "1234567890"
GRAPH_VERSION = "v26.0"
#: What each network's emulator calls the requests that change an audience, and status polls.
ADDS = {"meta": "add", "google": "ingest"}
STATUS = "status"


# -- the emulators, each in a process of its own -------------------------------------------


def serve(
    kind: str,
    latency_ms: float,
    jitter_ms: float,
    per_minute: int,
    budget: int | None = None,
    window_s: float = 3600.0,
) -> None:
    """Run one emulator until stdin closes; print its URL, then its counters on "stats"
    ("stats WAREHOUSE" also checks Meta's audience against the warehouse). Meta's budget is
    `budget` calls per `window_s` seconds for each use case, or the published one."""
    from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator
    from syncd.destinations.google.sandbox.data_manager.quota import PER_DAY
    from syncd.destinations.meta.sandbox import MetaGraphEmulator
    from syncd.destinations.meta.sandbox.errors import THROTTLES

    emulator: Any = (
        MetaGraphEmulator([META_AUDIENCE], TOKEN, calls_per_window=budget, window_seconds=window_s)
        if kind == "meta"
        else DataManagerEmulator(
            [GOOGLE_LIST], TOKEN, requests_per_minute=per_minute, requests_per_day=PER_DAY
        )
    )
    emulator.set_latency(latency_ms / 1000, jitter_ms / 1000, seed=2026)
    throttle_codes = {code for code, _ in THROTTLES}
    throttled = Counter[str]()
    codes = Counter[str]()
    #: (when the emulator counted the request, on the shared monotonic clock; the
    #: throttling code that refused it, or 0): when a budget counts a call, after the latency.
    timeline: list[tuple[float, int]] = []
    lock = threading.Lock()
    original = emulator.handle

    def counted(request: Any) -> Any:
        now = time.monotonic()
        response = original(request)
        code = 429 if response.status == 429 else 0
        if kind == "meta" and response.status == 400:
            error = json.loads(response.body)["error"]["code"]
            code = error if error in throttle_codes else 0
        with lock:
            timeline.append((now, code))
            if code:
                throttled[response.operation] += 1
                codes[str(code)] += 1
        gc.freeze()  # why: benchmarks/sync.py's serve (the collector walks every member)
        return response

    emulator.handle = counted
    emulator.start()
    print(json.dumps({"url": emulator.base_url}), flush=True)
    for line in sys.stdin:
        command, _, warehouse = line.strip().partition(" ")
        if command == "stats":
            requests = Counter(r.operation for r in emulator.requests if r.status == 200)
            audience = META_AUDIENCE if kind == "meta" else GOOGLE_LIST
            with emulator._lock:  # size only: a copy of the members would cost seconds
                holder = emulator._audiences if kind == "meta" else emulator._lists
                size = len(holder[audience].members)
            with lock:
                refused, by_code, calls = dict(throttled), dict(codes), sorted(timeline)
            stats = {
                "requests": dict(requests),
                "peak": emulator.in_flight.peak,
                "throttled": refused,
                "codes": by_code,
                "timeline": calls,
                "size": size,
            }
            if warehouse and kind == "meta":
                stats["exact"] = _exact(emulator, warehouse)
            print(json.dumps(stats), flush=True)
    emulator.stop()


def _exact(emulator: Any, warehouse: str) -> dict[str, int]:
    """Meta's audience against the segment: every person's email, trimmed and lowercased
    (Meta's normalization), hashed; the audience's members, by their EMAIL hash."""
    import hashlib

    import duckdb

    with duckdb.connect(warehouse, read_only=True) as db:
        emails = db.execute("SELECT DISTINCT trim(lower(email)) FROM people").fetchall()
    expected = {hashlib.sha256(email.encode()).hexdigest() for (email,) in emails}
    with emulator._lock:
        members = list(emulator._audiences[META_AUDIENCE].members)
    held = {value for member in members for key, value in member if key == "EMAIL"}
    return {
        "expected": len(expected),
        "members": len(members),
        "missing": len(expected - held),
        "extra": len(held - expected),
    }


class Emulator:
    """An emulator process; `stats()` asks it for its counters. `budget` (calls, seconds)
    is Meta's budget per use case, instead of the published one."""

    def __init__(
        self, kind: str, args: argparse.Namespace, budget: tuple[int, float] | None = None
    ) -> None:
        self.kind = kind
        options: dict[str, Any] = {"--latency-ms": args.latency_ms, "--jitter-ms": args.jitter_ms}
        options["--per-minute"] = args.per_minute
        if budget is not None:
            options["--budget"], options["--window-s"] = budget
        flags = [str(part) for pair in options.items() for part in pair]
        self.process, self.url = serve_in_process(
            [sys.executable, __file__, "--serve", kind, *flags]
        )

    def stats(self, warehouse: Path | None = None) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"stats {warehouse or ''}".strip() + "\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def close(self) -> None:
        stop_served(self.process)


# -- the naive reference: per row, one request at a time ------------------------------------


def naive(warehouse: str, meta_url: str | None, google_url: str | None) -> None:
    """Hash every row in Python, then post one 10,000-row batch after another, Meta's first;
    a Meta batch refused with a throttling code is sent again after a fixed 1 s."""
    import hashlib

    import duckdb
    import httpx

    with duckdb.connect(warehouse, read_only=True) as db:
        rows = db.execute("SELECT email FROM people").fetchall()
    meta: dict[str, None] = {}  # insertion-ordered sets: one row per person and network
    google: dict[str, None] = {}
    for (email,) in rows:
        clean = email.strip().lower()
        meta[hashlib.sha256(clean.encode()).hexdigest()] = None
        local, _, domain = clean.partition("@")
        if domain in ("gmail.com", "googlemail.com"):
            local = local.split("+", 1)[0].replace(".", "")
        google[hashlib.sha256(f"{local}@{domain}".encode()).hexdigest()] = None
    with httpx.Client(timeout=120) as client:
        if meta_url is not None:
            hashes = list(meta)
            throttling = {4, 17, 32, 613, *range(80000, 80015)}
            for start in range(0, len(hashes), LIMIT):
                payload = {"schema": "EMAIL_SHA256", "data": hashes[start : start + LIMIT]}
                form = {"payload": json.dumps(payload), "access_token": TOKEN}
                while True:
                    answer = client.post(
                        f"{meta_url}/{GRAPH_VERSION}/{META_AUDIENCE}/users", data=form
                    )
                    if (
                        answer.status_code != 400
                        or answer.json()["error"]["code"] not in throttling
                    ):
                        break
                    time.sleep(1.0)
                answer.raise_for_status()
        if google_url is not None:
            hashes = list(google)
            for start in range(0, len(hashes), LIMIT):
                client.post(
                    f"{google_url}/v1/audienceMembers:ingest",
                    json=_ingest_body(hashes[start : start + LIMIT]),
                    headers={"Authorization": f"Bearer {TOKEN}"},
                ).raise_for_status()


def _ingest_body(hashes: list[str]) -> dict[str, Any]:
    granted = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
    return {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": OPERATING_ACCOUNT},
                "productDestinationId": GOOGLE_LIST,
            }
        ],
        "audienceMembers": [
            {"userData": {"userIdentifiers": [{"emailAddress": value}]}} for value in hashes
        ],
        "encoding": "HEX",
        "consent": granted,
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
    }


# -- the runs ------------------------------------------------------------------------------


def write_config(root: Path, urls: dict[str, str], per_minute: int) -> Path:
    """benchmarks/sync.py's config, with only the audiences of the networks in `urls`, and
    Data Manager's quota as the emulator counts it (syncd paces to it, as a user whose
    project has that quota would set it)."""
    import yaml

    data = shop_config({"meta": urls.get("meta", ""), "google": urls.get("google", "")})
    data["destinations"] = {k: v for k, v in data["destinations"].items() if k in urls}
    if "google" in data["destinations"]:
        data["destinations"]["google"]["requests_per_minute"] = per_minute
    data["audiences"] = [a for a in data["audiences"] if a["destination"] in urls]
    path = root / "syncd.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def timed_run(
    label: str,
    command: list[str],
    root: Path,
    networks: tuple[str, ...],
    args: argparse.Namespace,
    budget: tuple[int, float] | None = None,
) -> dict[str, Any]:
    """Run `command` against fresh emulators of `networks`; its wall time and their counters
    (with `budget`, Meta's; then Meta's audience is checked against the warehouse). `{meta}`,
    `{google}` and `{config}` in the command are filled in."""
    emulators = {kind: Emulator(kind, args, budget) for kind in networks}
    try:
        (root / "state.duckdb").unlink(missing_ok=True)
        urls = {kind: e.url for kind, e in emulators.items()}
        config = write_config(root, urls, args.per_minute)
        filled = [
            part.format(config=config, meta=urls.get("meta", "-"), google=urls.get("google", "-"))
            for part in command
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_TOKEN": TOKEN}
        started_at, started = time.time(), time.monotonic()
        completed = subprocess.run(filled, cwd=root, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        if completed.returncode != 0:
            raise RuntimeError(f"{label} failed:\n{completed.stdout[-2000:]}{completed.stderr}")
        checked = root / "shop.duckdb" if budget is not None else None
        stats = {kind: emulator.stats(checked) for kind, emulator in emulators.items()}
        return {
            "label": label,
            "wall": wall,
            "started_at": started_at,
            "started": started,
            "networks": stats,
            "output": completed.stdout + completed.stderr,
        }
    finally:
        for emulator in emulators.values():
            emulator.close()


SYNCD = [sys.executable, "-m", "syncd", "sync", "--once", "{config}"]
NAIVE = [sys.executable, __file__, "--naive", "shop.duckdb", "{meta}", "{google}"]


def row(run: dict[str, Any], networks: tuple[str, ...]) -> str:
    """One line of the table: wall time, then per network its change requests, status
    calls, most in flight and refusals for rate."""
    cells = [f"{run['label']:22s} {run['wall']:8.1f}s"]
    for kind in networks:
        stats = run["networks"][kind]
        requests = stats["requests"]
        throttled = sum(stats["throttled"].values())
        cells.append(
            f"{kind:6s} {requests.get(ADDS[kind], 0):4d} add {requests.get('remove', 0):2d} rm "
            f"{requests.get(STATUS, 0):4d} status {stats['peak']:3d} in flight "
            f"{throttled:3d} throttled"
        )
    return " | ".join(cells)


def check_minimum(run: dict[str, Any], networks: tuple[str, ...]) -> list[str]:
    """Where a run sent more (or fewer) change requests than ceil(members / 10,000)."""
    problems = []
    for kind in networks:
        stats = run["networks"][kind]
        minimum = math.ceil(stats["size"] / LIMIT)
        sent = stats["requests"].get(ADDS[kind], 0) + stats["requests"].get("remove", 0)
        if sent != minimum:
            problems.append(f"{run['label']} sent {sent} requests to {kind}, minimum {minimum}")
    return problems


def latency_benchmark(root: Path, args: argparse.Namespace) -> None:
    networks = ("meta", "google")
    runs = [
        timed_run("syncd sync --once", SYNCD, root, networks, args),
        timed_run("naive per-row script", NAIVE, root, networks, args),
    ]
    syncd, reference = runs
    sizes = ", ".join(f"{k} {syncd['networks'][k]['size']:,}" for k in networks)
    print(f"\n== first sync at {args.latency_ms:g} ms per request: wall time (audience {sizes})")
    for run in runs:
        print(row(run, networks))
    ratio = reference["wall"] / syncd["wall"]
    print(f"syncd is {ratio:.2f}x the naive script's speed (target >= 4x)")
    minimum = {k: math.ceil(syncd["networks"][k]["size"] / LIMIT) for k in networks}
    print(
        f"minimum change requests: {minimum}; "
        + (
            "; ".join(check_minimum(syncd, networks) + check_minimum(reference, networks))
            or "both sent exactly the minimum"
        )
    )


def quota_benchmark(root: Path, args: argparse.Namespace) -> None:
    networks = ("google",)
    run = timed_run("syncd sync --once", SYNCD, root, networks, args)
    stats = run["networks"]["google"]
    ingests = math.ceil(stats["size"] / LIMIT)
    steady = ingests / args.per_minute * 60
    phase = run["started_at"] % 60
    print(
        f"\n== Data Manager at {args.per_minute} requests a minute per budget, "
        f"{args.latency_ms:g} ms per request: wall time"
    )
    print(row(run, networks) + f" ({stats['throttled']})")
    print(
        f"quota-bound minimum at a steady {args.per_minute} a minute: {steady:.1f}s for {ingests} "
        f"ingests (status polls count in the IngestionRead budget, of the same size); syncd "
        f"took {run['wall'] / steady:.3f}x it (target <= 1.05x)"
    )
    print(
        f"syncd started {phase:.0f}s into a minute: the emulator counts synchronized minutes, "
        f"as Google Cloud does, so a run can end below the steady-rate bound"
    )
    print("; ".join(check_minimum(run, networks)) or "exactly the minimum ingest requests")


def waits(calls: list[float], budget: int, window: float) -> tuple[list[float], list[float]]:
    """Each gap between consecutive counted calls (sorted times), split in two: the part the
    budget forced (the k-th call cannot be counted before the (k - budget)-th has left the
    sliding window) and the part the client waited with budget to spare."""
    forced, spare = [], []
    for k in range(1, len(calls)):
        earliest = calls[k - 1]
        if k >= budget:
            earliest = max(earliest, calls[k - budget] + window)
        forced.append(earliest - calls[k - 1])
        spare.append(max(0.0, calls[k] - earliest))
    return forced, spare


def timeline(events: list[tuple[float, int]], started: float) -> str:
    """The requests a budget answered, in spells: seconds after the command started, how
    many it counted or refused (a spell: the same outcome, less than 2 s apart)."""
    spells: list[list[Any]] = []  # [first, last, refused, count]
    for when, code in events:
        at = when - started
        if spells and spells[-1][2] == bool(code) and at - spells[-1][1] < 2.0:
            spells[-1][1], spells[-1][3] = at, spells[-1][3] + 1
        else:
            spells.append([at, at, bool(code), 1])
    return "; ".join(
        (f"{first:.1f}" if last - first < 0.05 else f"{first:.1f}-{last:.1f}")
        + f" {count} {'throttled' if refused else 'counted'}"
        for first, last, refused, count in spells
    )


def throttle_rows(run: dict[str, Any], free: dict[str, Any], budget: int, window: float) -> str:
    """One client's lines under the small budget: wall times, the time over the budget's
    recovery time against the target, the throttled answers and where the time went."""
    meta = run["networks"]["meta"]
    calls = [when for when, code in meta["timeline"] if not code]
    refused = sum(1 for _, code in meta["timeline"] if code)
    recovery = (len(calls) - 1) // budget * window
    over = run["wall"] - free["wall"] - recovery
    share = over / run["wall"]
    allowed = 0.10 * run["wall"]
    verdict = "met" if over <= allowed else f"MISSED, {over:.1f}s over where 10% is {allowed:.1f}s"
    forced, spare = waits(calls, budget, window)
    longest = max(range(len(spare)), key=spare.__getitem__, default=None)
    where = ""
    if longest is not None:
        at = calls[longest + 1] - run["started"]
        where = f", longest {spare[longest]:.1f}s before the call at {at:.1f}s"
    codes = ", ".join(f"{code}: {n}" for code, n in sorted(meta["codes"].items())) or "none"
    return (
        f"{run['label']:18s} {run['wall']:6.1f}s ({free['wall']:.1f}s under the published "
        f"budget); recovery {recovery:.1f}s; over {over:5.1f}s = {share:.1%} of its time "
        f"(target <= 10%: {verdict})\n"
        f"    {len(calls)} calls counted, {refused} throttled answers ({codes}); first to last "
        f"counted call {calls[-1] - calls[0]:.1f}s = {sum(forced):.1f}s the budget forced + "
        f"{sum(spare):.1f}s waited with budget to spare{where}\n"
        f"    timeline (s after the command started): {timeline(meta['timeline'], run['started'])}"
    )


def exactness(run: dict[str, Any]) -> str:
    exact = run["networks"]["meta"]["exact"]
    verdict = "exact" if exact["missing"] == exact["extra"] == 0 else "NOT EXACT"
    if exact["members"] != exact["expected"]:
        verdict = "NOT EXACT"
    return (
        f"{run['label']}: audience {exact['members']:,} members for {exact['expected']:,} "
        f"people, {exact['missing']} missing, {exact['extra']} extra: {verdict}"
    )


def meta_throttle_benchmark(root: Path, args: argparse.Namespace) -> None:
    networks = ("meta",)
    small = (args.budget, args.window_s)
    runs = {}
    for label, command in (("syncd sync --once", SYNCD), ("naive, 1 s retry", NAIVE)):
        free = timed_run(label, command, root, networks, args)
        throttled = timed_run(label, command, root, networks, args, budget=small)
        runs[label] = (free, throttled)
    free, throttled = runs["syncd sync --once"]
    adds = throttled["networks"]["meta"]["requests"].get("add", 0)
    print(
        f"\n== Meta at {args.latency_ms:g} ms per request, custom_audience budget "
        f"{args.budget} calls per sliding {args.window_s:g}s (1 call = {100 / args.budget:g}% "
        f"usage), {adds} add requests"
    )
    print(
        "recovery = floor((calls counted - 1) / budget) x window: the least time the budget "
        "puts between the first and last call it counts; over = wall - wall under the "
        "published budget (same client, never throttled) - recovery: the time over the "
        "budget's recovery time, as a share of the wall time"
    )
    for free, throttled in runs.values():
        print(throttle_rows(throttled, free, args.budget, args.window_s))
    for _, throttled in runs.values():
        print(exactness(throttled))
    for free, throttled in runs.values():
        problems = check_minimum(free, networks) + check_minimum(throttled, networks)
        print("; ".join(problems) or f"{throttled['label']}: exactly the minimum add requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--members", type=int, help="people (500,000; --quota: 600,000; --meta-throttle: 300,000)"
    )
    parser.add_argument("--latency-ms", type=float, default=400.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--quota", action="store_true", help="the quota-bound case")
    parser.add_argument("--meta-throttle", action="store_true", help="Meta throttling, scaled")
    parser.add_argument(
        "--budget", type=int, default=20, help="--meta-throttle: custom_audience calls a window"
    )
    parser.add_argument(
        "--window-s", type=float, default=60.0, help="--meta-throttle: the window, in seconds"
    )
    parser.add_argument(
        "--per-minute",
        type=int,
        default=None,
        help="Data Manager's requests a minute per budget (300, as published; --quota: 30)",
    )
    parser.add_argument("--serve", choices=("meta", "google"), help=argparse.SUPPRESS)
    parser.add_argument("--naive", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.per_minute is None:
        args.per_minute = 30 if args.quota else 300
    if args.serve:
        small = "--budget" in sys.argv  # else Meta's published budget, per hour
        budget, window = (args.budget, args.window_s) if small else (None, 3600.0)
        serve(args.serve, args.latency_ms, args.jitter_ms, args.per_minute, budget, window)
        return
    if args.naive:
        warehouse, meta, google = args.naive
        naive(warehouse, None if meta == "-" else meta, None if google == "-" else google)
        return
    members = args.members or (
        600_000 if args.quota else 300_000 if args.meta_throttle else 500_000
    )
    print(f"load average {os.getloadavg()[0]:.2f} before; {os.cpu_count()} cores")
    root = Path(tempfile.mkdtemp(prefix="syncd-latency-"))
    try:
        started = time.perf_counter()
        build_warehouse(root / "shop.duckdb", members, churned=False)
        print(f"warehouse of {members:,} people built in {time.perf_counter() - started:.1f}s")
        if args.meta_throttle:
            meta_throttle_benchmark(root, args)
        else:
            (quota_benchmark if args.quota else latency_benchmark)(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
