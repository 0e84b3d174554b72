"""On a terminal a read shows a bar and one line of counts ("objects read 1,234 of ~3,000 · 5 requests")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from reconciler.cli.common import progress_text
from tests.conftest import ROOT


def test_the_progress_line_says_one_thing():
    assert progress_text(46631, 95000, {"objects": 46631, "requests": 57, "throttled": 0}) == \
        "objects read 46,631 of ~95,000 · 57 requests"
    assert progress_text(12, None, {"objects": 12}) == "objects read 12"


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a pseudo-terminal")
def test_a_graph_read_longer_than_a_second_shows_a_bar_and_the_tenant_size(tmp_path):
    from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
    from reconciler.emulator.generate import GenerateOptions, generate

    generate(GenerateOptions(users=2500, errors_per_1000=400, seed=3), tmp_path / "t.json", tmp_path / "f.ldif")
    with serve_in_thread(create_app(tmp_path / "t.json", EmulatorConfig(page_size=100, latency_ms=60))) as url:
        cmd = (f"{sys.executable} -m reconciler scan --graph-url {url} --auth none --strategy full "
               f"--db {tmp_path / 'r.db'} -f json -o {tmp_path / 'out.json'}")
        r = subprocess.run(["script", "-qfec", cmd, "/dev/null"], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "TERM": "xterm"})
    assert r.returncode == 0, r.stdout[-2000:]
    screen = r.stdout
    assert "━" in screen, "no progress bar on a terminal"
    assert "objects read" in screen and " of ~" in screen, screen[-1500:]
    assert "objects=" not in screen  # one wording, not two
