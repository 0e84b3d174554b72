"""Reads: paging, default properties, $select, single objects, directory endpoints, error shapes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reconciler.emulator import EmulatorConfig

from .conftest import emulator_of, follow

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert err["innerError"]["request-id"] == r.headers["request-id"]
    assert err["innerError"]["date"]
    return err


def test_users_page_by_100_with_an_opaque_absolute_next_link(graph, tenant_doc):
    client = graph(tenant_doc)
    r = client.get("/users")
    body = r.json()
    assert len(body["value"]) == 100
    assert body["@odata.context"].endswith("/$metadata#users")
    nxt = body["@odata.nextLink"]
    assert nxt.startswith(str(client.base_url).rstrip("/") + "/users?$skiptoken=")
    assert "offset" not in nxt and "100" not in nxt.split("$skiptoken=")[1][:0]
    every = follow(client, "/users")
    assert [u["id"] for u in every] == [u["id"] for u in tenant_doc["users"]]


def test_top_up_to_999_and_the_configured_page_size(graph, tenant_doc):
    client = graph(tenant_doc, EmulatorConfig(page_size=250))
    assert len(client.get("/users").json()["value"]) == 250
    r = client.get("/users", params={"$top": "999"})
    assert len(r.json()["value"]) == min(999, len(tenant_doc["users"]))


@pytest.mark.parametrize("top", ["1000", "0", "abc", "-1"])
def test_top_out_of_range_is_rejected(graph, sample_doc, top):
    r = graph(sample_doc).get("/users", params={"$top": top})
    assert r.status_code == 400
    assert "page size" in r.json()["error"]["message"].lower()


def test_skip_is_not_supported(graph, sample_doc):
    _error(graph(sample_doc).get("/users", params={"$skip": "10"}), 400, "Request_BadRequest")


def test_tampered_skiptoken_is_rejected(graph, tenant_doc):
    client = graph(tenant_doc)
    nxt = client.get("/users").json()["@odata.nextLink"]
    _error(client.get(nxt[:-3] + "abc"), 400, "Directory_ExpiredPageToken")


def test_users_hide_sync_properties_unless_selected(graph, sample_doc):
    client = graph(sample_doc)
    default = client.get("/users").json()["value"][0]
    assert set(default) == {"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                            "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}
    r = client.get("/users", params={"$select": "id,onPremisesProvisioningErrors,onPremisesImmutableId"})
    item = r.json()["value"][0]
    assert set(item) == {"id", "onPremisesProvisioningErrors", "onPremisesImmutableId"}
    assert r.json()["@odata.context"].endswith("#users(id,onPremisesProvisioningErrors,onPremisesImmutableId)")


def test_groups_and_contacts_return_provisioning_errors_by_default(graph, sample_doc):
    client = graph(sample_doc)
    for path in ("/groups", "/contacts"):
        for item in client.get(path).json()["value"]:
            assert "onPremisesProvisioningErrors" in item
            assert "members" not in item


def test_unknown_select_property_is_a_bad_request(graph, sample_doc):
    err = _error(graph(sample_doc).get("/users", params={"$select": "id,favouriteColour"}), 400,
                 "Request_BadRequest")
    assert "favouriteColour" in err["message"]


def test_single_objects_by_id_and_by_upn(graph, sample_doc):
    client = graph(sample_doc)
    user = sample_doc["users"][0]
    by_id = client.get(f"/users/{user['id']}", params={"$select": "id,onPremisesImmutableId"}).json()
    assert by_id["onPremisesImmutableId"] == user["onPremisesImmutableId"]
    assert by_id["@odata.context"].endswith("#users(id,onPremisesImmutableId)/$entity")
    by_upn = client.get(f"/users/{user['userPrincipalName'].upper()}").json()
    assert by_upn["id"] == user["id"]
    group = sample_doc["groups"][0]
    assert client.get(f"/groups/{group['id']}").json()["mail"] == group["mail"]
    contact = sample_doc["contacts"][0]
    assert client.get(f"/contacts/{contact['id']}").json()["mail"] == contact["mail"]


def test_missing_object_is_a_graph_404(graph, sample_doc):
    r = graph(sample_doc).get("/users/00000000-0000-0000-0000-000000000000")
    err = _error(r, 404, "Request_ResourceNotFound")
    assert "00000000-0000-0000-0000-000000000000" in err["message"]


def test_request_id_and_client_request_id_headers(graph, sample_doc):
    client = graph(sample_doc)
    r = client.get("/organization", headers={"client-request-id": "abc-123"})
    assert GUID.match(r.headers["request-id"])
    assert r.headers["client-request-id"] == "abc-123"
    assert r.json()["value"][0]["id"] == sample_doc["organization"]["id"]


def test_deleted_items_need_the_type_cast(graph, sample_doc):
    client = graph(sample_doc)
    deleted = sample_doc["deletedUsers"][0]
    listed = client.get("/directory/deletedItems/microsoft.graph.user",
                        params={"$select": "id,deletedDateTime,mail"}).json()
    assert listed["value"] == [{"id": deleted["id"], "deletedDateTime": deleted["deletedDateTime"],
                                "mail": deleted["mail"]}]
    assert client.get("/directory/deletedItems/microsoft.graph.group").json()["value"] == []
    one = client.get(f"/directory/deletedItems/{deleted['id']}").json()
    assert one["@odata.type"] == "#microsoft.graph.user"
    assert client.get("/directory/deletedItems").status_code == 400  # the cast is required


def test_roles_and_members_are_typed_directory_objects(graph, generated_doc):
    client = graph(generated_doc)
    roles = client.get("/directoryRoles").json()["value"]
    assert {r["displayName"] for r in roles} >= {"Global Administrator"}
    assert all("members" not in r for r in roles)
    seen_types = set()
    for role in roles:
        members = follow(client, f"/directoryRoles/{role['id']}/members")
        src = next(r for r in generated_doc["directoryRoles"] if r["id"] == role["id"])
        assert [m["id"] for m in members] == src["members"]
        seen_types |= {m["@odata.type"] for m in members}
    assert "#microsoft.graph.user" in seen_types
    group = next(g for g in generated_doc["groups"] if g.get("isAssignableToRole"))
    members = follow(client, f"/groups/{group['id']}/members", params={"$select": "id,userPrincipalName"})
    assert [m["id"] for m in members] == group["members"]
    assert all(set(m) == {"@odata.type", "id", "userPrincipalName"} for m in members)


def test_role_assignments_and_eligibility(graph, generated_doc):
    client = graph(generated_doc)
    assignments = follow(client, "/roleManagement/directory/roleAssignments")
    assert assignments == generated_doc["roleAssignments"]
    first = assignments[0]
    r = client.get("/roleManagement/directory/roleAssignments",
                   params={"$filter": f"principalId eq '{first['principalId']}'"})
    assert first in r.json()["value"]
    elig = follow(client, "/roleManagement/directory/roleEligibilitySchedules")
    assert elig == generated_doc["roleEligibilitySchedules"]


def test_unknown_collections_read_as_forbidden_not_empty(graph, sample_doc):
    """Absent roleAssignments / eligibility mean "not readable", never "none" (spec)."""
    doc = {k: v for k, v in sample_doc.items() if k not in ("roleAssignments", "roleEligibilitySchedules")}
    client = graph(doc)
    for path in ("/roleManagement/directory/roleAssignments", "/roleManagement/directory/roleEligibilitySchedules"):
        _error(client.get(path), 403, "Authorization_RequestDenied")


def test_on_premises_synchronization_features(graph, sample_doc):
    body = graph(sample_doc).get("/directory/onPremisesSynchronization").json()
    assert body["value"][0]["features"] == sample_doc["onPremisesSynchronization"]["features"]


def test_unknown_segment_is_a_bad_request(graph, sample_doc):
    client = graph(sample_doc)
    _error(client.get("/frobnicators"), 400, "BadRequest")
    assert client.get("/users/x/y/z").status_code == 400


def test_counters_and_log_record_every_request(graph, sample_doc, tmp_path):
    log = tmp_path / "requests.jsonl"
    client = graph(sample_doc, EmulatorConfig(request_log=log))
    client.get("/users", params={"$select": "id"}, headers={"client-request-id": "c1"})
    client.get("/groups")
    client.get("/nope")
    em = emulator_of(client)
    assert em.stats["requests"] == 3
    assert em.stats["by_endpoint"]["users"] == 1 and em.stats["by_endpoint"]["groups"] == 1
    assert em.stats["resource_units"] == 1 + 1
    first = em.log[0]
    assert first["method"] == "GET" and first["path"] == "/v1.0/users" and first["query"] == {"$select": "id"}
    assert first["status"] == 200 and first["client-request-id"] == "c1" and first["resource_units"] == 1
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and '"status":400' in lines[2]
