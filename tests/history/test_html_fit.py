"""The HTML report (and scan --format html) show every column on a desktop window: nothing clipped behind a
scroll bar. Measured by the browser itself (headless Chromium lays the page out; a probe script reports where
each table's last column ends and whether its box scrolls)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.conftest import SAMPLE_LDIF, SAMPLE_TENANT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs headless chromium (.ci/run installs it when root)")

PROBE = """<script>
addEventListener('load', () => {
  const out = [...document.querySelectorAll('table')].map(t => {
    const box = t.closest('.scroll') || document.documentElement;
    const row = t.querySelector('thead tr') || t.querySelector('tr');
    return {last: row.lastElementChild.getBoundingClientRect().right,
            visible: Math.min(box.getBoundingClientRect().right, document.documentElement.clientWidth),
            scrolls: box.scrollWidth > box.clientWidth + 1};
  });
  document.body.setAttribute('data-probe', JSON.stringify(out));
});
</script>"""


def layout(html: Path, width: int, tmp: Path) -> list[dict]:
    probed = tmp / f"probe-{html.name}"
    probed.write_text(html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        f"--user-data-dir={tmp / 'profile'}", f"--window-size={width},1200", "--dump-dom",
                        probed.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'data-probe="([^"]*)"', r.stdout)
    assert m, r.stderr[-2000:]
    return json.loads(m[1].replace("&quot;", '"'))


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("html")
    db = str(d / "r.db")
    runner = CliRunner()
    assert runner.invoke(app, ["scan", "--tenant", str(SAMPLE_TENANT), "--onprem", str(SAMPLE_LDIF), "--db", db, "-q",
                               "-f", "html", "-o", str(d / "scan.html")]).exit_code == 0
    assert runner.invoke(app, ["report", "--db", db, "-f", "html", "-o", str(d / "report.html"), "-q"]).exit_code == 0
    return {"report": d / "report.html", "scan": d / "scan.html"}


@pytest.mark.parametrize("page", ["report", "scan"])
@pytest.mark.parametrize("width", [1100, 1366])
def test_no_table_clips_its_last_column_on_a_desktop(pages, page, width, tmp_path):
    tables = layout(pages[page], width, tmp_path)
    assert tables, "no table measured"
    for i, t in enumerate(tables):
        assert not t["scrolls"] and t["last"] <= t["visible"] + 1, f"{page} table {i} at {width}px: {t}"
