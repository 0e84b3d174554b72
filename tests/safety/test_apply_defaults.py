"""Class 10 "defaults that destroy" (apply part) and invariants 7-10: warnings inside the fingerprint and printed
before the first write; the review file is a change ticket; one apply at a time per plan; the sync scheduler is
never left paused; one script per host, each with its #Requires and connect lines."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from reconciler.core.errors import DriftDetected, PlanMismatch
from reconciler.fixes.apply import ApplyOptions, apply_plan, run_apply
from reconciler.fixes.emit import emit_scripts, render_review
from reconciler.fixes.journal import Journal
from reconciler.fixes.planfile import write_plan
from reconciler.fixes.planner import Plan
from reconciler.fixes.steps import Executor, Step, StepKind
from reconciler.history.store import Store, utcnow
from tests.fixes.emu import TENANT, Emu, load, purge, save_plan, stamp, tenant_doc

from .conftest import apply_emu, run
from .test_apply_serial import Overlap


def ps(sid: str, kind: StepKind, params: dict | None = None, after: tuple[str, ...] = (), target=None) -> Step:
    from reconciler.fixes.emit import render_command

    p = params or {}
    return Step(id=sid, kind=kind, executor=Executor.POWERSHELL, target=target or {"type": "onprem", "dn": None},
                change={"params": p, "command": render_command(kind, p)}, undo=None, after=after, why=kind.value)


def test_class10_warnings_are_inside_the_fingerprint(tmp_path, journal):
    plan = Plan(tenant=TENANT, created=utcnow(), scan_run=None, steps=(stamp(0),),
                warnings=("role eligibility (PIM) is not readable for finding f1",))
    path = tmp_path / "plan.json"
    write_plan(path, plan)
    journal.record_plan(plan.fingerprint, TENANT, None, 1)
    doc = orjson.loads(path.read_bytes())
    doc["warnings"] = []  # someone hides the warning the reviewer saw
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(PlanMismatch, match="changed after it was made"):
        run(apply_emu(Emu(tenant_doc(1)), path, journal, doit=True))


def test_class10_apply_prints_the_warnings_before_the_first_write(tmp_path):
    from reconciler.emulator import EmulatorConfig, create_app
    from reconciler.emulator.server import serve_in_thread

    db = tmp_path / "r.db"
    plan = Plan(tenant=TENANT, created=utcnow(), scan_run=None, steps=(stamp(0), stamp(1)),
                warnings=("finding f1: relying on soft match at the next delta sync",))
    path = tmp_path / "plan.json"
    write_plan(path, plan)
    with Store(db) as s:
        Journal(s).record_plan(plan.fingerprint, TENANT, None, 2)
    application = create_app(tenant_doc(2), EmulatorConfig())
    em = application.state.emulator
    seen: list[tuple[str, int]] = []
    with serve_in_thread(application) as url:
        from reconciler.cli.common import source_options

        src = source_options(graph_url=url, auth="none")
        ldap = source_options(ldap=[])
        report = asyncio.run(run_apply(path, db, src, ldap, ApplyOptions(doit=True),
                                       notify=lambda m: seen.append((m, em.stats["writes"]))))
    assert report.count("done") == 2 and em.stats["writes"] == 2
    warned = [(m, w) for m, w in seen if "relying on soft match" in m]
    assert warned and warned[0][1] == 0  # printed while nothing had been written yet


def test_invariant7_review_is_a_change_ticket():
    long_why = "IRREVERSIBLE: purge the orphan. " + "Evidence: " + "x" * 600 + " END-OF-WHY"
    steps = (stamp(0), Step(id="s9-purge", kind=StepKind.PURGE_DELETED, executor=Executor.GRAPH,
                             target={"type": "deleted", "id": "d-0", "object": "user"},
                             expect={"deleted": True, "mail": "old0@contoso.com"}, why=long_why))
    plan = Plan(tenant=TENANT, created=utcnow(), scan_run="run-1", steps=steps, warnings=("w1: check this",))
    md = render_review(plan, "md", {"c-0": "Lena 0 (lena0@contoso.com)"})
    assert md.index("IRREVERSIBLE s9-purge") < md.index("s0-stamp")  # irreversible first, marked
    assert "| purge_deleted (IRREVERSIBLE) | 1 |" in md and "| set_immutable_id | 1 |" in md
    assert "user Lena 0 (lena0@contoso.com) [c-0]" in md  # names beside the id
    assert '- change: `{"onPremisesImmutableId": "NEW0=="}`' in md
    assert '"userPrincipalName": "lena0@contoso.com"' in md and "- undo: `none: cannot be undone`" in md
    assert "END-OF-WHY" in md and "w1: check this" in md  # whole why; warnings
    html = render_review(plan, "html")
    assert "<b>IRREVERSIBLE</b> s9-purge" in html and "END-OF-WHY" in html and "NEW0==" in html


def test_invariant8_a_second_apply_of_a_running_plan_exits_4_and_writes_nothing(tmp_path):
    emu = Emu(tenant_doc(6))
    db = tmp_path / "r.db"
    with Store(db) as s:
        path = save_plan(tmp_path, [purge(i) for i in range(6)], Journal(s))

    async def one() -> object:
        with Store(db) as store:
            try:
                return await apply_plan(load(path), Journal(store), {Executor.GRAPH: Overlap(emu.writer())},
                                        ApplyOptions(doit=True, tenant_id=TENANT, concurrency=1))
            except PlanMismatch as e:
                return e

    async def both() -> list[object]:
        return list(await asyncio.gather(one(), one()))

    results = asyncio.run(both())
    refused = [r for r in results if isinstance(r, PlanMismatch)]
    assert len(refused) == 1 and "in progress" in str(refused[0]) and refused[0].exit_code == 4
    purges = [w for w in emu.writes() if w["method"] == "DELETE"]
    assert len(purges) == 6 and len({w["path"] for w in purges}) == 6  # each purge sent once


def test_invariant8_a_crashed_runs_lock_is_taken_over(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    path = save_plan(tmp_path, [stamp(0)], journal)
    fp = load(path).plan.fingerprint
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs: the apply that held it was killed
    assert journal.acquire_lock(fp, "crashed-run") is None
    journal.store.conn.execute("UPDATE apply_locks SET pid = ? WHERE fingerprint = ?", (dead.pid, fp))
    report = run(apply_emu(emu, path, journal, doit=True))
    assert report.count("done") == 1
    import os
    journal.acquire_lock(fp, "live-run")  # held by this (live) process
    journal.store.conn.execute("UPDATE apply_locks SET pid = ? WHERE fingerprint = ?", (os.getppid(), fp))
    with pytest.raises(PlanMismatch, match="in progress"):
        run(apply_emu(emu, path, journal, doit=True))


def test_invariant9_sync_is_resumed_whatever_happened_to_the_other_steps(tmp_path, journal):
    emu = Emu(tenant_doc(2))
    steps = [ps("p", StepKind.PAUSE_SYNC_SCHEDULER), stamp(0, ("p",)), stamp(1, ("p",)),
             ps("r", StepKind.RESUME_SYNC_SCHEDULER, after=("s0-stamp", "s1-stamp")),
             Step(id="d", kind=StepKind.RUN_DELTA_SYNC, executor=Executor.MANUAL, target=None, after=("r",),
                  change={"text": "Start-ADSyncSyncCycle -PolicyType Delta"})]
    path = save_plan(tmp_path, steps, journal)
    run(apply_emu(emu, path, journal, doit=True))
    emu.em.state.collections["users"].get("c-1")["userPrincipalName"] = "someone.else@contoso.com"  # drift
    with pytest.raises(DriftDetected) as e:
        run(apply_emu(emu, path, journal, doit=True, confirm=("p",)))
    report = e.value.report
    by = {o.step: o.status for o in report.outcomes}
    assert by == {"p": "confirmed", "s0-stamp": "done", "s1-stamp": "drift", "r": "waiting", "d": "waiting"}
    assert "r" in [s.id for s in report.external]  # the resume script is handed out although a step drifted


def test_invariant10_one_script_per_host_each_with_requires_and_connect_lines():
    steps = [ps("p", StepKind.PAUSE_SYNC_SCHEDULER),
             ps("x", StepKind.REMOVE_SYNCED_OBJECT, {"SourceAnchor": "A==", "ObjectType": "User"}, ("p",)),
             ps("m", StepKind.SET_PRIMARY_SMTP, {"Identity": "g1", "Recipient": "group", "Address": "b@contoso.com"}),
             ps("e", StepKind.REMOVE_PROXY_ADDRESS, {"Identity": "g1", "Recipient": "group",
                                                     "Address": "smtp:a@contoso.com"}, ("m",)),
             ps("r", StepKind.RESUME_SYNC_SCHEDULER, after=("x",))]
    scripts = emit_scripts(steps, fingerprint="sha256:ab", confirm="reconciler apply plan.json --doit --confirm")
    assert set(scripts) == {"entra-connect", "exchange-online"}
    ids, connect = scripts["entra-connect"]
    assert ids == ["p", "x", "r"] and connect.startswith("#Requires -Modules ADSync, ADSyncTools\n")
    assert "Import-Module ADSyncTools" in connect and "Set-UnifiedGroup" not in connect
    assert connect.rstrip().endswith("--confirm p x r")
    ids, exo = scripts["exchange-online"]
    assert ids == ["m", "e"] and exo.startswith("#Requires -Modules ExchangeOnlineManagement\n")
    assert "Connect-ExchangeOnline" in exo and "ADSync" not in exo
    assert exo.index("Connect-ExchangeOnline") < exo.index("Set-DistributionGroup")


def test_undo_script_names_one_working_way_to_confirm(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    pause = ps("p", StepKind.PAUSE_SYNC_SCHEDULER)
    pause = Step(**{**pause.__dict__, "undo": pause.change})
    path = save_plan(tmp_path, [pause, stamp(0, ("p",))], journal)
    run(apply_emu(emu, path, journal, doit=True))
    applied = run(apply_emu(emu, path, journal, doit=True, confirm=("p",)))
    from reconciler.fixes.apply import undo_run

    undo = run(undo_run(journal, {Executor.GRAPH: emu.writer()}, None, doit=True))
    assert {o.step: o.status for o in undo.outcomes} == {"s0-stamp": "done", "p": "waiting"}
    assert "undo --confirm p" in [o.detail for o in undo.outcomes if o.step == "p"][0]
    text = emit_scripts(undo.undo_external, fingerprint=undo.fingerprint, undo=True,
                        confirm=f"reconciler undo --run {applied.run_id} --doit --confirm")["entra-connect"][1]
    assert "Set-ADSyncScheduler -SyncCycleEnabled $true" in text
    assert f"# then: reconciler undo --run {applied.run_id} --doit --confirm p" in text
    done = run(undo_run(journal, {Executor.GRAPH: emu.writer()}, None, doit=True, confirm=("p",)))
    assert {o.step: o.status for o in done.outcomes} == {"s0-stamp": "done", "p": "confirmed"}
    assert Path(path).exists()
