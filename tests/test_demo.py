"""`syncd demo` and `syncd sandbox` as a user runs them: subprocesses in an empty folder, no
credentials. The demo runs at its defaults (20,000 visitors, order seed 7), so the P&L it is
checked on is the one a user sees."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from syncd.demo.config import demo_yaml
from syncd.demo.lifts import TRUE_LIFTS
from syncd.demo.shop import build_shop
from syncd.destinations.registry import NETWORKS

#: The networks of the demo's config, by their names in results.
DEMO_NETWORKS = ("meta", "google", "tiktok")
ROW = re.compile(rf"^\w+->({'|'.join(DEMO_NETWORKS)}) ")


def test_demo_syncs_everything_then_sends_nothing(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "syncd", "demo", "--dir", str(tmp_path / "demo")],
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
    # Every registered kind's emulator serves the demo, each on its own address.
    sandbox_line = next(line for line in out.splitlines() if line.startswith("Sandbox: "))
    assert sandbox_line.count("127.0.0.1:") == sum(1 for n in NETWORKS if n.emulator)
    for segment in ("non_buyers", "abandoned_carts", "wishlist_users", "first_time_buyers"):
        assert all(f"{segment}->{network}" in first for network in DEMO_NETWORKS)
    # Every audience of the first pass added members and sent requests; none of the second did.
    first_rows = [line.split() for line in first.splitlines() if ROW.match(line)]
    second_rows = [line.split() for line in second.splitlines() if ROW.match(line)]
    assert len(first_rows) == len(second_rows) == 18
    assert all(int(row[5].replace(",", "")) > 0 and row[-1] == "ok" for row in first_rows)
    assert all(row[5] == "0" and row[7] == "0" and row[-1] == "ok" for row in second_rows)
    assert "Second pass sent 0 requests." in out
    assert "Emulated audiences equal the synced segments: 18/18." in out
    # Then one person in several segments opts out, and every emulator lets them go.
    opted_out = re.search(
        r"^opt-out: 1 person suppressed, removed from (\d+) audiences on (\d+) networks", out, re.M
    )
    assert opted_out and int(opted_out[1]) >= 6 and opted_out[2] == "3", out
    assert (tmp_path / "demo" / "syncd.yaml").exists()

    # Then the loop closes: spend seeded in the emulators comes back per audience.
    counts = written_rows(spend)
    assert counts["meta"] > 0 and counts["google"] > 0 and set(counts) <= set(DEMO_NETWORKS)
    assert "error" not in spend
    report, pnl = spend.split("\nSpend from ", 1)[1].split("\nAudience P&L from ", 1)
    network = rf"^\w+ +({'|'.join(DEMO_NETWORKS)}) "
    lines = [line.split() for line in report.splitlines() if re.match(network, line)]
    assert {(line[0], line[1]) for line in lines} >= {
        ("abandoned_carts", "meta"),
        ("abandoned_carts", "google"),
        ("non_buyers", "meta"),
        ("first_time_buyers", "google"),
    }
    assert not [line for line in lines if line[0] == "recent_buyers"]  # an exclusion audience
    assert all(float(line[2].replace(",", "")) > 0 and line[3] == "USD" for line in lines)
    assert {line[8] for line in lines} <= {"CPC", "CPM", "CPC+CPM"}
    page = tmp_path / "demo" / "report.html"
    assert f"Report with charts: {page}" in spend
    html = page.read_text(encoding="utf-8")
    assert "http" not in html and "abandoned_carts" in html
    # The spend's three charts, then the P&L's: the lifts, and one over time per segment.
    assert html.count("<svg") == 3 + 1 + len(TRUE_LIFTS)
    assert "abandoned_carts pays for itself" in html
    check_pnl_recovers_the_true_lifts(pnl)
    # It ends with `syncd status`: every audience held, its last pass ok, no state busy.
    screen = out.rsplit("\n$ syncd status ", 1)[1]
    assert "18 audiences" in screen and "spend pulled" in screen
    rows = [line.split() for line in screen.splitlines() if ROW.match(line)]
    assert len(rows) == 18 and all("ok" in row for row in rows)


#: A P&L row: segment, networks (a segment's holdout is one line for all its audiences),
#: treated, held out, two rates, then the conversions' interval.
PNL_ROW = re.compile(
    rf"^(\w+) +({re.escape(', '.join(DEMO_NETWORKS))}) +([\d,]+) +([\d,]+) +\S+ +\S+ +"
    r"(-?[\d,.]+) \[(-?[\d,.]+), (-?[\d,.]+)\] .*  (\S.*)$"
)
TRUTH = re.compile(r"^  (\w+): true ([+-]\d+)%, i\.e\. ([+-][\d,.]+) conversions among ([\d,]+)")


def number(text: str) -> float:
    return float(text.replace(",", ""))


def check_pnl_recovers_the_true_lifts(pnl: str) -> None:
    """The P&L table has one line per segment with a holdout, for all its networks at
    once (they target the same treated people); the note beneath gives
    each segment's true lift, as the demo's table says; every row's 95% interval holds the
    true incremental conversions, and the segment with no lift is not called significant."""
    table, note = pnl.split("\nEstimates beside the true lifts", 1)
    rows = [m.groups() for line in table.splitlines() if (m := PNL_ROW.match(line))]
    assert sorted(row[0] for row in rows) == sorted(TRUE_LIFTS)
    assert {row[1] for row in rows} == {", ".join(DEMO_NETWORKS)}
    truths = {m[1]: m.groups() for line in note.splitlines() if (m := TRUTH.match(line))}
    assert set(truths) == set(TRUE_LIFTS)
    for segment, network, treated, _, value, low, high, verdict in rows:
        _, lift, expected, treated_in_note = truths[segment]
        assert int(lift) == round(TRUE_LIFTS[segment].lift * 100)
        assert treated == treated_in_note
        assert number(low) <= number(expected) <= number(high), (segment, network)
        assert number(low) <= number(value) <= number(high)
        if TRUE_LIFTS[segment].lift == 0:
            assert number(expected) == 0 and not verdict.startswith("adds conversions")
            assert verdict.startswith("no detectable lift"), verdict
        else:
            assert number(expected) > 0
    assert "misses the truth" not in note
    assert note.count("the interval covers the truth") == len(TRUE_LIFTS)


def written_rows(spend: str) -> dict[str, int]:
    """`Spend rows written: 70 meta, 182 google.` -> rows by network."""
    written = re.search(r"Spend rows written: (.+)\.", spend)
    assert written, spend
    return {
        network: int(count.replace(",", ""))
        for count, network in (part.split() for part in written.group(1).split(", "))
    }


def test_syncd_sandbox_serves_a_config_and_prints_what_another_shell_exports(
    tmp_path: Path,
) -> None:
    """`syncd sandbox --config` in one process; `syncd sync` and `syncd spend` in others,
    with only what it said to export: the endpoints, and the CA gRPC must trust."""
    build_shop(tmp_path / "shop.duckdb", visitors=300)
    config = tmp_path / "syncd.yaml"
    config.write_text(demo_yaml("shop.duckdb"), encoding="utf-8")
    syncd = [sys.executable, "-m", "syncd"]
    with subprocess.Popen(
        [*syncd, "sandbox", "--config", str(config), "--port-base", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    ) as process:
        assert process.stdout is not None
        try:
            said = []
            while (line := process.stdout.readline()) and not line.startswith("Serving until"):
                said.append(line.strip())
            exports = [line.removeprefix("export ") for line in said if "export " in line]
            environ = dict(export.split("=", 1) for export in exports) | {"PATH": "/usr/bin:/bin"}
            synced = subprocess.run(
                [*syncd, "sync", "--once", str(config)],
                capture_output=True, text=True, env=environ, timeout=120,
            )  # fmt: skip
            assert synced.returncode == 0, synced.stdout + synced.stderr
            pulled = subprocess.run(
                [*syncd, "spend", str(config)],
                capture_output=True, text=True, env=environ, timeout=120,
            )  # fmt: skip
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert process.returncode == 0
    assert "Spend from " in "\n".join(said)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    counts = written_rows(pulled.stdout)
    assert counts["meta"] > 0 and counts["google"] > 0
