"""docs/library.md's examples run, in order, in one namespace, in a folder holding the bundled sample.

An example that stops working fails here with the doc's line number, so the page cannot drift from the code.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SAMPLE_LDIF, SAMPLE_TENANT

DOC = ROOT / "docs" / "library.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [(text[:m.start()].count("\n") + 2, m[1]) for m in BLOCK.finditer(text)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("library")
    shutil.copy(SAMPLE_TENANT, d / "tenant.json")
    shutil.copy(SAMPLE_LDIF, d / "corp.ldif")
    return d


@pytest.fixture(scope="module")
def namespace() -> dict[str, Any]:
    return {"__name__": "library_md"}


def test_the_page_has_examples_for_every_use_case():
    code = "\n".join(b for _, b in blocks())
    for call in ("reconciler.scan(", "reconciler.explain(", "reconciler.plan(", "reconciler.apply(",
                 "reconciler.report(", "doit=True", "on_step=", "graph_client=", "scan_async("):
        assert call in code, call


@pytest.mark.parametrize("line,code", blocks(), ids=lambda x: f"line{x}" if isinstance(x, int) else "")
def test_library_md_example(line, code, workdir, namespace, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("RECONCILER_DB", raising=False)
    try:
        exec(compile(code, f"{DOC}:{line}", "exec"), namespace)
    except Exception as e:  # name the block: the traceback's file is docs/library.md:LINE
        raise AssertionError(f"docs/library.md example at line {line} failed: {type(e).__name__}: {e}") from e
    assert os.getcwd() == str(workdir)
