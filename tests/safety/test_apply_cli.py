"""End to end through the CLI with the real planner (scan -> plan -> apply --doit -> state read back), loopback emulator:
class 1 at apply, invariant 9 (sync never left paused), the table on exit 4, and the "also broken" items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.emulator import EmulatorConfig, create_app
from reconciler.emulator.server import serve_in_thread
from reconciler.fixes.planner import context_from_snapshot
from reconciler.history.store import Store
from reconciler.sources.tenantfile import read_tenant_file
from tests.conftest import SAMPLE_LDIF
from tests.fixes.emu import save_plan, stamp, tenant_doc
from tests.fixes.test_cli import LENA_DUP, LENA_TWIN, invoke, readable_roles

from .conftest import GLOBAL_ADMIN


@pytest.fixture
def sample(tmp_path) -> tuple[Path, Path]:
    tenant = readable_roles(tmp_path)
    db = tmp_path / "r.db"
    r = invoke("scan", "--tenant", tenant, "--onprem", SAMPLE_LDIF, "--db", db, "--format", "json", "-q")
    assert r.exit_code == 0, r.output
    with Store(db) as s:
        s.save_run_context(s.latest_run().id, context_from_snapshot(read_tenant_file(tenant)).data())
    return tenant, db


def _plan(db: Path, tmp: Path, *extra: str) -> tuple[Path, dict]:
    out = tmp / "plan.json"
    r = invoke("plan", "--db", db, "-o", out, *extra)
    assert r.exit_code == 0, r.output
    return out, json.loads(out.read_text())


def test_class1_end_to_end_global_admin_granted_to_the_twin_after_plan(sample, tmp_path):
    tenant, db = sample
    path, doc = _plan(db, tmp_path, "--scenario", "cloud_only_twin", "--allow-purge")
    ids = {s["kind"]: s["id"] for s in doc["steps"]}
    application = create_app(tenant, EmulatorConfig())
    em = application.state.emulator
    with serve_in_thread(application) as url:
        base = ["--graph-url", url, "--auth", "none", "--db", db]
        assert invoke("apply", path, *base, "--doit").exit_code == 0  # pause + removal handed to the admin
        dup = em.state.collections["users"].remove(LENA_DUP)  # the admin ran the script
        em.state.collections["deletedUsers"].add({**dup, "deletedDateTime": "2026-12-01T00:00:00Z"})
        # meanwhile someone makes the cloud twin a Global Administrator through a role-assignable group
        em.state.collections["groups"].add({"id": "g-t0", "displayName": "Tier 0", "isAssignableToRole": True,
                                            "members": [LENA_TWIN]})
        em.state.role_assignments.append({"id": "ra-x", "principalId": "g-t0", "roleDefinitionId": GLOBAL_ADMIN,
                                          "directoryScopeId": "/"})
        r = invoke("apply", path, *base, "--doit", "--confirm", ids["pause_sync_scheduler"], ids["remove_synced_object"])
        assert r.exit_code == 4, r.output
        twin_writes = [e for e in em.log if LENA_TWIN in e["path"] and e["method"] != "GET"
                       and e["endpoint"] != "$batch"]
        assert twin_writes == [] and em.state.collections["users"].get(LENA_TWIN)["onPremisesImmutableId"] is None
        assert "holder_has_role" in r.output and "Global Administrator via group Tier 0" in r.output
        # the table is printed although apply exits 4: the operator sees the purge that already happened
        assert f"{ids['purge_deleted']:>6}  done" in r.output and f"{ids['set_immutable_id']:>6}  drift" in r.output
        # invariant 9: the scheduler is resumed (emitted) whatever happened to the match
        script = (tmp_path / "plan.entra-connect.ps1").read_text()
        assert "Set-ADSyncScheduler -SyncCycleEnabled $true" in script
        assert f"{ids['resume_sync_scheduler']:>6}  waiting" in r.output


def test_skip_drift_exits_by_the_rest_and_no_cloud_source_is_exit_2(tmp_path):
    db = tmp_path / "r.db"
    from reconciler.fixes.journal import Journal

    with Store(db) as s:
        path = save_plan(tmp_path, [stamp(0), stamp(1)], Journal(s))
    r = invoke("apply", path, "--db", db)
    assert r.exit_code == 2 and "no cloud source given" in r.output and "s0-stamp" in r.output
    application = create_app(tenant_doc(2), EmulatorConfig())
    application.state.emulator.state.collections["users"].get("c-1")["userPrincipalName"] = "moved@contoso.com"
    with serve_in_thread(application) as url:
        base = ["--graph-url", url, "--auth", "none", "--db", db]
        r = invoke("apply", path, *base, "--doit")
        assert r.exit_code == 4 and "s1-stamp  drift" in r.output and "s0-stamp  done" in r.output
        r = invoke("apply", path, *base, "--doit", "--skip-drift")
        assert r.exit_code == 0, r.output
        assert "s1-stamp  drift" in r.output


def test_dry_run_of_a_large_plan_shows_the_whole_preview_then_exit_3(tmp_path):
    db = tmp_path / "r.db"
    from reconciler.fixes.journal import Journal

    with Store(db) as s:
        path = save_plan(tmp_path, [stamp(i) for i in range(60)], Journal(s))
    application = create_app(tenant_doc(60), EmulatorConfig())
    with serve_in_thread(application) as url:
        r = invoke("apply", path, "--graph-url", url, "--auth", "none", "--db", db)
        assert r.exit_code == 3, r.output
        assert all(f"s{i}-stamp  would_run" in r.output for i in range(60))  # the whole preview
        assert "--max-changes 50" in r.output and "preview above is complete" in r.output
        assert r.output.index("s59-stamp") < r.output.index("--max-changes 50")
        r = invoke("apply", path, "--graph-url", url, "--auth", "none", "--db", db, "--doit")
        assert r.exit_code == 3 and "s0-stamp" not in r.output  # --doit stops before the first write
        assert application.state.emulator.state.collections["users"].get("c-0")["onPremisesImmutableId"] is None


def test_prefer_restore_sends_what_graph_needs_and_keeps_graphs_message(tmp_path):
    from reconciler.fixes.journal import Journal
    from reconciler.fixes.steps import Executor, Step, StepKind

    doc = tenant_doc(1)
    doc["users"][0]["proxyAddresses"] = ["SMTP:old0@contoso.com"]  # the newcomer holds the deleted user's address
    restore = Step(id="s1", kind=StepKind.RESTORE_DELETED, executor=Executor.GRAPH,
                   target={"type": "deleted", "id": "d-0", "object": "user"}, expect={"deleted": True},
                   change={"autoReconcileProxyConflict": True}, undo={"delete": True})
    bad = Step(id="s2", kind=StepKind.SET_IMMUTABLE_ID, executor=Executor.GRAPH, target={"type": "user", "id": "c-0"},
               expect={"onPremisesImmutableId": None, "givenName": "Lena", "surname": "Fischer0"},
               change={"onPremisesImmutableId": "has space"}, undo={"onPremisesImmutableId": None})
    db = tmp_path / "r.db"
    with Store(db) as s:
        path = save_plan(tmp_path, [restore, bad], Journal(s))
    application = create_app(doc, EmulatorConfig())
    em = application.state.emulator
    with serve_in_thread(application) as url:
        r = invoke("apply", path, "--graph-url", url, "--auth", "none", "--db", db, "--doit")
    assert "s1  done" in r.output, r.output
    assert em.state.collections["users"].get("d-0") is not None  # restored despite the address conflict
    assert "Invalid value specified for property 'onPremisesImmutableId'" in r.output  # Graph's own words
    assert r.exit_code == 1
