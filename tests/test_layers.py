"""Dependency direction, read from the imports of every module (an AST scan, nothing is imported).

The folders are the pipelines (see docs/architecture.md):

1. ``core`` — model, errors, anchors, matcher, explain: the standard library only.
2. ``checks``, the pure part of ``fixes`` (steps, guards, planner, context, emit) and ``history.timeline``:
   only layer 1 and each other; no I/O library.
3. Edges — ``sources``, ``fixes.writers``, ``history.store``, ``history.notify``, ``emulator``: the only
   modules that talk to a network, a directory or a database. ``sources`` never imports ``fixes``.
4. Composition — ``fixes.apply``, ``history.report``, ``workflow``, ``wiring``, ``config``, ``multiscan``.
5. ``cli`` — nothing imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "reconciler"

CORE = "core"
PURE_PACKAGES = ("core", "checks")
PURE_MODULES = {"fixes.steps", "fixes.guards", "fixes.planner", "fixes.context", "fixes.remedies", "fixes.emit",
                "history.timeline", "sources.base"}
FORBIDDEN_THIRD_PARTY = {"httpx", "msgraph", "azure", "tenacity", "sqlite3", "typer", "click", "rich", "ldap3",
                         "starlette", "uvicorn", "orjson", "socket", "subprocess", "asyncio", "requests"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(path: Path) -> set[str]:
    """Every module this file imports, as ``reconciler.x.y`` for our own (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    mod = _module_name(path)
    pkg_parts = mod.split(".") if _is_package(path) else mod.split(".")[:-1]
    pkg_parts = [p for p in pkg_parts if p]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - (node.level - 1)] if node.level > 1 else pkg_parts
                name = ".".join([*base, node.module] if node.module else base)
                out.add("reconciler." + name if name else "reconciler")
                out.update("reconciler." + ".".join(p for p in [name, a.name] if p) for a in node.names)
            elif node.module:
                out.add(node.module)
                if node.module.startswith("reconciler"):
                    out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _ours(path: Path) -> set[str]:
    """Our own modules this file imports (names that are not modules, e.g. classes, are dropped)."""
    known = {_module_name(p) for p in PKG.rglob("*.py")}
    return {m for i in _imports(path) if i.startswith("reconciler.") and (m := i.removeprefix("reconciler.")) in known}


def _is_pure(name: str) -> bool:
    return name.split(".")[0] in PURE_PACKAGES or name in PURE_MODULES


ALL = sorted(PKG.rglob("*.py"))
PURE = [p for p in ALL if _is_pure(_module_name(p))]


def test_the_pipelines_are_folders():
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {"core", "sources", "checks", "fixes", "history", "emulator", "cli"} <= folders
    root = {p.stem for p in PKG.glob("*.py")}
    assert root <= {"__init__", "__main__", "wiring", "workflow", "config", "multiscan", "library"}, root


@pytest.mark.parametrize("path", PURE, ids=_module_name)
def test_pure_modules_import_no_io_library(path: Path):
    bad = {i for i in _imports(path) if i.split(".")[0] in FORBIDDEN_THIRD_PARTY}
    assert not bad, f"{_module_name(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", PURE, ids=_module_name)
def test_pure_modules_import_only_pure_modules(path: Path):
    bad = {m for m in _ours(path) if m and not _is_pure(m) and m not in PURE_PACKAGES}
    assert not bad, f"{_module_name(path)} imports edge modules {sorted(bad)}"


@pytest.mark.parametrize("path", [p for p in ALL if _module_name(p).split(".")[0] == CORE], ids=_module_name)
def test_core_imports_only_core(path: Path):
    bad = {m for m in _ours(path) if m and m.split(".")[0] != CORE}
    assert not bad, f"{_module_name(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", [p for p in ALL if _module_name(p).split(".")[0] == "sources"], ids=_module_name)
def test_sources_never_import_fixes_or_history(path: Path):
    bad = {m for m in _ours(path) if m.split(".")[0] in ("fixes", "history", "checks", "emulator", "cli")}
    assert not bad, f"{_module_name(path)} imports {sorted(bad)}"


def test_nothing_imports_the_cli():
    for p in ALL:
        name = _module_name(p)
        if name.startswith("cli") or name == "__main__":
            continue
        assert not any(m == "cli" or m.startswith("cli.") for m in _ours(p)), p


def test_the_scan_reads_no_fix_code():
    """The scan pipeline (sources -> matcher -> findings) stands without the fix pipeline."""
    for name in ("workflow",):
        path = PKG / f"{name}.py"
        bad = {m for m in _ours(path) if m.startswith("fixes.") and m not in PURE_MODULES}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_cli_import_does_not_load_msgraph_or_azure():
    import subprocess
    import sys

    code = ("import sys, reconciler.cli; bad=[m for m in sys.modules if m.split('.')[0] in "
            "('msgraph','azure','kiota_abstractions','ldap3','starlette','uvicorn')]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
