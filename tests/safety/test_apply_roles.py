"""Class 1 "role checked only at plan time": apply re-reads each cloud target right before the write (one $batch:
the object, its role assignments direct / via role-assignable groups / AU-scoped / custom, PIM eligibility) and
runs the guards again; a role granted between plan and apply means nothing is written to that account (drift,
exit 4). Plans expire (--max-age, default 7 days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core.errors import DriftDetected, PermissionDenied, PlanMismatch
from reconciler.fixes.steps import Executor, Step, StepKind
from tests.fixes.emu import Emu, load, purge, rename, save_plan, stamp, tenant_doc

from .conftest import GRANTS, apply_emu, run, writes_to


def delete(i: int) -> Step:
    return Step(id=f"s{i}-delete", kind=StepKind.DELETE_OBJECT, executor=Executor.GRAPH,
                target={"type": "user", "id": f"c-{i}"}, expect={"userPrincipalName": f"lena{i}@contoso.com"},
                undo={"restore": True})


KINDS = {"set_immutable_id": lambda: stamp(0), "set_user_principal_name": lambda: rename(0),
         "delete_object": lambda: delete(0), "purge_deleted": lambda: purge(0)}


@pytest.mark.parametrize("grant", list(GRANTS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_class1_role_granted_between_plan_and_apply_nothing_written_to_that_account(tmp_path, journal, kind, grant):
    if kind == "purge_deleted" and grant in ("role_assignable_group", "nested_group", "directory_role_member"):
        pytest.skip("a recycle-bin object has no memberships Graph can list; its direct assignments and "
                    "eligibility are checked")
    emu = Emu(tenant_doc(3))
    step = KINDS[kind]()
    path = save_plan(tmp_path, [step, rename(1)], journal)  # planned while nobody held a role
    target = str(step.target["id"])
    GRANTS[grant](emu, target)
    with pytest.raises(DriftDetected) as e:
        run(apply_emu(emu, path, journal, doit=True))
    assert e.value.exit_code == 4
    report = e.value.report
    by = {o.step: o for o in report.outcomes}
    assert by[step.id].status == "drift"
    assert "guard holder_has_role" in by[step.id].detail or "guard holder_eligible_for_role" in by[step.id].detail
    assert writes_to(emu, target) == []  # read back: nothing was sent to that account
    assert by["s1-upn"].status == "done"  # the other account's step still ran
    fp = load(path).plan.fingerprint
    assert journal.count(fp) == {"s1-upn": 1}


def test_class1_one_batch_per_step_never_a_tenant_read(tmp_path, journal):
    emu = Emu(tenant_doc(4))
    path = save_plan(tmp_path, [stamp(0), stamp(1), rename(2), purge(3)], journal)
    report = run(apply_emu(emu, path, journal, doit=True))
    assert report.count("done") == 4
    batches = [e for e in emu.em.log if e.get("endpoint") == "$batch"]
    assert len(batches) == 4  # one round trip per step (no role-assignable group membership to follow)
    reads = [b["path"] for e in batches for b in e["batch"]]
    assert "/v1.0/users" not in reads and all(p.count("/") >= 2 for p in reads)  # never a listing of all users
    assert sum(p.endswith("/roleManagement/directory/roleAssignments") for p in reads) == 4


def test_class1_role_data_unreadable_refuses_or_stops(tmp_path, journal):
    emu = Emu(tenant_doc(2))
    path = save_plan(tmp_path, [stamp(0)], journal)
    emu.em.state.role_eligibility = None  # PIM eligibility not readable: may be eligible -> refused
    with pytest.raises(DriftDetected) as e:
        run(apply_emu(emu, path, journal, doit=True))
    assert "guard eligibility_unknown" in e.value.report.outcomes[0].detail and emu.writes() == []
    emu.em.state.role_eligibility = []
    emu.em.state.role_assignments = None  # active roles not readable: the run stops (exit 5) naming the permission
    with pytest.raises(PermissionDenied, match="RoleManagement.Read.Directory") as e2:
        run(apply_emu(emu, path, journal, doit=True))
    assert e2.value.exit_code == 5 and emu.writes() == []


@pytest.mark.parametrize(("field", "value", "guard"), [
    ("creationType", "Invitation", "external_account"), ("externalUserState", "PendingAcceptance", "external_account"),
    ("userType", "Guest", "external_account"), ("onPremisesObjectIdentifier", "7f1c-linked", "holder_has_object_identifier"),
    ("employeeId", "E-999", None)])
def test_class1_target_changed_in_ways_expect_does_not_list_is_refused_by_the_guards(tmp_path, journal, field, value,
                                                                                    guard):
    emu = Emu(tenant_doc(1))
    emu.em.state.collections["users"].get("c-0")["employeeId"] = "E-1"
    step = Step(id="s1", kind=StepKind.SET_IMMUTABLE_ID, executor=Executor.GRAPH, target={"type": "user", "id": "c-0"},
                expect={"onPremisesImmutableId": None, "givenName": "Lena", "surname": "Fischer0", "employeeId": "E-1"},
                change={"onPremisesImmutableId": "NEW0=="}, undo={"onPremisesImmutableId": None})
    path = save_plan(tmp_path, [step], journal)
    emu.em.state.collections["users"].get("c-0")[field] = value
    with pytest.raises(DriftDetected) as e:
        run(apply_emu(emu, path, journal, doit=True))
    detail = e.value.report.outcomes[0].detail
    assert (f"guard {guard}" in detail) if guard else ("employeeId" in detail)
    assert emu.writes() == [] and emu.get("/users/c-0")["onPremisesImmutableId"] is None


def test_class1_plans_expire(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    path = save_plan(tmp_path, [stamp(0)], journal)
    later = datetime.now(UTC) + timedelta(days=8)
    with pytest.raises(PlanMismatch, match=r"made 8\.\d days ago, over --max-age 7 days") as e:
        run(apply_emu(emu, path, journal, doit=True, now=later))
    assert e.value.exit_code == 4 and emu.writes() == []
    report = run(apply_emu(emu, path, journal, doit=True, now=later, max_age_days=30))
    assert report.count("done") == 1


def test_class1_expiry_uses_the_database_time_not_the_file(tmp_path, journal):
    """``created`` is outside the fingerprint: editing it in the file does not make an old plan young."""
    emu = Emu(tenant_doc(1))
    path = save_plan(tmp_path, [stamp(0)], journal)
    fp = load(path).plan.fingerprint
    old = (datetime.now(UTC) - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    journal.store.conn.execute("UPDATE plans SET created = ? WHERE fingerprint = ?", (old, fp))
    with pytest.raises(PlanMismatch, match="days ago"):
        run(apply_emu(emu, path, journal, doit=True))
    assert emu.writes() == []


def test_class1_script_step_onto_a_new_role_holder_is_not_handed_out(tmp_path, journal):
    """An ADSyncTools removal or Exchange address change is run by the admin, but handed out only if its cloud
    target passes the guards on a fresh read: a removal of an account that became an admin is not emitted."""
    from reconciler.fixes.emit import render_command

    emu = Emu(tenant_doc(2))
    params = {"SourceAnchor": "SYNCED==", "ObjectType": "User"}
    rm = Step(id="s1", kind=StepKind.REMOVE_SYNCED_OBJECT, executor=Executor.POWERSHELL,
              target={"type": "user", "id": "synced-1"}, expect={"onPremisesImmutableId": "SYNCED=="},
              change={"params": params, "command": render_command(StepKind.REMOVE_SYNCED_OBJECT, params)})
    after = purge(0, ("s1",))
    path = save_plan(tmp_path, [rm, after], journal)
    GRANTS["pim_eligible"](emu, "synced-1")
    with pytest.raises(DriftDetected) as e:
        run(apply_emu(emu, path, journal, doit=True))
    report = e.value.report
    assert report.external == []  # nothing for the admin to run
    by = {o.step: o for o in report.outcomes}
    assert by["s1"].status == "drift" and "holder_eligible_for_role" in by["s1"].detail
    assert by["s0-purge"].status == "skipped" and emu.writes() == []
