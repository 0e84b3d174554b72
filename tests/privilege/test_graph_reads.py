"""Least privilege for the read commands, over real loopback HTTP with per-token permission sets.

scan --graph-url, scan --save-tenant, explain with a source and check-onprem --graph-url succeed with
EXACTLY the documented set (docs/permissions.md); without any one required permission they stop with
exit 5 and one stderr line naming it; without an optional one they succeed and say what is unknown.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from tests.conftest import SAMPLE_LDIF, SAMPLE_TENANT

from .sets import AUDIT, PIM, PIM_UNKNOWN, READ_OPTIONAL, READ_REQUIRED, SYNC_FLAGS

TWIN_UPN = "lena.fischer@contoso.com"
FULL = READ_REQUIRED | set(READ_OPTIONAL)
NO_ROLES = READ_REQUIRED - {"RoleManagement.Read.Directory"}
TOKENS: dict[str, set[str]] = {"documented": set(READ_REQUIRED), "everything": set(FULL),
                               **{f"without {p}": set(FULL - {p}) for p in FULL},
                               "narrow PIM only": NO_ROLES | {PIM, SYNC_FLAGS}}


def tenant_doc() -> dict[str, Any]:
    """The sample tenant with role assignments and PIM eligibility present (so they are readable)."""
    doc = json.loads(SAMPLE_TENANT.read_text())
    doc = copy.deepcopy(doc)
    doc.setdefault("roleAssignments", [])
    doc.setdefault("roleEligibilitySchedules", [])
    return doc


@pytest.fixture(scope="module")
def graph_url() -> Iterator[str]:
    with serve_in_thread(create_app(tenant_doc(), EmulatorConfig(permissions=TOKENS))) as url:
        yield url


def run(monkeypatch: pytest.MonkeyPatch, token: str, *args: Any) -> tuple[int, str, str]:
    monkeypatch.setenv("RECONCILER_GRAPH_TOKEN", token)
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr


def graph(url: str) -> list[str]:
    return ["--graph-url", url, "--auth", "token"]


def commands(url: str, tmp: Path) -> dict[str, list[Any]]:
    db = tmp / "r.db"
    return {
        "scan": ["scan", *graph(url), "--onprem", SAMPLE_LDIF, "--db", db, "--format", "json", "-o",
                 tmp / "f.json"],
        "scan --save-tenant": ["scan", *graph(url), "--db", db, "--save-tenant", tmp / "saved.json", "-q"],
        "explain": ["explain", TWIN_UPN, *graph(url), "--onprem", SAMPLE_LDIF, "--db", db],
        "check-onprem": ["check-onprem", "--onprem", SAMPLE_LDIF, *graph(url), "--format", "json", "-o",
                         tmp / "c.json"],
    }


COMMANDS = ["scan", "scan --save-tenant", "explain", "check-onprem"]


@pytest.mark.parametrize("command", COMMANDS)
def test_exactly_the_documented_set_is_enough(command, graph_url, tmp_path, monkeypatch):
    code, out, err = run(monkeypatch, "documented", *commands(graph_url, tmp_path)[command])
    assert code == 0, err
    assert "Traceback" not in out + err


def _required_cases() -> list[Any]:
    return [pytest.param(c, p, marks=[],
                         id=f"{c}-{p}") for c in COMMANDS for p in sorted(READ_REQUIRED)]


@pytest.mark.parametrize(("command", "perm"), _required_cases())
def test_each_required_permission_missing_is_exit_5_naming_it(command, perm, graph_url, tmp_path, monkeypatch):
    token = f"without {perm}"
    code, out, err = run(monkeypatch, token, *commands(graph_url, tmp_path)[command])
    assert code == 5, (code, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert perm in lines[0] and "403" in lines[0], lines[0]
    assert "Traceback" not in out + err


def test_a_denied_scan_records_nothing_and_resolves_nothing(graph_url, tmp_path, monkeypatch):
    db = tmp_path / "r.db"
    assert run(monkeypatch, "documented", "scan", *graph(graph_url), "--db", db, "-q")[0] == 0
    before = json.loads(run(monkeypatch, "", "report", "--db", db, "--format", "json")[1])["tenants"][0]
    assert run(monkeypatch, "without User.Read.All", "scan", *graph(graph_url), "--db", db, "-q")[0] == 5
    after = json.loads(run(monkeypatch, "", "report", "--db", db, "--format", "json")[1])["tenants"][0]
    assert after["last_run"] == before["last_run"]
    assert after["counts"]["open"] == before["counts"]["open"] > 0 and after["counts"]["resolved"] == 0


def _scan_and_plan(monkeypatch, token: str, url: str, tmp: Path) -> tuple[str, str]:
    db = tmp / "r.db"
    code, _, scan_err = run(monkeypatch, token, "scan", *graph(url), "--onprem", SAMPLE_LDIF, "--db", db)
    assert code == 0, scan_err
    code, _, plan_err = run(monkeypatch, token, "plan", "--db", db, "-o", tmp / "plan.json")
    assert code == 0, plan_err
    return scan_err, plan_err


def test_without_the_sync_flags_permission_it_succeeds_and_says_unknown(graph_url, tmp_path, monkeypatch):
    scan_err, plan_err = _scan_and_plan(monkeypatch, f"without {SYNC_FLAGS}", graph_url, tmp_path)
    assert READ_OPTIONAL[SYNC_FLAGS] in scan_err
    assert "flags_unknown" in (tmp_path / "plan.json").read_text()  # the twin merge is refused, not guessed
    assert PIM_UNKNOWN not in plan_err  # only what is really unknown is reported


def test_without_audit_log_read_cloud_sync_is_a_warning_never_no_errors(graph_url, tmp_path, monkeypatch):
    code, out, err = run(monkeypatch, f"without {AUDIT}", "scan", *graph(graph_url), "--onprem", SAMPLE_LDIF,
                         "--db", tmp_path / "r.db", "--format", "json")
    assert code == 0 and READ_OPTIONAL[AUDIT] in err and "not 'no errors'" in err
    code, full, _ = run(monkeypatch, "everything", "scan", *graph(graph_url), "--onprem", SAMPLE_LDIF,
                        "--db", tmp_path / "r2.db", "--format", "json")
    assert code == 0 and json.loads(out)["findings"] == json.loads(full)["findings"]  # the rest intact


def test_with_the_documented_set_and_the_flags_nothing_is_unknown(graph_url, tmp_path, monkeypatch):
    scan_err, plan_err = _scan_and_plan(monkeypatch, "everything", graph_url, tmp_path)
    for warning in (*READ_OPTIONAL.values(), PIM_UNKNOWN):
        assert warning not in scan_err + plan_err


def test_pim_eligibility_unreadable_is_unknown_and_the_plan_warns(tmp_path, monkeypatch):
    doc = tenant_doc()
    del doc["roleEligibilitySchedules"]  # a tenant without Entra ID P2: Graph refuses the read
    with serve_in_thread(create_app(doc, EmulatorConfig(permissions=TOKENS))) as url:
        _, plan_err = _scan_and_plan(monkeypatch, "everything", url, tmp_path)
    assert PIM_UNKNOWN in plan_err


def test_the_narrow_pim_permission_alone_does_not_replace_role_reads(graph_url, tmp_path, monkeypatch):
    code, _, err = run(monkeypatch, "narrow PIM only", "scan", *graph(graph_url), "--db", tmp_path / "r.db")
    assert code == 5 and "RoleManagement.Read.Directory" in err


def test_save_tenant_records_unknown_as_absent_never_as_empty(graph_url, tmp_path, monkeypatch):
    out = tmp_path / "saved.json"
    code, _, err = run(monkeypatch, "documented", "scan", *graph(graph_url), "--db", tmp_path / "r.db",
                       "--save-tenant", out, "-q")
    assert code == 0, err
    saved = json.loads(out.read_text())
    assert "onPremisesSynchronization" not in saved  # not readable without the delegated permission
    doc = tenant_doc()
    assert saved["roleAssignments"] == doc["roleAssignments"]  # read: exactly what the tenant has
    assert saved["roleEligibilitySchedules"] == [] == doc["roleEligibilitySchedules"]  # read: really none


def test_report_needs_no_graph_permission(graph_url, tmp_path, monkeypatch):
    db = tmp_path / "r.db"
    assert run(monkeypatch, "documented", "scan", *graph(graph_url), "--db", db, "-q")[0] == 0
    code, out, err = run(monkeypatch, "", "report", "--db", db, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["tenants"][0]["counts"]["open"] > 0


TWIN_ID = "a7b7cb9f-2a42-4c08-9c58-07e42ace933e"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"


def _plan_with_admin_twin(monkeypatch, token: str, tmp: Path) -> dict[str, Any]:
    doc = tenant_doc()  # the cloud-only twin the sample merges holds Global Administrator here
    doc["roleAssignments"] = [{"id": "ra-1", "roleDefinitionId": GLOBAL_ADMIN, "principalId": TWIN_ID,
                               "directoryScopeId": "/"}]
    with serve_in_thread(create_app(doc, EmulatorConfig(permissions=TOKENS))) as url:
        code, _, err = run(monkeypatch, token, "scan", *graph(url), "--onprem", SAMPLE_LDIF, "--db", tmp / "r.db")
    if code != 0:
        return {"scan_exit": code, "steps": [], "refusals": []}
    assert run(monkeypatch, token, "plan", "--db", tmp / "r.db", "-o", tmp / "plan.json")[0] == 0
    return json.loads((tmp / "plan.json").read_text())


def _targets_admin(plan: dict[str, Any]) -> bool:
    return any((s.get("target") or {}).get("id") == TWIN_ID for s in plan["steps"])


def test_with_the_documented_set_an_admin_twin_is_never_matched(tmp_path, monkeypatch):
    plan = _plan_with_admin_twin(monkeypatch, "documented", tmp_path)
    # the role is read, so the finding is an admin-role conflict (a manual runbook), never a match
    kinds = {s["kind"] for s in plan["steps"]}
    assert "set_immutable_id" not in kinds and "runbook" in kinds
    assert not _targets_admin(plan)


def test_without_role_permissions_an_admin_twin_is_never_matched(tmp_path, monkeypatch):
    plan = _plan_with_admin_twin(monkeypatch, "without RoleManagement.Read.Directory", tmp_path)
    assert not _targets_admin(plan)  # today: a set_immutable_id (hard match) onto the Global Administrator
