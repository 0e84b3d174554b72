"""The package's annotations hold: mypy over all of reconciler/, strict over the pure core (py.typed is shipped).

Skipped only when mypy is not installed (it is in the `test` extra that .ci/run installs).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytest.importorskip("mypy")


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYPY_CACHE_DIR": os.environ.get("MYPY_CACHE_DIR", str(ROOT / ".mypy_cache"))}
    return subprocess.run([sys.executable, "-m", "mypy", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)


def test_the_package_type_checks():
    r = mypy()  # [tool.mypy] in pyproject.toml: packages = ["reconciler"]
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_pure_core_type_checks_strictly():
    r = mypy("--strict", "--follow-imports=silent", "reconciler/core")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_library_surface_is_typed():
    """Every public function of reconciler (and its results) is annotated: a script's IDE can check its use."""
    import inspect

    import reconciler

    for name in reconciler.__all__:
        obj = getattr(reconciler, name)
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            assert sig.return_annotation is not inspect.Signature.empty, name
            for p in sig.parameters.values():
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    assert p.annotation is not inspect.Parameter.empty, (name, p.name)
    assert (ROOT / "reconciler" / "py.typed").exists()
