"""`reconciler scan` + `reconciler plan` on files written from a hazard tenant: the commands an admin types."""

from __future__ import annotations

import json
import random

from typer.testing import CliRunner

from reconciler.cli import app

from .hazards import empty_tenant, plant_admin_other_type, plant_group_orphan, plant_twin

runner = CliRunner()


def _scan_and_plan(tmp, t, *plan_args):
    tenant, ldifs = t.write(tmp / "in")
    db = tmp / "r.db"
    onprem = [a for p in ldifs for a in ("--onprem", str(p))]
    r = runner.invoke(app, ["scan", "--tenant", str(tenant), *onprem, "--db", str(db), "-q"])
    assert r.exit_code == 0, r.output
    out = tmp / "plan.json"
    r = runner.invoke(app, ["plan", "--db", str(db), "-o", str(out), *plan_args])
    return r, (json.loads(out.read_text()) if out.exists() else None)


def test_also_plan_cli_group_orphan_without_immutable_id_refused_no_traceback(tmp_path):
    """Was: `plan` crashed with "PowerShell step parameter SourceAnchor is missing" on a synced group orphan."""
    t, rng = empty_tenant(), random.Random(3)
    plant_group_orphan(t, 0, rng)
    plant_twin(t, 1, rng, None)
    r, doc = _scan_and_plan(tmp_path, t, "--allow-purge")
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output and r.exception is None
    group = t.doc["groups"][0]["id"]
    assert {x["guard"] for x in doc["refusals"]} == {"no_anchor"}
    assert group in doc["refusals"][0]["reason"]
    assert "set_immutable_id" in {s["kind"] for s in doc["steps"]}  # the other finding is still planned


def test_class4_plan_cli_refuses_renaming_a_global_admin(tmp_path):
    t, rng = empty_tenant(), random.Random(4)
    plant_admin_other_type(t, 0, rng)
    (admin,) = t.role_holders
    r, doc = _scan_and_plan(tmp_path, t)
    assert r.exit_code == 0, r.output
    # refused by the guard, or classified admin_role_conflict: a manual runbook, never a write
    assert {s["executor"] for s in doc["steps"]} <= {"manual"}
    assert not [s for s in doc["steps"] if (s["target"] or {}).get("id") == admin]
    assert doc["refusals"] or [s["kind"] for s in doc["steps"]] == ["runbook"]
