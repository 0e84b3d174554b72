"""End to end against a real Samba AD DC: scan --ldap == scan --onprem <our LDIF export> == sample expected."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sources.base import NullProgress
from reconciler.sources.ldap import LdapReader, LdapSettings, write_ldif
from reconciler.sources.onprem import read_onprem_file
from tests.conftest import SAMPLE_EXPECTED

from . import forest

pytestmark = pytest.mark.ldap
runner = CliRunner()
URL = "ldaps://127.0.0.1"


def admin_settings(url: str = URL, **kw) -> LdapSettings:
    return LdapSettings.from_url(url, bind_dn=forest.ADMIN_DN, password=forest.ADMIN_PASSWORD,
                                 ca_file=forest.ca_file(), **kw)


def export_ldif(path: Path, url: str = URL) -> Path:
    with path.open("w", encoding="utf-8") as f:
        write_ldif(LdapReader(admin_settings(url)).iter_raw(), f)
    return path


def scan(*args: str, db: Path, env: dict[str, str] | None = None, out: Path | None = None):
    extra = ["-o", str(out)] if out else []
    return runner.invoke(app, ["scan", *args, "--db", str(db), "--format", "json", "-q", *extra],
                         env=env or {}, catch_exceptions=False)


def comparable(doc: dict) -> list[dict]:
    """Findings without the run time; the source labels (URL vs file, also in coverage) are the only other
    difference."""
    out = []
    for f in sorted(doc["findings"], key=lambda f: f["id"]):
        cov = f.get("coverage")
        out.append({**f, "coverage": cov and {k: v for k, v in cov.items() if k != "source"}})
    return out


def test_scan_ldap_matches_scan_of_our_ldif_export_and_sample_expected(rewritten_tenant, tmp_path):
    out_ldap, out_file = tmp_path / "ldap.json", tmp_path / "file.json"
    r = scan("--tenant", str(rewritten_tenant), "--ldap", URL, "--bind-dn", forest.ADMIN_DN,
             "--ldap-ca", str(forest.ca_file()), db=tmp_path / "a.db", out=out_ldap,
             env={"RECONCILER_LDAP_PASSWORD": forest.ADMIN_PASSWORD})
    assert r.exit_code == 0, r.output
    ldif = export_ldif(tmp_path / "dc-export.ldif")
    r2 = scan("--tenant", str(rewritten_tenant), "--onprem", str(ldif), db=tmp_path / "b.db", out=out_file)
    assert r2.exit_code == 0, r2.output
    via_ldap, via_file = json.loads(out_ldap.read_text()), json.loads(out_file.read_text())
    assert comparable(via_ldap) == comparable(via_file)
    got = {(f["object"]["id"], f["conflict"]["value"].lower()): f for f in via_ldap["findings"]}
    expected = json.loads(SAMPLE_EXPECTED.read_text())["findings"]
    assert len(got) == len(expected)
    for e in expected:
        f = got[(e["object_id"], e["value"].lower())]
        assert f["scenario"] == e["scenario"], e["object_id"]
        assert (f["holders"][0]["id"] if f["holders"] else None) == e["holder"], e["object_id"]
        assert (f["source"] or {}).get("dn") == e["source_dn"], e["object_id"]
    # the DC assigned new GUIDs: the stamped ConsistencyGuid is what links, exactly as Entra Connect does
    lena = got[("14640a13-e0b4-4c90-b811-71b226216542", "lena.fischer@contoso.com")]
    assert lena["source"]["immutable_id"] == "Aeng8cld9EquoKqTTIsfcw=="
    assert lena["source"]["object_guid"] != "f1e0e901-5dc9-4af4-aea0-aa934c8b1f73"


def test_ldap_read_and_its_ldif_export_decode_to_equal_objects(sample_forest, tmp_path):
    src = LdapReader(admin_settings()).read(NullProgress())
    exported = read_onprem_file(export_ldif(tmp_path / "export.ldif"))
    def strip(objs):
        return sorted((dataclasses.replace(o, source="") for o in objs), key=lambda o: o.dn)

    assert strip(src.objects) == strip(exported.objects)
    assert src.base_dn == "DC=corp,DC=contoso,DC=com"
    by_dn = {o.dn: o for o in src.objects}
    group = by_dn["CN=All Staff,OU=Groups,DC=corp,DC=contoso,DC=com"]
    assert group.object_class == "group" and group.object_sid in sample_forest.sids.values()
    assert by_dn["CN=Nadia Petrova (Partner),OU=Contacts,DC=corp,DC=contoso,DC=com"].object_class == "contact"
    # the default filter leaves out what Entra Connect never syncs (Administrator, krbtgt, built-ins)
    assert not any(o.sam_account_name in ("Administrator", "krbtgt", "Guest") for o in src.objects)


@pytest.mark.parametrize("url", ["ldap://127.0.0.1", "ldaps://127.0.0.1:636", "ldap://127.0.0.1:3268",
                                 "ldaps://127.0.0.1:3269"])
def test_starttls_ldaps_and_global_catalog_read_the_same_objects(sample_forest, url):
    src = LdapReader(admin_settings(url)).read(NullProgress())
    assert len([o for o in src.objects if o.dn.endswith("OU=Staff,DC=corp,DC=contoso,DC=com")]) == 17
    if url.endswith(("3268", "3269")):
        assert any("Global Catalog" in n and "objectGUID" in n for n in src.notes)
    else:
        assert src.notes == ()


def test_plain_ldap_with_insecure_works_and_scan_reads_through_the_base_dn(sample_forest, tmp_path):
    src = LdapReader(LdapSettings.from_url("ldap://127.0.0.1", insecure=True, bind_dn=forest.ADMIN_DN,
                                           password=forest.ADMIN_PASSWORD,
                                           base_dn="OU=Groups,DC=corp,DC=contoso,DC=com")).read(NullProgress())
    assert [o.cn for o in src.objects] == ["All Staff"]
    assert src.base_dn == "OU=Groups,DC=corp,DC=contoso,DC=com"


def test_custom_filter_is_used(sample_forest):
    src = LdapReader(admin_settings(search_filter="(&(objectClass=contact)(mail=*@partners.contoso.com))")
                     ).read(NullProgress())
    assert [o.display_name for o in src.objects] == ["Nadia Petrova (Partner)"]


# ------------------------------------------------------------------ clear errors through the CLI


def cli_scan_error(tmp_path: Path, *args: str, password: str = forest.ADMIN_PASSWORD):
    r = runner.invoke(app, ["scan", "--tenant", str(tmp_path / "t.json"), *args, "--db", str(tmp_path / "e.db")],
                      env={"RECONCILER_LDAP_PASSWORD": password})
    return r


@pytest.fixture
def tenant_file(tmp_path: Path) -> Path:
    from tests.conftest import SAMPLE_TENANT

    (tmp_path / "t.json").write_text(SAMPLE_TENANT.read_text())
    return tmp_path / "t.json"


def test_refused_bind_is_exit_5_one_line_without_the_password(samba, tenant_file, tmp_path):
    r = cli_scan_error(tmp_path, "--ldap", URL, "--bind-dn", forest.ADMIN_DN, "--ldap-ca", str(forest.ca_file()),
                       password="Wrong!Secret987")
    assert r.exit_code == 5
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "bind refused" in lines[0] and "invalid credentials" in lines[0]
    assert "Wrong!Secret987" not in r.output and "Traceback" not in r.output


def test_unverifiable_certificate_is_a_tls_error(samba, tenant_file, tmp_path):
    # no --ldap-ca: the test CA is not in the system store
    r = cli_scan_error(tmp_path, "--ldap", URL, "--bind-dn", forest.ADMIN_DN)
    assert r.exit_code == 5
    assert "TLS failed" in r.output and len(r.output.strip().splitlines()) == 1


def test_unreachable_server_is_exit_5_one_line(samba, tenant_file, tmp_path):
    r = cli_scan_error(tmp_path, "--ldap", "ldaps://127.0.0.1:1", "--bind-dn", forest.ADMIN_DN,
                       "--ldap-ca", str(forest.ca_file()))
    assert r.exit_code == 5
    assert "cannot connect" in r.output and len(r.output.strip().splitlines()) == 1


def test_duplicate_across_ous_links_the_holder_to_its_object_in_the_other_ou(rewritten_tenant, tmp_path):
    staff, branch = f"OU=Staff,{forest.BASE_DN}", f"OU=Branch Office,{forest.BASE_DN}"
    with forest.admin_connection() as conn:
        forest.ensure_ou(conn, branch)
        conn.modify_dn(f"CN=Priya Raman,{staff}", "CN=Priya Raman", new_superior=branch)
        try:
            out = tmp_path / "f.json"
            r = scan("--tenant", str(rewritten_tenant), "--ldap", URL, "--bind-dn", forest.ADMIN_DN,
                     "--ldap-ca", str(forest.ca_file()), db=tmp_path / "d.db", out=out,
                     env={"RECONCILER_LDAP_PASSWORD": forest.ADMIN_PASSWORD})
            assert r.exit_code == 0, r.output
        finally:
            conn.modify_dn(f"CN=Priya Raman,{branch}", "CN=Priya Raman", new_superior=staff)
            forest.delete_tree(conn, branch)
    [f] = [f for f in json.loads(out.read_text())["findings"] if f["conflict"]["value"] == "priya@contoso.com"]
    assert f["scenario"] == "onprem_duplicate"
    assert f["source"]["dn"] == f"CN=Priya Natarajan,{staff}"
    assert f["holders"][0]["source"]["dn"] == f"CN=Priya Raman,{branch}"
