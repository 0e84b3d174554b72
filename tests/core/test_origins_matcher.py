"""Matcher with records from every origin: one conflict one finding, null objects, values from the
on-prem object, the non-duplicate scenarios, admin-role holders (pure, literal dataclasses)."""

from __future__ import annotations

from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.matcher import CATEGORY_NATURES, finding_id, match, nature_of
from reconciler.core.model import (
    DUPLICATE,
    PROXY,
    UPN,
    ErrorRecord,
    ObjectKind,
    ProvisioningError,
    Scenario,
)

from .test_matcher import cloud, err, onprem, snap, source

G1 = "11111111-2222-4333-8444-555555555555"
A1 = guid_to_immutable_id(G1)


def rec(value: str, prop: str = UPN, origin: str = "cloud_sync", nature: str | None = DUPLICATE,
        category: str = "X", **kw) -> ErrorRecord:
    return ErrorRecord(error=ProvisioningError(category=category, property=prop, value=value, origin=origin,
                                               nature=nature, occurred="2026-12-01T00:00:00Z"), **kw)


def test_the_same_conflict_from_three_origins_is_one_finding():
    e = cloud("e", sync_enabled=True, immutable_id=A1, errors=(err("x@contoso.com"),))
    h = cloud("h", user_principal_name="x@contoso.com")
    s = snap(e, h)
    s.error_records = [rec("X@Contoso.com", origin="health", onprem_anchor=A1),  # found by its anchor
                       rec("x@contoso.com", origin="cloud_sync", object_id="e")]
    (f,) = match(s)
    assert f.all_origins == ("connect", "cloud_sync", "health") and f.origin == "connect"
    assert f.id == finding_id("tenant-1", "e", UPN, "x@contoso.com") and f.scenario is Scenario.CLOUD_ONLY_TWIN
    assert f.data()["conflict"]["origins"] == ["connect", "cloud_sync", "health"]
    assert any("reported by connect, cloud_sync, health" in r for r in f.reasons)


def test_no_cloud_object_yet_gives_a_null_object_and_an_onprem_key():
    h = cloud("h", user_principal_name="new@contoso.com", mail="new@contoso.com")
    s = snap(h)
    s.error_records = [rec("", prop="", onprem_guid=G1)]
    src = source(onprem("New", g=G1, user_principal_name="new@contoso.com", mail="new@contoso.com",
                        proxy_addresses=("SMTP:new@contoso.com", "smtp:n2@contoso.com")))
    (f,) = match(s, [src])
    assert f.object is None and f.data()["object"] is None
    assert f.id == finding_id("tenant-1", f"onprem:{A1}", UPN, "new@contoso.com")
    assert f.source is not None and f.source.object_guid == G1 and f.holders[0].object.id == "h"
    assert any("the error names no value" in e for e in f.evidence)
    # without the on-prem object, the failure's own candidates are tried; none held -> reported as is
    s.error_records = [rec("", prop="", onprem_guid=G1, candidates=((PROXY, "nobody@contoso.com"),))]
    (f,) = match(s)
    assert f.scenario is Scenario.UNSUPPORTED and f.object is None and "reported as is" in " ".join(f.reasons)


def test_every_held_value_of_the_onprem_object_becomes_a_finding():
    s = snap(cloud("h1", user_principal_name="a@contoso.com"), cloud("h2", kind=ObjectKind.GROUP,
                                                                     proxy_addresses=("SMTP:b@contoso.com",)))
    s.error_records = [rec("", prop="", onprem_guid=G1)]
    src = source(onprem("A", g=G1, user_principal_name="a@contoso.com", proxy_addresses=("SMTP:b@contoso.com",)))
    got = {(f.property, f.error.value): f.scenario for f in match(s, [src])}
    assert got == {(UPN, "a@contoso.com"): Scenario.CLOUD_ONLY_TWIN, (PROXY, "b@contoso.com"): Scenario.CLOUD_ONLY_TWIN}


def test_non_duplicate_natures_get_their_scenarios():
    e = cloud("e", sync_enabled=True, immutable_id=A1)
    for nature in ("data_validation", "large_attribute", "hard_match_blocked", "federated_domain_change",
                   "service_error", "admin_role_conflict"):
        s = snap(e)
        s.error_records = [rec("v@contoso.com", nature=nature, origin="health", object_id="e")]
        (f,) = match(s)
        assert f.scenario is Scenario(nature) and f.object is e
    assert nature_of(err("v", category="IdentityDataValidationFailed")) == "data_validation"
    assert nature_of(err("v", category="InvalidHardMatch")) == "hard_match_blocked"
    assert nature_of(err("v", category="Whatever")) is None
    assert all(v == DUPLICATE or Scenario(v) for v in CATEGORY_NATURES.values())


def test_a_duplicate_of_a_non_address_attribute_is_unsupported():
    e = cloud("e", sync_enabled=True, errors=(err("S-1-5-21-1", "OnPremiseSecurityIdentifier", "AttributeValueMustBeUnique"),))
    (f,) = match(snap(e))
    assert f.scenario is Scenario.UNSUPPORTED


def test_a_cloud_only_holder_with_an_active_role_is_an_admin_role_conflict():
    e = cloud("e", sync_enabled=True, errors=(err("boss@contoso.com"),))
    h = cloud("h", user_principal_name="boss@contoso.com")
    s = snap(e, h)
    s.directory_role_members = {"Global Administrator": ("g-admins",)}
    s.group_members = {"g-admins": ("h",)}
    (f,) = match(s)
    assert f.scenario is Scenario.ADMIN_ROLE_CONFLICT
    s.roles_known = False  # unknown roles never decide it (the planner refuses matches instead)
    (f,) = match(s)
    assert f.scenario is Scenario.CLOUD_ONLY_TWIN


def test_cloud_sync_says_it_soft_matches_on_smtp_only():
    e = cloud("e", sync_enabled=True, immutable_id=A1)
    s = snap(e, cloud("h", user_principal_name="u@contoso.com"))
    s.error_records = [rec("u@contoso.com", object_id="e")]
    (f,) = match(s)
    assert any("SMTP proxy address only" in r and "hard match" in r for r in f.reasons)
    s = snap(e, cloud("h", proxy_addresses=("SMTP:u@contoso.com",)))
    s.error_records = [rec("u@contoso.com", prop=PROXY, object_id="e")]
    (f,) = match(s)
    assert any("SMTP proxy address only" in r and "soft match on it is possible" in r for r in f.reasons)


def test_an_object_id_the_cloud_data_lacks_is_evidence_not_a_crash():
    s = snap(cloud("h", user_principal_name="u@contoso.com"))
    s.error_records = [rec("u@contoso.com", object_id="gone", onprem_guid=G1)]
    (f,) = match(s)
    assert f.object is None and any("does not hold" in e for e in f.evidence)
