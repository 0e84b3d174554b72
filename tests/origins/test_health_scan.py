"""End to end: `scan --health-url` against the emulator's Graph (/v1.0) and ARM (/arm) over real HTTP, then
`plan` from the database and `apply --doit` of the Graph remedies against the same emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.emulator.arm import READ_ACTION
from tests.origins.health_helpers import item, tenant

runner = CliRunner()
READ = ["User.Read.All", "Group.Read.All", "OrgContact.Read.All", "Organization.Read.All",
        "RoleManagement.Read.Directory"]


def invoke(*args: Any, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, env=env)


def user(oid: str, upn: str, *, synced: bool, anchor: str | None = None, **kw: Any) -> dict[str, Any]:
    u = {"id": oid, "userPrincipalName": upn, "displayName": oid, "givenName": "G", "surname": oid,
         "userType": "Member", "accountEnabled": True, "onPremisesSyncEnabled": True if synced else None,
         "onPremisesImmutableId": anchor, "mail": None, "proxyAddresses": [], "assignedLicenses": [],
         "createdDateTime": "2026-01-01T00:00:00Z"}
    u.update(kw)
    return u


def doc() -> dict[str, Any]:
    users = [
        # a DAR duplicate reported by Connect (onPremisesProvisioningErrors) AND by Connect Health
        user("u-dup", "lena1234@contoso.onmicrosoft.com", synced=True, anchor="ANCHOR1==",
             onPremisesProvisioningErrors=[{"category": "PropertyConflict", "propertyCausingError": "UserPrincipalName",
                                            "value": "lena@contoso.com", "occurredDateTime": "2026-12-01T09:00:00Z"}]),
        user("u-twin", "lena@contoso.com", synced=False),
        # Connect Health only: a malformed UPN, a federated domain change, a blocked hard match
        user("u-bad", "mia.m@contoso.onmicrosoft.com", synced=True, anchor="ANCHOR2=="),
        user("u-fed", "omar@contoso.com", synced=True, anchor="ANCHOR3=="),
        user("u-hm", "ida@contoso.com", synced=False, anchor="ANCHOR5=="),
        user("u-big", "noor@contoso.com", synced=True, anchor="ANCHOR4=="),
    ]
    errors = [
        item(1, "AttributeValueMustBeUnique", "UserPrincipalName", "lena@contoso.com", anchor="ANCHOR1==",
             existing={"displayName": "u-twin", "userPrincipalName": "lena@contoso.com",
                       "sourceOfAuthority": "Microsoft Entra ID"}),
        item(2, "IdentityDataValidationFailed", "UserPrincipalName", "mia müller@contoso.com", anchor="ANCHOR2=="),
        item(3, "FederatedDomainChangeError", "UserPrincipalName", "omar@fabrikam.com", anchor="ANCHOR3=="),
        item(4, "LargeObject", "userCertificate", "17", anchor="ANCHOR4=="),
        item(5, "InvalidHardMatch", "SourceAnchor", "ANCHOR5==", anchor="ANCHOR5=="),
    ]
    d = tenant(errors, users)
    d["organization"]["verifiedDomains"].append({"name": "fabrikam.com", "isDefault": False, "isInitial": False})
    return d


def scan(url: str, db: Path, *extra: Any, env: dict[str, str] | None = None) -> Any:
    root = url.rsplit("/v1.0", 1)[0]
    return invoke("scan", "--graph-url", url, "--health-url", f"{root}/arm", "--db", db, "--format", "json",
                  *extra, env=env)


def findings(r: Any) -> list[dict[str, Any]]:
    return list(orjson.loads(r.stdout[r.stdout.index("{"):])["findings"])


def test_scan_reads_connect_health_beside_graph_one_conflict_one_finding(tmp_path: Path) -> None:
    application = create_app(doc())
    with serve_in_thread(application) as url:
        r = scan(url, tmp_path / "r.db", "--auth", "none")
    assert r.exit_code == 0, r.output
    got = {(f["conflict"]["category"], f["conflict"]["value"]): f for f in findings(r)}
    dup = got[("PropertyConflict", "lena@contoso.com")]
    assert dup["conflict"]["origins"] == ["connect", "health"] and dup["scenario"] == "cloud_only_twin"
    assert not any(k[0] == "AttributeValueMustBeUnique" for k in got)  # the same conflict is ONE finding
    by_type = {f["conflict"]["category"]: f for f in findings(r) if f["conflict"]["origins"] == ["health"]}
    assert by_type["IdentityDataValidationFailed"]["scenario"] == "data_validation"
    assert by_type["IdentityDataValidationFailed"]["object"]["id"] == "u-bad"
    assert by_type["FederatedDomainChangeError"]["scenario"] == "federated_domain_change"
    assert by_type["InvalidHardMatch"]["scenario"] == "hard_match_blocked"
    large = by_type["LargeObject"]
    assert large["scenario"] == "large_attribute" and large["object"]["id"] == "u-big"
    # ARM was asked exactly as the portal asks: the service, then every bucket
    arm = application.state.arm.log
    assert len(arm) == 7 and arm[0]["path"].endswith("/services")


def test_a_graph_url_without_health_url_says_connect_health_was_not_read(tmp_path: Path) -> None:
    """A Graph look-alike says nothing about where its ARM is: the scan says Connect Health is missing."""
    with serve_in_thread(create_app(doc())) as url:
        r = invoke("scan", "--graph-url", url, "--auth", "none", "--db", tmp_path / "r.db", "--format", "json")
    assert r.exit_code == 0, r.output
    assert "Connect Health was not read: no Azure Resource Manager" in r.stderr and "--health-url" in r.stderr
    assert all("health" not in f["conflict"]["origins"] for f in findings(r))
    with serve_in_thread(create_app(doc())) as url:
        r = invoke("scan", "--graph-url", url, "--auth", "none", "--db", tmp_path / "r2.db", "--format", "json",
                   "--errors", "connect,cloud_sync,exchange")
    assert r.exit_code == 0 and "Connect Health was not read" not in r.stderr  # not asked for: nothing to say


def test_a_refused_connect_health_is_a_warning_and_the_rest_of_the_scan_stands(tmp_path: Path) -> None:
    tokens = {"graph-only": set(READ), "both": set(READ) | {READ_ACTION}}
    application = create_app(doc(), EmulatorConfig(permissions=tokens))
    with serve_in_thread(application) as url:
        env = {"RECONCILER_GRAPH_TOKEN": "graph-only", "RECONCILER_ARM_TOKEN": "graph-only"}
        r = scan(url, tmp_path / "r.db", "--auth", "token", env=env)
        assert r.exit_code == 0, r.output
        assert "Connect Health was not read" in r.stderr and "RBAC read on Microsoft Entra Connect Health" in r.stderr
        assert "not 'no errors'" in r.stderr and "graph-only" not in r.output
        kept = findings(r)
        assert [f["conflict"]["origins"] for f in kept] == [["connect"]]  # Graph's own finding is intact
        assert kept[0]["scenario"] == "cloud_only_twin"
        env = {"RECONCILER_GRAPH_TOKEN": "both", "RECONCILER_ARM_TOKEN": "both"}
        r = scan(url, tmp_path / "r2.db", "--auth", "token", env=env)
        assert r.exit_code == 0 and len(findings(r)) == 5 and "Connect Health was not read" not in r.stderr


@pytest.mark.parametrize("health", [None, []])
def test_no_sync_service_or_no_errors(tmp_path: Path, health: list[Any] | None) -> None:
    d = doc()
    if health is None:
        del d["connectHealthErrors"]
    else:
        d["connectHealthErrors"] = health
    with serve_in_thread(create_app(d)) as url:
        r = scan(url, tmp_path / "r.db", "--auth", "none")
    assert r.exit_code == 0, r.output
    assert ("no Entra Connect sync service" in r.stderr) is (health is None)
    assert [f["conflict"]["origins"] for f in findings(r)] == [["connect"]]


def test_plan_and_apply_the_federated_domain_detour_against_the_emulator(tmp_path: Path) -> None:
    application = create_app(doc())
    em = application.state.emulator
    db = tmp_path / "r.db"
    with serve_in_thread(application) as url:
        assert scan(url, db, "--auth", "none").exit_code == 0
        plan = tmp_path / "plan.json"
        r = invoke("plan", "-o", plan, "--db", db, "--scenario", "federated_domain_change")
        assert r.exit_code == 0, r.output
        steps = json.loads(plan.read_text())["steps"]
        assert [(s["kind"], s["executor"]) for s in steps] == [("set_user_principal_name", "graph"),
                                                                ("run_delta_sync", "manual")]
        base = ["--graph-url", url, "--auth", "none", "--db", db]
        r = invoke("apply", plan, *base, "--doit")
        assert r.exit_code == 0, r.output
        assert em.state.collections["users"].get("u-fed")["userPrincipalName"] == "omar@contoso.onmicrosoft.com"
        r = invoke("undo", *base, "--doit")
        assert r.exit_code == 0, r.output
        assert em.state.collections["users"].get("u-fed")["userPrincipalName"] == "omar@contoso.com"


def test_runbooks_are_planned_for_a_person_and_apply_writes_nothing_for_them(tmp_path: Path) -> None:
    application = create_app(doc())
    em = application.state.emulator
    db = tmp_path / "r.db"
    with serve_in_thread(application) as url:
        assert scan(url, db, "--auth", "none").exit_code == 0
        plan = tmp_path / "plan.json"
        r = invoke("plan", "-o", plan, "--db", db, "--scenario", "hard_match_blocked")
        assert r.exit_code == 0, r.output
        (step,) = json.loads(plan.read_text())["steps"]
        assert (step["kind"], step["executor"], step["target"]) == ("runbook", "manual", None)
        assert "ANCHOR5==" in step["change"]["text"] and "RISK" in step["change"]["text"]
        r = invoke("apply", plan, "--graph-url", url, "--auth", "none", "--db", db, "--doit")
        assert r.exit_code == 0, r.output
        assert "waiting" in r.output
        assert em.stats["writes"] == 0  # never automated


def test_data_validation_from_connect_health_becomes_an_ldif_fix_with_the_on_prem_export(tmp_path: Path) -> None:
    import base64
    import uuid

    from reconciler.fixes.planfile import read_ldif_changes

    guid = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    anchor = base64.b64encode(guid.bytes_le).decode()
    bad = "mia müller@contoso.com"
    dn = "CN=Mia Muller,OU=Staff,DC=corp,DC=contoso,DC=com"
    (tmp_path / "forest.ldif").write_text(
        f"dn: {dn}\nobjectClass: user\ncn: Mia Muller\nobjectGUID:: {anchor}\nsAMAccountName: mmuller\n"
        f"userPrincipalName:: {base64.b64encode(bad.encode()).decode()}\nuserAccountControl: 512\n\n"
        "dn: CN=Other,OU=Other,DC=corp,DC=contoso,DC=com\nobjectClass: user\ncn: Other\n"
        f"objectGUID:: {base64.b64encode(uuid.uuid4().bytes_le).decode()}\nsAMAccountName: other\n")
    d = tenant([item(2, "IdentityDataValidationFailed", "UserPrincipalName", bad, anchor=anchor)],
               [user("u-bad", "mmuller@contoso.onmicrosoft.com", synced=True, anchor=anchor)])
    application = create_app(d)
    db = tmp_path / "r.db"
    with serve_in_thread(application) as url:
        r = scan(url, db, "--auth", "none", "--onprem", tmp_path / "forest.ldif")
        assert r.exit_code == 0, r.output
        (f,) = findings(r)
        assert f["scenario"] == "data_validation" and f["source"]["dn"] == dn
        plan = tmp_path / "plan.json"
        assert invoke("plan", "-o", plan, "--db", db).exit_code == 0
        (step,) = json.loads(plan.read_text())["steps"]
        assert (step["kind"], step["executor"]) == ("set_user_principal_name", "ldap")
        assert step["change"] == {"userPrincipalName": "miamuller@contoso.com"}
        # without --ldap write rights, apply --doit writes the ldap step to an LDIF change file (ldifde -i), journaled
        # so that it can be confirmed later; the cloud user it reaches is guarded first
        r = invoke("apply", plan, "--graph-url", url, "--auth", "none", "--db", db, "--doit", "--ldif", tmp_path / "fix.ldif")
        assert r.exit_code == 0, r.output
    ((target, mods),) = read_ldif_changes((tmp_path / "fix.ldif").read_bytes())
    # the change file deletes the exact old value and adds the new one: it fails if the value changed meanwhile
    assert target == dn and [tuple(m) for m in mods] == [("delete", "userPrincipalName", ["mia müller@contoso.com".encode()]),
                                                         ("add", "userPrincipalName", [b"miamuller@contoso.com"])]
    assert application.state.emulator.stats["writes"] == 0


def test_large_attribute_from_connect_health_removes_stale_certificates_read_from_the_export(tmp_path: Path) -> None:
    import base64
    import uuid

    from reconciler.fixes.planfile import read_ldif_changes
    from tests.fixes.test_remedies import _cert

    guid = uuid.UUID("1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d")
    anchor = base64.b64encode(guid.bytes_le).decode()
    certs = [_cert(-700, -30, "expired")] + [_cert(-300 + i, 300, f"valid{i:02d}") for i in range(16)]
    dn = "CN=Noor Big,OU=Staff,DC=corp,DC=contoso,DC=com"
    lines = [f"dn: {dn}", "objectClass: user", "cn: Noor Big", f"objectGUID:: {anchor}", "sAMAccountName: nbig",
             "userPrincipalName: noor@contoso.com"] + [f"userCertificate:: {c}" for c in certs]
    other = ["dn: CN=Other,OU=Other,DC=corp,DC=contoso,DC=com", "objectClass: user", "cn: Other",
             f"objectGUID:: {base64.b64encode(uuid.uuid4().bytes_le).decode()}", "sAMAccountName: other"]
    (tmp_path / "forest.ldif").write_text("\n".join(lines) + "\n\n" + "\n".join(other) + "\n")
    d = tenant([item(4, "LargeObject", "userCertificate", "17", anchor=anchor)],
               [user("u-big", "noor@contoso.com", synced=True, anchor=anchor)])
    db = tmp_path / "r.db"
    with serve_in_thread(create_app(d)) as url:
        r = scan(url, db, "--auth", "none", "--onprem", tmp_path / "forest.ldif")
        assert r.exit_code == 0, r.output
        assert findings(r)[0]["scenario"] == "large_attribute"
        plan = tmp_path / "plan.json"
        assert invoke("plan", "-o", plan, "--db", db).exit_code == 0
        (step,) = json.loads(plan.read_text())["steps"]
        assert (step["kind"], step["executor"]) == ("remove_attribute_value", "ldap")
        assert step["change"]["userCertificate"]["remove"] == certs[:2]  # the expired one, then the oldest
        r = invoke("apply", plan, "--graph-url", url, "--auth", "none", "--db", db, "--doit", "--ldif", tmp_path / "fix.ldif")
        assert r.exit_code == 0, r.output
    ((target, mods),) = read_ldif_changes((tmp_path / "fix.ldif").read_bytes())
    assert target == dn and [(m[0], m[1]) for m in mods] == [("delete", "userCertificate")]
    assert [base64.b64encode(v).decode() for v in mods[0][2]] == certs[:2]
