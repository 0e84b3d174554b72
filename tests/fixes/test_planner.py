"""Planner: remedies, guards (refusals), fingerprint."""

from __future__ import annotations

import pytest

from reconciler.fixes.planner import PlanOptions, fingerprint, make_plan
from reconciler.fixes.steps import Executor, StepKind

from .builders import ctx, onprem_dup, twin


def _plan(findings, context=None, opts=None):
    fs = [f for f, _ in findings]
    return make_plan(fs, {f["id"]: d for f, d in findings}, context or ctx(), opts or PlanOptions(), created="now")


def _kinds(p):
    return [s.kind for s in p.steps]


def test_twin_is_merged_by_hard_match_in_the_documented_order():
    p = _plan([twin()])
    assert _kinds(p) == [StepKind.PAUSE_SYNC_SCHEDULER, StepKind.REMOVE_SYNCED_OBJECT, StepKind.PURGE_DELETED,
                         StepKind.SET_IMMUTABLE_ID, StepKind.RESUME_SYNC_SCHEDULER, StepKind.RUN_DELTA_SYNC]
    hard = p.steps[3]
    assert hard.change == {"onPremisesImmutableId": "AAAAAAAAAAAAAAAAAAAA0001=="}
    assert hard.expect == {"onPremisesImmutableId": None, "userPrincipalName": "lena1@contoso.com",
                           "userType": "Member", "givenName": "Lena", "surname": "Fischer",
                           "displayName": "Lena Fischer"}
    assert hard.after == ("s3",) and p.steps[4].after == ("s4",)
    assert p.steps[2].expect == {"deleted": True, "onPremisesImmutableId": "AAAAAAAAAAAAAAAAAAAA0001=="}
    assert "IRREVERSIBLE" in p.steps[2].why and p.steps[2].undo is None
    assert not p.refusals


@pytest.mark.parametrize("context,holder,guard", [
    (ctx(role_holders={"u-twin-1": ["Global Administrator"]}), {}, "holder_has_role"),
    (ctx(eligible={"u-twin-1": ["Privileged Role Administrator"]}), {}, "holder_eligible_for_role"),
    (ctx(object_identifiers={"u-twin-1": "S-1-5-21-1"}), {}, "holder_has_object_identifier"),
    (ctx(), {"onPremisesImmutableId": "OLDANCHOR=="}, "holder_has_immutable_id"),
    (ctx(), {"userType": "Guest"}, "external_account"),
    (ctx(), {"creationType": "Invitation"}, "external_account"),
    (ctx(eligible=None), {}, "eligibility_unknown"),
    (ctx(roles_known=False), {}, "roles_unknown"),
    (ctx(), {"accountEnabled": False}, "target_disabled"),
    (ctx(), {"givenName": "Leonie"}, "names_disagree"),
    (ctx(features=None), {}, "flags_unknown"),
    (ctx(features={"blockCloudObjectTakeoverThroughHardMatchEnabled": True, "blockSoftMatchEnabled": True}), {},
     "tenant_blocks_match"),
])
def test_hard_match_is_never_planned_onto_a_guarded_holder(context, holder, guard):
    p = _plan([twin(holder=holder)], context)
    assert guard in {r.guard for r in p.refusals}
    assert StepKind.SET_IMMUTABLE_ID not in _kinds(p)
    assert StepKind.REMOVE_SYNCED_OBJECT not in _kinds(p)  # nothing destructive for a refused merge


def test_role_through_a_role_assignable_group_is_found_from_the_snapshot():
    from reconciler.core.model import CloudSnapshot
    from reconciler.fixes.planner import context_from_snapshot

    snap = CloudSnapshot(tenant_id="t-0001", directory_role_members={"Global Administrator": ("grp-1",)},
                         group_members={"grp-1": ("u-twin-1",)}, role_assignments=None, role_eligibility=(
                             {"principalId": "u-other", "roleDefinitionId": "r"},), features={})
    c = context_from_snapshot(snap)
    assert c.role_holders["u-twin-1"] == ["Global Administrator"]
    p = _plan([twin()], c)
    assert [r.guard for r in p.refusals] == ["holder_has_role"]


def test_unknown_eligibility_refuses_and_says_so():
    p = _plan([twin()], ctx(eligible=None))
    assert any("eligibility (PIM) is not readable" in w for w in p.warnings)
    assert [r.guard for r in p.refusals] == ["eligibility_unknown"] and not p.steps


def test_federated_holder_with_anchor_needs_allow_reanchor_and_gets_the_upn_detour():
    c = ctx(domains={"contoso.com": "Federated", "contoso.onmicrosoft.com": "Managed"})
    holder = {"onPremisesImmutableId": "FEDANCHOR=="}
    assert "holder_has_immutable_id" in {r.guard for r in _plan([twin(holder=holder)], c).refusals}
    p = _plan([twin(holder=holder)], c, PlanOptions(allow_reanchor=True))
    seq = [(s.kind, dict(s.change)) for s in p.steps if s.executor is Executor.GRAPH]
    assert seq[1:] == [(StepKind.SET_USER_PRINCIPAL_NAME, {"userPrincipalName": "lena1@contoso.onmicrosoft.com"}),
                       (StepKind.SET_IMMUTABLE_ID, {"onPremisesImmutableId": "AAAAAAAAAAAAAAAAAAAA0001=="}),
                       (StepKind.SET_USER_PRINCIPAL_NAME, {"userPrincipalName": "lena1@contoso.com"})]


def test_soft_match_when_hard_match_is_blocked():
    p = _plan([twin()], ctx(features={"blockCloudObjectTakeoverThroughHardMatchEnabled": True,
                                      "softMatchOnUpnEnabled": True}))
    assert StepKind.SET_IMMUTABLE_ID not in _kinds(p) and StepKind.PURGE_DELETED in _kinds(p)
    assert any("soft match" in w for w in p.warnings)


def test_no_stored_context_refuses_every_match():
    from reconciler.fixes.planner import TenantContext

    p = _plan([twin()], TenantContext.from_data(None, "t-0001"))
    assert [r.guard for r in p.refusals] == ["context_unknown"] and not p.steps


def test_onprem_duplicate_removes_the_losers_secondary_address_over_ldap():
    p = _plan([onprem_dup("source")])
    (s,) = p.steps
    assert (s.kind, s.executor, s.dn) == (StepKind.REMOVE_PROXY_ADDRESS, Executor.LDAP, "CN=Priya R,DC=corp")
    assert s.change == {"proxyAddresses": {"remove": ["smtp:priya@contoso.com"]}}
    assert s.undo == {"proxyAddresses": {"add": ["smtp:priya@contoso.com"]}}
    assert _plan([onprem_dup("holder")]).steps[0].dn == "CN=Priya N,DC=corp"


def test_undecided_onprem_duplicate_plans_no_write():
    p = _plan([onprem_dup("undecided")])
    assert not p.steps and p.refusals[0].guard == "keep_undecided"


def test_fingerprint_is_sha256_of_canonical_tenant_steps_refusals_and_warnings():
    import hashlib
    import json

    p = _plan([twin(), twin(2, holder={"userType": "Guest"}), twin(3, obj={"licences": 1})])
    assert p.warnings and p.refusals
    body = json.dumps({"tenant": p.tenant, "steps": [s.data for s in p.steps],
                       "refusals": [r.data() for r in p.refusals], "warnings": list(p.warnings)},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert p.fingerprint == "sha256:" + hashlib.sha256(body).hexdigest()
    assert p.data["fingerprint"] == p.fingerprint
    steps, refusals = [s.data for s in p.steps], [r.data() for r in p.refusals]
    assert fingerprint(p.tenant, steps[:-1], refusals, p.warnings) != p.fingerprint
    assert fingerprint(p.tenant, steps, refusals, p.warnings[1:]) != p.fingerprint  # a dropped warning shows


def test_filters_select_scenarios_and_findings():
    both = [twin(), onprem_dup()]
    assert {s.finding for s in _plan(both, opts=PlanOptions(scenarios=frozenset({"onprem_duplicate"}))).steps} \
        == {"fdup1"}
    assert {s.finding for s in _plan(both, opts=PlanOptions(findings=frozenset({"f00001"}))).steps} \
        == {"f00001", None}


# ------------------------------------------------------------------------- every remedy asks the target's guards

from .builders import COVERED, deleted, orphan, other_type  # noqa: E402


def test_class2_one_account_claimed_by_two_sources_refuses_both_naming_every_source():
    a = twin(1, dn="CN=Lena,OU=Staff,DC=corp,DC=contoso,DC=com")
    b = twin(2, value="lena1@contoso.com", holder={"id": "u-twin-1"}, dn="CN=Lena,OU=Users,DC=emea,DC=fabrikam,DC=com")
    b[0]["holders"][0]["id"] = "u-twin-1"
    p = _plan([a, b])
    assert [r.guard for r in p.refusals] == ["ambiguous_target", "ambiguous_target"] and not p.steps
    assert all("DC=corp" in r.reason and "DC=emea" in r.reason for r in p.refusals)


def test_class2_plan_wide_one_target_one_change_refuses_the_later_finding():
    """Two holders, one quarantined duplicate: the second finding would remove and purge it again."""
    a = twin(1)
    b = twin(2, anchor="AAAAAAAAAAAAAAAAAAAA0001==", obj={"id": "u-dup-1"})
    b[0]["object"]["id"] = "u-dup-1"
    p = _plan([a, b])
    assert [(r.finding, r.guard) for r in p.refusals] == [("f00002", "ambiguous_target")]
    assert "finding f00001" in p.refusals[0].reason
    assert {s.finding for s in p.steps} == {"f00001", None}


def test_class2_same_source_same_account_is_planned_once():
    a, b = twin(1), twin(1)
    b[0]["id"] = "f00009"
    b[0]["conflict"]["property"] = "ProxyAddress"
    p = _plan([a, b])
    assert not p.refusals and [s.kind for s in p.steps].count(StepKind.SET_IMMUTABLE_ID) == 1
    assert any("planned once" in w for w in p.warnings)


def test_class3_orphan_removal_needs_positive_coverage_evidence():
    newer = {"createdDateTime": "2026-12-01T00:00:00Z", "licences": 0, "mail": None, "proxyAddresses": []}
    absent = _plan([orphan(holder=newer, coverage=None)])
    assert [r.guard for r in absent.refusals] == ["coverage_unknown"] and not absent.steps
    assert ("coverage evidence unknown: re-scan with a complete export that includes objectGUID and "
            "mS-DS-ConsistencyGuid") in absent.refusals[0].reason
    for cov in ({**COVERED, "anchored": False}, {**COVERED, "complete": False}, {"source": "x"}):
        assert [r.guard for r in _plan([orphan(holder=newer, coverage=cov)]).refusals] == ["coverage_unknown"]
    present = _plan([orphan(holder=newer)])
    assert not present.refusals
    assert [s.kind for s in present.steps] == [StepKind.REMOVE_SYNCED_OBJECT, StepKind.PURGE_DELETED]


def test_class3_orphan_removal_runs_the_role_guard_and_purge_needs_consent():
    newer = {"createdDateTime": "2026-12-01T00:00:00Z"}
    p = _plan([orphan(holder=newer)], ctx(role_holders={"u-orphan": ["Exchange Administrator"]}))
    assert [r.guard for r in p.refusals] == ["holder_has_role"] and not p.steps
    mailbox = {**newer, "mail": "tomasz@contoso.com"}
    stop = _plan([orphan(holder=mailbox)])
    assert [s.kind for s in stop.steps] == [StepKind.REMOVE_SYNCED_OBJECT]  # stops at the recycle bin
    assert any("stops at the recycle bin" in w and "--allow-purge" in w for w in stop.warnings)
    assert StepKind.PURGE_DELETED in _kinds(_plan([orphan(holder=mailbox)], opts=PlanOptions(allow_purge=True)))


def test_class3_unknown_creation_date_is_undecided_not_newer():
    for side in ({"holder": {"createdDateTime": None}}, {"obj": {"createdDateTime": None}}):
        p = _plan([orphan(**side)])
        assert [r.guard for r in p.refusals] == ["keep_undecided"] and not p.steps


def test_class3_older_licensed_orphan_is_re_anchored_only_with_purge_consent_for_the_duplicate():
    p = _plan([orphan(holder={"licences": 1}, obj={"licences": 1})])
    assert [r.guard for r in p.refusals] == ["purge_needs_allow_purge"] and not p.steps
    ok = _plan([orphan(holder={"licences": 1}, obj={"licences": 1})], opts=PlanOptions(allow_purge=True))
    assert StepKind.SET_CONSISTENCY_GUID in _kinds(ok) and not ok.refusals


@pytest.mark.parametrize("htype", ["group", "contact"])  # a cloud user holding it as UPN is never renamed (safety)
def test_class4_cloud_only_other_type_runs_the_role_guard(htype):
    c = ctx(role_holders={"c-holder": ["Global Administrator"]})
    p = _plan([other_type(htype=htype)], c)
    assert [r.guard for r in p.refusals] == ["holder_has_role"] and not p.steps
    assert _plan([other_type(htype=htype)]).steps  # control: the same holder without a role is fixed


def test_class5_invited_member_is_external_for_every_remedy():
    b2b = {"creationType": "Invitation", "userPrincipalName": "lena_fabrikam.com#EXT#@contoso.onmicrosoft.com"}
    assert {r.guard for r in _plan([twin(holder=b2b)]).refusals} == {"external_account"}
    p = _plan([other_type(holder={"externalUserState": "Accepted"})])  # its UPN: never renamed, guest or not
    assert not p.steps and [r.guard for r in p.refusals] == ["upn_not_renamed"]


@pytest.mark.parametrize("holder,source,guard", [
    ({"surname": None, "displayName": "Lena Schwarz"}, {}, "names_disagree"),
    ({"displayName": "Lena Fischer-Braun"}, {}, "names_disagree"),
    ({"employeeId": "1001"}, {"employeeID": "2002"}, "names_disagree"),
    ({"accountEnabled": False}, {}, "target_disabled"),
    ({}, {"enabled": False}, "source_disabled"),
])
def test_class6_strict_names_employee_id_and_disabled_accounts(holder, source, guard):
    p = _plan([twin(holder=holder, source=source)])
    assert guard in {r.guard for r in p.refusals} and not p.steps


def test_onprem_duplicate_guards_the_cloud_account_the_loser_syncs_to():
    p = _plan([onprem_dup("source")], ctx(role_holders={"u-old": ["Global Administrator"]}))
    assert [r.guard for r in p.refusals] == ["holder_has_role"] and not p.steps


def test_deleted_holder_purge_and_restore_are_guarded():
    plain = {"proxyAddresses": [], "mail": None}
    assert _kinds(_plan([deleted(holder=plain)])) == [StepKind.PURGE_DELETED]
    assert [r.guard for r in _plan([deleted()]).refusals] == ["purge_needs_allow_purge"]
    admin = ctx(role_holders={"d-1": ["Global Administrator"]})
    assert [r.guard for r in _plan([deleted(holder=plain)], admin).refusals] == ["holder_has_role"]
    r = _plan([deleted()], admin, PlanOptions(prefer_restore=True))
    assert [x.guard for x in r.refusals] == ["holder_has_role"] and not r.steps


def test_why_keeps_every_reason_whole():
    f, d = onprem_dup("source")
    f["reasons"] = [f"reason number {i} with enough words to make it long" for i in range(20)]
    (s,) = _plan([(f, d)]).steps
    assert all(r in s.why for r in f["reasons"])


def test_plan_never_crashes_on_damaged_stored_findings():
    f, d = twin()
    del f["conflict"]["value"]
    broken_cols = {"columns": [{"role": "holder", "attrs": None}, "not a column"]}
    g, _ = onprem_dup()
    p = _plan([(f, d), (g, broken_cols), twin(3)])
    assert [(r.finding, r.guard) for r in p.refusals][:1] == [("f00001", "plan_error")]
    assert "f00003" in {s.finding for s in p.steps}
