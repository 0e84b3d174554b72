"""Dependency direction (style.md): the pure core imports no I/O library and never an edge module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "reconciler"

LAYER1 = {"model", "errors", "anchors"}
PURE = LAYER1 | {"matcher", "explain", "checks", "checks_rules", "fixes", "planner", "emit", "history", "sources.base"}
FORBIDDEN_THIRD_PARTY = {"httpx", "msgraph", "azure", "tenacity", "sqlite3", "typer", "click", "rich", "ldap3",
                         "starlette", "uvicorn", "orjson", "socket", "subprocess", "asyncio", "requests"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    return ".".join(rel.parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    mod = _module_name(path)
    pkg_parts = mod.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - (node.level - 1)] if node.level > 1 else pkg_parts
                name = ".".join([*base, node.module] if node.module else base)
                out.add("reconciler." + name if name else "reconciler")
                if not node.module:
                    out.update("reconciler." + ".".join([*base, a.name]) for a in node.names)
            elif node.module:
                out.add(node.module)
    return out


def _pure_modules() -> list[Path]:
    return [p for p in PKG.rglob("*.py") if _module_name(p) in PURE]


@pytest.mark.parametrize("path", _pure_modules(), ids=lambda p: _module_name(p))
def test_pure_modules_import_no_io_library(path: Path):
    bad = {i for i in _imports(path) if i.split(".")[0] in FORBIDDEN_THIRD_PARTY}
    assert not bad, f"{_module_name(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _pure_modules(), ids=lambda p: _module_name(p))
def test_pure_modules_import_only_pure_modules(path: Path):
    ours = {i.removeprefix("reconciler.") for i in _imports(path) if i.startswith("reconciler.")}
    assert ours <= PURE, f"{_module_name(path)} imports edge modules {sorted(ours - PURE)}"


def test_layer1_is_stdlib_only():
    for p in PKG.glob("*.py"):
        if _module_name(p) in LAYER1:
            ours = {i.removeprefix("reconciler.") for i in _imports(p) if i.startswith("reconciler.")}
            assert ours <= LAYER1, p


def test_nothing_imports_the_cli():
    for p in PKG.rglob("*.py"):
        if _module_name(p).startswith("cli") or _module_name(p) == "__main__":
            continue
        assert not any(i.startswith("reconciler.cli") for i in _imports(p)), p


def test_cli_import_does_not_load_msgraph_or_azure():
    import subprocess
    import sys

    code = ("import sys, reconciler.cli; bad=[m for m in sys.modules if m.split('.')[0] in "
            "('msgraph','azure','kiota_abstractions','ldap3','starlette','uvicorn')]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
