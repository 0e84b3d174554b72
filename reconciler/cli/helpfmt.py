"""``--help`` drawn with rich: usage, the help text, then panels (Arguments, Options, Cloud source, Output,
Safety, Commands) as each option's ``rich_help_panel`` says, in colour on a terminal.

Typer's own rich help imports about 70 ms of rich modules on every ``--help`` (markdown, syntax, traceback,
pretty); this draws the same kind of panels with rich's console, panel, table and text only, and takes each
row from click's ``get_help_record`` (names, metavar, help, ``[default: …]``, ``[required]``), so what a row
says is what the plain help said. Help texts are shown as written: no markup is parsed (``[...]`` stays),
a paragraph's line breaks are joined, and ```code``` is shown as code.
"""

from __future__ import annotations

import inspect
import io
import os
import re
import shutil
import sys
from typing import Any

__all__ = ["format_help"]

_CODE = re.compile(r"`([^`\n]+)`")
_WIDTH = 120  # wider help lines are harder to read


def _text(paragraph: str, style: str = "", colour: bool = False) -> Any:
    """``paragraph`` as rich text; ```code``` in colour (its backticks kept where there is no colour)."""
    from rich.text import Text

    t = Text(style=style)
    pos = 0
    for m in _CODE.finditer(paragraph):
        t.append(paragraph[pos:m.start()])
        t.append(m.group(1) if colour else m.group(0), style="bold cyan")
        pos = m.end()
    t.append(paragraph[pos:])
    return t


def _paragraphs(help_text: str) -> list[str]:
    text = inspect.cleandoc(help_text).partition("\f")[0]
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


def _panel(title: str, rows: list[tuple[str, str]], colour: bool) -> Any:
    from rich import box
    from rich.panel import Panel
    from rich.table import Table

    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=False)
    table.add_column(no_wrap=True, style="bold cyan")
    table.add_column(ratio=1)
    for names, help_ in rows:
        table.add_row(names, _text(help_, colour=colour))
    return Panel(table, title=title, title_align="left", box=box.ROUNDED, border_style="dim", expand=True)


def _rows(command: Any, ctx: Any) -> dict[str, list[tuple[str, str]]]:
    panels: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
    for p in command.get_params(ctx):
        record = p.get_help_record(ctx)
        if record is None:
            continue
        if p.param_type_name == "argument":
            panels["Arguments"].append(record)
        else:
            panels.setdefault(getattr(p, "rich_help_panel", None) or "Options", []).append(record)
    commands = []
    for name in getattr(command, "list_commands", lambda ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            first = _paragraphs(sub.help or "")
            commands.append((name, first[0] if first else ""))
    if commands:
        panels["Commands"] = commands
    return panels


def format_help(self: Any, ctx: Any, formatter: Any) -> None:
    """Bound to every command as ``format_help``: the whole help page, written into click's formatter."""
    from rich.console import Console

    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    width = min(ctx.terminal_width or shutil.get_terminal_size().columns, _WIDTH)
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=colour, color_system="standard" if colour else None,
                      highlight=False, emoji=False, markup=False, soft_wrap=False)
    console.print(_text(" ".join(["Usage:", ctx.command_path, *self.collect_usage_pieces(ctx)]), "bold"))
    paragraphs = _paragraphs(self.help or "")
    for i, para in enumerate(paragraphs):
        console.print()
        console.print(_text(para, "bold" if i == 0 else "", colour))
    console.print()
    for title, rows in _rows(self, ctx).items():
        if rows:
            console.print(_panel(title, rows, colour))
    if self.epilog:
        for para in _paragraphs(self.epilog):
            console.print(_text(para, colour=colour))
    formatter.write("\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n")
