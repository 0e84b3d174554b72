"""Apply-side safety fixtures: a journal, an in-process Graph emulator, and ways to change it between plan and apply."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.fixes.apply import ApplyOptions, apply_plan
from reconciler.fixes.journal import Journal
from reconciler.fixes.steps import Executor
from reconciler.history.store import Store
from tests.fixes.emu import Emu, load

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"


@pytest.fixture
def journal(tmp_path):
    with Store(tmp_path / "r.db") as s:
        yield Journal(s)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def apply_emu(emu: Emu, path: Any, journal: Journal | None, writers: dict[Executor, Any] | None = None,
                    **kw: Any) -> Any:
    opts = ApplyOptions(tenant_id=await emu.writer().tenant_id(), **kw)
    return await apply_plan(load(path), journal, writers or {Executor.GRAPH: emu.writer()}, opts)


def writes_to(emu: Emu, oid: str) -> list[dict[str, Any]]:
    """Write requests that touched one object (PATCH/DELETE/POST on its id, $batch sub-requests included)."""
    return [w for w in emu.writes() if f"/{oid}" in w["path"]]


# --------------------------------------------------------------------------- role grants, as an admin would make them


def grant_direct(emu: Emu, oid: str, role: str = GLOBAL_ADMIN, scope: str = "/") -> None:
    emu.em.state.version += 1  # a change the emulator's listing cache must see
    emu.em.state.role_assignments.append({"id": f"ra-{oid}-{len(emu.em.state.role_assignments)}",
                                          "principalId": oid, "roleDefinitionId": role, "directoryScopeId": scope})


def grant_via_group(emu: Emu, oid: str, role: str = GLOBAL_ADMIN, *, nested: bool = False) -> None:
    """A role-assignable group holds the role; the account is a member (through a nested group if asked)."""
    groups = emu.em.state.collections["groups"]
    emu.em.state.version += 1
    n = len(groups)
    inner = {"id": f"grp-inner-{n}", "displayName": f"Team {n}", "members": [oid], "isAssignableToRole": False,
             "securityEnabled": True, "mailEnabled": False}
    admins = {"id": f"grp-admins-{n}", "displayName": f"Tier 0 admins {n}", "isAssignableToRole": True,
              "securityEnabled": True, "mailEnabled": False, "members": [inner["id"]] if nested else [oid]}
    if nested:
        groups.add(inner)
    groups.add(admins)
    grant_direct(emu, admins["id"], role)


def grant_eligible(emu: Emu, oid: str, role: str = GLOBAL_ADMIN) -> None:
    emu.em.state.version += 1
    emu.em.state.role_eligibility.append({"id": f"re-{oid}", "principalId": oid, "roleDefinitionId": role,
                                          "directoryScopeId": "/", "memberType": "Direct", "status": "Provisioned"})


def grant_directory_role(emu: Emu, oid: str) -> None:
    """The legacy directoryRoles membership (what /directoryRoles/{id}/members and memberOf show)."""
    emu.em.state.version += 1
    emu.em.state.roles.append({"id": f"dr-{oid}", "displayName": "Global Administrator",
                               "roleTemplateId": GLOBAL_ADMIN, "members": [oid]})


GRANTS = {"direct": grant_direct, "role_assignable_group": grant_via_group,
          "nested_group": lambda emu, oid: grant_via_group(emu, oid, nested=True),
          "pim_eligible": grant_eligible, "au_scoped": lambda emu, oid: grant_direct(emu, oid, "fe930be7-5e62-47db-91af-"
                                                                                  "98c3a49a38b1", "/administrativeUnits/au1"),
          "custom_role": lambda emu, oid: grant_direct(emu, oid, "c0ffee00-0000-4000-8000-000000000001"),
          "directory_role_member": grant_directory_role}
