"""The HTML report's P&L charts as a browser draws them: the page is rendered in headless
Chromium (Debian's `chromium`, which .ci/run installs), once with a probe script added to
a copy to read the laid-out geometry of every P&L shape from the DOM, and once as it is,
to a screenshot whose pixels must hold the treated and held-out colors.

The page itself has no script; only the test's copy gets the probe. The PNG is decoded
with zlib alone, so the test needs nothing beyond the browser.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from syncd.lift.estimate import GroupOutcomes, estimate
from syncd.lift.pnl import AudiencePnl, DailyGroup, PnlReport
from syncd.lift.pnl_html import HELD_OUT, TREATED, section
from syncd.spend.html import render

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=900,1300",
]
START = dt.date(2026, 3, 2)


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing under CI: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs this")
    return CHROMIUM


def audience(segment: str, network: str, treated: int, held: int, spend: float) -> AudiencePnl:
    """A line whose treated convert at treated/1000 and held out at held/1000 of 2,000
    people each, reached over five days."""
    daily = tuple(
        DailyGroup(START + dt.timedelta(days=day), held_out, 2000, rate * (day + 1) // 5 * 2)
        for day in range(5)
        for held_out, rate in ((False, treated), (True, held))
    )
    groups = {
        held_out: GroupOutcomes(2000, rate * 2, rate * 2 * 50.0, rate * 2 * 2500.0)
        for held_out, rate in ((False, treated), (True, held))
    }
    return AudiencePnl(
        segment, "meta", network, groups[False], groups[True], spend, "USD", True,
        estimate(groups[False], groups[True], spend), daily,
    )  # fmt: skip


def page() -> str:
    report = PnlReport(
        START,
        START + dt.timedelta(days=6),
        7,
        [audience("abandoned_carts", "meta", 130, 100, 500.0),
         audience("frequent_shoppers", "meta", 200, 200, 800.0)],
    )  # fmt: skip
    return render("syncd: spend per segment", [], {}, None, section(report))


def run(chromium: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    return subprocess.run(
        [str(chromium), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=True,
    )


#: Added to the test's copy only: every P&L chart's size and its shapes' laid-out boxes.
PROBE = """<script>
const charts = [...document.querySelectorAll('svg.pnl')].map(svg => {
  const box = svg.getBoundingClientRect();
  const shapes = [...svg.querySelectorAll('circle, polyline')].map(shape => {
    const b = shape.getBBox();
    return {kind: shape.tagName, x: b.x, y: b.y, width: b.width, height: b.height};
  });
  return {width: box.width, height: box.height, shapes};
});
const out = document.createElement('pre');
out.id = 'probe';
out.textContent = JSON.stringify(charts);
document.body.append(out);
</script>"""


def test_the_pnl_charts_are_laid_out_with_their_points_and_lines(
    chromium: Path, tmp_path: Path
) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(page().replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = run(chromium, tmp_path, "--dump-dom", probed.as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    charts = json.loads(found.group(1).replace("&quot;", '"'))
    # The lift chart, then one over time per segment.
    assert len(charts) == 3
    lifts, *over_time = charts
    circles = [s for s in lifts["shapes"] if s["kind"] == "circle"]
    assert len(circles) == 2
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 50
        for shape in chart["shapes"]:
            assert shape["x"] > 0 and shape["y"] > 0, shape  # drawn inside, not at the origin
            assert shape["x"] + shape["width"] <= chart["width"]
            assert shape["y"] + shape["height"] <= chart["height"]
    for chart in over_time:  # a rising line per group with a dot per day
        lines = [s for s in chart["shapes"] if s["kind"] == "polyline"]
        assert len(lines) == 2 and all(s["width"] > 100 and s["height"] > 0 for s in lines)
        assert sum(s["kind"] == "circle" for s in chart["shapes"]) == 10
    # The lifted audience's point lies right of the flat one's (zero lift).
    assert circles[0]["x"] > circles[1]["x"]


def test_the_screenshot_shows_both_groups_colors(chromium: Path, tmp_path: Path) -> None:
    plain = tmp_path / "report.html"
    plain.write_text(page(), encoding="utf-8")
    shot = tmp_path / "shot.png"
    run(chromium, tmp_path, f"--screenshot={shot}", plain.as_uri())
    width, height, pixels = decode_png(shot.read_bytes())
    assert (width, height) == (900, 1300)
    counts: dict[tuple[int, int, int], int] = {}
    for pixel in pixels:
        counts[pixel] = counts.get(pixel, 0) + 1
    white = counts.get((255, 255, 255), 0)
    assert white < width * height * 0.99, "the page is blank"
    for color in (TREATED, HELD_OUT):
        rgb = (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))
        assert counts.get(rgb, 0) > 100, f"no {color} drawn"


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    channels = 3 if color == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        unfilter(kind, line, previous, channels)
        pixels += zip(line[0::channels], line[1::channels], line[2::channels], strict=True)
        previous = line
    return width, height, pixels


def unfilter(kind: int, line: bytearray, above: bytearray, bpp: int) -> None:
    """Undo one scanline's PNG filter in place (None, Sub, Up, Average, Paeth)."""
    if kind == 0:
        return
    if kind == 2:
        line[:] = bytes((a + b) & 0xFF for a, b in zip(line, above, strict=True))
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up, corner = above[i], above[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        else:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + guess) & 0xFF
