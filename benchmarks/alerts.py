"""Alert delivery benchmark: does a pass wait on a webhook? (issue 26's target: with the
receiver down or slow, pass duration changes by less than 1%.)

    python benchmarks/alerts.py [--people N] [--passes P]

Builds a DuckDB warehouse of N people (default 50,000), starts the Data Manager emulator
and a webhook receiver on 127.0.0.1, and runs the same series of passes of one Google
audience in four modes, each on a fresh state:

- none: no webhook (alerts are only recorded in the state);
- up: the receiver answers at once;
- down: nothing listens at the webhook's port (connection refused, retried with backoff);
- slow: the receiver holds each request 5 s before it answers.

Every pass after the first churns 2% of the segment and flips the emulator's match rate
between 60% and 20%, so each one opens or resolves a match-rate alert and queues one
message. It prints the median pass time of each mode and its ratio to `none` and to `up`,
the median share of each pass spent judging alerts and queuing messages (timed around
`syncd.pipeline.after_pass`: what alerts add to a pass, whatever the receiver does), and
the load average before and after: other processes may share the cores, and their noise
is larger than 1% of a pass.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.webhooks import Receiver, closed_url  # noqa: E402

import syncd.pipeline  # noqa: E402
from syncd.alerts.delivery import COURIER  # noqa: E402
from syncd.config import load_config  # noqa: E402
from syncd.destinations.google.sandbox.data_manager import DataManagerEmulator  # noqa: E402
from syncd.pipeline import PassOptions, sync_all  # noqa: E402

#: Seconds each pass spent judging its alerts and queuing their messages (the part of a
#: pass alerts add), timed around `syncd.pipeline.after_pass`.
JUDGED: list[float] = []
_after_pass = syncd.pipeline.after_pass


def _timed_after_pass(*args: object) -> None:
    started = time.perf_counter()
    _after_pass(*args)  # type: ignore[arg-type]
    JUDGED.append(time.perf_counter() - started)


syncd.pipeline.after_pass = _timed_after_pass  # type: ignore[assignment]

GOOGLE_LIST = "9000001"
TOKEN = "benchmark-token"
CHURN = 50  # one person in 50 is swapped each pass


def write_people(path: Path, people: int, shift: int) -> None:
    """`people` rows, the 2% of them chosen by `shift` replaced by new people."""
    fresh = path.with_suffix(".new")
    fresh.unlink(missing_ok=True)
    with duckdb.connect(str(fresh)) as db:
        db.execute(
            "CREATE TABLE people AS SELECT CASE WHEN i % ? = ? THEN 'new' || ? || '_' ELSE '' "
            "END || 'person' || i || '@example.com' AS email FROM range(?) AS t(i)",
            [CHURN, shift % CHURN, shift, people],
        )
    os.replace(fresh, path)


def config_file(root: Path, endpoint: str, webhook: str | None) -> Path:
    data = {
        "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
        "segments": {"people": {"sql": "select * from people", "identifiers": {"email": "email"}}},
        "destinations": {
            "google": {
                "kind": "google_data_manager",
                "operating_account_id": "1234567890",
                "access_token": "${TOKEN}",
                "endpoint": endpoint,
                "requests_per_minute": 60_000,
            }
        },
        "audiences": [{"segment": "people", "destination": "google", "audience_id": GOOGLE_LIST}],
        "state": {"path": "state.duckdb"},
        "alerts": {"webhooks": [{"url": webhook}] if webhook else []},
    }
    path = root / "syncd.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run_mode(
    mode: str, webhook: str | None, people: int, passes: int, emulator: DataManagerEmulator
) -> tuple[list[float], list[float]]:
    """Pass times of one mode and the alert part of each (the first pass, the initial
    upload, is not counted)."""
    with tempfile.TemporaryDirectory(prefix=f"alerts-{mode}-") as directory:
        root = Path(directory)
        config = load_config(
            config_file(root, emulator.base_url, webhook), environ={"TOKEN": TOKEN}
        )
        emulator.remove_members(GOOGLE_LIST, emulator.members(GOOGLE_LIST))
        times, judged = [], []
        for number in range(passes + 1):
            write_people(root / "shop.duckdb", people, number)
            emulator.match_rate_percentage = 60 if number % 2 == 0 else 20
            started = time.perf_counter()
            [result] = sync_all(config, PassOptions())
            elapsed = time.perf_counter() - started
            assert result.status == "ok", result.error
            if number:
                times.append(elapsed)
                judged.append(JUDGED[-1])
        COURIER.stop(0.0)  # a slow receiver's request is left to finish on its own
        return times, judged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--passes", type=int, default=6)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    emulator = DataManagerEmulator([GOOGLE_LIST], TOKEN)
    emulator.start()
    medians, alert_parts = {}, {}
    try:
        with Receiver() as fast, Receiver() as slow:
            slow.delay = 5.0
            modes = {"none": None, "up": fast.url, "down": closed_url(), "slow": slow.url}
            for mode, webhook in modes.items():
                times, judged = run_mode(mode, webhook, args.people, args.passes, emulator)
                medians[mode] = statistics.median(times)
                alert_parts[mode] = statistics.median(
                    part / total for part, total in zip(judged, times, strict=True)
                )
                print(f"{mode:5} passes: {', '.join(f'{t:.3f}' for t in times)} s")
            print(f"messages: up received {len(fast.received())}, slow {len(slow.received())}")
    finally:
        emulator.stop()
    print(f"\n{'mode':5}  {'median s':>9}  {'/ none':>7}  {'/ up':>7}  {'alerts part':>11}")
    for mode, median in medians.items():
        print(
            f"{mode:5}  {median:9.3f}  {median / medians['none']:7.3f}  "
            f"{median / medians['up']:7.3f}  {alert_parts[mode]:11.2%}"
        )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
