"""Pushdown with erasures: the same 1% churn pass with 0 and with 10,000 erased digests.

    python benchmarks/pushdown_erasures.py [--members N] [--erased E]   # test extras (pgserver)

Starts a throwaway PostgreSQL server, fills `people` as `benchmarks/pushdown.py` does (N
people, default 1,000,000), keeps the state in the same database and syncs to both emulators
with `pushdown: true`: a first sync, then a 1% churn pass with no erasures, then E erased
email digests per network (default 10,000: 100 of them people the audiences hold, the rest
strangers, as `syncd forget` records them) and another 1% churn pass. Both measured passes
must push down (no local read); the second must remove the 100 erased people too. It prints
each pass's wall time, plan time per network, syncd's CPU, rows out of the database, and the
adds, removes and left-out count per network.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from pushdown import _PEOPLE, CHURN_EVERY, config, fill, measured_pass  # noqa: E402
from sync import Emulator  # noqa: E402

NETWORKS = ("meta", "google_data_manager")
HELD_ERASED = 100


#: Who leaves in each churn (i % CHURN_EVERY): other people each time, so both passes
#: remove as many as they add.
LEAVING = (0, 3)


def churn(uri: str, members: int, leaving: int, joined: int) -> None:
    """0.5% of the people leave (those with i % CHURN_EVERY == `leaving`), as many join
    from i = `joined` on (as `benchmarks/pushdown.py` churns)."""
    import psycopg

    new = _PEOPLE.format(start=joined, stop=joined + members // CHURN_EVERY)
    with psycopg.connect(uri, autocommit=True) as db:
        db.execute(f"DELETE FROM people WHERE i % {CHURN_EVERY} = {leaving}")
        db.execute(f"INSERT INTO people {new}")


def held_emails(count: int) -> list[str]:
    """Normalized emails of people `fill` made and no churn removes: i % 6 == 1 is
    example.com (i % 3 == 1, so no capital), i % 7 != 0 has no padding."""
    found = (i for i in range(1, 10**9, 6) if i % 7 and i % CHURN_EVERY not in LEAVING)
    return [f"shopper{next(found)}@example.com" for _ in range(count)]


def erase(uri: str, schema: str, count: int) -> None:
    """`count` erased emails per network, HELD_ERASED of them held, as sha256 digests."""
    import psycopg

    emails = held_emails(min(HELD_ERASED, count))
    emails += [f"stranger{i}@example.net" for i in range(count - len(emails))]
    digests = [hashlib.sha256(email.encode()).hexdigest() for email in emails]
    rows = [
        ("bench", network, "email", digest, False) for network in NETWORKS for digest in digests
    ]
    with (
        psycopg.connect(uri, autocommit=True) as db,
        db.cursor().copy(f"COPY {schema}.erasure_values FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def report(label: str, result: dict[str, Any]) -> None:
    plan = result["plan"]
    changes = "; ".join(
        f"{network} {adds:,}/{removes:,}/{left_out:,}"
        for network, (adds, removes, left_out) in sorted(result["left_out"].items())
    )
    print(
        f"{label:<24} {result['wall']:>6.1f}s {plan.get('meta', 0):>9.1f}s "
        f"{plan.get('google', 0):>11.1f}s {result['cpu']:>9.1f}s {result['rows']:>10,}  {changes}"
    )


def measured(syncd_config: Any) -> dict[str, Any]:
    """`measured_pass`, with each network's adds, removes and members left out."""
    from syncd import pipeline

    results: list[Any] = []
    sync_all = pipeline.sync_all

    def kept(*args: Any, **kwargs: Any) -> Any:
        results.extend(sync_all(*args, **kwargs))
        return results

    pipeline.sync_all = kept  # type: ignore[assignment]
    try:
        result = measured_pass(syncd_config)
    finally:
        pipeline.sync_all = sync_all  # type: ignore[assignment]
    result["left_out"] = {r.network: (r.adds, r.removes, r.suppressed) for r in results}
    if any("read locally" in note for note in result["notes"]):
        raise RuntimeError(f"a pass read locally: {result['notes']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--erased", type=int, default=10_000)
    args = parser.parse_args()
    from postgres_server import postgres_server

    print(f"load average {os.getloadavg()[0]:.2f} before; {os.cpu_count()} cores")
    started = time.perf_counter()
    with postgres_server() as server:
        fill(server.uri, args.members)
        emulators = {kind: Emulator(kind) for kind in ("meta", "google")}
        try:
            syncd_config = config(server.uri, "pushdown", {k: e.url for k, e in emulators.items()})
            print(f"first sync of {args.members:,} members ...", flush=True)
            measured(syncd_config)
            churn(server.uri, args.members, LEAVING[0], args.members)
            without = measured(syncd_config)
            erase(server.uri, "syncd_pushdown", args.erased)
            churn(server.uri, args.members, LEAVING[1], args.members * 2)
            erasing = measured(syncd_config)
        finally:
            for emulator in emulators.values():
                emulator.close()
    print(
        f"\n{'1% churn pass':<24} {'wall':>7} {'plan meta':>10} {'plan google':>12} "
        f"{'syncd CPU':>10} {'rows out':>10}  adds/removes/left out per network"
    )
    report("0 erased digests", without)
    report(f"{args.erased:,} erased digests", erasing)
    print(
        f"erasures/none: wall {erasing['wall'] / without['wall']:.2f}x, plan (meta) "
        f"{erasing['plan']['meta'] / without['plan']['meta']:.2f}x; notes: "
        f"{'; '.join(erasing['notes'])}"
    )
    print(
        f"\ntotal {time.perf_counter() - started:.0f}s; load average "
        f"{os.getloadavg()[0]:.2f} after (other processes may share these cores)"
    )


if __name__ == "__main__":
    main()
