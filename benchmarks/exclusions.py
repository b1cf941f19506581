"""Suppressions benchmark: what leaving suppressed people out costs the read stage.

    python benchmarks/exclusions.py [--members 1000000] [--suppressed 10000]

Writes a DuckDB warehouse of `--members` people (an email each, a phone for one in four),
plus a phone-only row for half of the suppressed people that have a phone (the row the
linking round must catch), and a suppressions table of `--suppressed` of their emails. It
reads the segment for Meta and Google from one scan (`syncd.read.scan.spill_segments`), as
a pass does, once without and once with the suppressions, and prints each read's wall time,
the time of the exclusion step (`MemberBuilder._drop_excluded_members`, both networks), the
members kept and the members left out per network. Nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from syncd.config import load_config  # noqa: E402
from syncd.read.builder import MemberBuilder  # noqa: E402
from syncd.read.exclusions import Exclusions  # noqa: E402
from syncd.read.scan import Read, spill_segments  # noqa: E402
from syncd.sources import open_source  # noqa: E402
from syncd.state import Spill  # noqa: E402
from syncd.targets import resolve  # noqa: E402

_PHONE = "'+1415' || CAST(2000000 + i AS VARCHAR)"


def warehouse(path: Path, members: int, suppressed: int) -> None:
    """`people` and `opt_outs`; the suppressed are every (members // suppressed)-th person."""
    step = members // suppressed
    with duckdb.connect(str(path)) as db:
        db.execute(
            f"CREATE TABLE people AS SELECT 'shopper' || i || '@example.com' AS email, "
            f"CASE WHEN i % 4 = 0 THEN {_PHONE} END AS phone, 'US' AS country "
            f"FROM range({members}) t(i)"
        )
        # Half the suppressed with a phone have a second row with the phone alone.
        db.execute(
            f"INSERT INTO people SELECT NULL, {_PHONE}, 'US' FROM range({members}) t(i) "
            f"WHERE i % {step} = 0 AND i % 4 = 0 AND i % 8 = 0"
        )
        db.execute(
            "CREATE TABLE opt_outs AS SELECT 'shopper' || i || '@example.com' AS email "
            f"FROM range({members}) t(i) WHERE i % {step} = 0"
        )


def config(directory: Path, suppressing: bool) -> Any:
    data: dict[str, Any] = {
        "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
        "segments": {
            "people": {
                "sql": "select * from people",
                "identifiers": {"email": "email", "phone": "phone"},
                "country_column": "country",
            }
        },
        "destinations": {
            "meta": {"kind": "meta", "ad_account_id": "act_1", "access_token": "${TOKEN}"},
            "google": {
                "kind": "google_data_manager",
                "operating_account_id": "1234567890",
                "access_token": "${TOKEN}",
            },
        },
        "audiences": [
            {"segment": "people", "destination": "meta", "audience_id": "1"},
            {"segment": "people", "destination": "google", "audience_id": "2"},
        ],
        "state": {"path": "state.duckdb"},
    }
    if suppressing:
        data["suppressions"] = {"sql": "select * from opt_outs", "identifiers": {"email": "email"}}
    path = directory / "syncd.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path, environ={"TOKEN": "unused"})


def timed_exclusions(spent: list[float]) -> Callable[[], None]:
    """Time every `_drop_excluded_members` call into `spent`; returns the undo."""
    original = MemberBuilder._drop_excluded_members

    def timed(self: MemberBuilder) -> Any:
        started = time.perf_counter()
        try:
            return original(self)
        finally:
            spent.append(time.perf_counter() - started)

    MemberBuilder._drop_excluded_members = timed  # type: ignore[method-assign]
    return lambda: setattr(MemberBuilder, "_drop_excluded_members", original)


def measure(directory: Path, suppressing: bool) -> None:
    syncd = config(directory, suppressing)
    now = datetime.now(UTC)
    reads = [Read(resolve(syncd, audience, now)) for audience in syncd.audiences]
    spent: list[float] = []
    undo = timed_exclusions(spent)
    try:
        with Spill.standalone() as spill:
            started = time.perf_counter()
            segments = spill_segments(open_source(syncd.warehouse), reads, spill, Exclusions(spill))
            wall = time.perf_counter() - started
            kept = [segment.members.rows for segment in segments]
            left = [segment.left_out.total for segment in segments]  # type: ignore[union-attr]
    finally:
        undo()
    label = "with suppressions" if suppressing else "without        "
    print(
        f"{label}: read {wall:.2f} s, exclusion step {sum(spent):.2f} s "
        f"({', '.join(f'{s:.2f}' for s in spent) or '-'}), members kept {kept}, left out {left}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--suppressed", type=int, default=10_000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        warehouse(directory / "shop.duckdb", arguments.members, arguments.suppressed)
        for suppressing in (False, True, False, True):
            measure(directory, suppressing)


if __name__ == "__main__":
    main()
