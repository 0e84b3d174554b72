"""plan_reanchors: check-onprem's moved users become set_consistency_guid steps only through the guards."""

from __future__ import annotations

from dataclasses import replace

from reconciler.checks.engine import Checker
from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.model import CloudObject, CloudSnapshot, ObjectKind, OnPremObject
from reconciler.fixes.planfile import parse_plan_bytes
from reconciler.fixes.planner import TenantContext, context_from_snapshot, plan_reanchors
from reconciler.fixes.steps import StepKind
from tests.checks.checks_helpers import NOW, TLDS

OLD = guid_to_immutable_id("0badc0de-0000-4000-8000-000000000001")
NEW_GUID = "5ca1ab1e-0000-4000-8000-000000000002"


def _cloud(**kw) -> CloudObject:
    base = CloudObject(id="c1", kind=ObjectKind.USER, display_name="Alice Moreau", given_name="Alice",
                       surname="Moreau", user_principal_name="alice@contoso.com", user_type="Member",
                       account_enabled=True, sync_enabled=True, immutable_id=OLD, license_count=1)
    return replace(base, **kw)


def _moved(**kw) -> OnPremObject:
    return OnPremObject(**{"dn": "CN=Alice Moreau,OU=Users,DC=fabrikam,DC=com", "object_class": "user",
                           "object_guid": NEW_GUID, "user_principal_name": "alice@contoso.com",
                           "given_name": "Alice", "sn": "Moreau", "display_name": "Alice Moreau",
                           "user_account_control": 512, **kw})


def _check(snap: CloudSnapshot, *objs: OnPremObject):
    c = Checker(TLDS, snap, now=NOW)
    for o in objs:
        c.add(o, "fabrikam.ldif")
    return c.finish("2026-12-01T00:00:00Z")


def _snap(*objs: CloudObject, **kw) -> CloudSnapshot:
    return CloudSnapshot(tenant_id="t1", objects=list(objs), role_eligibility=(), **kw)


def test_moved_user_is_planned_as_a_guarded_reanchor_that_reads_back():
    snap = _snap(_cloud())
    res = _check(snap, _moved())
    assert len(res.reanchors) == 1 and res.plan_context is not None
    plan = plan_reanchors(res.reanchors, TenantContext.from_data(res.plan_context, "t1"), created=res.generated)
    kinds = [s.kind for s in plan.steps]
    assert kinds == [StepKind.PAUSE_SYNC_SCHEDULER, StepKind.SET_CONSISTENCY_GUID,
                     StepKind.RESUME_SYNC_SCHEDULER, StepKind.RUN_DELTA_SYNC]
    step = plan.steps[1]
    # the cloud user the next sync reaches is named, so apply re-reads and guards it too
    assert step.target == {"type": "onprem", "dn": "CN=Alice Moreau,OU=Users,DC=fabrikam,DC=com", "cloud_id": "c1",
                           "cloud_type": "user"}
    assert step.change == {"mS-DS-ConsistencyGuid": OLD} and step.undo == {"mS-DS-ConsistencyGuid": None}
    # the current value (absent here) is expected: a GUID set since the check is drift, never overwritten
    assert step.expect == {"objectGUID": NEW_GUID, "mS-DS-ConsistencyGuid": None} and step.after == (plan.steps[0].id,)
    assert plan.refusals == () and plan.tenant == "t1"
    import orjson

    loaded = parse_plan_bytes(orjson.dumps(plan.data))  # the plan file's own validation (per-kind shapes)
    assert [s.kind for s in loaded.plan.steps] == kinds


def test_a_role_granted_after_the_check_is_refused_by_the_planner():
    snap = _snap(_cloud())
    res = _check(snap, _moved())
    ctx = context_from_snapshot(replace(snap, directory_role_members={"Global Administrator": ("c1",)}))
    plan = plan_reanchors(res.reanchors, ctx)
    assert not any(s.kind is StepKind.SET_CONSISTENCY_GUID for s in plan.steps)
    assert [r.guard for r in plan.refusals] == ["holder_has_role"]


def test_unreadable_eligibility_changed_anchor_and_bad_ids_are_refused():
    snap = _snap(_cloud())
    (move,) = _check(snap, _moved()).reanchors
    ctx = context_from_snapshot(snap)
    assert "eligibility_unknown" in {r.guard for r in plan_reanchors([move], replace(ctx, eligible=None)).refusals}
    moved_on = {**move, "target": {**move["target"], "onPremisesImmutableId": "b3RoZXI="}}
    assert [r.guard for r in plan_reanchors([moved_on], ctx).refusals] == ["anchor_changed"]
    not_guid = {**move, "immutable_id": "alice@corp.local",
                "target": {**move["target"], "onPremisesImmutableId": "alice@corp.local"}}
    assert [r.guard for r in plan_reanchors([not_guid], ctx).refusals] == ["not_a_guid"]
    assert [r.guard for r in plan_reanchors([{"id": "x"}], ctx).refusals] == ["plan_error"]
    for p in (plan_reanchors([moved_on, not_guid], ctx),):
        assert not any(s.kind is StepKind.SET_CONSISTENCY_GUID for s in p.steps)


def test_disabled_source_or_a_different_person_is_never_a_reanchor():
    snap = _snap(_cloud())
    assert not _check(snap, _moved(user_account_control=514)).reanchors  # the check refuses already
    (move,) = _check(snap, _moved()).reanchors
    other = {**move, "source": {**move["source"], "givenName": "Bob", "sn": "Stone", "displayName": "Bob Stone"}}
    plan = plan_reanchors([other], context_from_snapshot(snap))
    assert [r.guard for r in plan.refusals] == ["names_disagree"] and plan.steps == ()


def test_two_moves_onto_one_cloud_user_are_one_target_one_change():
    snap = _snap(_cloud())
    other = _moved(dn="CN=Alice Moreau,OU=Users,DC=tailspin,DC=com", object_guid="5ca1ab1e-0000-4000-8000-000000000003")
    res = _check(snap, _moved(), other)
    assert res.reanchors == []  # the check proposes for neither: two objects would take one cloud user
    assert all("would take the same cloud user" in p.message for p in res.problems if p.rule == "anchor-cloud-mismatch")
    (move,) = _check(snap, _moved()).reanchors
    second = {**move, "id": "second", "dn": other.dn, "object_guid": other.object_guid}
    plan = plan_reanchors([move, second], context_from_snapshot(snap))  # the planner refuses it on its own too
    assert sum(s.kind is StepKind.SET_CONSISTENCY_GUID for s in plan.steps) == 1
    assert [r.guard for r in plan.refusals] == ["ambiguous_target"]
    same_dn = {**move, "id": "again"}
    plan = plan_reanchors([move, same_dn], context_from_snapshot(snap))
    assert sum(s.kind is StepKind.SET_CONSISTENCY_GUID for s in plan.steps) == 1


def test_no_moves_is_an_empty_plan_that_says_so():
    plan = plan_reanchors([], TenantContext(tenant="t1"))
    assert plan.steps == () and "nothing to plan" in plan.warnings[0]
