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
    first, second = out.split("Second pass: no segment changed.")
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
