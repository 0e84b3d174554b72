"""-q silences everything but errors, on every command; summaries are printed once, on stderr; demo's files.

Run as a user runs them (a subprocess, real stdout/stderr), on the bundled sample.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from reconciler.cli import app
from tests.conftest import ROOT, SAMPLE_LDIF, SAMPLE_TENANT


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "reconciler", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=180)


def test_every_command_takes_quiet():
    root = get_command(app)
    for name, cmd in root.commands.items():
        for sub in (getattr(cmd, "commands", None) or {name: cmd}).values():
            assert any("-q" in p.opts for p in sub.params), f"{name} {sub.name} has no -q"


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("quiet")
    assert run("scan", "--tenant", SAMPLE_TENANT, "--onprem", SAMPLE_LDIF, "--db", d / "r.db", "-q", cwd=d).returncode == 0
    return d


QUIET_COMMANDS = {
    "scan": ["scan", "--tenant", SAMPLE_TENANT, "--onprem", SAMPLE_LDIF, "--db", "r.db", "-f", "json", "-o", "f.json"],
    "explain": ["explain", "lena.fischer@contoso.com", "--db", "r.db"],
    "plan": ["plan", "--db", "r.db", "-o", "plan.json", "--review", "plan.md"],
    "apply": ["apply", "plan.json", "--tenant", SAMPLE_TENANT, "--db", "r.db"],
    "report": ["report", "--db", "r.db"],
    "check-onprem": ["check-onprem", "--onprem", SAMPLE_LDIF, "--tenant", SAMPLE_TENANT],
    "tenant generate": ["tenant", "generate", "--users", "40", "-o", "t.json", "--ldif", "t.ldif"],
    "schema": ["schema", "plan"],
    "completion": ["completion", "bash"],
}


@pytest.mark.parametrize("name", list(QUIET_COMMANDS))
def test_quiet_leaves_stderr_empty_and_still_writes_results(flow, name):
    loud = run(*QUIET_COMMANDS[name], cwd=flow)
    quiet = run(*QUIET_COMMANDS[name], "-q", cwd=flow)
    assert quiet.returncode == loud.returncode, quiet.stderr
    assert quiet.stderr == "", f"{name} -q wrote to stderr: {quiet.stderr!r}"
    assert quiet.stdout == loud.stdout or name in ("scan", "plan", "report", "tenant generate"), name


def test_quiet_still_prints_errors(flow):
    r = run("scan", "--tenant", flow / "missing.json", "--db", "r.db", "-q", cwd=flow)
    assert r.returncode == 2 and "missing.json" in r.stderr


def test_check_onprem_prints_its_summary_once_on_stderr(flow):
    r = run("check-onprem", "--onprem", SAMPLE_LDIF, "--tenant", SAMPLE_TENANT, cwd=flow)
    assert r.returncode == 0
    assert "checked 20 objects" not in r.stdout
    assert r.stderr.count("checked 20 objects") == 1
    assert "smtp-duplicate" in r.stdout  # the table itself is on stdout


def test_demo_quiet(tmp_path):
    r = run("demo", "-q", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "== 6. check-onprem" in r.stdout


def test_demo_workdir_keeps_the_files_it_names(tmp_path):
    work = tmp_path / "demo"
    r = run("demo", "--workdir", work, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    kept = [line for line in r.stdout.splitlines() if "kept in" in line]
    assert kept and str(work) in kept[0]
    scripts = sorted(p.name for p in work.glob("plan*.ps1"))
    assert scripts, "the demo's apply emits PowerShell for the admin"
    for name in ("plan.json", "plan.md", "demo.db", *scripts):
        assert (work / name).stat().st_size > 0 and name in kept[0]
    named = {Path(tok.strip(",.:;()")) for line in (r.stdout + r.stderr).splitlines() for tok in line.split()
             if tok.startswith(str(tmp_path))}
    assert named and all(p.exists() for p in named), [p for p in named if not p.exists()]


def test_demo_without_workdir_names_no_path_that_is_gone(tmp_path):
    r = run("demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "reconciler-demo-" not in r.stdout + r.stderr  # the temporary folder is never named
    assert "--workdir DIR" in r.stdout
