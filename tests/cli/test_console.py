"""Console output survives a legacy encoding (a Windows code page, LANG=C): UTF-8 to pipes, "?" on a terminal
that cannot show a character, never a UnicodeEncodeError."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, SAMPLE_LDIF, SAMPLE_TENANT


def test_a_legacy_encoding_does_not_break_output(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"}
    r = subprocess.run([sys.executable, "-m", "reconciler", "scan", "--tenant", str(SAMPLE_TENANT), "--onprem",
                        str(SAMPLE_LDIF), "--db", str(tmp_path / "r.db")], capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    out = r.stdout.decode("utf-8")  # a pipe gets UTF-8 whatever the locale says
    assert "Sync conflicts — tenant" in out and "UnicodeEncodeError" not in r.stderr.decode("utf-8", "replace")


def test_utf8_console_replaces_on_a_terminal_it_cannot_reencode(monkeypatch):
    import io

    from reconciler.cli import common

    class Tty(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    buf = io.BytesIO()
    stream = Tty(buf, encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(sys, "platform", "linux")
    common.utf8_console()
    print("Müller — …", file=stream)
    stream.flush()
    assert buf.getvalue() == b"M?ller ? ?\n"
