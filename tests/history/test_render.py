"""The report's renderers: HTML well-formed and self-contained, every finding present; CSV, md, table."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.history.helpers import VALUES, backdate, write_tenant

runner = CliRunner()
VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "wbr", "source", "track", "embed"}
SVG_LEAF = {"line", "rect", "path", "circle", "polyline"}
HOSTILE = '<script>alert("x")</script> & =cmd|x'


class Checker(HTMLParser):
    """Tag balance, ids, links, and which elements hold which text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: dict[str, int] = {}
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.th_scopes: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attrs.append((tag, a))
        if "id" in a:
            if a["id"] in self.ids:
                self.errors.append(f"duplicate id {a['id']}")
            self.ids.add(a["id"])
        if "href" in a:
            self.hrefs.append(a["href"])
        if tag == "th":
            self.th_scopes.append(a.get("scope"))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        if tag not in VOID and tag not in SVG_LEAF:
            self.errors.append(f"self-closing <{tag}/>")
        self.tags[tag] = self.tags.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    db = tmp_path / "r.db"
    names = {"lena": HOSTILE}
    for i, (days, keep) in enumerate([(2, ["lena", "sales", "priya", "grace"]), (1, ["lena", "sales", "diego"]),
                                      (0, ["lena", "priya", "tomasz", "hannah"])]):
        r = runner.invoke(app, ["scan", "--tenant", str(write_tenant(tmp_path / f"n{i}.json", keep,
                                                                        display_names=names)),
                                "--db", str(db), "-q", "--format", "json"])
        assert r.exit_code == 0, r.output
        if days:
            import sqlite3

            rid = sqlite3.connect(db).execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()[0]
            backdate(db, rid, days)
    other = write_tenant(tmp_path / "fab.json", ["diego"], org_id="11111111-2222-3333-4444-555555555555",
                         name="Fabrikam")
    assert runner.invoke(app, ["scan", "--tenant", str(other), "--db", str(db), "-q", "-f", "json"]).exit_code == 0
    return db


def render(db: Path, fmt: str, tmp_path: Path) -> str:
    out = tmp_path / f"report.{fmt}"
    r = runner.invoke(app, ["report", "--db", str(db), "--format", fmt, "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out.read_text(encoding="utf-8")


def doc(db: Path) -> dict:
    return json.loads(runner.invoke(app, ["report", "--db", str(db), "-f", "json", "-q"]).stdout)


def test_html_is_well_formed_self_contained_and_has_every_finding(db: Path, tmp_path: Path):
    text = render(db, "html", tmp_path)
    p = Checker()
    p.feed(text)
    p.close()
    assert p.errors == [] and p.stack == []
    assert text.startswith("<!doctype html>")
    # self-contained: no scripts, no external fetches, every link stays in the page
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags and "iframe" not in p.tags
    assert not any(k in ("src", "srcset") for _, a in p.attrs for k in a)
    assert all(h.startswith("#") for h in p.hrefs) and "url(" not in text and "@import" not in text
    # the hostile display name is text, never markup
    assert "<script>alert" not in text and HOSTILE in "".join(p.text)
    # every finding: a row linking to its explanation, which exists and gives its reasons
    d = doc(db)
    findings = [f for t in d["tenants"] for f in t["findings"]]
    assert len(findings) == 7  # Contoso: 4 open + 2 resolved (sales, diego); Fabrikam: 1 new
    for f in findings:
        assert f"#f-{f['id']}" in p.hrefs and f"f-{f['id']}" in p.ids
        assert f["value"] in "".join(p.text)
    assert "Why" in "".join(p.text)
    # accessible structure: captions, scoped headers, a labelled chart
    assert p.tags["caption"] == 1 + len(d["tenants"]) and p.tags["svg"] == len(d["tenants"])
    assert all(s in ("col", "row") for s in p.th_scopes)
    svg = [a for t, a in p.attrs if t == "svg"]
    assert all(a.get("role") == "img" and a.get("aria-labelledby") for a in svg)
    assert ('html', {'lang': 'en'}) in p.attrs
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in p.attrs)


def test_states_in_html_match_json(db: Path, tmp_path: Path):
    text = render(db, "html", tmp_path)
    d = doc(db)
    contoso = d["tenants"][0]
    assert {f["state"] for f in contoso["findings"]} == {"open", "new", "reopened", "resolved"}
    for state in ("new", "reopened", "resolved", "stuck"):
        assert f'class="badge s-{state}"' in text or state == "stuck"
    assert 'class="badge stuck"' in text


def test_csv_has_every_finding_and_defuses_formulas(db: Path, tmp_path: Path):
    rows = list(csv.DictReader(io.StringIO(render(db, "csv", tmp_path))))
    d = doc(db)
    assert len(rows) == sum(len(t["findings"]) for t in d["tenants"])
    lena = next(r for r in rows if r["value"] == VALUES["lena"])
    assert lena["object_name"] == HOSTILE  # starts with '<': left alone
    assert {r["state"] for r in rows} >= {"new", "resolved", "reopened", "open"}


def test_csv_formula_prefix(tmp_path: Path):
    from reconciler.history.report import Report, render_report

    rep = Report({"tenants": [{"tenant": "t", "name": "n", "findings": [{
        "id": "x", "state": "new", "stuck": False, "scenario": "s", "property": "p", "value": "=HYPERLINK(1)",
        "object": {"id": "o", "display_name": "+1"}, "first_seen": "a", "last_seen": "b", "resolved_at": None}]}]})
    buf = io.StringIO()
    render_report(rep, "csv", buf)
    row = next(iter(csv.DictReader(io.StringIO(buf.getvalue()))))
    assert row["value"] == "'=HYPERLINK(1)" and row["object_name"] == "'+1"


def test_markdown_and_table(db: Path, tmp_path: Path):
    md = render(db, "md", tmp_path)
    assert md.startswith("# Sync conflict report") and "## Contoso" in md and "## Fabrikam" in md
    assert "| Contoso |" in md
    table = runner.invoke(app, ["report", "--db", str(db)]).stdout
    assert "Sync conflict report" in table and "Fabrikam" in table and "reopened" in table
    assert "2 tenants:" in table
