"""plan / apply / undo through the CLI: exit codes, files written, database contents, a real loopback emulator."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.emulator import EmulatorConfig, create_app
from reconciler.emulator.server import serve_in_thread
from reconciler.fixes.planner import context_from_snapshot
from reconciler.history.store import Store
from reconciler.sources.tenantfile import read_tenant_file

from ..conftest import SAMPLE_LDIF, SAMPLE_TENANT

runner = CliRunner()
LENA_DUP = "14640a13-e0b4-4c90-b811-71b226216542"
LENA_TWIN = "a7b7cb9f-2a42-4c08-9c58-07e42ace933e"


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def readable_roles(tmp: Path) -> Path:
    """The sample tenant with its role data fully readable (active assignments and PIM eligibility)."""
    doc = json.loads(SAMPLE_TENANT.read_text())
    doc["roleAssignments"] = [{"id": f"a-{i}", "principalId": m, "roleDefinitionId": r["roleTemplateId"],
                               "directoryScopeId": "/"}
                              for i, r in enumerate(doc["directoryRoles"]) for m in r["members"]]
    doc["roleEligibilitySchedules"] = []
    path = tmp / "tenant.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def tenant_file(tmp_path) -> Path:
    return readable_roles(tmp_path)


@pytest.fixture
def scanned(tmp_path, tenant_file) -> Path:
    db = tmp_path / "r.db"
    r = invoke("scan", "--tenant", tenant_file, "--onprem", SAMPLE_LDIF, "--db", db, "--format", "json", "-q")
    assert r.exit_code == 0, r.output
    with Store(db) as s:  # what workflow.scan stores once wired (see docs/plan-apply.md)
        s.save_run_context(s.latest_run().id, context_from_snapshot(read_tenant_file(tenant_file)).data())
    return db


def _plan(db: Path, tmp: Path, *extra: str) -> tuple[Path, dict]:
    out = tmp / "plan.json"
    r = invoke("plan", "--db", db, "-o", out, "--review", tmp / "plan.md", *extra)
    assert r.exit_code == 0, r.output
    return out, json.loads(out.read_text())


def test_plan_writes_an_inert_reviewed_plan(scanned, tmp_path):
    _, doc = _plan(scanned, tmp_path, "--allow-purge")
    assert doc["schema"] == "reconciler.plan/1" and doc["fingerprint"].startswith("sha256:")
    kinds = {s["kind"] for s in doc["steps"]}
    assert {"set_immutable_id", "purge_deleted", "remove_synced_object", "remove_proxy_address", "wait"} <= kinds
    assert doc["refusals"] == []  # the sample's twin passes every guard
    review = (tmp_path / "plan.md").read_text()
    assert doc["fingerprint"] in review and "set_immutable_id" in review
    with Store(scanned) as s:
        assert s.conn.execute("SELECT steps FROM plans WHERE fingerprint = ?", (doc["fingerprint"],)).fetchone()


def test_apply_offline_dry_run_and_tampered_plan(scanned, tmp_path, tenant_file):
    path, doc = _plan(scanned, tmp_path, "--allow-purge")
    r = invoke("apply", path, "--tenant", tenant_file, "--db", scanned)
    assert r.exit_code == 0, r.output
    assert "dry run" in r.output and (tmp_path / "plan.entra-connect.ps1").exists()
    doc["steps"][0]["why"] = "changed"
    path.write_text(json.dumps(doc))
    r = invoke("apply", path, "--tenant", tenant_file, "--db", scanned)
    assert r.exit_code == 4 and "changed after it was made" in r.output
    r = invoke("apply", tmp_path / "missing.json", "--db", scanned)
    assert r.exit_code == 2 and "missing.json" in r.output and "Traceback" not in r.output
    (tmp_path / "bad.json").write_text('{"schema": "reconciler.plan/1", "tenant": "t", "fingerprint": "x", '
                                       '"steps": [{"id": "s1", "kind": "format_disk"}]}')
    r = invoke("apply", tmp_path / "bad.json", "--db", scanned)
    assert r.exit_code == 2 and "steps[0]" in r.output and "format_disk" in r.output


def test_full_twin_merge_against_a_loopback_emulator(scanned, tmp_path, tenant_file):
    path, doc = _plan(scanned, tmp_path, "--scenario", "cloud_only_twin", "--allow-purge")
    ids = {s["kind"]: s["id"] for s in doc["steps"]}
    application = create_app(tenant_file, EmulatorConfig())
    em = application.state.emulator
    with serve_in_thread(application) as url:
        base = ["--graph-url", url, "--auth", "none", "--db", scanned]
        r = invoke("apply", path, *base)
        assert r.exit_code == 0, r.output
        assert [e for e in em.log if e["method"] != "GET" and e["endpoint"] != "$batch"] == []
        r = invoke("apply", path, *base, "--doit")
        assert r.exit_code == 0 and "waiting" in r.output
        script = (tmp_path / "plan.entra-connect.ps1").read_text()
        assert "Set-ADSyncScheduler -SyncCycleEnabled $false" in script and "Remove-ADSyncToolsAadObject" in script
        # the admin runs the script: ADSyncTools moves the synced duplicate to the recycle bin
        dup = em.state.collections["users"].remove(LENA_DUP)
        em.state.collections["deletedUsers"].add({**dup, "deletedDateTime": "2026-12-01T00:00:00Z"})
        r = invoke("apply", path, *base, "--doit", "--confirm", ids["pause_sync_scheduler"],
                   ids["remove_synced_object"])
        assert r.exit_code == 0, r.output
        assert em.state.collections["users"].get(LENA_TWIN)["onPremisesImmutableId"] == "Aeng8cld9EquoKqTTIsfcw=="
        assert em.state.find(LENA_DUP, ("deletedUsers",)) is None
        with Store(scanned) as s:
            run = s.conn.execute("SELECT id FROM journal_runs WHERE action='apply' ORDER BY started DESC, rowid DESC "
                                 "LIMIT 1").fetchone()[0]
        r = invoke("undo", *base, "--doit", "--format", "json", "--ps1", tmp_path / "undo.ps1")
        assert r.exit_code == 0, r.output
        out = orjson.loads(r.stdout[r.stdout.index("{"):])
        assert {s["kind"]: s["status"] for s in out["steps"]} == {
            "set_immutable_id": "done", "purge_deleted": "irreversible", "remove_synced_object": "irreversible",
            "pause_sync_scheduler": "waiting"}
        assert out["steps"][0]["kind"] == "set_immutable_id"  # newest first
        undo_script = (tmp_path / "undo.entra-connect.ps1").read_text()
        assert "Set-ADSyncScheduler -SyncCycleEnabled $true" in undo_script
        assert f"reconciler undo --run {run} --doit --confirm" in undo_script
        assert em.state.collections["users"].get(LENA_TWIN)["onPremisesImmutableId"] is None
        assert run
