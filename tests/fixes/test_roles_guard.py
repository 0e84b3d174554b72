"""Unknown role holders never read as "nobody is an admin"."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.fixes.planner import PlanOptions, TenantContext, context_from_snapshot, make_plan
from reconciler.sources.tenantfile import read_tenant_file
from tests.conftest import SAMPLE_TENANT
from tests.fixes.builders import ctx, twin


def _plan(context: TenantContext):
    f, d = twin()
    return make_plan([f], {f["id"]: d}, context, PlanOptions(), created="now")


def test_a_match_is_refused_when_role_holders_are_unknown():
    p = _plan(ctx(roles_known=False))
    assert not any(s.kind.value == "set_immutable_id" for s in p.steps)
    assert [r.guard for r in p.refusals] == ["roles_unknown"]
    assert "RoleManagement.Read.Directory" in p.refusals[0].reason
    assert any(s.kind.value == "set_immutable_id" for s in _plan(ctx()).steps)


def test_context_round_trip_keeps_the_flag_and_old_contexts_count_as_unknown():
    c = ctx(roles_known=False)
    assert TenantContext.from_data(c.data(), "t").roles_known is False
    assert TenantContext.from_data(ctx().data(), "t").roles_known is True
    legacy = {k: v for k, v in ctx().data().items() if k != "roles_known"}
    assert TenantContext.from_data(legacy, "t").roles_known is False


def test_tenant_file_roles_known_from_either_collection(tmp_path: Path):
    assert context_from_snapshot(read_tenant_file(SAMPLE_TENANT)).roles_known  # directoryRoles present
    doc = json.loads(SAMPLE_TENANT.read_text())
    doc.pop("directoryRoles")
    doc.pop("roleAssignments", None)
    p = tmp_path / "t.json"
    p.write_text(json.dumps(doc))
    assert not read_tenant_file(p).roles_known  # neither roleAssignments nor directoryRoles: unknown
    doc["roleAssignments"] = []
    p.write_text(json.dumps(doc))
    assert read_tenant_file(p).roles_known  # read, and really nobody
