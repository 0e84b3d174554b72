"""The HTML report rendered by a real headless Chromium: the chart's bars and the tables are drawn."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.history.report_html import CHART_COLOR, HEADER_COLOR
from tests.history.helpers import backdate, write_tenant
from tests.history.pngread import read_png

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless browser check skipped: chromium is not "
                                "installed (apt-get install chromium; .ci/run installs it when root)")
runner = CliRunner()


def rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def xs_of(row: bytearray, color: tuple[int, int, int]) -> list[int]:
    """x of every pixel of exactly ``color`` (flat SVG and CSS fills are drawn exactly)."""
    needle, out, i = bytes(color), [], row.find(bytes(color))
    while i >= 0:
        if i % 3 == 0:
            out.append(i // 3)
        i = row.find(needle, i + 1)
    return out


def screenshot(html: Path, out: Path, width: int, height: int, profile: Path) -> Path:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--hide-scrollbars", f"--window-size={width},{height}",
           f"--screenshot={out}", html.as_uri()]
    r = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert out.exists(), r.stderr.decode(errors="replace")[-2000:]
    return out


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    db = tmp / "r.db"
    for i, (days, keep) in enumerate([(2, ["lena", "sales", "priya", "grace", "diego"]),
                                      (1, ["lena", "sales", "diego"]), (0, ["lena", "priya", "tomasz", "hannah"])]):
        r = runner.invoke(app, ["scan", "--tenant", str(write_tenant(tmp / f"n{i}.json", keep)), "--db", str(db),
                                "-q", "-f", "json"])
        assert r.exit_code == 0
        import sqlite3

        rid = sqlite3.connect(db).execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()[0]
        backdate(db, rid, days)
    out = tmp / "report.html"
    assert runner.invoke(app, ["report", "--db", str(db), "-f", "html", "-o", str(out)]).exit_code == 0
    return out


def bar_columns(rows: list[bytearray], width: int, color: tuple[int, int, int]) -> tuple[int, list[int]]:
    """(pixels of the chart colour, x-runs of that colour on the row crossing the most bars)."""
    total, best = 0, []
    for row in rows:
        xs = xs_of(row, color)
        total += len(xs)
        runs = []
        for x in xs:
            if runs and x == runs[-1][1] + 1:
                runs[-1][1] = x
            else:
                runs.append([x, x])
        if len(runs) > len(best):
            best = runs
    return total, [b - a + 1 for a, b in best]


@pytest.mark.parametrize("width,height", [(1100, 1200), (390, 1500)], ids=["desktop", "phone"])
def test_chart_and_tables_are_drawn(report_html: Path, tmp_path: Path, width: int, height: int):
    png = screenshot(report_html, tmp_path / "shot.png", width, height, tmp_path / "profile")
    w, h, rows = read_png(png)
    assert w == width
    chart_px, bars = bar_columns(rows, w, rgb(CHART_COLOR))
    assert len(bars) == 3, f"expected the 3 trend bars side by side, got runs of widths {bars}"
    assert chart_px > 1500, "trend chart bars not drawn"
    header_px = sum(len(xs_of(row, rgb(HEADER_COLOR))) for row in rows)
    assert header_px > 20 * (w // 2), "table header rows not drawn"
    background = sum(len(xs_of(row, (255, 255, 255))) for row in rows)
    assert background < 0.97 * w * h, "page is blank"
