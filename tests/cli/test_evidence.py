"""What the scan says about its evidence, through the real CLI: objects a source could not link or cover
(summary on stderr and `stats` in --format json), incomplete exports, a wrong forest, raw time stamps,
pasted error texts from real pages (tests/data/real/errors), and --db in a folder that does not exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.conftest import SAMPLE_LDIF, SAMPLE_TENANT

runner = CliRunner()
ERRORS = Path(__file__).resolve().parent.parent / "data" / "real" / "errors"


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _scan(tmp_path: Path, ldif: Path, *extra: str, tenant: Path = SAMPLE_TENANT):
    r = run("scan", "--tenant", str(tenant), "--onprem", str(ldif), "--db", str(tmp_path / "r.db"),
            "--format", "json", *extra)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), r.stderr


def test_complete_sample_reports_no_gaps(tmp_path: Path):
    doc, err = _scan(tmp_path, SAMPLE_LDIF)
    [s] = doc["stats"]["onprem_sources"]
    assert s["complete"] and s["not_linkable"] == {} and s["objects"] == 20
    assert "could not link" not in err and "wrong forest" not in err
    orphan = next(f for f in doc["findings"] if f["scenario"] == "orphaned_holder")
    assert orphan["coverage"] == {"source": str(SAMPLE_LDIF), "anchored": True, "complete": True}


def test_export_without_anchors_is_counted_and_never_makes_an_orphan(tmp_path: Path):
    lines = [ln for ln in SAMPLE_LDIF.read_text().splitlines(keepends=True)
             if not ln.startswith(("objectGUID::", "mS-DS-ConsistencyGuid::"))]
    ldif = tmp_path / "no-anchors.ldif"
    ldif.write_text("".join(lines))
    doc, err = _scan(tmp_path, ldif)
    scenarios = {f["scenario"] for f in doc["findings"]}
    assert "orphaned_holder" not in scenarios and "onprem_duplicate" not in scenarios
    [s] = doc["stats"]["onprem_sources"]
    [(why, n)] = [(w, c) for w, c in s["not_linkable"].items() if w.startswith("users")]
    assert n > 0 and "objectGUID or mS-DS-ConsistencyGuid" in why
    assert sum(doc["stats"]["unverified_holders"].values()) >= 1
    assert any("cannot link users" in k for k in doc["stats"]["unverified_holders"])
    assert f"on-prem {ldif}:" in err and f"could not link {n} users" in err
    assert "not covered (unverified_holder)" in err
    held = [f for f in doc["findings"] if f["scenario"] == "unverified_holder" and f["coverage"]]
    assert held and all(f["coverage"]["anchored"] is False for f in held)


def test_incomplete_export_is_stated(tmp_path: Path):
    ldif = tmp_path / "cut.ldif"
    text = SAMPLE_LDIF.read_bytes()
    ldif.write_bytes(text[:len(text) - 40])  # cut inside the last record's last line
    doc, err = _scan(tmp_path, ldif)
    [s] = doc["stats"]["onprem_sources"]
    assert not s["complete"] and "ends in the middle of a line" in s["incomplete"][0]
    assert "warning: " in err and "incomplete export" in err
    assert "orphaned_holder" not in {f["scenario"] for f in doc["findings"]}


def test_wrong_forest_warning(tmp_path: Path):
    other = tmp_path / "other.ldif"
    other.write_text(SAMPLE_LDIF.read_text().replace("DC=corp,DC=contoso,DC=com", "DC=lab,DC=fabrikam,DC=test"))
    _, err = _scan(tmp_path, other)
    assert "no supplied on-prem source is from a domain the tenant syncs" in err and "lab.fabrikam.test" in err


def test_raw_time_stamps_are_normalised_or_warned(tmp_path: Path):
    doc = json.loads(SAMPLE_TENANT.read_text())
    errs = [e for u in doc["users"] for e in u.get("onPremisesProvisioningErrors") or ()]
    errs[0]["occurredDateTime"] = "11/07/2024 23:11:06"
    errs[1]["occurredDateTime"] = "2022-06-27T10:29:29.0922053Z"  # 7 fraction digits, as a real tenant sent
    tenant = tmp_path / "t.json"
    tenant.write_text(json.dumps(doc))
    out, err = _scan(tmp_path, SAMPLE_LDIF, tenant=tenant)
    occurred = {f["conflict"]["occurred"] for f in out["findings"]}
    assert "2022-06-27T10:29:29.092205Z" in occurred and "11/07/2024 23:11:06" in occurred
    assert "kept as given, not ISO 8601" in err and "day and month cannot be told apart" in err


def test_db_in_a_missing_folder_is_refused(tmp_path: Path):
    db = tmp_path / "nope" / "x.db"
    r = run("scan", "--tenant", str(SAMPLE_TENANT), "--db", str(db))
    assert r.exit_code == 2 and "does not exist" in r.stderr
    assert not db.parent.exists()


def _explain(tmp_path: Path, key: str):
    _scan(tmp_path, SAMPLE_LDIF)
    return run("explain", key, "--db", str(tmp_path / "r.db"), "--format", "json")


@pytest.mark.parametrize("name", ["en-kb2647098-email-upn-md-escaped-at.txt", "en-email-upn-bold-no-space-jpblog.txt",
                                  "ja-resiliency-email-upn-jpblog.txt", "en-resiliency-email-upn-backticks.txt",
                                  "en-kb2647098-event6941-AttributeValueMustBeUnique.txt"])
def test_real_message_shapes_find_the_finding(tmp_path: Path, name: str):
    """Each real shape, with the sample's conflicting value put where the message has its value."""
    text = (ERRORS / name).read_text()
    for placeholder in ("john@contoso.com", "user01@contoso.com", "john\\@contoso.com"):
        text = text.replace(placeholder, "lena.fischer@contoso.com")
    r = _explain(tmp_path, text)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [f["conflict"]["value"] for f in out["findings"]] == ["lena.fischer@contoso.com"]
    assert any(n.startswith("searched UserPrincipalName = lena.fischer@contoso.com") for n in out["notes"])


@pytest.mark.parametrize(("name", "note"), [
    ("en-902-upn-no-value-trailing-period.txt", "names the attribute UserPrincipalName but not the value"),
    ("tr-902-upn.txt", "names the attribute UserPrincipalName but not the value"),
    ("de-902-upn-v3-lowercase-attr.txt", "names the attribute UserPrincipalName but not the value"),
    ("en-dirsync-report-proxy-cloudflare-obfuscated-quisitive.txt", "does not look like an address"),
    ("en-federateddomainchange-email.txt", "FederatedDomainChangeError"),
])
def test_real_messages_without_a_usable_value_say_so_and_exit_1(tmp_path: Path, name: str, note: str):
    r = _explain(tmp_path, (ERRORS / name).read_text())
    assert r.exit_code == 1
    assert note in " | ".join(json.loads(r.stdout)["notes"])


@pytest.mark.parametrize("name", ["AttributeValueMustBeUnique", "InvalidSoftMatch", "ObjectTypeMismatch"])
def test_bare_error_names_are_explained(tmp_path: Path, name: str):
    r = _explain(tmp_path, name)
    assert r.exit_code == 1
    notes = json.loads(r.stdout)["notes"]
    assert notes[0].startswith(f"{name}: ") and any("alone does not say which value" in n for n in notes)


def test_pasted_text_with_a_value_nobody_holds_exits_1(tmp_path: Path):
    r = _explain(tmp_path, "[UserPrincipalName nobody@contoso.com;]")
    assert r.exit_code == 1
    assert "searched UserPrincipalName = nobody@contoso.com: 0 findings" in json.loads(r.stdout)["notes"]


def test_check_onprem_warns_about_an_incomplete_export():
    ldif = ERRORS.parent / "ldapsearch" / "ad-groups-sizelimit-knox.ldif"
    r = run("check-onprem", "--onprem", str(ldif))
    assert r.exit_code == 0, r.output
    assert f"note: {ldif}: incomplete export: ldapsearch reported 'result: 4 Size limit exceeded'" in r.stderr
