"""`syncd demo` as a user runs it: a subprocess in an empty folder, no credentials."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_syncs_everything_then_sends_nothing(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "syncd",
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--visitors",
            "800",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    syncs, spend = out.split("\nSpend: ")
    first, second = syncs.split("Second pass: no segment changed.")
    for segment in ("non_buyers", "abandoned_carts", "wishlist_users", "first_time_buyers"):
        assert f"{segment}->meta" in first and f"{segment}->google" in first
    # Every audience of the first pass added members and sent requests; none of the second did.
    first_rows = [
        line.split() for line in first.splitlines() if re.match(r"^\w+->(meta|google) ", line)
    ]
    second_rows = [
        line.split() for line in second.splitlines() if re.match(r"^\w+->(meta|google) ", line)
    ]
    assert len(first_rows) == len(second_rows) == 12
    assert all(int(row[5].replace(",", "")) > 0 and row[-1] == "ok" for row in first_rows)
    assert all(row[5] == "0" and row[7] == "0" and row[-1] == "ok" for row in second_rows)
    assert "Second pass sent 0 requests." in out
    assert "Emulated audiences equal the synced segments: 12/12." in out
    assert (tmp_path / "demo" / "syncd.yaml").exists()

    # Then the loop closes: spend seeded in both emulators comes back per audience.
    written = re.search(r"Spend rows written: (.+)\.", spend)
    assert written, spend
    counts = {
        network: int(count.replace(",", ""))
        for count, network in (part.split() for part in written.group(1).split(", "))
    }
    assert set(counts) == {"meta", "google"} and min(counts.values()) > 0
    assert "error" not in spend
    report = spend.split("\nSpend from ", 1)[1]
    lines = [
        line.split() for line in report.splitlines() if re.match(r"^\w+ +(meta|google) ", line)
    ]
    assert {(line[0], line[1]) for line in lines} >= {
        ("abandoned_carts", "meta"),
        ("abandoned_carts", "google"),
        ("first_time_buyers", "meta"),
        ("non_buyers", "google"),
    }
    assert not [line for line in lines if line[0] == "recent_buyers"]  # an exclusion audience
    assert all(float(line[2].replace(",", "")) > 0 and line[3] == "USD" for line in lines)
    assert {line[8] for line in lines} <= {"CPC", "CPM", "CPC+CPM"}
    page = tmp_path / "demo" / "report.html"
    assert f"Report with charts: {page}" in spend
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") == 3 and "abandoned_carts" in html and "http" not in html
