"""Tables fit the terminal (80 and 120 columns): no line wider, no value folded mid-word, long values
ellipsised with the whole value in --format json."""

from __future__ import annotations

import io
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from reconciler.cli.checks import _table as checks_table
from reconciler.cli.render import render_explanation, render_findings
from reconciler.core.textfit import ellipsis, fit_widths
from reconciler.history.report import build_report, render_report
from reconciler.history.store import Store
from reconciler.workflow import explain
from tests.conftest import SAMPLE_LDIF, SAMPLE_TENANT

runner = CliRunner()
WIDTHS = [80, 120]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from reconciler.cli import app

    d = tmp_path_factory.mktemp("tables")
    db = d / "r.db"
    r = runner.invoke(app, ["scan", "--tenant", str(SAMPLE_TENANT), "--onprem", str(SAMPLE_LDIF), "--db", str(db),
                            "-f", "json", "-q"])
    assert r.exit_code == 0
    return db, json.loads(r.stdout)


def _values(doc) -> set[str]:
    out = set()
    for f in doc["findings"]:
        out |= {f["conflict"]["value"], f["object"].get("user_principal_name") or ""}
        out |= {h.get("user_principal_name") or "" for h in f["holders"]}
    return out - {""}


def _cells(text: str) -> list[str]:
    return [c.strip() for line in text.splitlines() for c in re.split(r"[│┃]", line)[1:-1] if c.strip()]


def _assert_fits(text: str, width: int) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, too_wide


@pytest.mark.parametrize("width", WIDTHS)
def test_the_findings_table_fits_and_never_folds_a_value(sample, width):
    _db, doc = sample
    buf = io.StringIO()
    render_findings(doc, "table", buf, width=width)
    text = buf.getvalue()
    _assert_fits(text, width)
    body = [line for line in text.splitlines() if line.startswith("│")]
    assert len(body) == len(doc["findings"]), "a finding spread over several lines: a value was wrapped"
    for value in _values(doc):  # each value appears whole, or as a prefix ending in …, never split
        for cell in _cells(text):
            if cell.endswith("…") and value.startswith(cell[:-1]) and len(cell) > 6:
                break
            if value in cell:
                break
    assert "UserPrincipal\n" not in text and "Name │" not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_explain_fits(sample, width):
    db, doc = sample
    with Store(db) as st_:
        info = st_.latest_run()
        findings = st_.findings(info.id)
        details = {f["id"]: st_.finding_detail(info.id, f["id"]) for f in findings}
    buf = io.StringIO()
    render_explanation(explain("lena.fischer@contoso.com", findings, details), "table", buf, width=width)
    _assert_fits(buf.getvalue(), width)
    assert "userPrincipalName" in buf.getvalue() and "◀" in buf.getvalue()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_fits(sample, width):
    db, doc = sample
    with Store(db) as st_:
        report = build_report(st_)
    buf = io.StringIO()
    render_report(report, "table", buf, width=width)
    _assert_fits(buf.getvalue(), width)
    body = [line for line in buf.getvalue().splitlines() if line.startswith("│")]
    assert len(body) == 1 + len(doc["findings"])  # one line per tenant and per finding: nothing wrapped


@pytest.mark.parametrize("width", WIDTHS)
def test_check_onprem_fits_a_terminal_and_keeps_whole_values_in_a_pipe(width):
    from reconciler.cli.checks import load_tlds, run_checks
    from reconciler.cli.common import source_options
    from reconciler.sources.base import NullProgress

    result = run_checks(source_options(tenant=SAMPLE_TENANT, onprem=[SAMPLE_LDIF]), load_tlds(None), NullProgress())
    buf = io.StringIO()
    checks_table(result, buf, width)
    _assert_fits(buf.getvalue(), width)
    assert len(buf.getvalue().splitlines()) == 1 + len(result.problems)
    whole = io.StringIO()
    checks_table(result, whole, None)
    assert all(p.dn in whole.getvalue() for p in result.problems)


def test_json_keeps_every_value_whole(sample):
    _db, doc = sample
    assert "tomasz.kowalski1576@contoso.onmicrosoft.com" in json.dumps(doc)


@given(st.lists(st.integers(0, 60), min_size=1, max_size=8), st.integers(0, 400))
def test_fit_widths_never_exceeds_the_budget_or_goes_below_a_minimum(natural, budget):
    minimum = [n // 3 for n in natural]
    widths = fit_widths(natural, minimum, budget)
    if sum(minimum) > budget:
        assert widths is None
    else:
        assert widths is not None and sum(widths) <= budget
        assert all(m <= w <= n for m, w, n in zip(minimum, widths, natural))
        if sum(natural) <= budget:
            assert widths == natural


def test_ellipsis():
    assert ellipsis("lena.fischer@contoso.com", 10) == "lena.fisc…" and ellipsis("abc", 10) == "abc"
