"""`reconciler check-onprem` end to end on files: formats, --check, --tld-file, bad input, LDIF read back."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import ldif
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sources.ldif import parse_ldif_bytes
from tests.conftest import SAMPLE_LDIF, SAMPLE_TENANT

runner = CliRunner()
DC = "DC=corp,DC=contoso,DC=com"


def entry(cn: str, cls: str = "user", **attrs: str | list[str]) -> str:
    classes = {"user": ["top", "person", "organizationalPerson", "user"], "group": ["top", "group"],
               "contact": ["top", "person", "organizationalPerson", "contact"], "computer": ["top", "computer"]}
    lines = [f"dn: CN={cn},OU=Staff,{DC}", "changetype: add", *(f"objectClass: {c}" for c in classes[cls]),
             f"cn: {cn}", f"displayName: {cn}"]
    for k, v in attrs.items():
        for one in (v if isinstance(v, list) else [v]):
            if one.isascii():
                lines.append(f"{k}: {one}")
            else:
                lines.append(f"{k}:: {base64.b64encode(one.encode()).decode()}")
    return "\n".join(lines) + "\n\n"


FOREST = (
    entry("Alice", userPrincipalName="alice@contoso.com", sAMAccountName="alice", userAccountControl="512",
          proxyAddresses=["SMTP:alice@contoso.com", "smtp::alice@mail.contoso.com", "smtp:shared@contoso.com"],
          whenCreated="20150101000000.0Z")
    + entry("Bob", userPrincipalName="bob (x)@contoso.local", sAMAccountName="bob", userAccountControl="514",
            proxyAddresses=["SMTP:bob@contoso.com", "smtp:shared@contoso.com",
                            "X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=o'brien"],
            whenCreated="20200101000000.0Z")
    + entry("Renée", userPrincipalName="renée@contoso.com", sAMAccountName="renee", userAccountControl="512")
    + entry("krbtgt", sAMAccountName="krbtgt", userPrincipalName="alice@contoso.com")
    + entry("WS01$", "computer")
)
OTHER_FOREST = entry("Carol", "contact", mail="alice@contoso.com", proxyAddresses=["SMTP:carol@fabrikam.com"])


@pytest.fixture()
def forest(tmp_path: Path) -> Path:
    p = tmp_path / "forest.ldif"
    p.write_text(FOREST, encoding="utf-8")
    return p


@pytest.fixture()
def other(tmp_path: Path) -> Path:
    p = tmp_path / "fabrikam.ldf"
    p.write_text(OTHER_FOREST.replace(DC, "DC=fabrikam,DC=com"), encoding="utf-8")
    return p


def invoke(*args: str | Path):
    return runner.invoke(app, ["check-onprem", *map(str, args)])


def test_json_is_the_checks_schema_and_counts_skips(forest: Path, other: Path):
    r = invoke("--onprem", forest, "--onprem", other, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["schema"] == "reconciler.checks/1"
    assert (doc["scanned"], doc["skipped"]) == (6, 2)
    rules = {(p["dn"].split(",")[0], p["rule"]) for p in doc["problems"]}
    assert {("CN=Alice", "proxy-extra-colon"), ("CN=Bob", "upn-chars"), ("CN=Bob", "upn-tld"),
            ("CN=Renée", "upn-chars"), ("CN=Alice", "smtp-duplicate"), ("CN=Bob", "smtp-duplicate"),
            ("CN=Alice", "cross-duplicate"), ("CN=Carol", "cross-duplicate")} <= rules
    assert not any(p["rule"] == "x500-chars" for p in doc["problems"])
    for p in doc["problems"]:
        assert set(p) >= {"dn", "attribute", "value", "kind", "rule", "severity", "message", "proposed",
                          "related", "keep"}
    carol = next(p for p in doc["problems"] if p["dn"].startswith("CN=Carol"))
    assert carol["related"][0]["dn"].startswith("CN=Alice") and carol["source"].endswith("fabrikam.ldf")


def test_check_exits_1_on_errors_and_0_on_a_clean_forest(forest: Path, tmp_path: Path):
    assert invoke("--onprem", forest, "--check", "-q").exit_code == 1
    clean = tmp_path / "clean.ldif"
    clean.write_text(entry("Dave", userPrincipalName="dave@contoso.com", sAMAccountName="dave",
                           proxyAddresses="SMTP:dave@contoso.com"), encoding="utf-8")
    r = invoke("--onprem", clean, "--check")
    assert r.exit_code == 0, r.output
    assert "no problems" in r.stdout


def test_warnings_alone_do_not_fail_check(tmp_path: Path):
    f = tmp_path / "warn.ldif"
    f.write_text(entry("Eve", userPrincipalName="eve@contoso.com", sAMAccountName="eve",
                       proxyAddresses=["SMTP:eve@contoso.com", "smtp:eve@contoso.local"]), encoding="utf-8")
    r = invoke("--onprem", f, "--check", "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["rule"], x["severity"]) for x in rows] == [("smtp-tld", "warning")]


def test_csv_and_markdown_carry_the_work_list(forest: Path):
    r = invoke("--onprem", forest, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {"dn", "attribute", "value", "rule", "severity", "proposed"} <= set(rows[0])
    fix = next(x for x in rows if x["rule"] == "proxy-extra-colon")
    assert fix["proposed"] == "smtp:alice@mail.contoso.com"
    md = invoke("--onprem", forest, "--format", "md").stdout
    assert md.startswith("# check-onprem") and "| error | upn-tld | CN=Bob," in md


def test_tld_file_replaces_the_bundled_list(forest: Path, tmp_path: Path):
    tlds = tmp_path / "tlds.txt"
    tlds.write_text("# only these\ncom\nlocal\n", encoding="utf-8")
    doc = json.loads(invoke("--onprem", forest, "--format", "json", "--tld-file", tlds).stdout)
    assert not any(p["rule"] == "upn-tld" for p in doc["problems"])


@pytest.mark.parametrize("content,why", [("com\nnot a tld!\n", ":2: not a top-level domain"),
                                          ("# nothing\n", "lists no top-level domains")])
def test_bad_tld_file_is_one_line_exit_2(forest: Path, tmp_path: Path, content: str, why: str):
    tlds = tmp_path / "tlds.txt"
    tlds.write_text(content, encoding="utf-8")
    r = invoke("--onprem", forest, "--tld-file", tlds)
    assert r.exit_code == 2
    assert why in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bad_input_is_one_line_exit_2(tmp_path: Path):
    r = invoke("--onprem", tmp_path / "missing.ldif")
    assert r.exit_code == 2 and "missing.ldif" in r.stderr and "Traceback" not in r.output
    broken = tmp_path / "broken.ldif"
    broken.write_text("dn: CN=x,DC=corp\nno colon here\n", encoding="utf-8")
    r = invoke("--onprem", broken)
    assert r.exit_code == 2 and "broken.ldif:2" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = invoke("--format", "json")
    assert r.exit_code == 2 and "--onprem FILE or --ldap URL" in r.stderr
    r = invoke("--onprem", SAMPLE_LDIF, "--format", "xml")
    assert r.exit_code == 2


def _modify_records(text: str) -> list[tuple[str, list[tuple[str, str, list[bytes]]]]]:
    """Split an LDIF change file into (dn, [(op, attr, values)]) using the ldif package for every value."""
    out = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln and not ln.startswith("#")]
        if not lines or lines[0].startswith("version"):
            continue
        mods, cur = [], []
        for ln in lines + ["-"]:
            if ln == "-":
                if cur:
                    parsed = next(ldif.LDIFParser(io.BytesIO(("dn: cn=x\n" + "\n".join(cur)).encode()),
                                                  encoding=None).parse())[1]
                    op = next(k for k in ("delete", "add", "replace") if k in parsed)
                    attr = parsed[op][0].decode()
                    mods.append((op, attr, parsed.get(attr, [])))
                cur = []
            elif not ln.startswith(("dn:", "dn::", "changetype:")):
                cur.append(ln)
        dn = next(ldif.LDIFParser(io.BytesIO("\n".join(lines[:2]).encode()), encoding=None).parse())[0]
        assert "changetype: modify" in lines
        out.append((dn, mods))
    return out


def test_ldif_fixes_read_back_with_the_ldif_package(forest: Path, tmp_path: Path):
    out = tmp_path / "fixes.ldf"
    r = invoke("--onprem", forest, "--format", "ldif", "-o", out)
    assert r.exit_code == 0, r.output
    recs = dict(_modify_records(out.read_text("utf-8")))
    alice, bob = f"CN=Alice,OU=Staff,{DC}", f"CN=Bob,OU=Staff,{DC}"
    assert recs[alice] == [("delete", "proxyAddresses", [b"smtp::alice@mail.contoso.com"]),
                           ("add", "proxyAddresses", [b"smtp:alice@mail.contoso.com"])]
    # Bob is disabled and younger: he loses the shared secondary address; his UPN chain ends stripped
    assert ("delete", "proxyAddresses", [b"smtp:shared@contoso.com"]) in recs[bob]
    assert ("add", "proxyAddresses", []) not in recs[bob]
    assert ("delete", "userPrincipalName", [b"bob (x)@contoso.local"]) in recs[bob]
    assert ("add", "userPrincipalName", [b"bobx@contoso.local"]) in recs[bob]
    renee = next(dn for dn in recs if "Ren" in dn)
    assert renee == f"CN=Renée,OU=Staff,{DC}"  # non-ASCII DN written as base64 and read back
    assert recs[renee] == [("delete", "userPrincipalName", ["renée@contoso.com".encode()]),
                           ("add", "userPrincipalName", [b"renee@contoso.com"])]


def test_ldif_is_not_mistaken_for_an_export(forest: Path, tmp_path: Path):
    # the change file is for ldifde -i, never a --onprem input: our reader refuses it clearly
    text = invoke("--onprem", forest, "--format", "ldif").stdout
    with pytest.raises(Exception, match="change record"):
        parse_ldif_bytes(text.encode(), "fixes.ldf")


def test_sample_with_tenant_predicts_cloud_conflicts():
    r = invoke("--onprem", SAMPLE_LDIF, "--tenant", SAMPLE_TENANT, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    kinds = {(p["dn"].split(",")[0], p["kind"], p["severity"]) for p in doc["problems"]}
    assert ("CN=Omar Haddad", "cloud_conflict", "error") in kinds  # cloud group Sales holds his address
    assert ("CN=Grace Okafor", "cloud_conflict", "warning") in kinds  # recycle-bin holder
    deleted = [p for p in doc["problems"] if p["dn"].startswith("CN=Grace")]
    assert all(p["related"][0]["state"] == "deleted" for p in deleted)


def test_graph_url_gives_the_same_predictions_as_the_tenant_file():
    from reconciler.emulator import EmulatorConfig, create_app
    from reconciler.emulator.server import serve_in_thread

    def problems(*src: str | Path) -> list[tuple[str, str, str, str]]:
        r = invoke("--onprem", SAMPLE_LDIF, *src, "--format", "json", "-q")
        assert r.exit_code == 0, r.output
        return sorted((p["dn"], p["rule"], p["value"], p["severity"]) for p in json.loads(r.stdout)["problems"])

    offline = problems("--tenant", SAMPLE_TENANT)
    with serve_in_thread(create_app(SAMPLE_TENANT, EmulatorConfig())) as url:
        live = problems("--graph-url", url, "--auth", "none")
    assert any(rule == "cloud-conflict" for _, rule, _, _ in live)
    assert live == offline


def test_rules_option_selects_and_rejects_unknown_names(forest: Path, tmp_path: Path):
    f = tmp_path / "beyond.ldif"
    f.write_text(FOREST + entry("Dora", userPrincipalName="dora@contoso.com", sAMAccountName="dora",
                                mail="dora moreau@contoso.com", mailNickname="dora moreau"), encoding="utf-8")
    full = {p["rule"] for p in json.loads(invoke("--onprem", f, "--format", "json").stdout)["problems"]}
    assert {"mail-chars", "mailnickname-chars", "smtp-duplicate"} <= full
    r = invoke("--onprem", f, "--format", "json", "--rules", "idfix")
    assert r.exit_code == 0, r.output
    idfix = {p["rule"] for p in json.loads(r.stdout)["problems"]}
    assert "smtp-duplicate" in idfix and not idfix & {"mail-chars", "mailnickname-chars"}
    bad = invoke("--onprem", f, "--rules", "idfix,nosuch")
    assert bad.exit_code == 2 and "--rules" in bad.output and "nosuch" in bad.output
    assert "Traceback" not in bad.output


def test_plan_out_writes_the_moved_users_reanchoring_through_the_guards(tmp_path: Path):
    from reconciler.fixes.planfile import read_plan
    from tests.conftest import SAMPLE_TENANT

    doc = json.loads(SAMPLE_TENANT.read_text("utf-8"))
    doc["roleEligibilitySchedules"] = []  # eligibility read: none (unreadable would refuse every re-anchor)
    alice = next(u for u in doc["users"] if u["userPrincipalName"] == "alice.moreau@contoso.com")
    tenant = tmp_path / "tenant.json"
    tenant.write_text(json.dumps(doc), encoding="utf-8")
    guid = base64.b64encode(bytes(range(16))).decode()
    moved = tmp_path / "fabrikam.ldif"  # Alice moved to a new forest: new objectGUID, same UPN
    moved.write_text(entry("Alice Moreau", userPrincipalName="alice.moreau@contoso.com", givenName="Alice",
                           sn="Moreau", sAMAccountName="amoreau", userAccountControl="512", mail="alice.moreau@contoso.com",
                           proxyAddresses="SMTP:alice.moreau@contoso.com").replace("\n\n", f"\nobjectGUID:: {guid}\n\n"),
                     encoding="utf-8")
    plan_path = tmp_path / "reanchor-plan.json"
    r = invoke("--onprem", moved, "--tenant", tenant, "--format", "json", "--plan-out", plan_path)
    assert r.exit_code == 0, r.output
    (p,) = [p for p in json.loads(r.stdout)["problems"] if p["rule"] == "anchor-cloud-mismatch"]
    assert p["proposed"] == alice["onPremisesImmutableId"] and p["action"] is None
    plan = read_plan(plan_path).plan
    (step,) = [s for s in plan.steps if s.kind.value == "set_consistency_guid"]
    assert step.change == {"mS-DS-ConsistencyGuid": alice["onPremisesImmutableId"]}
    assert step.target["dn"].startswith("CN=Alice Moreau,") and "1 steps" not in r.output
    assert "plan sha256:" in r.output
    # without a cloud source there is nothing to copy: a usage error, nothing written
    again = tmp_path / "none.json"
    r2 = invoke("--onprem", moved, "--plan-out", again)
    assert r2.exit_code == 2 and "--plan-out" in r2.output and not again.exists()


def test_a_source_that_does_not_read_an_attribute_names_the_rules_that_did_not_run() -> None:
    from types import SimpleNamespace

    from reconciler.checks.rules import RULES, select_rules
    from reconciler.cli.checks import _unread_note

    ldap = SimpleNamespace(label="ldaps://dc1", unread_attributes=("thumbnailPhoto", "userCertificate"))
    note = _unread_note(ldap, frozenset(RULES))
    assert note is not None and note.startswith("ldaps://dc1: thumbnailPhoto, userCertificate are not read")
    for rule in ("thumbnailphoto-size", "usercertificate-count", "certificate-expired"):
        assert rule in note
    assert "usersmimecertificate-count" not in note and "proxy-count" not in note
    assert _unread_note(ldap, select_rules("idfix")) is None  # none of the selected rules reads them
    assert _unread_note(SimpleNamespace(label="f.ldif"), frozenset(RULES)) is None  # a file reads everything
