"""Command-line conventions admins expect: a help page that reads, completion, a reference that is true."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.cli.reference import markdown
from tests.conftest import ROOT

runner = CliRunner()


def _leaf_commands():
    root = get_command(app)
    for name, cmd in root.commands.items():
        for sub_name, sub in (getattr(cmd, "commands", None) or {name: cmd}).items():
            yield (f"{name} {sub_name}" if sub is not cmd else name), sub


def test_the_command_reference_is_the_programs_help():
    page = (ROOT / "docs" / "cli-reference.md").read_text(encoding="utf-8")
    assert page == markdown(), "docs/cli-reference.md is stale: python -m reconciler.cli.reference > docs/cli-reference.md"
    for name, _ in _leaf_commands():
        assert f"## reconciler {name}\n" in page


@pytest.mark.parametrize("name,cmd", list(_leaf_commands()), ids=lambda x: x if isinstance(x, str) else "")
def test_help_shows_readable_metavars_and_panels(name, cmd):
    r = runner.invoke(app, [*name.split(), "--help"], terminal_width=100)
    assert r.exit_code == 0, r.output
    assert not re.search(r"<(bool|str|int|float|path|list\[\w+\])>", r.output), r.output  # no Python types
    for p in cmd.params:
        if p.param_type_name == "option" and not p.is_flag:
            assert p.metavar and re.fullmatch(r"[A-Z][A-Z0-9_]*", p.metavar), (name, p.name, p.metavar)


def section(help_text: str, name: str) -> str:
    """The rows of one help panel (``╭─ Name ───╮`` ... ``╰───╯``), frame left out."""
    body = re.search(rf"^╭─ {name} ─+╮\n(.*?)^╰─+╯", help_text, re.M | re.S)[1]  # type: ignore[index]
    return "\n".join(line.strip("│ ") for line in body.splitlines())


def test_scan_help_groups_options_by_what_they_are_for():
    out = runner.invoke(app, ["scan", "--help"], terminal_width=100).output
    sections = re.findall(r"^╭─ (\w[\w -]*) ─+╮$", out, re.M)
    assert sections[:1] == ["Options"] and {"Cloud source", "On-prem source", "Output"} <= set(sections), sections
    cloud = section(out, "Cloud source")
    assert "--graph-url URL" in cloud and "--tenant FILE" in cloud
    onprem = section(out, "On-prem source")
    assert "--bind-dn DN" in onprem and "--onprem FILE" in onprem and "--ldap URL" in onprem


def test_apply_help_has_a_safety_panel():
    out = runner.invoke(app, ["apply", "--help"], terminal_width=100).output
    safety = section(out, "Safety")
    for opt in ("--doit", "--max-deletes N", "--force", "--checksum SHA256"):
        assert opt in safety, opt


def test_explain_help_lists_only_formats_that_work(tmp_path):
    out = runner.invoke(app, ["explain", "--help"], terminal_width=100).output
    listed = re.search(r"--format FMT\s+([\w|]+)\.", out)[1].split("|")  # type: ignore[index]
    db = tmp_path / "r.db"
    runner.invoke(app, ["scan", "--tenant", str(ROOT / "fixtures/sample/sample-tenant.json"), "--db", str(db), "-q"])
    for fmt in listed:
        r = runner.invoke(app, ["explain", "lena.fischer@contoso.com", "--db", str(db), "-f", fmt])
        assert r.exit_code == 0 and "lena.fischer@contoso.com" in r.stdout, (fmt, r.stderr)
    for fmt in {"table", "json", "csv", "md", "html"} - set(listed):
        r = runner.invoke(app, ["explain", "lena.fischer@contoso.com", "--db", str(db), "-f", fmt])
        assert r.exit_code == 2 and "--format" in r.stderr, fmt


# ---------------------------------------------------------------- completion


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell", "pwsh"])
def test_completion_prints_a_script_for_each_shell(shell):
    r = runner.invoke(app, ["completion", shell])
    assert r.exit_code == 0 and "_RECONCILER_COMPLETE" in r.stdout and "reconciler" in r.stdout


def test_completion_for_an_unknown_shell_says_which_exist():
    r = runner.invoke(app, ["completion", "tcsh"])
    assert r.exit_code == 2 and "bash, zsh, fish, powershell" in r.stderr


def _complete(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-m", "reconciler"], env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60).stdout


def test_the_program_answers_completion_requests():
    """What the shell scripts ask for at run time: commands, then a command's options with their help."""
    assert "scan" in _complete({"_RECONCILER_COMPLETE": "complete_bash", "COMP_WORDS": "reconciler sc",
                                "COMP_CWORD": "1"}).split()
    zsh = _complete({"_RECONCILER_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "reconciler scan --graph-"})
    assert "--graph-url" in zsh
    ps = _complete({"_RECONCILER_COMPLETE": "complete_powershell", "_TYPER_COMPLETE_ARGS": "reconciler ap",
                    "_TYPER_COMPLETE_WORD_TO_COMPLETE": "ap"})
    assert ps.startswith("apply")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_works_in_a_real_bash(tmp_path):
    """Source the printed script in bash and ask it to complete `reconciler che` and `reconciler scan --gra`."""
    script = runner.invoke(app, ["completion", "bash"]).stdout
    shim = tmp_path / "reconciler"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    shim.chmod(0o755)
    probe = (f"{script}\n"
             "COMP_WORDS=(reconciler che); COMP_CWORD=1; _reconciler_completion reconciler; echo \"A:${COMPREPLY[*]}\"\n"
             "COMP_WORDS=(reconciler scan --graph-u); COMP_CWORD=2; _reconciler_completion reconciler\n"
             "echo \"B:${COMPREPLY[*]}\"\n")
    r = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)})
    lines = dict(line.split(":", 1) for line in r.stdout.splitlines() if line[:2] in ("A:", "B:"))
    assert lines.get("A", "").split() == ["check-onprem"], r.stdout + r.stderr
    assert lines.get("B", "").split() == ["--graph-url"], r.stdout + r.stderr


def _modules_after_help(code: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", code + "\nprint(sorted(sys.modules))"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return set(eval(r.stdout.strip().splitlines()[-1]))  # a list literal of module names


def test_help_loads_nothing_a_bare_typer_app_does_not():
    """Panels, metavars and completion support cost --help no import a bare typer app's help does not, and the
    panels are drawn without the rich modules that make typer's own rich help slow (markdown, syntax
    highlighting, tracebacks, pretty-printing)."""
    ours = _modules_after_help("import sys\nfrom reconciler.cli import main\nsys.argv = ['reconciler', 'scan', '--help']\n"
                               "try:\n    main()\nexcept SystemExit:\n    pass")
    bare = _modules_after_help("import sys, typer\napp = typer.Typer()\n@app.command()\ndef a(x: int = 1): 'a'\n"
                               "@app.command()\ndef b(): 'b'\ntry:\n    app(['a', '--help'])\nexcept SystemExit:\n    pass")
    extra = sorted(m for m in ours - bare if not m.startswith("reconciler"))
    assert not extra, extra
    assert not {m for m in ours if m.split(".")[0] in ("pydantic", "httpx", "azure", "msgraph", "orjson",
                                                      "markdown_it", "pygments", "typer.rich_utils")}
    assert not ours & {"rich.markdown", "rich.syntax", "rich.traceback", "rich.pretty", "typer.rich_utils"}
    assert "rich.panel" in ours  # the panels are rich's


def test_version_in_the_root_help():
    assert "reconciler --version" in " ".join(runner.invoke(app, ["--help"]).stdout.split())


@pytest.mark.parametrize("args,paused", [(["scan", "--tenant", "t.json"], True), (["check-onprem", "--onprem", "f"], True),
                                          (["scan", "--all"], False), (["emulator", "serve"], False), (["report"], False),
                                          (["scan", "--help"], False), ([], False)])
def test_only_a_one_tenant_scan_or_check_runs_without_cyclic_gc(monkeypatch, args, paused):
    """A long-lived process (emulator serve, scan --all across tenants) keeps collecting cycles; a one-pass
    command in its own process does not, and leaves collection on as it found it when run in-process."""
    import gc

    import reconciler.cli as cli

    seen: list[bool] = []
    monkeypatch.setattr(cli, "app", lambda prog_name: seen.append(gc.isenabled()))
    monkeypatch.setattr(gc, "freeze", lambda: None)  # not in the test process: nothing here ends with the command
    monkeypatch.setattr(sys, "argv", ["reconciler", *args])
    assert gc.isenabled()
    try:
        cli.main()
    finally:
        assert gc.isenabled()  # as it found it
        gc.enable()
    assert seen == [not paused]
