"""docs/cli-reference.md, generated from the commands' own ``--help``.

Regenerate after changing an option: ``python -m reconciler.cli.reference > docs/cli-reference.md``
(``tests/cli/test_reference.py`` fails while the page and ``--help`` disagree).
"""

from __future__ import annotations

from typing import Any, Iterator

import typer

WIDTH = 100


def _walk(cmd: Any, ctx: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    for name in sorted(getattr(cmd, "commands", {})):
        sub = cmd.commands[name]
        sub_ctx = _context(sub, name, ctx)
        if getattr(sub, "commands", None):
            yield from _walk(sub, sub_ctx, f"{path} {name}")
        else:
            yield f"{path} {name}", sub, sub_ctx


def _context(cmd: Any, name: str, parent: Any) -> Any:
    settings = {"terminal_width": WIDTH, "max_content_width": WIDTH, **(cmd.context_settings or {})}
    return typer.Context(cmd, info_name=name, parent=parent, **settings)


def markdown() -> str:
    from typer.main import get_command

    from . import app

    root = get_command(app)
    ctx = _context(root, "reconciler", None)
    commands = list(_walk(root, ctx, "reconciler"))
    out = ["# Command reference", "",
           "Generated from each command's `--help` (`python -m reconciler.cli.reference > docs/cli-reference.md`;",
           "a test fails when this page and the program disagree). Exit codes, sources and examples: the",
           "[README](../README.md).", ""]
    out += [f"- [`{name}`](#{name.replace(' ', '-')})" for name, _, _ in commands]
    out += ["", "```text", root.get_help(ctx).rstrip(), "```", ""]
    for name, cmd, sub_ctx in commands:
        out += [f"## {name}", "", "```text", cmd.get_help(sub_ctx).rstrip(), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown())
