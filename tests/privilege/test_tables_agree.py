"""The three permission tables agree: docs/permissions.md, the client's PERMISSIONS, the emulator's PERMS.

* For every request reconciler sends, the permission our client names on a 403 is one the emulator
  accepts for it (a token carrying only that permission is not refused), and an empty token is refused.
* The sets the privilege tests run with are the ones docs/permissions.md documents.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.sources.graph_http import permission_for

from .sets import APPLY_REQUIRED, READ_OPTIONAL, READ_REQUIRED
from .test_graph_writes import doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"

# (method, path, the permission our table must name for it: the user or group variant)
REQUESTS = [
    ("GET", "/users?$top=1", "User.Read.All"),
    ("GET", "/users/c-0", "User.Read.All"),
    ("PATCH", "/users/c-0", "User.ReadUpdate.All"),
    ("DELETE", "/users/c-1", "User.DeleteRestore.All"),
    ("GET", "/groups?$top=1", "Group.Read.All"),
    ("GET", "/groups/g-1/members", "GroupMember.Read.All"),
    ("DELETE", "/groups/g-1", "Group.ReadWrite.All"),
    ("GET", "/contacts?$top=1", "OrgContact.Read.All"),
    ("GET", "/directory/deletedItems/microsoft.graph.user", "User.Read.All"),
    ("GET", "/directory/deletedItems/microsoft.graph.group", "Group.Read.All"),
    ("GET", "/directory/deletedItems/d-0", "User.Read.All"),
    ("GET", "/directory/deletedItems/dg-1", "Group.Read.All"),
    ("DELETE", "/directory/deletedItems/d-1", "User.DeleteRestore.All"),
    ("DELETE", "/directory/deletedItems/dg-2", "delegated:Group.ReadWrite.All"),
    ("POST", "/directory/deletedItems/d-2/restore", "User.DeleteRestore.All"),
    ("POST", "/directory/deletedItems/dg-1/restore", "Group.ReadWrite.All"),
    ("GET", "/roleManagement/directory/roleAssignments", "RoleManagement.Read.Directory"),
    ("GET", "/roleManagement/directory/roleEligibilitySchedules", "RoleEligibilitySchedule.Read.Directory"),
    ("GET", "/directoryRoles", "RoleManagement.Read.Directory"),
    ("GET", "/organization", "Organization.Read.All"),
    ("GET", "/directory/onPremisesSynchronization", "delegated:OnPremDirectorySynchronization.Read.All"),
    ("GET", "/auditLogs/provisioning", "AuditLog.Read.All"),
]


def _text(perm: str) -> str:
    return perm.replace("delegated:", "delegated ")


def _granted(perm: str) -> str:
    # the sync flags are delegated-only in Graph; the emulator takes a token carrying the name as that session
    return perm.replace("delegated:", "") if perm.startswith("delegated:OnPrem") else perm


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    tenant = doc()
    tenant.update(roleAssignments=[], roleEligibilitySchedules=[], onPremisesSynchronization={"features": {}})
    tenant["deletedGroups"].append({**tenant["deletedGroups"][0], "id": "dg-2"})
    tokens = {"nothing": set(), **{_granted(p): {_granted(p)} for _, _, p in REQUESTS}}
    with serve_in_thread(create_app(tenant, EmulatorConfig(permissions=tokens))) as url:
        with httpx.Client(base_url=url, timeout=30) as c:
            yield c


@pytest.mark.parametrize(("method", "path", "perm"), REQUESTS, ids=[f"{m} {p}" for m, p, _ in REQUESTS])
def test_the_permission_we_name_is_the_one_the_emulator_accepts(method, path, perm, client):
    assert _text(perm) in permission_for(method, "/v1.0" + path)
    body = {"json": {}} if method == "POST" else {"json": {"displayName": "x"}} if method == "PATCH" else {}

    def call(token: str) -> int:
        return client.request(method, path.lstrip("/"), headers={"Authorization": f"Bearer {token}"},
                              **body).status_code
    assert call("nothing") == 403
    assert call(_granted(perm)) != 403


def _doc_rows(heading: str) -> dict[str, set[str]]:
    """First two columns of the table under ``heading``: command/step -> backticked permissions."""
    section = DOC.read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"(delegated )?`([A-Za-z]+(?:\.[A-Za-z]+)+)`", cells[1])
        rows[cells[0].strip("`")] = {("delegated:" if d else "") + n for d, n in names}
    return rows


def test_the_doc_documents_exactly_the_read_sets_we_test():
    rows = _doc_rows("## Reading (scan, explain, check-onprem)")
    assert sorted(k for k, v in rows.items() if v == READ_REQUIRED) == sorted(
        ["scan --graph` / `scan --graph-url URL", "scan … --save-tenant FILE", "explain KEY` with a cloud source",
         "check-onprem --graph-url URL` / `--graph"])
    assert all(not v for k, v in rows.items() if v != READ_REQUIRED), rows  # the rest need nothing
    text = DOC.read_text()
    assert all((f"delegated `{opt}`" if opt.startswith("OnPrem") else f"`{opt}`") in text for opt in READ_OPTIONAL)
    assert all(f"`{opt}`" in next(line for line in text.splitlines() if line.startswith("| `scan --graph`"))
               for opt in READ_OPTIONAL)  # each optional read is listed for scan


def test_the_doc_documents_exactly_the_write_sets_we_test():
    rows = _doc_rows("## Writing (apply --doit, undo --doit), per Graph step kind")
    assert rows == {k: set(v) for k, v in APPLY_REQUIRED.items()}
