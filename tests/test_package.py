"""The package as an admin installs it: chosen dependencies, portable code, docs that stand alone.

- every runtime dependency in pyproject.toml is imported by product code, and the optional ones only
  where their extra is documented;
- no POSIX-only module in product code (Windows is a supported platform);
- every relative link and anchor in README.md, SECURITY.md and docs/*.md resolves, and nothing sends a
  reader to files a user of the package never has;
- the version has one source.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
import unicodedata
from pathlib import Path

import pytest

import reconciler

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "reconciler"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SOURCES = sorted(PKG.rglob("*.py"))
DOCS = sorted([ROOT / "README.md", ROOT / "SECURITY.md", *(ROOT / "docs").glob("*.md")])

#: distribution -> the top-level import it provides
IMPORT_NAME = {"typer": "typer", "rich": "rich", "httpx": "httpx", "orjson": "orjson", "azure-identity": "azure",
               "ldap3": "ldap3", "msgraph-sdk": "msgraph", "starlette": "starlette", "uvicorn": "uvicorn",
               "cryptography": "cryptography", "platformdirs": "platformdirs"}
POSIX_ONLY = {"fcntl", "pwd", "grp", "termios", "resource", "tty", "pty", "posix"}
POSIX_ONLY_CALLS = {("os", "fork"), ("os", "forkpty"), ("os", "getuid"), ("os", "geteuid"), ("os", "setsid"),
                    ("os", "killpg"), ("os", "getpgid")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def _dist(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].strip().lower()


# ---------------------------------------------------------------- dependencies


def test_every_runtime_dependency_is_imported_by_product_code():
    used = {name.split(".")[0] for p in SOURCES for name in _imports(p)}
    for req in PYPROJECT["project"]["dependencies"]:
        dist = _dist(req)
        assert dist in IMPORT_NAME, f"add {dist} to IMPORT_NAME (and say why in docs/design.md)"
        assert IMPORT_NAME[dist] in used, f"{dist} is a runtime dependency but no module in reconciler/ imports it"


def test_the_heavy_optional_libraries_are_not_runtime_dependencies():
    runtime = {_dist(r) for r in PYPROJECT["project"]["dependencies"]}
    assert not runtime & {"msgraph-sdk", "tenacity", "starlette", "uvicorn"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {_dist(r) for r in extras["msgraph"]} == {"msgraph-sdk"}
    assert {_dist(r) for r in extras["emulator"]} == {"starlette", "uvicorn"}
    assert {"msgraph-sdk", "starlette", "uvicorn", "jsonschema", "mypy"} <= {_dist(r) for r in extras["test"]}


@pytest.mark.parametrize("lib,allowed", [("starlette", "emulator/"), ("uvicorn", "emulator/"), ("msgraph", "-"),
                                         ("tenacity", "-")])
def test_optional_libraries_are_imported_only_behind_their_extra(lib, allowed):
    bad = [str(p.relative_to(PKG)) for p in SOURCES
           if any(n.split(".")[0] == lib for n in _imports(p)) and not str(p.relative_to(PKG)).startswith(allowed)]
    assert not bad, f"{lib} imported outside its extra's modules: {bad}"


def test_a_plain_install_generates_tenants_without_the_emulator_extra(tmp_path):
    """`tenant generate` and `demo` must work without starlette/uvicorn: importing them is not allowed."""
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('starlette', 'uvicorn', 'msgraph'):\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "from reconciler.cli import main\n"
            "sys.argv = ['reconciler'] + sys.argv[1:]\n"
            "main()\n")
    gen = subprocess.run([sys.executable, "-c", code, "tenant", "generate", "--users", "50", "-o",
                          str(tmp_path / "t.json"), "--ldif", str(tmp_path / "f.ldif")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert gen.returncode == 0, gen.stderr
    demo = subprocess.run([sys.executable, "-c", code, "demo", "--db", str(tmp_path / "d.db")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert demo.returncode == 0, demo.stderr
    serve = subprocess.run([sys.executable, "-c", code, "emulator", "serve", "--tenant", str(tmp_path / "t.json")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert serve.returncode == 2 and "entra-reconciler[emulator]" in serve.stderr, serve.stderr
    assert "Traceback" not in serve.stderr


# ---------------------------------------------------------------- Windows


def posix_only(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = sorted({n.split(".")[0] for n in _imports(path)} & POSIX_ONLY)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                (node.value.id, node.attr) in POSIX_ONLY_CALLS:
            bad.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
        if isinstance(node, ast.ImportFrom) and node.module == "os" and \
                {("os", a.name) for a in node.names} & POSIX_ONLY_CALLS:
            bad.append(f"from os import … (line {node.lineno})")
    return bad


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_posix_only_call_in_product_code(path):
    bad = posix_only(path)
    assert not bad, f"{path.relative_to(ROOT)} uses POSIX-only {bad}: Windows admins run this"


def test_the_posix_check_catches_what_it_claims(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import fcntl\nimport os\nfrom os import getuid\nos.fork()\nimport resource.x\n")
    assert sorted(posix_only(probe)) == ["fcntl", "from os import … (line 3)", "os.fork (line 4)", "resource"]


# ---------------------------------------------------------------- docs stand alone


def _strip_code(text: str) -> str:
    """Markdown without fenced code blocks and inline code (links there are examples, not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    h = re.sub(r"[`*]", "", heading.strip()).lower()
    h = "".join(c for c in h if c in "-_ " or unicodedata.category(c)[0] in "LN")
    return h.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    seen: dict[str, int] = {}
    out: set[str] = set()
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        s = slug(m[1])
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def links(path: Path) -> list[str]:
    return re.findall(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", _strip_code(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(doc):
    broken = []
    for target in links(doc):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
        elif dest.is_relative_to(ROOT) is False:
            broken.append(f"{target} (outside the repository)")
    assert not broken, f"{doc.relative_to(ROOT)}: {broken}"


def test_the_link_check_sees_links_and_anchors():
    """The checker is not vacuous: the README links docs, and GitHub's slug rules hold."""
    assert "docs/graph.md" in links(ROOT / "README.md")
    assert slug("Measured (bench/bench_graph_scan.py)") == "measured-benchbench_graph_scanpy"
    assert slug("msgraph-sdk: an extra with one purpose") == "msgraph-sdk-an-extra-with-one-purpose"
    assert "tenant-file" in anchors(ROOT / "docs" / "formats.md")


FORBIDDEN_REFERENCES = re.compile(r"spec\.md|domain\.md|style\.md|\.\./shared|/work/shared")


@pytest.mark.parametrize("path", [*DOCS, *SOURCES, ROOT / "pyproject.toml"], ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_sends_a_reader_to_files_the_package_does_not_have(path):
    hits = [f"line {i}: {line.strip()[:80]}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if FORBIDDEN_REFERENCES.search(line)]
    assert not hits, f"{path.relative_to(ROOT)} cites files a user never has: {hits}"


def test_docs_cited_by_the_code_exist():
    cited = {m for p in SOURCES for m in re.findall(r"docs/([\w-]+\.md)", p.read_text(encoding="utf-8"))}
    assert "formats.md" in cited
    missing = sorted(c for c in cited if not (ROOT / "docs" / c).exists())
    assert not missing, missing


# ---------------------------------------------------------------- name and version


def test_distribution_name_and_single_version():
    project = PYPROJECT["project"]
    assert project["name"] == "entra-reconciler"
    assert project["scripts"] == {"reconciler": "reconciler.cli:main"}
    assert "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "reconciler.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", reconciler.__version__)


def test_reconciler_version_prints_it():
    r = subprocess.run([sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout == f"reconciler {reconciler.__version__}\n"
