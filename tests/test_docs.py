"""Every command teaches (--help) and is in the README; the public surface is pinned."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command

import reconciler
from reconciler.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _commands():
    root = get_command(app)
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        sub = getattr(cmd, "commands", None)
        if sub:
            for sub_name, sub_cmd in sub.items():
                yield f"{name} {sub_name}", sub_cmd
        else:
            yield name, cmd


@pytest.mark.parametrize("name,cmd", list(_commands()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_command_has_help_and_is_in_the_readme(name, cmd):
    assert (cmd.help or "").strip(), f"`reconciler {name}` has no help text"
    assert f"reconciler {name}" in README or f"`{name.split()[0]}`" in README, f"README does not mention {name}"
    for p in cmd.params:
        if getattr(p, "param_type_name", "") == "option" and not p.hidden:
            assert (p.help or "").strip(), f"`reconciler {name} {p.opts[0]}` has no help"


def test_public_surface_is_pinned():
    assert sorted(reconciler.__all__) == sorted([
        "__version__", "Sources", "scan", "scan_async", "explain", "plan", "apply", "apply_async", "report",
        "ApplyOptions", "ApplyReport", "Explanation", "NullProgress", "Plan", "PlanOptions", "Progress", "Report",
        "ScanOutcome", "StepOutcome", "CloudObject", "CloudSnapshot", "Finding", "OnPremObject", "OnPremSource",
        "Scenario", "match", "ReconcilerError", "UsageError", "BadInput", "UnsafePlan", "PlanMismatch",
        "DriftDetected", "DirectoryError", "NetworkError", "AuthError", "PermissionDenied", "ConstraintViolation",
        "ThrottledError"])
    for name in reconciler.__all__:  # every public name resolves
        assert getattr(reconciler, name) is not None, name


def test_readme_has_the_two_commands():
    assert "reconciler demo" in README
    assert "bash .ci/run" in README
