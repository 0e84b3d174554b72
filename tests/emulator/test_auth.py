"""Per-token application permissions: 401 without a known token, 403 with Graph's generic body."""

from __future__ import annotations

import pytest

from reconciler.emulator import EmulatorConfig

# Exactly what a scan needs (reconciler reads users, groups, contacts, deleted items, roles).
SCAN_SET = {"User.Read.All", "Group.Read.All", "OrgContact.Read.All", "RoleManagement.Read.Directory",
            "RoleEligibilitySchedule.Read.Directory", "Organization.Read.All"}
TOKENS = {"scan": SCAN_SET, "no-contacts": SCAN_SET - {"OrgContact.Read.All"}, "nothing": set()}
READS = ["/users", "/groups", "/contacts", "/directory/deletedItems/microsoft.graph.user",
         "/directory/deletedItems/microsoft.graph.group", "/directoryRoles", "/organization",
         "/roleManagement/directory/roleAssignments", "/roleManagement/directory/roleEligibilitySchedules"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(graph, generated_doc):
    return graph(generated_doc, EmulatorConfig(permissions=TOKENS))


def test_missing_or_unknown_token_is_401(client):
    r = client.get("/users")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert client.get("/users", headers=_bearer("forged")).status_code == 401
    assert client.get("/users", headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401


@pytest.mark.parametrize("path", READS)
def test_the_documented_set_reads_everything(client, path):
    r = client.get(path, headers=_bearer("scan"))
    assert r.status_code == 200, r.text


def test_a_missing_permission_is_a_generic_403(client):
    r = client.get("/contacts", headers=_bearer("no-contacts"))
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "Authorization_RequestDenied"
    assert err["message"] == "Insufficient privileges to complete the operation."
    assert "OrgContact" not in r.text  # the client names the permission from its own table
    assert client.get("/users", headers=_bearer("no-contacts")).status_code == 200


def test_sync_features_need_the_delegated_permission(client):
    assert client.get("/directory/onPremisesSynchronization", headers=_bearer("scan")).status_code == 403


def test_writes_need_write_permissions(client, generated_doc):
    cloud = next(u for u in generated_doc["users"] if u["onPremisesSyncEnabled"] is None)
    r = client.patch(f"/users/{cloud['id']}", json={"displayName": "x"}, headers=_bearer("scan"))
    assert r.status_code == 403


def test_batch_items_use_the_envelope_token(client):
    r = client.post("/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/users?$top=1"},
                                                   {"id": "2", "method": "GET", "url": "/contacts?$top=1"}]},
                    headers=_bearer("no-contacts"))
    assert [x["status"] for x in r.json()["responses"]] == [200, 403]
    assert client.post("/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/users"}]}
                       ).status_code == 401
