"""Every benchmark, one after the other: the command the README gives.

    python benchmarks/all.py            # identity, sync at 1M/3M/10M, pushdown, latency: ~30 min
    python benchmarks/all.py --quick    # smaller sizes, a few minutes: to check they run

Each script prints its own numbers and ratios, measured side by side in its own run (see
benchmarks/README.md for what they mean and the targets). They run one at a time: each
needs both cores to itself, so nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL = (
    ["identity.py"],
    ["sync.py", "--scaling"],
    ["pushdown.py"],
    ["latency.py"],
    ["latency.py", "--quota"],
)
QUICK = (
    ["identity.py", "--rows", "200000"],
    ["sync.py", "--members", "1000000"],
    ["pushdown.py", "--members", "200000"],
    ["latency.py", "--members", "100000"],
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, to check they run")
    args = parser.parse_args()
    failed = []
    for script, *options in QUICK if args.quick else FULL:
        command = " ".join(["python", f"benchmarks/{script}", *options])
        print(f"\n######## {command}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / script), *options])
        print(f"######## {command}: exit {code}, {time.perf_counter() - started:.0f}s", flush=True)
        if code:
            failed.append(command)
    if failed:
        sys.exit(f"failed: {'; '.join(failed)}")


if __name__ == "__main__":
    main()
