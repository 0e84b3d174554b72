"""--help drawn by reconciler.cli.helpfmt: panels, text as written, the terminal's width, colour only on a terminal."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from reconciler.cli import app

runner = CliRunner()


def test_every_line_fits_the_terminal_and_no_text_is_lost() -> None:
    for width in (60, 100):
        out = runner.invoke(app, ["check-onprem", "--help"], terminal_width=width).output
        assert max(len(line) for line in out.splitlines()) <= width
        flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split())
        # a help text that holds brackets and a pipe is shown as written (no markup is parsed)
        assert "PowerShell Get-ADUser | Export-Csv" in flat
        assert "'-id' removes one (all,-smtp-tld)" in flat
        assert "Example: reconciler check-onprem --onprem forest1.ldif" in flat


def test_no_colour_codes_when_the_output_is_not_a_terminal() -> None:
    out = runner.invoke(app, ["scan", "--help"], terminal_width=100).output
    assert "\x1b[" not in out and "╭─ Cloud source " in out


def test_code_in_help_keeps_its_backticks_without_colour() -> None:
    out = runner.invoke(app, ["--help"], terminal_width=100).output
    assert "`reconciler demo`" in out


def test_colour_on_a_terminal_unless_no_color(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io
    import sys

    from typer.main import get_command

    from reconciler.cli.helpfmt import format_help

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    cmd = get_command(app).commands["demo"]  # type: ignore[attr-defined]
    ctx = cmd.make_context("demo", [], resilient_parsing=True)
    for no_color, coloured in ((False, True), (True, False)):
        if no_color:
            monkeypatch.setenv("NO_COLOR", "1")
        else:
            monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.setattr(sys, "stdout", Tty())
        fmt = ctx.make_formatter()
        format_help(cmd, ctx, fmt)
        assert ("\x1b[" in fmt.getvalue()) is coloured
