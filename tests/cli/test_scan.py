"""scan / explain / demo through the real CLI: exit codes, stdout, stderr and the database."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.conftest import SAMPLE_EXPECTED, SAMPLE_LDIF, SAMPLE_TENANT

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "r.db"


def scan_json(db: Path, *extra: str) -> dict:
    r = run("scan", "--tenant", str(SAMPLE_TENANT), "--onprem", str(SAMPLE_LDIF), "--db", str(db),
            "--format", "json", *extra)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_scan_json_reproduces_sample_expected(db):
    doc = scan_json(db)
    expected = json.loads(SAMPLE_EXPECTED.read_text())
    assert doc["schema"] == "reconciler.findings/1"
    assert doc["tenant"] == "0bbfd26b-5005-41e4-bbf2-e3fb704bde8b"
    got = {f["object"]["id"]: f for f in doc["findings"]}
    for e in expected["findings"]:
        f = got[e["object_id"]]
        assert f["scenario"] == e["scenario"]
        assert (f["holders"][0]["id"] if f["holders"] else None) == e["holder"]
        assert (f["source"]["dn"] if f["source"] else None) == e["source_dn"]
        assert f["conflict"]["property"] == e["property"]
    counts = {}
    for f in doc["findings"]:
        counts[f["scenario"]] = counts.get(f["scenario"], 0) + 1
    assert counts == expected["counts"]


def test_scan_stores_the_run_and_ids_are_stable(db):
    first = scan_json(db)
    second = scan_json(db)
    assert [f["id"] for f in first["findings"]] == [f["id"] for f in second["findings"]]
    con = sqlite3.connect(db)
    runs = con.execute("SELECT id, complete, tenant_name FROM runs ORDER BY started").fetchall()
    assert len(runs) == 2 and all(r[1] == 1 for r in runs) and runs[0][2] == "Contoso"
    n = con.execute("SELECT COUNT(*) FROM findings WHERE run_id = ?", (runs[1][0],)).fetchone()[0]
    assert n == 7
    scen = dict(con.execute("SELECT object_id, scenario FROM findings WHERE run_id = ?", (runs[1][0],)).fetchall())
    assert scen["14640a13-e0b4-4c90-b811-71b226216542"] == "cloud_only_twin"


def test_scan_check_exits_1_with_findings(db, tmp_path):
    r = run("scan", "--tenant", str(SAMPLE_TENANT), "--db", str(db), "--check", "-q", "--format", "csv")
    assert r.exit_code == 1
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("id,scenario,") and len(lines) == 8
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps({"schema": "reconciler.tenant/1", "organization": {"id": "t"},
                                 "users": [{"id": "u", "userPrincipalName": "a@b.com"}]}))
    r = run("scan", "--tenant", str(clean), "--db", str(db), "--check", "-q")
    assert r.exit_code == 0 and "no sync conflicts found" in r.stdout


def test_scan_without_onprem_warns_and_never_gives_onprem_scenarios(db):
    r = run("scan", "--tenant", str(SAMPLE_TENANT), "--db", str(db), "--format", "json")
    assert r.exit_code == 0
    scen = {f["scenario"] for f in json.loads(r.stdout)["findings"]}
    assert not scen & {"onprem_duplicate", "orphaned_holder"}
    assert "no on-prem source supplied" in r.stderr


@pytest.mark.parametrize("fmt,marker", [("md", "| id | scenario |"), ("html", "<table>"), ("table", "cloud_only_twin")])
def test_scan_formats(db, fmt, marker, tmp_path):
    out = tmp_path / f"f.{fmt}"
    r = run("scan", "--tenant", str(SAMPLE_TENANT), "--onprem", str(SAMPLE_LDIF), "--db", str(db),
            "--format", fmt, "-o", str(out))
    assert r.exit_code == 0
    text = out.read_text()
    assert marker in text
    assert "lena.fischer@contoso.com" in text
    assert "7 findings" in r.stderr


def test_output_file_is_not_written_on_error(db, tmp_path):
    out = tmp_path / "findings.json"
    out.write_text("previous")
    r = run("scan", "--tenant", str(tmp_path / "missing.json"), "--db", str(db), "-o", str(out))
    assert r.exit_code == 2
    assert out.read_text() == "previous"
    assert list(tmp_path.glob(".findings.json.tmp*")) == []


# ----------------------------------------------------------------------------- bad input


def _bad(tmp_path: Path, name: str, content: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


@pytest.mark.parametrize("name,content,fragment", [
    ("t.json", b'{"schema": "reconciler.tenant/1", "users": [{"id": "a"', "invalid JSON"),
    ("t.json", b'{"schema": "reconciler.plan/1"}', "schema is 'reconciler.plan/1'"),
    ("t.json", b"", "empty file"),
])
def test_bad_tenant_file_exit_2_one_line(db, tmp_path, name, content, fragment):
    p = _bad(tmp_path, name, content)
    r = run("scan", "--tenant", str(p), "--db", str(db))
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(p) in lines[0] and fragment in lines[0]
    assert "Traceback" not in r.output


@pytest.mark.parametrize("content,fragment", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", "bad.ldif:1"),
    (b"dn: CN=a,DC=x\nobjectGUID:: %%%\n", "bad.ldif:2: invalid base64"),
    (b"", "empty file"),
])
def test_bad_ldif_exit_2_one_line(db, tmp_path, content, fragment):
    p = _bad(tmp_path, "bad.ldif", content)
    r = run("scan", "--tenant", str(SAMPLE_TENANT), "--onprem", str(p), "--db", str(db))
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


def test_missing_paths_and_usage_errors(db, tmp_path):
    r = run("scan", "--tenant", str(tmp_path / "nope.json"), "--db", str(db))
    assert r.exit_code == 2 and "nope.json: no such file" in r.stderr
    r = run("scan", "--db", str(db))
    assert r.exit_code == 2 and "no cloud source" in r.stderr
    r = run("scan", "--tenant", str(SAMPLE_TENANT), "--format", "xml", "--db", str(db))
    assert r.exit_code == 2 and "--format must be one of" in r.stderr
    r = runner.invoke(app, ["scan", "--no-such-option"])
    assert r.exit_code == 2
    r = run("scan", "--tenant", str(SAMPLE_TENANT), "--graph-url", "https://graph.microsoft.com/v1.0", "--db", str(db))
    assert r.exit_code == 2 and "only one cloud source" in r.stderr
    r = run("scan", "--graph-url", "https://graph.example.com/v1.0", "--auth", "none", "--db", str(db))
    assert r.exit_code == 2 and "loopback" in r.stderr


def test_corrupt_database_is_bad_input(tmp_path):
    bad = _bad(tmp_path, "r.db", b"this is not sqlite" * 100)
    r = run("scan", "--tenant", str(SAMPLE_TENANT), "--db", str(bad))
    assert r.exit_code == 2 and "not a usable reconciler database" in r.stderr


# ----------------------------------------------------------------------------- explain


def test_explain_by_id_upn_value_and_pasted_text(db):
    doc = scan_json(db)
    lena = next(f for f in doc["findings"] if f["scenario"] == "cloud_only_twin")
    for key in (lena["id"], lena["id"][:10], lena["object"]["id"], "lena.fischer@contoso.com",
                "lena.fischer7449@contoso.onmicrosoft.com",
                "Unable to update this object because the following attributes associated with this object have "
                "values that may already be associated with another object in your local directory services: "
                "[UserPrincipalName lena.fischer@contoso.com;]. Correct or remove the duplicate values in your "
                "local directory."):
        r = run("explain", key, "--db", str(db), "--format", "json")
        assert r.exit_code == 0, (key, r.output)
        out = json.loads(r.stdout)
        assert [f["id"] for f in out["findings"]] == [lena["id"]], key


def test_explain_table_is_side_by_side_with_reasoning(db):
    scan_json(db)
    r = run("explain", "priya@contoso.com", "--db", str(db))
    assert r.exit_code == 0
    out = r.stdout
    for title in ("error object", "holder 1", "on-prem source", "holder 1 on-prem"):
        assert title in out
    assert "onprem_duplicate" in out and "keep: holder" in out
    assert "CN=Priya Raman,OU=Staff,DC=corp,DC=contoso,DC=com" in out
    assert "usual remedy" in out
    assert "◀" in out  # the conflicting value is marked


def test_explain_moera_user_says_no_quarantine(db):
    r = run("explain", "mrossi@contoso.onmicrosoft.com", "--tenant", str(SAMPLE_TENANT),
            "--onprem", str(SAMPLE_LDIF), "--db", str(db), "--format", "json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["findings"] == []
    assert any("no provisioning error" in n for n in out["notes"])
    assert any("MOERA" in n and "no quarantine" in n for n in out["notes"])


def test_explain_proxy_message_without_value_says_what_is_missing(db):
    scan_json(db)
    r = run("explain", "A synchronized object with the same proxy address already exists in your Microsoft "
                       "Online Services directory.", "--db", str(db))
    assert r.exit_code == 1  # nothing was searched, so nothing matched
    assert "could not extract value" in r.stdout


def test_explain_proxy_message_with_address(db):
    scan_json(db)
    r = run("explain", "A synchronized object with the same proxy address already exists: smtp:sales@contoso.com",
            "--db", str(db), "--format", "json")
    assert [f["scenario"] for f in json.loads(r.stdout)["findings"]] == ["cloud_only_other_type"]


def test_explain_unknown_key_and_empty_db(db):
    r = run("explain", "nobody@nowhere.example", "--db", str(db))
    assert r.exit_code == 2 and "no scan in the database" in r.stderr
    scan_json(db)
    r = run("explain", "nobody@nowhere.example", "--db", str(db))
    assert r.exit_code == 1 and "nothing matches" in r.stdout


# ----------------------------------------------------------------------------- demo and entry points


def test_demo_runs_every_stage_on_the_bundled_sample(tmp_path):
    work = tmp_path / "work"
    r = run("demo", "--db", str(tmp_path / "demo.db"), "--workdir", str(work))
    assert r.exit_code == 0, r.output
    assert "7 findings" in r.stdout
    for stage in ("== 2. explain", "== 3. plan", "== 4. apply", "== 5. report", "== 6. check-onprem"):
        assert stage in r.stdout
    assert "dry run (nothing written" in r.stderr
    assert "7 open, 7 new" in r.stdout
    assert "smtp-duplicate" in r.stdout
    con = sqlite3.connect(tmp_path / "demo.db")
    assert con.execute("SELECT COUNT(*) FROM findings").fetchone()[0] == 7
    plan = json.loads((work / "plan.json").read_text())
    assert plan["schema"] == "reconciler.plan/1" and plan["steps"]
    assert (work / "plan.md").exists() and list(work.glob("plan*.ps1"))  # one script per host
    assert con.execute("SELECT COUNT(*) FROM plans").fetchone()[0] == 1


def test_demo_needs_no_arguments_and_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("demo", "-q")
    assert r.exit_code == 0, r.output
    assert list(tmp_path.iterdir()) == []


def test_python_dash_m_and_help(tmp_path):
    p = subprocess.run([sys.executable, "-m", "reconciler", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    for cmd in ("scan", "explain", "demo"):
        assert cmd in p.stdout
    p = subprocess.run([sys.executable, "-m", "reconciler", "scan", "--tenant", str(tmp_path / "x.json"),
                        "--db", str(tmp_path / "d.db")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "x.json: no such file" in p.stderr


def test_error_lines_escape_control_and_bidi_characters(db, tmp_path):
    from reconciler.cli.common import safe_line

    assert safe_line("a\nb\x1b[31m\u202ec") == "a\\x0ab\\x1b[31m\\u202ec"
    evil = tmp_path / "evil\x1b[2J\u202e.json"
    r = run("scan", "--tenant", str(evil), "--db", str(db))
    assert r.exit_code == 2
    assert "\x1b" not in r.stderr and "\u202e" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
