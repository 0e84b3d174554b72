"""``reconciler schema NAME``: print a published JSON Schema."""

from __future__ import annotations

from typing import Annotated

import typer

from . import app
from .common import QuietOpt, err


@app.command()
def schema(name: Annotated[str, typer.Argument(
        metavar="NAME", help="tenant, findings, plan, report, checks or config.")], quiet: QuietOpt = False) -> None:
    """Print the JSON Schema of a file reconciler reads or writes (docs/formats.md describes each).

    Example: reconciler schema findings > findings.schema.json
    """
    from ..schemas import NAMES, text

    if name not in NAMES:
        err(f"error: no schema named {name!r}; choose one of {', '.join(NAMES)}")
        raise typer.Exit(2)
    typer.echo(text(name), nl=False)
