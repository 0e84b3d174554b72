"""Remedies for the non-duplicate scenarios (reconciler.fixes.remedies) through the planner: what each plans,
what the guards refuse, and that nothing is automated where a person must decide."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.fixes.emit import emit_ldif
from reconciler.fixes.planfile import read_ldif_changes
from reconciler.fixes.planner import PlanOptions, make_plan
from reconciler.fixes.remedies import CERT_LIMIT, HANDLED, certificate_removals, parse_certificate, proposed_value
from reconciler.fixes.steps import Executor, StepKind
from tests.fixes.builders import ctx

NOW = datetime.now(UTC).replace(microsecond=0)  # certificates are made relative to the real clock
DN = "CN=Bad User,OU=Staff,DC=corp,DC=contoso,DC=com"


def finding(scenario: str, prop: str, value: str, *, obj: dict[str, Any] | None = None,
            onprem: dict[str, Any] | None = None, holder: dict[str, Any] | None = None,
            category: str = "IdentityDataValidationFailed", origin: str = "health",
            description: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    o = obj if obj is not None else {"id": "u-1", "userPrincipalName": "mia@contoso.com", "userType": "Member",
                                     "onPremisesSyncEnabled": True, "onPremisesImmutableId": "ANCHOR1==",
                                     "displayName": "Mia"}
    f: dict[str, Any] = {
        "id": f"f-{scenario}", "scenario": scenario,
        "object": None if not o else {"id": o["id"], "type": "user", "display_name": o.get("displayName"),
                                      "user_principal_name": o.get("userPrincipalName"),
                                      "on_premises_immutable_id": o.get("onPremisesImmutableId")},
        "conflict": {"category": category, "property": prop, "value": value, "occurred": "2026-12-01T10:00:00Z",
                     "origin": origin, "origins": [origin], **({"description": description} if description else {})},
        "source": {"dn": DN, "object_guid": "g", "immutable_id": "ANCHOR1=="} if onprem is not None else None,
        "holders": [], "keep": None, "reasons": [], "fixes": []}
    cols: list[dict[str, Any]] = []
    if o:
        cols.append({"role": "object", "attrs": o})
    if holder is not None:
        f["holders"] = [{"id": holder["id"], "type": "user", "display_name": holder.get("displayName"),
                         "user_principal_name": holder.get("userPrincipalName"), "state": "active",
                         "synced": bool(holder.get("onPremisesSyncEnabled")), "matched_on": ["userPrincipalName"],
                         "source": None}]
        cols.append({"role": "holder", "attrs": holder})
    if onprem is not None:
        cols.append({"role": "source", "attrs": {"distinguishedName": DN, **onprem}})
    return f, {"columns": cols}


def plan(*pairs: tuple[dict[str, Any], dict[str, Any]], c: Any = None, **opts: Any) -> Any:
    return make_plan([p[0] for p in pairs], {p[0]["id"]: p[1] for p in pairs}, c or ctx(), PlanOptions(**opts))


# --------------------------------------------------------------------------- data validation


def test_a_malformed_upn_gets_check_onprems_proposal_as_an_ldap_step() -> None:
    p = plan(finding("data_validation", "UserPrincipalName", "mia müller@contoso.com",
                     onprem={"userPrincipalName": "mia müller@contoso.com", "sAMAccountName": "mia"}))
    (s,) = p.steps
    proposal, _ = proposed_value("UserPrincipalName", "mia müller@contoso.com")
    assert proposal == "miamuller@contoso.com"
    assert (s.kind, s.executor, s.target) == (StepKind.SET_USER_PRINCIPAL_NAME, Executor.LDAP,  # + its cloud user
                                              {"type": "onprem", "dn": DN, "cloud_id": "u-1", "cloud_type": "user"})
    assert s.change == {"userPrincipalName": proposal} and s.undo == {"userPrincipalName": "mia müller@contoso.com"}
    assert s.expect == {"userPrincipalName": "mia müller@contoso.com", "sAMAccountName": "mia"}
    assert not p.refusals


def test_a_malformed_proxy_address_is_replaced_by_the_proposal() -> None:
    bad = "smtp:mia@@contoso.com"
    p = plan(finding("data_validation", "ProxyAddress", "smtp:mia:x@contoso.com",
                     onprem={"proxyAddresses": ["SMTP:mia@contoso.com", "smtp:mia:x@contoso.com"]}))
    (s,) = p.steps
    assert s.kind is StepKind.REMOVE_PROXY_ADDRESS and s.executor is Executor.LDAP
    assert s.change["proxyAddresses"]["remove"] == ["smtp:mia:x@contoso.com"]
    assert s.change["proxyAddresses"]["add"] == ["smtp:miax@contoso.com"]
    assert s.undo == {"proxyAddresses": {"remove": ["smtp:miax@contoso.com"], "add": ["smtp:mia:x@contoso.com"]}}
    assert bad not in str(s.change)


def test_data_validation_without_a_proposal_is_a_runbook_and_without_a_source_a_refusal() -> None:
    p = plan(finding("data_validation", "UserPrincipalName", "mia@contoso.notatld",
                     onprem={"userPrincipalName": "mia@contoso.notatld"}))
    (s,) = p.steps
    assert s.kind is StepKind.RUNBOOK and s.executor is Executor.MANUAL and s.target is None
    assert "mia@contoso.notatld" in s.change["text"]
    p = plan(finding("data_validation", "UserPrincipalName", "mia müller@contoso.com"))
    assert not p.steps and p.refusals[0].guard == "no_source"


def test_the_on_prem_fix_of_an_admins_source_is_refused_by_the_guards() -> None:
    pair = finding("data_validation", "UserPrincipalName", "mia müller@contoso.com",
                   onprem={"userPrincipalName": "mia müller@contoso.com"})
    p = plan(pair, c=ctx(role_holders={"u-1": ["Global Administrator"]}))
    assert not p.steps and p.refusals[0].guard == "holder_has_role"
    p = plan(pair, c=ctx(eligible=None))
    assert not p.steps and p.refusals[0].guard == "eligibility_unknown"


def test_a_create_that_failed_has_no_cloud_object_and_still_gets_the_on_prem_fix() -> None:
    p = plan(finding("data_validation", "UserPrincipalName", "mia müller@contoso.com", obj={},
                     onprem={"userPrincipalName": "mia müller@contoso.com"}))
    assert [s.kind for s in p.steps] == [StepKind.SET_USER_PRINCIPAL_NAME]


# --------------------------------------------------------------------------- large attribute


def _cert(days_from: int, days_to: int, cn: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW + timedelta(days=days_from))
            .not_valid_after(NOW + timedelta(days=days_to)).sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


@pytest.fixture(scope="module")
def certs() -> dict[str, str]:
    out = {f"valid{i:02d}": _cert(-400 + i * 10, 400, f"valid{i:02d}") for i in range(16)}
    out["expired-a"] = _cert(-900, -10, "expired-a")
    out["expired-b"] = _cert(-800, -300, "expired-b")
    return out


def test_expired_certificates_go_first_then_the_oldest_until_fifteen_are_left(certs: dict[str, str]) -> None:
    values = list(certs.values()) + ["bm90IGEgY2VydA=="]  # 18 certificates + one unreadable value
    chosen = certificate_removals(values, NOW)
    names = [c.subject.removeprefix("CN=") for c, _ in chosen]
    assert names[:2] == ["expired-b", "expired-a"]  # expired, the longest expired first
    assert names[2:] == ["valid00", "valid01"]  # then the oldest still valid, until 15 values are left
    assert len(values) - len(chosen) == CERT_LIMIT
    assert "bm90IGEgY2VydA==" not in [c.value for c, _ in chosen]  # an unreadable value is never removed
    assert parse_certificate(certs["valid03"]).not_after == NOW + timedelta(days=400)


def test_large_attribute_plans_an_ldap_removal_that_keeps_the_values_for_undo(certs: dict[str, str]) -> None:
    values = list(certs.values())
    p = plan(finding("large_attribute", "userCertificate", "18", category="LargeObject",
                     onprem={"userCertificate": values}))
    (s,) = p.steps
    assert (s.kind, s.executor) == (StepKind.REMOVE_ATTRIBUTE_VALUE, Executor.LDAP)
    removed = s.change["userCertificate"]["remove"]
    assert len(removed) == len(values) - CERT_LIMIT and removed[0] == certs["expired-b"]
    assert s.undo == {"userCertificate": {"add": removed}} and s.expect == {"userCertificate": removed}
    # the LDIF an admin runs (no --ldap write rights) carries the DER bytes, base64 as RFC 2849 wants
    (entry,) = read_ldif_changes(emit_ldif(list(p.steps)).encode())
    dn, mods = entry
    assert dn == DN and mods[0][0] == "delete" and mods[0][1] == "userCertificate"
    assert [base64.b64encode(v).decode() for v in mods[0][2]] == removed


def test_large_attribute_without_the_values_refuses_and_other_attributes_get_a_runbook() -> None:
    p = plan(finding("large_attribute", "userCertificate", "18", onprem={}))
    assert p.refusals[0].guard == "values_not_read" and not p.steps
    p = plan(finding("large_attribute", "thumbnailPhoto", "120000", onprem={}))
    assert [s.kind for s in p.steps] == [StepKind.RUNBOOK]


# --------------------------------------------------------------------------- federated domain change


def test_federated_domain_change_is_the_onmicrosoft_detour_then_a_delta_sync() -> None:
    obj = {"id": "u-1", "userPrincipalName": "mia@contoso.com", "userType": "Member", "onPremisesSyncEnabled": True,
           "onPremisesImmutableId": "ANCHOR1=="}
    p = plan(finding("federated_domain_change", "UserPrincipalName", "mia@fabrikam.com", obj=obj,
                     category="FederatedDomainChangeError"))
    rename, sync = p.steps
    assert (rename.kind, rename.executor, rename.target) == (StepKind.SET_USER_PRINCIPAL_NAME, Executor.GRAPH,
                                                             {"type": "user", "id": "u-1"})
    assert rename.change == {"userPrincipalName": "mia@contoso.onmicrosoft.com"}
    assert rename.undo == {"userPrincipalName": "mia@contoso.com"}
    assert rename.expect == {"userPrincipalName": "mia@contoso.com", "onPremisesImmutableId": "ANCHOR1=="}
    assert sync.kind is StepKind.RUN_DELTA_SYNC and sync.after == (rename.id,) and "mia@fabrikam.com" in \
        sync.change["text"]


def test_federated_domain_change_of_an_admin_is_refused() -> None:
    p = plan(finding("federated_domain_change", "UserPrincipalName", "mia@fabrikam.com"),
             c=ctx(role_holders={"u-1": ["Exchange Administrator"]}))
    assert not p.steps and p.refusals[0].guard == "holder_has_role"
    p = plan(finding("federated_domain_change", "UserPrincipalName", "mia@fabrikam.com"), c=ctx(initial_domain=None))
    assert p.refusals[0].guard == "no_initial_domain"


# --------------------------------------------------------------------------- runbooks and reports


def test_admin_role_conflict_is_a_runbook_never_a_write() -> None:
    admin = {"id": "u-adm", "userPrincipalName": "admin@contoso.com", "userType": "Member",
             "onPremisesSyncEnabled": False, "displayName": "Admin"}
    p = plan(finding("admin_role_conflict", "UserPrincipalName", "admin@contoso.com", holder=admin,
                     category="ExistingAdminRoleConflict"),
             c=ctx(role_holders={"u-adm": ["Global Administrator"]}))
    (s,) = p.steps
    assert (s.kind, s.executor, s.target) == (StepKind.RUNBOOK, Executor.MANUAL, None)
    assert "Global Administrator" in s.change["text"] and "remove every directory role" in s.change["text"]


def test_blocked_hard_match_is_a_runbook_stating_the_risk() -> None:
    (s,) = plan(finding("hard_match_blocked", "SourceAnchor", "ANCHOR1==", category="InvalidHardMatch",
                        onprem={})).steps
    assert s.kind is StepKind.RUNBOOK and s.executor is Executor.MANUAL
    assert "blockCloudObjectTakeoverThroughHardMatchEnabled" in s.change["text"] and "RISK" in s.change["text"]


def test_service_errors_are_reported_only() -> None:
    p = plan(finding("service_error", "ProxyAddress", "", category="ExchangeError", origin="exchange",
                     description="The mailbox database is unavailable"))
    assert not p.steps and not p.refusals
    assert any("The mailbox database is unavailable" in w and "no step" in w for w in p.warnings)


def test_every_new_scenario_is_handled_and_nothing_is_planned_twice() -> None:
    assert HANDLED == {"data_validation", "large_attribute", "federated_domain_change", "admin_role_conflict",
                       "hard_match_blocked", "service_error"}
    p = plan(finding("admin_role_conflict", "UserPrincipalName", "x@contoso.com"),
             finding("hard_match_blocked", "SourceAnchor", "A=="))
    assert [s.kind for s in p.steps] == [StepKind.RUNBOOK, StepKind.RUNBOOK]
    assert not any("unknown scenario" in w for w in p.warnings)


# --------------------------------------------------------------------------- orphans: --orphans cloud (beta)


def orphan(**holder_kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    holder = {"id": "u-orphan", "userPrincipalName": "lena@contoso.com", "userType": "Member",
              "onPremisesSyncEnabled": True, "onPremisesImmutableId": "OLDANCHOR==", "displayName": "Lena",
              "createdDateTime": "2026-06-01T00:00:00Z", "licences": 0, "mail": None, "proxyAddresses": []}
    holder.update(holder_kw)
    obj = {"id": "u-dup", "userPrincipalName": "lena1234@contoso.onmicrosoft.com", "userType": "Member",
           "onPremisesSyncEnabled": True, "onPremisesImmutableId": "NEWANCHOR==", "createdDateTime": "2026-11-01T00:00:00Z"}
    f, d = finding("orphaned_holder", "UserPrincipalName", "lena@contoso.com", obj=obj, holder=holder,
                   onprem={"userPrincipalName": "lena@contoso.com"}, category="PropertyConflict", origin="connect")
    f["coverage"] = {"source": "corp.ldif", "anchored": True, "complete": True}  # the orphan verdict's evidence
    return f, d


def test_orphans_cloud_needs_the_same_orphan_evidence_as_adsynctools() -> None:
    f, d = orphan()
    f["coverage"] = {"source": "corp.ldif", "anchored": True, "complete": False}  # a truncated export
    p = plan((f, d), orphans="cloud")
    assert not p.steps and p.refusals[0].guard == "coverage_unknown"


def test_orphans_cloud_moves_the_source_of_authority_then_deletes_through_graph() -> None:
    p = plan(orphan(), orphans="cloud")
    soa, delete = p.steps[:2]
    assert (soa.kind, soa.executor, soa.target) == (StepKind.SET_CLOUD_MANAGED, Executor.GRAPH,
                                                    {"type": "user", "id": "u-orphan"})
    assert soa.change == {"isCloudManaged": True} and soa.undo == {"isCloudManaged": False}
    assert soa.expect["onPremisesImmutableId"] == "OLDANCHOR==" and soa.expect["onPremisesSyncEnabled"] is True
    assert "BETA" in soa.why and "User-OnPremisesSyncBehavior.ReadWrite.All" in soa.why
    assert (delete.kind, delete.after) == (StepKind.DELETE_OBJECT, (soa.id,))
    assert not any(s.executor is Executor.POWERSHELL for s in p.steps)  # no ADSyncTools, no GA password session
    # without the option the usual ADSyncTools remedy is planned
    assert any(s.kind is StepKind.REMOVE_SYNCED_OBJECT for s in plan(orphan()).steps)


def test_orphans_cloud_is_refused_for_an_admin_and_keeps_a_mailbox_in_the_recycle_bin() -> None:
    p = plan(orphan(), c=ctx(role_holders={"u-orphan": ["User Administrator"]}), orphans="cloud")
    assert not p.steps and p.refusals[0].guard == "holder_has_role"
    p = plan(orphan(mail="lena@contoso.com", createdDateTime="2026-11-20T00:00:00Z"), orphans="cloud")
    assert [s.kind for s in p.steps] == [StepKind.SET_CLOUD_MANAGED, StepKind.DELETE_OBJECT]
    assert any("recycle bin" in w for w in p.warnings)
    # an older orphan with a mailbox may be the original account: the planner re-anchors instead
    p = plan(orphan(mail="lena@contoso.com"), orphans="cloud")
    assert not any(s.kind is StepKind.SET_CLOUD_MANAGED for s in p.steps)


# --------------------------------------------------------------------------- Entra Cloud Sync: no ADSyncTools


def cloud_sync_twin(*, origins: tuple[str, ...] = ("cloud_sync",), prop: str = "UserPrincipalName",
                    created: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    from tests.fixes.builders import twin

    f, d = twin(1, value="lena1@contoso.com" if prop == "UserPrincipalName" else "smtp:lena1@contoso.com")
    f["conflict"].update(origin=origins[0], origins=list(origins), property=prop)
    if not created:  # the Cloud Sync create failed: no cloud object yet
        f["object"] = None
        d["columns"] = [c for c in d["columns"] if c["role"] != "object"]
    if prop != "UserPrincipalName":
        for c in d["columns"]:
            if c["role"] == "holder":
                c["attrs"]["proxyAddresses"] = ["SMTP:lena1@contoso.com"]
    return f, d


def _kinds(p: Any) -> list[tuple[str, str]]:
    return [(s.kind.value, s.executor.value) for s in p.steps]


def test_a_cloud_sync_twin_is_stamped_then_provisioned_without_adsynctools_or_the_scheduler() -> None:
    p = plan(cloud_sync_twin())
    assert _kinds(p) == [("set_immutable_id", "graph"), ("run_delta_sync", "manual")]
    stamp, provision = p.steps
    assert provision.after == (stamp.id,) and "Provision on demand" in provision.change["text"]
    assert "ADSync" not in str([s.data for s in p.steps])
    # the same conflict also reported by Entra Connect keeps the Connect remedy (ADSyncTools, scheduler)
    p = plan(cloud_sync_twin(origins=("connect", "cloud_sync"), created=True))
    assert ("pause_sync_scheduler", "powershell") in _kinds(p)


def test_cloud_sync_soft_matches_on_smtp_only() -> None:
    blocked = ctx(features={"softMatchOnUpnEnabled": True, "blockSoftMatchEnabled": False,
                            "blockCloudObjectTakeoverThroughHardMatchEnabled": True})
    p = plan(cloud_sync_twin(), c=blocked)
    assert not p.steps and p.refusals[0].guard == "cloud_sync_no_upn_soft_match"
    p = plan(cloud_sync_twin(prop="ProxyAddress"), c=blocked)
    assert _kinds(p) == [("run_delta_sync", "manual")]
    assert any("primary SMTP" in w for w in p.warnings)


def test_a_cloud_sync_duplicate_and_orphan_never_get_adsynctools() -> None:
    p = plan(cloud_sync_twin(created=True))
    assert not p.steps and p.refusals[0].guard == "cloud_sync_duplicate"
    f, d = orphan(createdDateTime="2026-11-20T00:00:00Z")
    f["conflict"].update(origin="cloud_sync", origins=["cloud_sync"])
    f["coverage"] = {"source": "forest.ldif", "anchored": True, "complete": True}
    p = plan((f, d))
    assert not any(s.executor is Executor.POWERSHELL for s in p.steps)
    assert [s.kind for s in p.steps][:2] == [StepKind.SET_CLOUD_MANAGED, StepKind.DELETE_OBJECT]


def test_runbook_texts_always_fit_a_plan_value() -> None:
    from reconciler.fixes.steps import check_step

    holder = {"id": "u-adm", "userPrincipalName": "a" * 200 + "@contoso.com", "userType": "Member",
              "onPremisesSyncEnabled": False}
    roles = [f"Role number {i} with a long custom name" for i in range(40)]
    p = plan(finding("admin_role_conflict", "UserPrincipalName", "x\ny" * 150 + "@contoso.com", holder=holder),
             c=ctx(role_holders={"u-adm": roles}))
    (s,) = p.steps
    assert check_step(s) is None and len(s.change["text"]) <= 1000 and "\n" not in s.change["text"]


def test_a_hostile_value_is_refused_never_written_into_a_plan() -> None:
    from reconciler.fixes.steps import check_step

    bad = "mia müller\n@contoso.com"
    p = plan(finding("data_validation", "UserPrincipalName", bad, onprem={"userPrincipalName": bad}))
    assert not p.steps and p.refusals[0].guard == "value_unusable"
    p = plan(finding("federated_domain_change", "UserPrincipalName", "omar@fabrikam.com\r\nx"))
    assert not p.steps and p.refusals[0].guard == "value_unusable"
    ok = plan(finding("federated_domain_change", "UserPrincipalName", "omar@fabrikam.com"))
    assert all(check_step(s) is None for s in ok.steps)
