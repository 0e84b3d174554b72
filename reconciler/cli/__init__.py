"""The `reconciler` command line. The only module tree that prints, prompts or exits.

Each command lives in a sibling module that registers itself on ``app``;
commands parse options, call one ``workflow`` function, render, and exit.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup


class _Group(TyperGroup):
    """The root command group: readable metavars on every option of every command."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        from .common import readable_metavars

        readable_metavars(self)


app = typer.Typer(
    cls=_Group,
    name="reconciler",
    help=(
        "Find and fix Microsoft Entra ID directory-sync conflicts (duplicate UPN / proxy address "
        "errors).\n\nStart with `reconciler demo`. Exit codes: 0 ok, 1 findings (--check) or "
        "failed steps, 2 usage/bad input, 3 unsafe plan, 4 fingerprint mismatch/drift, "
        "5 directory/network/auth/permission error. `reconciler --version` prints the version."
    ),
    no_args_is_help=True,
    # help is drawn by cli.helpfmt (rich panels without typer's ~70 ms of rich imports); no markup parsed
    rich_markup_mode=None,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)



from . import scan as _scan  # noqa: E402,F401  (registers scan, explain, demo)

for _optional in ("emulator", "checks", "plan", "report", "formats"):
    try:
        __import__(f"{__name__}.{_optional}")
    except ModuleNotFoundError as _e:  # a command module not built yet
        if _e.name != f"{__name__}.{_optional}":
            raise


SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")
COMPLETE_VAR = "_RECONCILER_COMPLETE"


@app.command()
def completion(shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh, fish, powershell or pwsh."),
               quiet: bool = typer.Option(False, "-q", "--quiet", help="Accepted for symmetry: only the script "
                                          "is printed.")) -> None:
    """Print the shell completion script (commands, options, file names) for SHELL.

    bash: reconciler completion bash > ~/.local/share/bash-completion/completions/reconciler
    zsh: reconciler completion zsh > "${fpath[1]}/_reconciler"
    fish: reconciler completion fish > ~/.config/fish/completions/reconciler.fish
    PowerShell: reconciler completion powershell | Out-String | Invoke-Expression   (add it to $PROFILE)
    """
    from typer._completion_shared import get_completion_script

    if shell not in SHELLS:
        from .common import err

        err(f"error: no completion for shell {shell!r}; choose one of {', '.join(SHELLS)}")
        raise typer.Exit(2)
    typer.echo(get_completion_script(prog_name="reconciler", complete_var=COMPLETE_VAR, shell=shell))


def main() -> None:
    import os

    from .common import utf8_console

    utf8_console()

    if sys.argv[1:] == ["--version"]:  # not a typer option: a root option is coerced on every command (~0.1 s)
        from .. import __version__

        print(f"reconciler {__version__}")
        return

    if os.environ.get(COMPLETE_VAR):  # the shell asks for completions: typer's completers, only now
        from typer._completion_classes import completion_init

        completion_init()
    one_pass = _one_pass(sys.argv[1:])
    if one_pass:
        import gc

        gc.disable()
    try:
        app(prog_name="reconciler")
    finally:
        if one_pass:
            gc.freeze()  # the process ends here: no collection walks these objects at exit either
            gc.enable()


def _one_pass(args: list[str]) -> bool:
    """A scan of one tenant or a check-onprem, in its own process: it builds hundreds of thousands of objects
    and no cycles worth collecting before it exits, so cyclic garbage collection only walks them again (twice,
    about 0.2 s of a 100k-user offline scan's 2.5 s). ``scan --all`` (many tenants), ``--help`` and every other command keep
    it; the process's memory is returned at exit either way."""
    return bool(args) and args[0] in ("scan", "check-onprem") and not {"--all", "--help", "-h"} & set(args[1:])
