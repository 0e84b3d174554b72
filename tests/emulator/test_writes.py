"""Writes: what Graph allows on cloud-mastered objects, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.sources.tenantfile import read_tenant_file

from .conftest import emulator_of

DELEGATED = {"app": {"User.ReadWrite.All", "Group.ReadWrite.All", "User.DeleteRestore.All"},
             "admin": {"delegated:Group.ReadWrite.All", "Group.ReadWrite.All"}}


def _by(doc: dict[str, Any], coll: str, **match: Any) -> dict[str, Any]:
    return next(o for o in doc[coll] if all(o.get(k) == v for k, v in match.items()))


def _bad(r: Any, *words: str) -> None:
    assert r.status_code == 400, r.text
    msg = r.json()["error"]["message"]
    for w in words:
        assert w in msg


def test_patch_cloud_user_upn_and_immutable_id(graph, sample_doc):
    client = graph(sample_doc)
    twin = _by(sample_doc, "users", userPrincipalName="lena.fischer@contoso.com")
    assert twin["onPremisesSyncEnabled"] is None
    r = client.patch(f"/users/{twin['id']}", json={"onPremisesImmutableId": "SomeAnchor123=="})
    assert r.status_code == 204 and r.content == b""
    got = client.get(f"/users/{twin['id']}", params={"$select": "onPremisesImmutableId"}).json()
    assert got["onPremisesImmutableId"] == "SomeAnchor123=="
    r = client.patch(f"/users/{twin['id']}", json={"userPrincipalName": "lena.f@contoso.onmicrosoft.com"})
    assert r.status_code == 204
    state = emulator_of(client).state
    assert state.collections["users"].get(twin["id"])["userPrincipalName"] == "lena.f@contoso.onmicrosoft.com"
    found = client.get("/users", params={"$filter": "userPrincipalName eq 'LENA.F@contoso.onmicrosoft.com'"})
    assert [u["id"] for u in found.json()["value"]] == [twin["id"]]
    assert client.get("/users", params={"$filter": "userPrincipalName eq 'lena.fischer@contoso.com'"}
                      ).json()["value"] == []
    assert emulator_of(client).stats["writes"] == 2


def test_patch_synced_user_is_refused(graph, sample_doc):
    client = graph(sample_doc)
    synced = _by(sample_doc, "users", onPremisesSyncEnabled=True)
    _bad(client.patch(f"/users/{synced['id']}", json={"displayName": "X"}), "on-premises mastered")
    assert emulator_of(client).state.collections["users"].get(synced["id"])["displayName"] == synced["displayName"]


@pytest.mark.parametrize("body,words", [
    ({"proxyAddresses": ["SMTP:x@contoso.com"]}, ("proxyAddresses", "read-only")),
    ({"onPremisesSyncEnabled": True}, ("read-only",)),
    ({"userPrincipalName": "ben.carter@contoso.com"}, ("already exists",)),
    ({"userPrincipalName": "lena@notours.example"}, ("verified domain",)),
    ({"onPremisesImmutableId": "bad$anchor"}, ("onPremisesImmutableId",)),
    ({"onPremisesImmutableId": "uonEmQP56k65wsjyvi6jWA=="}, ("already exists",)),
])
def test_patch_rejections(graph, sample_doc, body, words):
    twin = _by(sample_doc, "users", userPrincipalName="lena.fischer@contoso.com")
    _bad(graph(sample_doc).patch(f"/users/{twin['id']}", json=body), *words)


def test_delete_moves_cloud_objects_to_the_recycle_bin_and_restore_brings_them_back(graph, sample_doc):
    client = graph(sample_doc)
    twin = _by(sample_doc, "users", userPrincipalName="lena.fischer@contoso.com")
    assert client.delete(f"/users/{twin['id']}").status_code == 204
    assert client.get(f"/users/{twin['id']}").status_code == 404
    deleted = client.get(f"/directory/deletedItems/{twin['id']}", params={"$select": "id,deletedDateTime"}).json()
    assert deleted["deletedDateTime"]
    r = client.post(f"/directory/deletedItems/{twin['id']}/restore")
    assert r.status_code == 200 and r.json()["@odata.type"] == "#microsoft.graph.user"
    assert client.get(f"/users/{twin['id']}").status_code == 200
    group = _by(sample_doc, "groups", displayName="Sales")
    assert client.delete(f"/groups/{group['id']}").status_code == 204
    listed = client.get("/directory/deletedItems/microsoft.graph.group").json()["value"]
    assert [g["id"] for g in listed] == [group["id"]]


def test_synced_objects_and_contacts_cannot_be_deleted(graph, sample_doc):
    client = graph(sample_doc)
    synced = _by(sample_doc, "users", onPremisesSyncEnabled=True)
    _bad(client.delete(f"/users/{synced['id']}"), "synchronized from on-premises")
    _bad(client.delete(f"/contacts/{sample_doc['contacts'][0]['id']}"), "OrgContact")


def test_purge_removes_for_good(graph, sample_doc):
    client = graph(sample_doc)
    deleted = sample_doc["deletedUsers"][0]
    assert client.delete(f"/directory/deletedItems/{deleted['id']}").status_code == 204
    assert client.get(f"/directory/deletedItems/{deleted['id']}").status_code == 404
    assert client.get("/directory/deletedItems/microsoft.graph.user").json()["value"] == []


def test_restore_refuses_taken_values_unless_told_how_to_resolve_them(graph, sample_doc):
    ben = _by(sample_doc, "users", userPrincipalName="ben.carter@contoso.com")
    gone = dict(ben, id="11111111-2222-3333-4444-555555555555", onPremisesSyncEnabled=None,
                deletedDateTime="2026-11-01T00:00:00Z")
    gone["userPrincipalName"] = gone["id"].replace("-", "") + ben["userPrincipalName"]
    sample_doc["deletedUsers"].append(gone)
    client = graph(sample_doc)
    restore = f"/directory/deletedItems/{gone['id']}/restore"
    _bad(client.post(restore), "newUserPrincipalName")
    _bad(client.post(restore, json={"newUserPrincipalName": "ben.old@contoso.com"}), "autoReconcileProxyConflict")
    r = client.post(restore, json={"newUserPrincipalName": "ben.old@contoso.com", "autoReconcileProxyConflict": True})
    assert r.status_code == 200 and r.json()["userPrincipalName"] == "ben.old@contoso.com"
    restored = emulator_of(client).state.collections["users"].get(gone["id"])
    assert restored["proxyAddresses"] == [] and "deletedDateTime" not in restored


def test_restore_unmangles_the_deleted_upn(graph, sample_doc):
    deleted = sample_doc["deletedUsers"][0]
    client = graph(sample_doc)
    r = client.post(f"/directory/deletedItems/{deleted['id']}/restore", json={"autoReconcileProxyConflict": True})
    assert r.status_code == 200, r.text
    assert r.json()["userPrincipalName"] == "grace.okafor@contoso.com"


def test_group_purge_is_delegated_only(graph, sample_doc):
    sample_doc["deletedGroups"] = [dict(sample_doc["groups"][0], deletedDateTime="2026-11-01T00:00:00Z")]
    gid = sample_doc["deletedGroups"][0]["id"]
    sample_doc["groups"] = sample_doc["groups"][1:]
    client = graph(sample_doc, EmulatorConfig(permissions=DELEGATED))
    r = client.delete(f"/directory/deletedItems/{gid}", headers={"Authorization": "Bearer app"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "Authorization_RequestDenied"
    assert client.delete(f"/directory/deletedItems/{gid}", headers={"Authorization": "Bearer admin"}).status_code == 204


def test_save_writes_the_state_back_on_shutdown(sample_doc, tmp_path):
    import httpx

    out = tmp_path / "after.json"
    twin = _by(sample_doc, "users", userPrincipalName="lena.fischer@contoso.com")
    app = create_app(sample_doc, save=out)
    with serve_in_thread(app) as url:
        assert httpx.delete(f"{url}/users/{twin['id']}").status_code == 204
        assert not out.exists()
    snap = read_tenant_file(out)
    gone = [o for o in snap.objects if o.id == twin["id"]]
    assert len(gone) == 1 and gone[0].deleted
