"""On-prem steps, end to end from the real planner: every ldap step names the cloud account its next sync reaches
(``target.cloud_id``) so apply guards that account at the moment of writing; ``set_consistency_guid`` carries the
object's current mS-DS-ConsistencyGuid (drift when it changed, undo puts it back); a cloud user's sign-in name is
never renamed for an on-prem newcomer of another type; an ldap id is confirmed only after an ``apply --doit`` of
the plan wrote it to the LDIF file."""

from __future__ import annotations

import base64
import copy
import json
import os
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.errors import DriftDetected, UsageError
from reconciler.fixes.apply import ApplyOptions, apply_plan, undo_run
from reconciler.fixes.emit import emit_ldif
from reconciler.fixes.journal import Journal
from reconciler.fixes.planfile import write_plan
from reconciler.fixes.planner import Plan, PlanOptions, TenantContext, make_plan, plan_reanchors
from reconciler.fixes.steps import Executor, Step, StepKind
from reconciler.history.store import Store
from tests.fixes.builders import ctx, onprem_dup, orphan, other_type
from tests.fixes.emu import Emu, load, save_plan, tenant_doc
from tests.fixes.fakes import FakeLdap
from tests.fixes.test_cli import invoke
from tests.fixes.test_plan_reanchors import _check, _cloud, _moved, _snap
from tests.fixes.test_remedies import finding

from .conftest import GRANTS, run, writes_to
from .hazards import empty_tenant, plant_user_upn_other_type

OLD = base64.b64encode(bytes(range(16))).decode()
ELSE = base64.b64encode(bytes(range(32, 48))).decode()
TENANT = "t-0001"


# --------------------------------------------------------------------------- plans made by the real planner


def _reanchor_plan(current: str | None = None) -> Plan:
    res = _check(_snap(_cloud()), _moved(consistency_guid=current))
    return plan_reanchors(res.reanchors, TenantContext.from_data(res.plan_context, "t1"), created=res.generated)


def _orphan_plan(current: str | None = None) -> Plan:
    f, d = orphan(holder={"licences": 1})
    d["columns"][-1]["attrs"]["mS-DS-ConsistencyGuid"] = current
    return make_plan([f], {f["id"]: d}, ctx(), PlanOptions(allow_purge=True))


def _plan(*pairs: tuple[dict[str, Any], dict[str, Any]]) -> Plan:
    return make_plan([f for f, _ in pairs], {f["id"]: d for f, d in pairs}, ctx())


PLANS = {  # remedy -> (plan, the cloud account its on-prem step reaches)
    "onprem_duplicate_source_keeps": (lambda: _plan(onprem_dup("source")), "u-old"),
    "onprem_duplicate_holder_keeps": (lambda: _plan(onprem_dup("holder")), "u-new"),
    "orphan_reanchor_source": (lambda: _orphan_plan(OLD), "u-orphan"),
    "check_onprem_moved_user": (lambda: _reanchor_plan(), "c1"),
    "data_validation_upn_fix": (lambda: _plan(finding("data_validation", "UserPrincipalName", "mia müller@contoso.com",
                                                      onprem={"userPrincipalName": "mia müller@contoso.com",
                                                              "sAMAccountName": "mia"})), "u-1"),
}


def onprem_steps(plan: Plan) -> list[Step]:
    steps = [s for s in plan.steps if s.executor is Executor.LDAP]
    assert steps, (plan.refusals, plan.warnings)
    return steps


def directory_as_planned(steps: list[Step], **override: Any) -> dict[str, dict[str, Any]]:
    """The on-prem objects as the plan believes them (every expected value present), plus ``override``."""
    out: dict[str, dict[str, Any]] = {}
    for s in steps:
        entry = out.setdefault(str(s.dn), {"mS-DS-ConsistencyGuid": None})
        for k, v in s.expect.items():
            entry[k] = list(v) + ["SMTP:primary@contoso.com"] if isinstance(v, list) else v
        entry.update(override)
    return out


def emulator_with(*ids: str) -> Emu:
    doc = tenant_doc(0)
    doc["users"] += [{"id": i, "userPrincipalName": f"{i}@contoso.com", "displayName": i, "userType": "Member",
                      "onPremisesSyncEnabled": True, "onPremisesImmutableId": f"{i}==", "accountEnabled": True}
                     for i in ids]
    return Emu(doc)


def save_onprem_steps(tmp: Path, steps: list[Step], journal: Journal) -> Path:
    """The plan's on-prem steps on their own (their script predecessors taken as done)."""
    return save_plan(tmp, [replace(s, after=()) for s in steps], journal)


async def _apply(path: Path, journal: Journal, writers: dict[Executor, Any], **kw: Any) -> Any:
    return await apply_plan(load(path), journal, writers, ApplyOptions(**kw))


# --------------------------------------------------------------------------- 1. the cloud account an on-prem step reaches


@pytest.mark.parametrize("remedy", sorted(PLANS))
def test_class1_planned_onprem_step_names_its_cloud_account_and_a_role_granted_after_plan_stops_it(
        tmp_path, journal, remedy):
    make, account = PLANS[remedy]
    steps = onprem_steps(make())
    assert {(s.target or {}).get("cloud_id") for s in steps} == {account}
    path = save_onprem_steps(tmp_path, steps, journal)

    # control: nobody holds a role, the on-prem write happens
    emu, ldap = emulator_with(account), FakeLdap(directory_as_planned(steps))
    report = run(_apply(path, journal, {Executor.LDAP: ldap, Executor.GRAPH: emu.writer()}, doit=True,
                        tenant_id=TENANT))
    assert report.count("done") == len(steps) and ldap.entries != directory_as_planned(steps)

    # the same plan, a role granted to that account after planning: nothing is written on-prem
    for path_name in ("role_assignable_group", "pim_eligible"):
        fresh = tmp_path / path_name
        fresh.mkdir()
        with Store(fresh / "r.db") as s:
            j = Journal(s)
            p = save_onprem_steps(fresh, steps, j)
            emu, ldap = emulator_with(account), FakeLdap(directory_as_planned(steps))
            before = copy.deepcopy(ldap.entries)
            GRANTS[path_name](emu, account)
            with pytest.raises(DriftDetected) as e:
                run(_apply(p, j, {Executor.LDAP: ldap, Executor.GRAPH: emu.writer()}, doit=True, tenant_id=TENANT))
            assert {o.status for o in e.value.report.outcomes} == {"drift"}
            assert all("guard holder_" in o.detail for o in e.value.report.outcomes)
            assert ldap.entries == before and writes_to(emu, account) == []
            # nor is it handed out in the LDIF file (no --ldap)
            with pytest.raises(DriftDetected) as e:
                run(_apply(p, j, {Executor.GRAPH: emu.writer()}, doit=True, tenant_id=TENANT))
            assert e.value.report.external == [] and "not handed out" in e.value.report.outcomes[0].detail
            assert j.emitted_steps(load(p).plan.fingerprint) == set()


def test_class1_onprem_step_with_a_cloud_account_is_not_emitted_without_a_cloud_source(tmp_path, journal):
    steps = onprem_steps(_plan(onprem_dup("holder")))
    path = save_onprem_steps(tmp_path, steps, journal)
    with pytest.raises(DriftDetected) as e:
        run(_apply(path, journal, {}, doit=True))
    assert e.value.report.external == [] and "pass the cloud source" in e.value.report.outcomes[0].detail


# --------------------------------------------------------------------------- 2. set_consistency_guid carries the current value


@pytest.mark.parametrize("make", [_orphan_plan, _reanchor_plan], ids=["orphan_reanchor", "check_onprem_moved_user"])
@pytest.mark.parametrize("current", [OLD, None], ids=["guid_set", "guid_absent"])
def test_invariant4_set_consistency_guid_expects_the_current_value_and_undo_restores_it(tmp_path, journal, make,
                                                                                        current):
    (step,) = [s for s in onprem_steps(make(current)) if s.kind is StepKind.SET_CONSISTENCY_GUID]
    assert step.expect["mS-DS-ConsistencyGuid"] == current and step.undo == {"mS-DS-ConsistencyGuid": current}
    account = step.target["cloud_id"]
    # the emitted LDIF is guarded by it: it deletes exactly that value, or adds where the plan believes none
    text = emit_ldif([step])
    if current:
        assert f"delete: mS-DS-ConsistencyGuid\nmS-DS-ConsistencyGuid:: {current}\n" in text
    else:
        assert "add: mS-DS-ConsistencyGuid" in text and "delete: mS-DS-ConsistencyGuid" not in text
    path = save_onprem_steps(tmp_path, [step], journal)
    emu = emulator_with(account)
    writers = lambda ldap: {Executor.LDAP: ldap, Executor.GRAPH: emu.writer()}  # noqa: E731

    # changed on-prem between plan and apply: drift, nothing written
    changed = FakeLdap(directory_as_planned([step], **{"mS-DS-ConsistencyGuid": ELSE}))
    before = copy.deepcopy(changed.entries)
    with pytest.raises(DriftDetected) as e:
        run(_apply(path, journal, writers(changed), doit=True, tenant_id=TENANT))
    assert e.value.report.outcomes[0].status == "drift" and "mS-DS-ConsistencyGuid" in e.value.report.outcomes[0].detail
    assert changed.entries == before

    # as planned: applied, then undone to the value read just before (not cleared, not the plan's guess)
    ldap = FakeLdap(directory_as_planned([step]))
    original = copy.deepcopy(ldap.entries)
    report = run(_apply(path, journal, writers(ldap), doit=True, tenant_id=TENANT))
    assert report.count("done") == 1 and ldap.entries[step.dn]["mS-DS-ConsistencyGuid"] == step.change[
        "mS-DS-ConsistencyGuid"]
    undo = run(undo_run(journal, writers(ldap), report.run_id, doit=True))
    assert [o.status for o in undo.outcomes] == ["done"]
    assert ldap.entries == original  # read back equal


def test_invariant4_orphan_reanchor_without_the_current_guid_is_refused():
    f, d = orphan(holder={"licences": 1})
    src = d["columns"][-1]["attrs"]
    del src["mS-DS-ConsistencyGuid"]  # a finding stored by an older version: only "anchor", equal to objectGUID's
    src.update(objectGUID="5ca1ab1e-0000-4000-8000-000000000002",
               anchor=guid_to_immutable_id("5ca1ab1e-0000-4000-8000-000000000002"))  # set to it, or absent?
    p = make_plan([f], {f["id"]: d}, ctx(), PlanOptions(allow_purge=True))
    assert not p.steps and [r.guard for r in p.refusals] == ["consistency_guid_unknown"]


# --------------------------------------------------------------------------- 3. a sign-in name is never renamed


def _other_type_tenant(primary: bool = False) -> tuple[Any, str, str]:
    t = empty_tenant()
    dn = plant_user_upn_other_type(t, 0, random.Random(11), primary=primary)
    person = t.doc["users"][0]["id"]
    return t, dn, person


def _ldap_of(t: Any) -> FakeLdap:
    return FakeLdap({o.dn: {"proxyAddresses": list(o.proxy_addresses), "mail": o.mail}
                     for src in t.sources for o in src.objects})


def test_class4_cloud_user_whose_upn_a_group_was_given_is_never_renamed_the_group_loses_it(tmp_path, journal):
    t, dn, person = _other_type_tenant()
    upn = t.doc["users"][0]["userPrincipalName"]
    plan = t.plan()
    assert not plan.refusals
    (step,) = plan.steps
    assert (step.kind, step.executor, step.dn) == (StepKind.REMOVE_PROXY_ADDRESS, Executor.LDAP, dn)
    assert step.target["cloud_id"] == t.onprem_of[dn.casefold()] and step.target["cloud_type"] == "group"
    assert step.change == {"proxyAddresses": {"remove": [f"smtp:{upn}"]}}
    path = tmp_path / "plan.json"
    write_plan(path, plan)
    journal.record_plan(plan.fingerprint, plan.tenant, None, len(plan.steps))
    emu, ldap = Emu(copy.deepcopy(t.doc)), _ldap_of(t)
    report = run(apply_plan(load(path), journal, {Executor.LDAP: ldap, Executor.GRAPH: emu.writer()},
                            ApplyOptions(doit=True)))
    assert report.count("done") == 1
    assert f"smtp:{upn}" not in ldap.entries[dn]["proxyAddresses"]  # the newcomer lost it on-prem
    assert emu.writes() == [] and emu.get(f"/users/{person}")["userPrincipalName"] == upn  # the person kept it


def test_class4_group_whose_primary_address_is_a_users_upn_is_refused_with_what_to_do():
    t, dn, person = _other_type_tenant(primary=True)
    plan = t.plan()
    assert not plan.steps and [r.guard for r in plan.refusals] == ["upn_not_renamed"]
    assert dn in plan.refusals[0].reason and "primary address" in plan.refusals[0].reason


@pytest.mark.parametrize("holder", [{}, {"externalUserState": "Accepted"}], ids=["member", "guest"])
@pytest.mark.parametrize("roles", [{}, {"c-holder": ["Global Administrator"]}], ids=["no_role", "admin"])
def test_class4_cloud_user_by_upn_no_step_ever_targets_it(holder, roles):
    f, d = other_type(holder=holder)
    d["columns"].append({"role": "source", "attrs": {"distinguishedName": f["source"]["dn"], "objectClass": "group",
                                                     "proxyAddresses": ["SMTP:sales@contoso.com",
                                                                        "smtp:omar@contoso.com"]}})
    p = make_plan([f], {f["id"]: d}, ctx(role_holders=roles))
    assert not [s for s in p.steps if (s.target or {}).get("id") == "c-holder"]
    assert [(s.kind, s.executor, s.dn, s.target["cloud_id"]) for s in p.steps] == [
        (StepKind.REMOVE_PROXY_ADDRESS, Executor.LDAP, f["source"]["dn"], "g-onprem")]
    f2, d2 = other_type(holder=holder)  # the on-prem newcomer not in the data: refused, saying what to supply
    p2 = make_plan([f2], {f2["id"]: d2}, ctx(role_holders=roles))
    assert not p2.steps and [r.guard for r in p2.refusals] == ["upn_not_renamed"]
    assert "--onprem/--ldap" in p2.refusals[0].reason


@pytest.mark.parametrize("htype", ["group", "contact"])
def test_class4_cloud_group_or_contact_holder_loses_the_address_in_exchange_as_before(htype):
    p = _plan(other_type(htype=htype))
    kinds = [(s.kind, s.executor, (s.target or {}).get("id")) for s in p.steps]
    assert (StepKind.REMOVE_PROXY_ADDRESS, Executor.POWERSHELL, "c-holder") in kinds
    assert all(s.executor is not Executor.GRAPH for s in p.steps)


# --------------------------------------------------------------------------- 4. --confirm of an ldap id


def test_invariant5_ldap_id_never_emitted_by_doit_is_exit_2_and_nothing_is_recorded(tmp_path, journal):
    steps = onprem_steps(_plan(onprem_dup("holder")))
    path = save_onprem_steps(tmp_path, steps, journal)
    sid = steps[0].id
    emu = emulator_with("u-new")
    ldap = FakeLdap(directory_as_planned(steps))
    before = copy.deepcopy(ldap.entries)
    fp = load(path).plan.fingerprint
    # never handed out at all; then only previewed by a dry run: both exit 2, with or without --ldap
    for writers in ({Executor.GRAPH: emu.writer()}, {Executor.GRAPH: emu.writer(), Executor.LDAP: ldap}):
        with pytest.raises(UsageError) as e:
            run(_apply(path, journal, writers, doit=True, tenant_id=TENANT, confirm=(sid,)))
        assert e.value.exit_code == 2 and sid in str(e.value) and "no apply --doit of this plan" in str(e.value)
    dry = run(_apply(path, journal, {Executor.GRAPH: emu.writer()}, tenant_id=TENANT))
    assert [s.id for s in dry.external] == [sid] and journal.emitted_steps(fp) == set()
    with pytest.raises(UsageError):
        run(_apply(path, journal, {Executor.GRAPH: emu.writer()}, doit=True, tenant_id=TENANT, confirm=(sid,)))
    assert journal.count(fp, action="confirm") == {} and ldap.entries == before and emu.writes() == []
    # written to the LDIF by --doit: now the confirmation is taken, and with --ldap it is read back first
    run(_apply(path, journal, {Executor.GRAPH: emu.writer()}, doit=True, tenant_id=TENANT))
    assert journal.emitted_steps(fp) == {sid}
    with pytest.raises(DriftDetected) as e2:  # the admin did not run it: the directory says so
        run(_apply(path, journal, {Executor.GRAPH: emu.writer(), Executor.LDAP: ldap}, doit=True, tenant_id=TENANT,
                   confirm=(sid,)))
    assert "not confirmed" in e2.value.report.outcomes[0].detail and journal.count(fp, action="confirm") == {}


def test_invariant5_cli_ldap_id_not_emitted_is_exit_2_and_a_dry_run_writes_no_ldif(tmp_path):
    steps = onprem_steps(_plan(onprem_dup("holder")))
    db = tmp_path / "r.db"
    with Store(db) as s:
        path = save_onprem_steps(tmp_path, steps, Journal(s))
    tenant = tmp_path / "tenant.json"
    doc = tenant_doc(0)
    doc["users"].append({"id": "u-new", "userPrincipalName": "pn@contoso.com", "userType": "Member",
                         "onPremisesSyncEnabled": True})
    tenant.write_text(json.dumps(doc))
    r = invoke("apply", path, "--db", db, "--tenant", tenant)
    assert r.exit_code == 0, r.output
    assert "no LDIF is written by a dry run" in r.output and not (tmp_path / "plan.ldif").exists()
    r = invoke("apply", path, "--db", db, "--tenant", tenant, "--confirm", steps[0].id)
    assert r.exit_code == 2 and "no apply --doit of this plan" in r.output and "Traceback" not in r.output


# --------------------------------------------------------------------------- the same on a real AD DC


@pytest.mark.skipif(os.environ.get("RECONCILER_TEST_LDAP") != "1", reason="needs the Samba AD DC (RECONCILER_TEST_LDAP=1)")
def test_invariant4_samba_planned_reanchor_guarded_by_its_account_and_the_current_guid(tmp_path):
    import ldap3

    from reconciler.core.anchors import guid_bytes_to_str
    from reconciler.fixes.writers.ldap import LdapStepWriter
    from reconciler.fixes.writers.ldapconn import LdapWriter
    from reconciler.sources.ldap import LdapSettings
    from tests.sources.ldap import forest

    ou = f"OU=Reach Tests,{forest.BASE_DN}"
    dn = f"CN=Reach Guid,{ou}"
    with forest.admin_connection() as conn:
        forest.delete_tree(conn, ou)
        forest.ensure_ou(conn, ou)
        forest.add_user(conn, dn, sam="rguid", upn="rguid@plan.test")

        def set_guid(value: str) -> None:
            conn.modify(dn, {"mS-DS-ConsistencyGuid": [(ldap3.MODIFY_REPLACE, [base64.b64decode(value)])]})

        def guid() -> list[bytes]:
            conn.search(dn, "(objectClass=*)", "BASE", attributes=["mS-DS-ConsistencyGuid", "objectGUID"])
            return conn.response[0]["raw_attributes"].get("mS-DS-ConsistencyGuid", [])

        set_guid(OLD)
        conn.search(dn, "(objectClass=*)", "BASE", attributes=["objectGUID"])
        real = guid_bytes_to_str(conn.response[0]["raw_attributes"]["objectGUID"][0])
        (planned,) = [s for s in onprem_steps(_reanchor_plan(OLD)) if s.kind is StepKind.SET_CONSISTENCY_GUID]
        step = replace(planned, target={**planned.target, "dn": dn}, expect={**planned.expect, "objectGUID": real})
        NEW_GUID_B64 = step.change["mS-DS-ConsistencyGuid"]  # noqa: N806

        def apply_it(folder: str, emu: Emu, *, undo: bool = False) -> Any:
            (tmp_path / folder).mkdir(exist_ok=True)
            with Store(tmp_path / folder / "r.db") as s:
                j = Journal(s)
                path = save_onprem_steps(tmp_path / folder, [step], j)

                async def go() -> Any:
                    with LdapWriter.connect(LdapSettings.from_url("ldaps://127.0.0.1", bind_dn=forest.ADMIN_DN,
                                                                  password=forest.ADMIN_PASSWORD,
                                                                  ca_file=forest.ca_file())) as w:
                        writers = {Executor.LDAP: LdapStepWriter(w), Executor.GRAPH: emu.writer()}
                        report = await apply_plan(load(path), j, writers, ApplyOptions(doit=True, tenant_id=TENANT))
                        if undo:
                            assert report.count("done") == 1 and guid() == [base64.b64decode(NEW_GUID_B64)]
                            return await undo_run(j, writers, report.run_id, doit=True)
                        return report
                return run(go())

        try:
            admin = emulator_with("c1")
            GRANTS["direct"](admin, "c1")  # the account became an administrator after planning
            with pytest.raises(DriftDetected) as e:
                apply_it("role", admin)
            assert "guard holder_has_role" in e.value.report.outcomes[0].detail and guid() == [base64.b64decode(OLD)]
            set_guid(ELSE)  # changed on-prem after planning
            with pytest.raises(DriftDetected) as e:
                apply_it("changed", emulator_with("c1"))
            assert "mS-DS-ConsistencyGuid" in e.value.report.outcomes[0].detail
            assert guid() == [base64.b64decode(ELSE)]  # nothing written
            set_guid(OLD)
            undone = apply_it("applied", emulator_with("c1"), undo=True)  # applied, then undone
            assert [o.status for o in undone.outcomes] == ["done"] and guid() == [base64.b64decode(OLD)]
        finally:
            forest.delete_tree(conn, ou)
