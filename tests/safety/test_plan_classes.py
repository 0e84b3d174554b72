"""Planning-side attack classes of the "safe writes" issue, end to end: a tenant with the hazard planted
(tests/safety/hazards.py) is scanned and planned by the real matcher and planner, the plan is applied with
``--doit`` against the Graph emulator, and the state is read back. Each test is named after its class;
docs/safety.md maps them to the invariants.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import DriftDetected
from reconciler.fixes.planfile import read_plan, write_plan
from reconciler.fixes.planner import Plan, PlanOptions, context_from_snapshot, make_plan
from reconciler.fixes.steps import StepKind
from reconciler.sources.onprem import read_onprem_file
from reconciler.sources.tenantfile import read_tenant_file
from reconciler.workflow import scan_snapshot
from tests.conftest import SAMPLE_LDIF, SAMPLE_TENANT
from tests.fixes.emu import Emu

from .conftest import apply_emu, run, writes_to
from .hazards import (
    Tenant,
    empty_tenant,
    plant_admin_other_type,
    plant_b2b_by_address,
    plant_deleted_mailbox,
    plant_group_orphan,
    plant_orphan,
    plant_twin,
    plant_two_sources,
)

ALLOW = PlanOptions(allow_purge=True)


def tenant(*plants: Any, seed: int = 7) -> Tenant:
    t, rng = empty_tenant(), random.Random(seed)
    for i, plant in enumerate(plants):
        plant(t, i, rng)
    return t


def plan_and_apply(tmp: Path, journal: Any, t: Tenant, opts: PlanOptions = ALLOW) -> tuple[Plan, Emu, Any]:
    """plan -> plan.json (fingerprint recorded, as `reconciler plan` does) -> apply --doit against the emulator."""
    plan = t.plan(opts)
    path = tmp / "plan.json"
    write_plan(path, plan)
    journal.record_plan(plan.fingerprint, plan.tenant, None, len(plan.steps))
    emu = Emu(copy.deepcopy(t.doc))
    try:
        report = run(apply_emu(emu, path, journal, doit=True, force=True))
    except DriftDetected as e:
        report = e.value.report
    return plan, emu, report


def user(emu: Emu, oid: str) -> dict[str, Any] | None:
    return emu.em.state.collections["users"].get(oid)


def ids(t: Tenant, **match: Any) -> list[str]:
    return [u["id"] for u in t.doc["users"] if all(u.get(k) == v for k, v in match.items())]


def admin_runs_script(emu: Emu, plan: Plan, journal: Any, tmp: Path) -> Any:
    """What the admin does with the emitted .ps1: ADSyncTools moves each synced duplicate to the recycle bin,
    then `apply --doit --confirm` records the script steps."""
    for s in plan.steps:
        if s.kind is StepKind.REMOVE_SYNCED_OBJECT:
            obj = emu.em.state.collections["users"].remove(s.target["id"])
            emu.em.state.collections["deletedUsers"].add({**obj, "deletedDateTime": "2026-12-01T00:00:00Z"})
    external = tuple(s.id for s in plan.steps if s.executor.value == "powershell"
                     and s.kind is not StepKind.RESUME_SYNC_SCHEDULER)
    return run(apply_emu(emu, tmp / "plan.json", journal, doit=True, force=True, confirm=external))


# ----------------------------------------------------------------------------- class 2: two sources, one twin


def test_class2_two_sources_one_twin_both_refused_nothing_written(tmp_path, journal):
    t = tenant(plant_two_sources)
    (twin,) = ids(t, onPremisesSyncEnabled=None)
    plan, emu, _ = plan_and_apply(tmp_path, journal, t)
    assert {r.guard for r in plan.refusals} == {"ambiguous_target"} and len(plan.refusals) == 2
    for r in plan.refusals:  # every candidate source is named
        assert "DC=corp,DC=contoso,DC=com" in r.reason and "DC=emea,DC=fabrikam,DC=com" in r.reason
    assert not any(s.target and s.target.get("id") == twin for s in plan.steps)
    assert writes_to(emu, twin) == [] and user(emu, twin)["onPremisesImmutableId"] is None


def test_class2_control_one_source_one_twin_is_merged(tmp_path, journal):
    """The same tenant with one forest: the merge runs through, so the refusal above is the guard's doing."""
    t = tenant(lambda t, i, r: plant_twin(t, i, r, None))
    (twin,) = ids(t, onPremisesSyncEnabled=None)
    anchor = next(u["onPremisesImmutableId"] for u in t.doc["users"] if u["onPremisesSyncEnabled"])
    plan, emu, _ = plan_and_apply(tmp_path, journal, t)
    assert not plan.refusals and StepKind.SET_IMMUTABLE_ID in {s.kind for s in plan.steps}
    admin_runs_script(emu, plan, journal, tmp_path)
    assert user(emu, twin)["onPremisesImmutableId"] == anchor  # read back: the hard match was stamped


# ----------------------------------------------------------------------------- class 3: irreversible on missing evidence


def test_class3_null_created_date_licensed_admin_mailbox_never_removed_or_purged(tmp_path, journal):
    t = tenant(lambda t, i, r: plant_orphan(t, i, r, created=None, licensed=True, admin="direct"))
    (holder,) = [u["id"] for u in t.doc["users"] if u["createdDateTime"] is None]
    plan, emu, _ = plan_and_apply(tmp_path, journal, t)
    assert {r.guard for r in plan.refusals} == {"keep_undecided"}
    assert "createdDateTime" in plan.refusals[0].reason
    assert not {s.kind for s in plan.steps} & {StepKind.REMOVE_SYNCED_OBJECT, StepKind.PURGE_DELETED}
    assert writes_to(emu, holder) == [] and user(emu, holder) is not None


def test_class3_removal_path_runs_the_role_guard(tmp_path, journal):
    """An orphan that is not the original (newer than the duplicate) but holds a role: never removed."""
    t = tenant(lambda t, i, r: plant_orphan(t, i, r, created="2026-11-01T00:00:00Z", licensed=False,
                                            admin="group"))
    f = t.scan()[1][0]
    f["coverage"] = {"source": "corp.ldif", "anchored": True, "complete": True}  # positive coverage evidence
    snap, _, details = t.scan()
    plan = make_plan([f], details, context_from_snapshot(snap), ALLOW)
    assert [r.guard for r in plan.refusals] == ["holder_has_role"] and not plan.steps


@pytest.mark.parametrize("export", ["anchorless", "truncated"])
def test_class3_orphan_from_an_export_that_cannot_prove_it_is_not_removed(tmp_path, journal, export):
    t = tenant(lambda t, i, r: plant_orphan(t, i, r, created="2026-11-01T00:00:00Z", licensed=False, export=export))
    holder = next(u["id"] for u in t.doc["users"] if not u["onPremisesProvisioningErrors"])
    plan, emu, _ = plan_and_apply(tmp_path, journal, t)
    # without positive coverage evidence (or once the matcher calls it unverified) nothing is removed
    assert {r.guard for r in plan.refusals} <= {"coverage_unknown", "holder_unverified"} and plan.refusals
    assert not plan.steps
    assert writes_to(emu, holder) == [] and user(emu, holder) is not None


def test_class3_control_a_proven_orphan_is_removed_and_purged(tmp_path, journal):
    """Full anchored export (coverage evidence from the matcher), both dates, a newer unlicensed orphan: removed."""
    t = tenant(lambda t, i, r: plant_orphan(t, i, r, created="2026-12-01T00:00:00Z", licensed=False))
    holder = next(u["id"] for u in t.doc["users"] if not u["onPremisesProvisioningErrors"])
    assert t.scan()[1][0]["coverage"] == {"source": "corp.ldif", "anchored": True, "complete": True}
    plan, emu, _ = plan_and_apply(tmp_path, journal, t, PlanOptions())
    assert not plan.refusals
    assert [s.kind for s in plan.steps] == [StepKind.REMOVE_SYNCED_OBJECT, StepKind.PURGE_DELETED]
    admin_runs_script(emu, plan, journal, tmp_path)
    assert emu.em.state.find(holder, ("users", "deletedUsers")) is None  # read back: removed and purged


def test_class3_licensed_orphan_stops_at_the_recycle_bin_without_allow_purge(tmp_path, journal):
    t = tenant(lambda t, i, r: plant_orphan(t, i, r, created="2026-12-01T00:00:00Z", licensed=True))
    holder = next(u["id"] for u in t.doc["users"] if not u["onPremisesProvisioningErrors"])
    plan, emu, _ = plan_and_apply(tmp_path, journal, t, PlanOptions())
    assert [s.kind for s in plan.steps] == [StepKind.REMOVE_SYNCED_OBJECT]
    assert any("stops at the recycle bin" in w and "--allow-purge" in w for w in plan.warnings)
    admin_runs_script(emu, plan, journal, tmp_path)
    assert emu.em.state.find(holder, ("deletedUsers",)) is not None  # restorable for 30 days


# ----------------------------------------------------------------------------- class 4: guards only on the match path


def test_class4_cloud_only_other_type_never_renames_a_global_admin(tmp_path, journal):
    t = tenant(plant_admin_other_type)
    (admin,) = t.role_holders
    plan, emu, _ = plan_and_apply(tmp_path, journal, t)
    # refused by the role guard, or (since the admin-role scenario exists) a manual runbook: never a write
    assert [r.guard for r in plan.refusals] == ["holder_has_role"] or (
        not plan.refusals and plan.steps and {s.executor.value for s in plan.steps} == {"manual"})
    assert writes_to(emu, admin) == []
    assert user(emu, admin)["userPrincipalName"] == "admin0@contoso.com"  # the sign-in name is untouched


# ----------------------------------------------------------------------------- class 5: external members matched


def test_class5_b2b_member_with_invitation_and_ext_upn_never_matched(tmp_path, journal):
    t = tenant(plant_b2b_by_address)
    (b2b,) = t.external
    plan, emu, _ = plan_and_apply(tmp_path, journal, t)
    assert plan.refusals and {r.guard for r in plan.refusals} == {"external_account"}
    assert "creationType 'Invitation'" in plan.refusals[0].reason and "#EXT#" in plan.refusals[0].reason
    assert not plan.steps and writes_to(emu, b2b) == []
    assert user(emu, b2b)["onPremisesImmutableId"] is None


# ----------------------------------------------------------------------------- class 6: name guard too lenient


@pytest.mark.parametrize("hazard,guard", [("no_surname", "names_disagree"), ("disabled", "target_disabled"),
                                          ("source_disabled", "source_disabled")])
def test_class6_names_and_disabled_accounts_refuse_the_match(tmp_path, journal, hazard, guard):
    t = tenant(lambda t, i, r: plant_twin(t, i, r, hazard))
    (twin,) = ids(t, onPremisesSyncEnabled=None)
    plan, emu, _ = plan_and_apply(tmp_path, journal, t)
    assert guard in {r.guard for r in plan.refusals} and not plan.steps
    assert writes_to(emu, twin) == [] and user(emu, twin)["onPremisesImmutableId"] is None


# ----------------------------------------------------------------------------- class 10: defaults that destroy


def _sample_plan(opts: PlanOptions) -> tuple[Plan, set[str]]:
    snap = read_tenant_file(SAMPLE_TENANT)
    valuable = {o.id for o in snap.objects if o.license_count or o.mail or o.smtp_addresses()}
    result, details = scan_snapshot(snap, [read_onprem_file(SAMPLE_LDIF)])
    ctx = context_from_snapshot(snap)
    ctx = type(ctx)(**{**ctx.__dict__, "eligible": {}})  # as if PIM were read: nobody eligible
    return make_plan([f.data() for f in result.findings], details, ctx, opts, created="now"), valuable


def test_class10_sample_plan_purges_no_licensed_mailbox_without_allow_purge():
    plan, valuable = _sample_plan(PlanOptions())
    purged = {s.target["id"] for s in plan.steps if s.kind is StepKind.PURGE_DELETED}
    assert not purged & valuable
    assert any("recycle bin" in w and "--allow-purge" in w for w in plan.warnings)
    allowed, _ = _sample_plan(ALLOW)
    assert {s.target["id"] for s in allowed.steps if s.kind is StepKind.PURGE_DELETED} & valuable  # consent works


def test_class10_plan_warnings_are_inside_the_fingerprint(tmp_path):
    plan, _ = _sample_plan(PlanOptions())
    assert plan.warnings
    path = tmp_path / "plan.json"
    write_plan(path, plan)
    assert read_plan(path).intact
    doc = path.read_text()
    path.write_text(doc.replace(plan.warnings[0].replace('"', '\\"'), "all good", 1))
    assert not read_plan(path).intact  # a reviewer's warning cannot be dropped or changed unnoticed


# ----------------------------------------------------------------------------- also broken


def test_also_group_orphan_without_immutable_id_is_refused_not_a_crash(tmp_path, journal):
    t = tenant(plant_group_orphan)
    group = t.doc["groups"][0]["id"]
    plan, emu, _ = plan_and_apply(tmp_path, journal, t)
    assert [r.guard for r in plan.refusals] == ["no_anchor"] and not plan.steps
    assert writes_to(emu, group) == []


def test_also_prefer_restore_plans_a_restore_graph_accepts(tmp_path, journal):
    """Another object now holds one of the deleted user's addresses: the restore carries
    autoReconcileProxyConflict, and the emulator (which refuses without it, as Graph does) restores."""
    t = tenant(lambda t, i, r: plant_deleted_mailbox(t, i, r, licensed=True))
    gone = t.doc["deletedUsers"][0]
    gone["proxyAddresses"].append("smtp:shared.alias@contoso.com")
    t.user(random.Random(1), upn="someone@contoso.com", given="Some", sn="One", mail="someone@contoso.com",
           proxies=["SMTP:someone@contoso.com", "smtp:shared.alias@contoso.com"])
    plan, emu, report = plan_and_apply(tmp_path, journal, t, PlanOptions(prefer_restore=True))
    (restore,) = [s for s in plan.steps if s.kind is StepKind.RESTORE_DELETED]
    assert restore.change == {"autoReconcileProxyConflict": True} and "autoReconcileProxyConflict" in restore.why
    assert {o.step: o.status for o in report.outcomes}[restore.id] == "done"
    back = user(emu, gone["id"])
    assert back is not None and "smtp:shared.alias@contoso.com" not in back["proxyAddresses"]


def test_also_deleted_mailbox_without_allow_purge_stops_at_the_recycle_bin(tmp_path, journal):
    t = tenant(lambda t, i, r: plant_deleted_mailbox(t, i, r, licensed=True))
    gone = t.doc["deletedUsers"][0]["id"]
    plan, emu, _ = plan_and_apply(tmp_path, journal, t, PlanOptions())
    assert [r.guard for r in plan.refusals] == ["purge_needs_allow_purge"] and not plan.steps
    assert any("recycle bin" in w for w in plan.warnings)
    assert emu.em.state.find(gone, ("deletedUsers",)) is not None  # still restorable
