"""The `reconciler` command line. The only module tree that prints, prompts or exits.

Each command lives in a sibling module that registers itself on ``app``;
commands parse options, call one ``workflow`` function, render, and exit.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="reconciler",
    help=(
        "Find and fix Microsoft Entra ID directory-sync conflicts (duplicate UPN / proxy address "
        "errors).\n\nStart with `reconciler demo`. Exit codes: 0 ok, 1 findings (--check) or "
        "failed steps, 2 usage/bad input, 3 unsafe plan, 4 fingerprint mismatch/drift, "
        "5 directory/network/auth/permission error."
    ),
    no_args_is_help=True,
    # plain help and usage errors: rich rendering costs ~0.12 s of imports on every --help
    rich_markup_mode=None,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

from . import scan as _scan  # noqa: E402,F401  (registers scan, explain, demo)

for _optional in ("emulator", "checks", "plan", "report"):
    try:
        __import__(f"{__name__}.{_optional}")
    except ModuleNotFoundError as _e:  # a command module not built yet
        if _e.name != f"{__name__}.{_optional}":
            raise


def main() -> None:
    app()
