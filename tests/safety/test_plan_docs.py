"""docs/safety.md names real tests, and names every planning-side safety test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "safety.md"


def _tests(*files: Path) -> set[str]:
    out: set[str] = set()
    for f in files:
        tree = ast.parse(f.read_text())
        out |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return out


def test_plan_docs_safety_table_names_exist_in_the_suite():
    named = set(re.findall(r"`(test_\w+)`", DOC.read_text()))
    suite = _tests(*(ROOT / "tests" / "safety").glob("test_*.py"), *(ROOT / "tests" / "fixes").glob("test_*.py"))
    assert len(named) >= 40
    assert named - suite == set(), "docs/safety.md names tests that do not exist"


def test_plan_docs_every_planning_side_safety_test_is_in_the_table():
    here = Path(__file__).parent
    mine = _tests(here / "test_plan_classes.py", here / "test_prop_plan.py", here / "test_plan_cli.py")
    named = set(re.findall(r"`(test_\w+)`", DOC.read_text()))
    assert mine - named == set(), "add these tests to docs/safety.md"
