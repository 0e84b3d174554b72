"""Matcher: every scenario and tricky case, with literal dataclasses, plus the bundled sample."""

from __future__ import annotations

import json
import uuid

import pytest

from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.matcher import decide_keep, finding_id, match, upn_origin
from reconciler.core.model import (
    CloudObject,
    CloudSnapshot,
    Domain,
    Keep,
    ObjectKind,
    OnPremObject,
    OnPremSource,
    ProvisioningError,
    Scenario,
)
from reconciler.sources.onprem import read_onprem_file
from reconciler.sources.tenantfile import read_tenant_file
from tests.conftest import SAMPLE_EXPECTED, SAMPLE_LDIF, SAMPLE_TENANT

BASE = "DC=corp,DC=contoso,DC=com"
U, G, C = ObjectKind.USER, ObjectKind.GROUP, ObjectKind.CONTACT


def guid() -> str:
    return str(uuid.uuid4())


def err(value: str, prop: str = "UserPrincipalName", category: str = "PropertyConflict") -> ProvisioningError:
    return ProvisioningError(category=category, property=prop, value=value, occurred="2026-11-19T22:00:00Z")


def cloud(oid: str, kind: ObjectKind = U, **kw) -> CloudObject:
    return CloudObject(id=oid, kind=kind, **kw)


def onprem(cn: str, g: str | None = None, ou: str = "OU=Staff", base: str = BASE, **kw) -> OnPremObject:
    kw.setdefault("object_class", "user")
    return OnPremObject(dn=f"CN={cn},{ou},{base}", object_guid=g or guid(), cn=cn, **kw)


def snap(*objs: CloudObject, features=None) -> CloudSnapshot:
    return CloudSnapshot(tenant_id="tenant-1", domains=(Domain("contoso.com", is_default=True),
                                                         Domain("contoso.onmicrosoft.com", is_initial=True)),
                         features=features, objects=list(objs))


def source(*objs: OnPremObject, base: str | None = BASE) -> OnPremSource:
    return OnPremSource(label="forest", base_dn=base, objects=list(objs))


def newcomer(value: str, prop: str = "UserPrincipalName", anchor_guid: str | None = None, **kw) -> CloudObject:
    g = anchor_guid or guid()
    kw.setdefault("sync_enabled", True)
    return cloud("err-obj", immutable_id=guid_to_immutable_id(g), errors=(err(value, prop),), **kw)


def only(findings):
    assert len(findings) == 1
    return findings[0]


# ----------------------------------------------------------------------------- the bundled sample


def test_sample_reproduces_expected_findings_exactly():
    expected = json.loads(SAMPLE_EXPECTED.read_text())
    findings = match(read_tenant_file(SAMPLE_TENANT), [read_onprem_file(SAMPLE_LDIF)])
    got = {(f.object.id, f.property, f.error.value): f for f in findings}
    assert len(findings) == len(expected["findings"])
    for e in expected["findings"]:
        f = got[(e["object_id"], e["property"], e["value"])]
        assert f.scenario.value == e["scenario"], e["note"]
        assert (f.holders[0].object.id if f.holders else None) == e["holder"], e["note"]
        assert (f.source.dn if f.source else None) == e["source_dn"], e["note"]
        assert f.object.kind.value == e["object_type"]
    reported = {f.object.id for f in findings} | {h.object.id for f in findings for h in f.holders}
    for m in expected["must_not_report"]:
        assert m["id"] not in {f.object.id for f in findings}
        assert m["id"] not in reported


def test_sample_moera_is_detected_and_not_a_rename():
    t = read_tenant_file(SAMPLE_TENANT)
    marco = next(o for o in t.objects if o.id == "58310ea9-ce5d-499d-9147-328b984667a3")
    origin = upn_origin(marco, t.initial_domain)
    assert origin.kind == "moera" and origin.original is None
    assert "no quarantine" in origin.explanation
    lena = next(o for o in t.objects if o.id.startswith("14640a13"))
    lo = upn_origin(lena, t.initial_domain)
    assert lo.kind == "dar_rename" and lo.original == "lena.fischer@contoso.com"


def test_sample_ids_are_stable_across_runs_and_sources():
    t = read_tenant_file(SAMPLE_TENANT)
    with_onprem = {f.id: f.scenario for f in match(t, [read_onprem_file(SAMPLE_LDIF)])}
    without = {f.id: f.scenario for f in match(read_tenant_file(SAMPLE_TENANT), [])}
    assert with_onprem.keys() == without.keys()
    # the scenario may change with more on-prem data; the id never does
    changed = {k for k in with_onprem if with_onprem[k] != without[k]}
    assert {with_onprem[k] for k in changed} == {Scenario.ONPREM_DUPLICATE, Scenario.ORPHANED_HOLDER}
    assert {without[k] for k in changed} == {Scenario.UNVERIFIED_HOLDER}


# ----------------------------------------------------------------------------- scenarios


def test_cloud_only_twin_and_error_object_is_never_its_own_holder():
    n = newcomer("lena@contoso.com", user_principal_name="lena1234@contoso.onmicrosoft.com",
                 mail="lena@contoso.com", proxy_addresses=("SMTP:lena@contoso.com",))
    twin = cloud("twin", user_principal_name="Lena@Contoso.com")
    f = only(match(snap(n, twin)))
    assert f.scenario is Scenario.CLOUD_ONLY_TWIN
    assert [h.object.id for h in f.holders] == ["twin"]
    assert f.holders[0].matched_on == ("userPrincipalName",)
    assert f.original_upn == "lena@contoso.com"


def test_cloud_only_other_type_group_and_contact():
    n = newcomer("sales@contoso.com", "ProxyAddress")
    grp = cloud("grp", G, mail="sales@contoso.com", proxy_addresses=("SMTP:sales@contoso.com",))
    assert only(match(snap(n, grp))).scenario is Scenario.CLOUD_ONLY_OTHER_TYPE
    con = cloud("con", C, proxy_addresses=("smtp:sales@contoso.com",))
    assert only(match(snap(n, con))).scenario is Scenario.CLOUD_ONLY_OTHER_TYPE


def test_cloud_only_means_sync_enabled_is_not_true_even_with_an_immutable_id():
    # cloud-only users in federated domains carry an immutable id: it never decides "synced"
    n = newcomer("a@contoso.com")
    h = cloud("h", user_principal_name="a@contoso.com", immutable_id="abc=", sync_enabled=None)
    assert only(match(snap(n, h))).scenario is Scenario.CLOUD_ONLY_TWIN
    h2 = cloud("h", user_principal_name="a@contoso.com", sync_enabled=False)
    assert only(match(snap(n, h2))).scenario is Scenario.CLOUD_ONLY_TWIN


def test_onprem_duplicate_with_keep_decision():
    g_src, g_hold = guid(), guid()
    n = newcomer("priya@contoso.com", "ProxyAddresses", anchor_guid=g_src)
    h = cloud("holder", proxy_addresses=("SMTP:praman@contoso.com", "smtp:PRIYA@contoso.com"), sync_enabled=True,
              immutable_id=guid_to_immutable_id(g_hold), license_count=1, dn=f"CN=Priya Raman,OU=Staff,{BASE}")
    src = source(onprem("Priya N", g_src, proxy_addresses=("smtp:priya@contoso.com",)),
                 onprem("Priya Raman", g_hold, proxy_addresses=("smtp:priya@contoso.com",)))
    f = only(match(snap(n, h), [src]))
    assert f.scenario is Scenario.ONPREM_DUPLICATE
    assert f.property == "ProxyAddress"  # plural folded
    assert f.holders[0].source.dn == f"CN=Priya Raman,OU=Staff,{BASE}"
    assert f.source.dn == f"CN=Priya N,OU=Staff,{BASE}"
    assert f.keep is Keep.HOLDER
    assert any("licence" in r for r in f.reasons)


def test_orphaned_holder_with_recreated_evidence():
    g_new, g_old = guid(), guid()
    dn = f"CN=Tomasz,OU=Staff,{BASE}"
    n = newcomer("t@contoso.com", anchor_guid=g_new)
    h = cloud("old", user_principal_name="t@contoso.com", sync_enabled=True,
              immutable_id=guid_to_immutable_id(g_old), dn=dn)
    f = only(match(snap(n, h), [source(onprem("Tomasz", g_new))]))
    assert f.scenario is Scenario.ORPHANED_HOLDER
    assert f.holders[0].source is None  # same DN is evidence, never a link
    assert any("re-created in AD" in e and dn in e for e in f.evidence)


def test_unverified_when_holder_is_outside_every_supplied_source():
    g_new = guid()
    n = newcomer("t@contoso.com", anchor_guid=g_new)
    child = cloud("h", user_principal_name="t@contoso.com", sync_enabled=True, immutable_id="zzz=",
                  dn=f"CN=T,OU=Staff,DC=child,{BASE}")
    # single-OU export: covers only that OU
    ou_only = source(onprem("New", g_new), base=f"OU=Staff,{BASE}")
    assert only(match(snap(n, child), [ou_only])).scenario is Scenario.UNVERIFIED_HOLDER
    other_ou = cloud("h", user_principal_name="t@contoso.com", sync_enabled=True, immutable_id="zzz=",
                     dn=f"CN=T,OU=Sales,{BASE}")
    assert only(match(snap(n, other_ou), [ou_only])).scenario is Scenario.UNVERIFIED_HOLDER
    assert only(match(snap(n, other_ou), [source(onprem("New", g_new))])).scenario is Scenario.ORPHANED_HOLDER
    # no on-prem data at all
    assert only(match(snap(n, other_ou))).scenario is Scenario.UNVERIFIED_HOLDER


def test_coverage_by_domain_name_when_dn_unknown_and_child_domain_is_another_domain():
    g_new = guid()
    n = newcomer("t@contoso.com", anchor_guid=g_new)
    src = [source(onprem("New", g_new))]
    same = cloud("h", user_principal_name="t@contoso.com", sync_enabled=True, immutable_id="zzz=",
                 domain_name="corp.contoso.com")
    assert only(match(snap(n, same), src)).scenario is Scenario.ORPHANED_HOLDER
    child = cloud("h", user_principal_name="t@contoso.com", sync_enabled=True, immutable_id="zzz=",
                  domain_name="emea.corp.contoso.com")
    assert only(match(snap(n, child), src)).scenario is Scenario.UNVERIFIED_HOLDER
    unknown = cloud("h", user_principal_name="t@contoso.com", sync_enabled=True, immutable_id="zzz=")
    assert only(match(snap(n, unknown), src)).scenario is Scenario.UNVERIFIED_HOLDER


def test_deleted_holder_and_active_before_deleted():
    n = newcomer("g@contoso.com")
    dead = cloud("a-dead", mail="g@contoso.com", deleted=True, deleted_at="2026-11-10T00:00:00Z",
                 user_principal_name="aaaag@contoso.com")
    f = only(match(snap(n, dead)))
    assert f.scenario is Scenario.DELETED_HOLDER
    live = cloud("z-live", proxy_addresses=("smtp:g@contoso.com",))
    f = only(match(snap(n, dead, live)))
    assert [h.object.id for h in f.holders] == ["z-live", "a-dead"]
    assert [h.object.state for h in f.holders] == ["active", "deleted"]
    assert f.scenario is Scenario.CLOUD_ONLY_TWIN


def test_no_holder_and_unsupported_category():
    n = newcomer("d@contoso.com", "ProxyAddress")
    assert only(match(snap(n))).scenario is Scenario.NO_HOLDER
    odd = cloud("odd", sync_enabled=True, errors=(err("x@contoso.com", "UserPrincipalName", "dn-attributes-failure"),))
    f = only(match(snap(odd, cloud("h", user_principal_name="x@contoso.com"))))
    assert f.scenario is Scenario.UNSUPPORTED
    assert f.error.category == "dn-attributes-failure"  # raw fields kept
    # a Connect duplicate under another name is classified by its holders like the rest
    soft = cloud("soft", sync_enabled=True, errors=(err("x@contoso.com", "UserPrincipalName", "InvalidSoftMatch"),))
    assert only(match(snap(soft, cloud("h", user_principal_name="x@contoso.com")))).scenario is Scenario.CLOUD_ONLY_TWIN


def test_unknown_property_is_kept_not_dropped():
    o = cloud("o", sync_enabled=True, errors=(err("S-1-5-21-1", "OnPremiseSecurityIdentifier"),))
    f = only(match(snap(o)))
    assert f.property == "OnPremiseSecurityIdentifier"


# ----------------------------------------------------------------------------- values and holders


@pytest.mark.parametrize("value", ["smtp:John@Contoso.com", "SMTP:JOHN@CONTOSO.COM", " john@contoso.com ",
                                   "john@contoso.com"])
def test_prefix_and_case_variants(value):
    n = newcomer(value, "ProxyAddress")
    h = cloud("h", G, proxy_addresses=("smtp:john@contoso.com",))
    f = only(match(snap(n, h)))
    assert [x.object.id for x in f.holders] == ["h"]


def test_finding_id_folds_plural_prefix_and_case_but_not_object():
    a = finding_id("T", "obj", "ProxyAddresses", "SMTP:John@Contoso.com")
    assert a == finding_id("t", "OBJ", "proxyaddress", "john@contoso.com")
    assert a != finding_id("T", "obj2", "ProxyAddress", "john@contoso.com")
    assert a != finding_id("T", "obj", "UserPrincipalName", "john@contoso.com")


def test_cross_attribute_holder_is_ordered_after_same_kind():
    n = newcomer("j@contoso.com", "UserPrincipalName")
    cross = cloud("a-cross", G, proxy_addresses=("smtp:j@contoso.com",))
    same = cloud("b-same", user_principal_name="j@contoso.com")
    f = only(match(snap(n, cross, same)))
    assert [h.object.id for h in f.holders] == ["b-same", "a-cross"]
    assert f.holders[1].matched_on == ("proxyAddresses",)
    only_cross = only(match(snap(n, cross)))
    assert only_cross.holders[0].matched_on == ("proxyAddresses",)
    assert only_cross.scenario is Scenario.CLOUD_ONLY_OTHER_TYPE


def test_mail_counts_as_same_kind_for_proxy_errors_and_matched_on_lists_all():
    n = newcomer("m@contoso.com", "ProxyAddress")
    both = cloud("both", mail="m@contoso.com", proxy_addresses=("SMTP:m@contoso.com",), user_principal_name="m@contoso.com")
    f = only(match(snap(n, both)))
    assert f.holders[0].matched_on == ("userPrincipalName", "mail", "proxyAddresses")


@pytest.mark.parametrize("proxy", ["SIP:j@contoso.com", "X500:/o=ExchangeLabs/cn=j@contoso.com", "x400:c=US;a=j@contoso.com",
                                   "smtp:aj@contoso.com", "smtp:j@contoso.com.au"])
def test_non_smtp_and_partial_values_never_make_a_holder(proxy):
    n = newcomer("j@contoso.com", "ProxyAddress")
    assert only(match(snap(n, cloud("h", proxy_addresses=(proxy,))))).scenario is Scenario.NO_HOLDER


def test_two_errors_on_one_object_give_two_findings():
    o = cloud("o", sync_enabled=True, errors=(err("a@contoso.com"), err("b@contoso.com", "ProxyAddress")))
    fs = match(snap(o, cloud("h", mail="b@contoso.com")))
    assert len(fs) == 2 and len({f.id for f in fs}) == 2
    assert {f.scenario for f in fs} == {Scenario.NO_HOLDER, Scenario.CLOUD_ONLY_TWIN}


def test_deleted_objects_errors_are_not_reported():
    dead = cloud("dead", deleted=True, errors=(err("a@contoso.com"),))
    assert match(snap(dead)) == []


# ----------------------------------------------------------------------------- linking


def test_consistency_guid_takes_precedence_for_the_link():
    g_obj, g_cg = guid(), guid()
    n = newcomer("x@contoso.com", anchor_guid=g_cg)
    by_cg = onprem("CG", g_obj, consistency_guid=guid_to_immutable_id(g_cg))
    decoy = onprem("Decoy", g_cg)  # objectGUID equal to the anchor, but its own CG... none: anchor is objectGUID
    f = only(match(snap(n), [source(by_cg)]))
    assert f.source.dn == by_cg.dn
    # an object whose objectGUID equals the anchor but whose ConsistencyGuid differs is not linked
    other = onprem("Other", g_cg, consistency_guid=guid_to_immutable_id(guid()))
    f = only(match(snap(n), [source(other)]))
    assert f.source is None
    assert decoy.anchor == guid_to_immutable_id(g_cg)


def test_source_in_a_second_forest():
    g = guid()
    n = newcomer("x@contoso.com", anchor_guid=g)
    f1 = source(onprem("A", base="DC=fabrikam,DC=com"), base="DC=fabrikam,DC=com")
    f2 = source(onprem("X", g))
    f = only(match(snap(n), [f1, f2]))
    assert f.source.dn == f"CN=X,OU=Staff,{BASE}"


def test_error_object_whose_source_is_missing():
    n = newcomer("x@contoso.com", dn=f"CN=X,OU=Staff,{BASE}")
    f = only(match(snap(n), [source(onprem("X"))]))
    assert f.source is None
    assert any("matches no object" in e for e in f.evidence)
    assert any("re-created in AD" in e for e in f.evidence)


def test_synced_group_holder_links_by_sid():
    n = newcomer("team@contoso.com", "ProxyAddress")
    grp = cloud("g", G, mail="team@contoso.com", sync_enabled=True, sid="S-1-5-21-9-9-9-1168",
                domain_name="corp.contoso.com")
    og = onprem("Team", ou="OU=Groups", object_class="group", object_sid="S-1-5-21-9-9-9-1168",
                mail="team@contoso.com")
    f = only(match(snap(n, grp), [source(og)]))
    assert f.scenario is Scenario.ONPREM_DUPLICATE
    assert f.holders[0].source.dn == og.dn
    f = only(match(snap(n, grp), [source(onprem("Other", object_class="group", object_sid="S-1-5-21-9-9-9-1"))]))
    assert f.scenario is Scenario.ORPHANED_HOLDER


def test_synced_contact_holder_links_only_to_an_onprem_contact_never_the_source():
    g = guid()
    n = newcomer("p@partner.com", "ProxyAddress", anchor_guid=g)
    con = cloud("c", C, mail="p@partner.com", proxy_addresses=("SMTP:p@partner.com",), sync_enabled=True)
    src_user = onprem("Newcomer", g, proxy_addresses=("SMTP:p@partner.com",))
    # only the source holds the address on-prem: the contact must not link to it
    f = only(match(snap(n, con), [source(src_user)]))
    assert f.holders[0].source is None and f.scenario is Scenario.UNVERIFIED_HOLDER
    oc = onprem("P (Partner)", ou="OU=Contacts", object_class="contact", mail="p@partner.com",
                proxy_addresses=("SMTP:p@partner.com",))
    f = only(match(snap(n, con), [source(src_user, oc)]))
    assert f.scenario is Scenario.ONPREM_DUPLICATE and f.holders[0].source.dn == oc.dn


def test_synced_user_is_not_linked_by_dn_or_sid_or_sam():
    g_new = guid()
    n = newcomer("t@contoso.com", anchor_guid=g_new)
    h = cloud("h", user_principal_name="t@contoso.com", sync_enabled=True, immutable_id="other=",
              dn=f"CN=Same,OU=Staff,{BASE}", sid="S-1-5-21-1-1-1-5", sam_account_name="same")
    same = onprem("Same", object_sid="S-1-5-21-1-1-1-5", sam_account_name="same")
    f = only(match(snap(n, h), [source(onprem("New", g_new), same)]))
    assert f.holders[0].source is None
    assert f.scenario is Scenario.ORPHANED_HOLDER


# ----------------------------------------------------------------------------- keep / lose


def _pair(**kw):
    a = onprem("A", **{k[2:]: v for k, v in kw.items() if k.startswith("a_")})
    b = onprem("B", **{k[2:]: v for k, v in kw.items() if k.startswith("b_")})
    return a, b


def test_keep_licence_or_mailbox_decides_first():
    a, b = _pair(a_user_account_control=514, b_user_account_control=512)
    holder_cloud = cloud("h", proxy_addresses=("smtp:v@contoso.com",), license_count=1)
    d = decide_keep("v@contoso.com", a, b, a_cloud=cloud("e"), b_cloud=holder_cloud)
    assert d.keep is Keep.HOLDER
    a2, b2 = _pair(a_home_mdb="CN=DB1", b_user_account_control=512)
    d = decide_keep("v@contoso.com", a2, b2, a_cloud=cloud("e", mail="v@contoso.com"), b_cloud=cloud("h"))
    assert d.keep is Keep.SOURCE and "mailbox" in d.reasons[0]


def test_keep_enabled_over_disabled():
    a, b = _pair(a_user_account_control=514, b_user_account_control=512)
    d = decide_keep("v@contoso.com", a, b)
    assert d.keep is Keep.HOLDER and "enabled" in d.reasons[0]


def test_keep_name_match_then_age():
    a, b = _pair(a_mail_nickname="v", b_mail_nickname="x")
    assert decide_keep("v@contoso.com", a, b).keep is Keep.SOURCE
    a, b = _pair(a_given_name="Vera", a_sn="Lin", b_sam_account_name="zz")
    assert decide_keep("vera.lin@contoso.com", a, b).keep is Keep.SOURCE
    a, b = _pair(a_when_created="2020-01-01T00:00:00Z", b_when_created="2019-01-01T00:00:00Z")
    d = decide_keep("v@contoso.com", a, b)
    assert d.keep is Keep.HOLDER and "older" in d.reasons[0]


def test_keep_undecided_when_name_and_age_disagree():
    a, b = _pair(a_sam_account_name="v", a_when_created="2021-01-01T00:00:00Z",
                 b_when_created="2019-01-01T00:00:00Z")
    d = decide_keep("v@contoso.com", a, b)
    assert d.keep is Keep.UNDECIDED
    assert len(d.reasons) == 3 and "disagree" in d.reasons[0]


def test_keep_undecided_without_evidence():
    a, b = _pair()
    assert decide_keep("v@contoso.com", a, b).keep is Keep.UNDECIDED


def test_keep_undecided_when_source_not_supplied():
    g_hold = guid()
    n = newcomer("v@contoso.com", "ProxyAddress")
    h = cloud("h", mail="v@contoso.com", sync_enabled=True, immutable_id=guid_to_immutable_id(g_hold))
    f = only(match(snap(n, h), [source(onprem("Holder", g_hold))]))
    assert f.scenario is Scenario.ONPREM_DUPLICATE and f.keep is Keep.UNDECIDED


# ----------------------------------------------------------------------------- DAR / MOERA


def test_upn_origin_cases():
    init = "contoso.onmicrosoft.com"
    plain = cloud("p", user_principal_name="john1234@contoso.onmicrosoft.com")
    assert upn_origin(plain, init).kind == "normal"
    assert "no UserPrincipalName provisioning error" in upn_origin(plain, init).explanation
    assert upn_origin(cloud("x", user_principal_name="a@contoso.com"), init).kind == "normal"
    assert upn_origin(cloud("x", user_principal_name="a@contoso.com"), None).kind == "normal"
    moera = cloud("m", user_principal_name="jdoe@contoso.onmicrosoft.com", mail_nickname="JDoe")
    assert upn_origin(moera, init).kind == "moera"
    other_prefix = cloud("o", user_principal_name="bob1234@contoso.onmicrosoft.com", errors=(err("alice@contoso.com"),))
    assert upn_origin(other_prefix, init).kind == "normal"
