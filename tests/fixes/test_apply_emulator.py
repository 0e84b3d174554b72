"""apply/undo against the Graph emulator: the Must-show safety properties."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from reconciler.core.errors import DriftDetected, PlanMismatch, UnsafePlan
from reconciler.fixes.apply import ApplyOptions, apply_plan, undo_run
from reconciler.fixes.journal import Journal
from reconciler.fixes.steps import Executor, Step, StepKind
from reconciler.history.store import Store

from .emu import Emu, load, purge, rename, restore, save_plan, stamp, tenant_doc
from .fakes import KillAfter, Killed


@pytest.fixture
def journal(tmp_path):
    with Store(tmp_path / "r.db") as s:
        yield Journal(s)


def run(coro):
    return asyncio.run(coro)


async def _apply(emu, path, journal, writer=None, **kw):
    w = writer or emu.writer()
    opts = ApplyOptions(tenant_id=await emu.writer().tenant_id(), **kw)
    return await apply_plan(load(path), journal, {Executor.GRAPH: w}, opts)


def test_dry_run_makes_zero_write_requests_and_journals_nothing(tmp_path, journal):
    emu = Emu(tenant_doc(3))
    path = save_plan(tmp_path, [s for i in range(3) for s in (stamp(i), purge(i, (f"s{i}-stamp",)))], journal)
    report = run(_apply(emu, path, journal))
    assert report.dry_run and report.count("would_run") == 3 and report.count("planned") == 3
    assert emu.writes() == [] and emu.em.stats["writes"] == 0
    batches = [e for e in emu.em.log if e.get("endpoint") == "$batch"]
    assert len(batches) >= 3  # each target re-read: one $batch (object, roles, eligibility, memberships)
    reads = {b["path"] for e in batches for b in e["batch"]}
    assert {f"/v1.0/users/c-{i}" for i in range(3)} <= reads
    assert journal.count(report.fingerprint) == {}


def test_tampered_plan_exits_4_with_zero_writes(tmp_path, journal):
    emu = Emu(tenant_doc(2))
    path = save_plan(tmp_path, [stamp(0), stamp(1)], journal)
    doc = orjson.loads(path.read_bytes())
    doc["steps"][1]["change"]["onPremisesImmutableId"] = "EVIL=="
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(PlanMismatch) as e:
        run(_apply(emu, path, journal, doit=True))
    assert e.value.exit_code == 4 and "changed after it was made" in str(e.value)
    assert emu.writes() == []


def test_unknown_fingerprint_and_other_tenant_exit_4_unless_checksum(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    path = save_plan(tmp_path, [stamp(0)], None)  # made elsewhere: this database never saw it
    with pytest.raises(PlanMismatch, match="never made plan"):
        run(_apply(emu, path, journal, doit=True))
    fp = load(path).plan.fingerprint
    with pytest.raises(PlanMismatch):
        run(_apply(emu, path, journal, doit=True, checksum="sha256:" + "0" * 64))
    assert emu.writes() == []
    report = run(_apply(emu, path, journal, doit=True, checksum=fp.split(":")[1]))
    assert report.count("done") == 1
    other = {**tenant_doc(1), "organization": {"id": "another-tenant"}}
    with pytest.raises(PlanMismatch, match="connected tenant"):
        run(_apply(Emu(other), path, journal, checksum=fp))


def test_target_changed_between_plan_and_apply_is_skipped_and_reported(tmp_path, journal):
    emu = Emu(tenant_doc(3))
    path = save_plan(tmp_path, [stamp(0), stamp(1), purge(1, ("s1-stamp",)), stamp(2)], journal)
    emu.patch("/users/c-1", {"userPrincipalName": "someone.else@contoso.com"})
    before = len(emu.writes())
    with pytest.raises(DriftDetected) as e:
        run(_apply(emu, path, journal, doit=True))
    assert e.value.exit_code == 4 and "s1-stamp" in str(e.value)
    patched = [w["path"] for w in emu.writes()[before:]]
    assert sorted(patched) == ["/v1.0/users/c-0", "/v1.0/users/c-2"]
    assert emu.get("/users/c-1")["onPremisesImmutableId"] is None
    report = run(_apply(emu, path, journal, doit=True, skip_drift=True))
    by = {o.step: o for o in report.outcomes}
    assert by["s1-stamp"].status == "drift" and "userPrincipalName" in by["s1-stamp"].detail
    assert by["s1-purge"].status == "skipped" and by["s0-stamp"].status == "done"


@pytest.mark.parametrize("before_write", [False, True], ids=["killed-after-send", "killed-before-send"])
@pytest.mark.parametrize("k", [0, 3, 7])
def test_killed_run_resumes_and_executes_each_step_exactly_once(tmp_path, journal, k, before_write):
    n = 5
    emu = Emu(tenant_doc(n))
    steps = [s for i in range(n) for s in (stamp(i), purge(i, (f"s{i}-stamp",)))]
    path = save_plan(tmp_path, steps, journal)
    with pytest.raises(Killed):
        run(_apply(emu, path, journal, writer=KillAfter(emu.writer(), k, before_write=before_write), doit=True, concurrency=1))
    fp = load(path).plan.fingerprint
    assert sum(journal.count(fp).values()) == k  # the (k+1)-th write happened, its outcome was lost
    report = run(_apply(emu, path, journal, doit=True))
    assert report.count("failed") == 0 and report.count("drift") == 0
    assert journal.count(fp) == {s.id: 1 for s in steps}
    targets = [(w["method"], w["path"]) for w in emu.writes()]
    assert len(targets) == len(set(targets)) == 2 * n  # no target written twice
    assert all(emu.get(f"/users/c-{i}")["onPremisesImmutableId"] == f"NEW{i}==" for i in range(n))
    again = run(_apply(emu, path, journal, doit=True))
    assert again.count("done") == 2 * n and len(emu.writes()) == 2 * n


def test_undo_restores_every_touched_object(tmp_path, journal):
    emu = Emu(tenant_doc(4))
    strip = ("@odata.context",)
    before = {i: {k: v for k, v in emu.get(f"/users/c-{i}").items() if k not in strip} for i in range(4)}
    deleted_before = emu.get("/directory/deletedItems/d-3")
    steps = [stamp(0), rename(1), stamp(2), rename(2), restore(3), purge(0)]
    path = save_plan(tmp_path, steps, journal)
    report = run(_apply(emu, path, journal, doit=True))
    assert report.count("done") == 6
    assert emu.get("/users/c-2")["userPrincipalName"] == "lena2@contoso.onmicrosoft.com"
    undo = run(undo_run(journal, {Executor.GRAPH: emu.writer()}, report.run_id, doit=True))
    statuses = {o.step: o.status for o in undo.outcomes}
    assert statuses == {"s0-stamp": "done", "s1-upn": "done", "s2-stamp": "done", "s2-upn": "done",
                        "s3-restore": "done", "s0-purge": "irreversible"}
    assert [o.step for o in undo.outcomes][:2] == ["s0-purge", "s3-restore"]  # newest first
    after = {i: {k: v for k, v in emu.get(f"/users/c-{i}").items() if k not in strip} for i in range(4)}
    assert after == before
    back = emu.get("/directory/deletedItems/d-3")
    assert {k: v for k, v in back.items() if k != "deletedDateTime"} == \
        {k: v for k, v in deleted_before.items() if k != "deletedDateTime"}
    assert len(journal.count(report.fingerprint, action="undo")) == 5


def test_undo_is_drift_checked(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    path = save_plan(tmp_path, [stamp(0)], journal)
    report = run(_apply(emu, path, journal, doit=True))
    emu.patch("/users/c-0", {"onPremisesImmutableId": "SOMEONE=="})
    with pytest.raises(DriftDetected):
        run(undo_run(journal, {Executor.GRAPH: emu.writer()}, report.run_id, doit=True))
    assert emu.get("/users/c-0")["onPremisesImmutableId"] == "SOMEONE=="


def test_thresholds_apply_to_dry_runs_too(tmp_path, journal):
    emu = Emu(tenant_doc(12))
    path = save_plan(tmp_path, [purge(i) for i in range(11)], journal)
    with pytest.raises(UnsafePlan) as e:
        run(_apply(emu, path, journal))
    assert e.value.exit_code == 3 and "--max-deletes 10" in str(e.value)
    assert run(_apply(emu, path, journal, force=True)).count("would_run") == 11
    path2 = save_plan(tmp_path, [stamp(i) for i in range(12)], journal, "p2.json")
    with pytest.raises(UnsafePlan, match="max-changes 5"):
        run(_apply(emu, path2, journal, max_changes=5))
    assert emu.writes() == []


def test_graph_never_deletes_a_synced_object(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    step = Step(id="s1", kind=StepKind.DELETE_OBJECT, executor=Executor.GRAPH,
                target={"type": "user", "id": "synced-1"}, expect={"userPrincipalName": "sync@contoso.com"})
    path = save_plan(tmp_path, [step], journal)
    report = run(_apply(emu, path, journal, doit=True))
    assert report.outcomes[0].status == "failed" and "synced from on-premises" in report.outcomes[0].detail
    assert emu.writes() == [] and report.exit_code == 1


def test_external_steps_wait_for_confirmation(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    ps = Step(id="s1", kind=StepKind.PAUSE_SYNC_SCHEDULER, executor=Executor.POWERSHELL, target=None,
              change={"params": {}}, undo={"params": {}})
    path = save_plan(tmp_path, [ps, stamp(0, ("s1",))], journal)
    r1 = run(_apply(emu, path, journal, doit=True))
    assert [o.status for o in r1.outcomes] == ["waiting", "waiting"] and [s.id for s in r1.external] == ["s1"]
    assert emu.writes() == []
    r2 = run(_apply(emu, path, journal, doit=True, confirm=("s1",)))
    assert [o.status for o in r2.outcomes] == ["confirmed", "done"]
    assert emu.get("/users/c-0")["onPremisesImmutableId"] == "NEW0=="


def test_ldap_steps_without_a_writer_are_emitted_and_confirmable(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    ldap_step = Step(id="s1", kind=StepKind.REMOVE_PROXY_ADDRESS, executor=Executor.LDAP,
                     target={"type": "onprem", "dn": "CN=X,DC=corp"}, expect={"proxyAddresses": ["smtp:x@y"]},
                     change={"proxyAddresses": {"remove": ["smtp:x@y"]}})
    path = save_plan(tmp_path, [ldap_step, stamp(0, ("s1",))], journal)
    r1 = run(_apply(emu, path, journal, doit=True))
    assert [o.status for o in r1.outcomes] == ["waiting", "waiting"] and [s.id for s in r1.external] == ["s1"]
    r2 = run(_apply(emu, path, journal, doit=True, confirm=("s1",)))
    assert [o.status for o in r2.outcomes] == ["confirmed", "done"]


def test_a_graph_delete_is_undone_by_restoring_it(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    before = emu.get("/users/c-0")
    step = Step(id="s1", kind=StepKind.DELETE_OBJECT, executor=Executor.GRAPH, target={"type": "user", "id": "c-0"},
                expect={"userPrincipalName": "lena0@contoso.com"})
    path = save_plan(tmp_path, [step], journal)
    report = run(_apply(emu, path, journal, doit=True))
    assert report.count("done") == 1 and emu.get("/directory/deletedItems/c-0")["id"] == "c-0"
    undo = run(undo_run(journal, {Executor.GRAPH: emu.writer()}, report.run_id, doit=True))
    assert [o.status for o in undo.outcomes] == ["done"]
    assert emu.get("/users/c-0") == before
