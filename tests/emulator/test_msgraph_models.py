"""Microsoft's generated client models parse the emulator's responses with the right types."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

pytest.importorskip("msgraph")

from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.directory_object_collection_response import (
    DirectoryObjectCollectionResponse,
)
from msgraph.generated.models.group import Group
from msgraph.generated.models.group_collection_response import GroupCollectionResponse
from msgraph.generated.models.on_premises_provisioning_error import OnPremisesProvisioningError
from msgraph.generated.models.org_contact import OrgContact
from msgraph.generated.models.org_contact_collection_response import OrgContactCollectionResponse
from msgraph.generated.models.user import User
from msgraph.generated.models.user_collection_response import UserCollectionResponse

USER_FIELDS = ("id,userPrincipalName,mail,proxyAddresses,userType,assignedLicenses,onPremisesImmutableId,"
               "onPremisesSyncEnabled,onPremisesDistinguishedName,onPremisesSecurityIdentifier,"
               "onPremisesDomainName,deletedDateTime,onPremisesProvisioningErrors")


def _parse(response: Any, model: Any) -> Any:
    node = JsonParseNodeFactory().get_root_parse_node("application/json", response.content)
    return node.get_object_value(model)


def _check_errors(errors: Any) -> None:
    assert errors and all(isinstance(e, OnPremisesProvisioningError) for e in errors)
    for e in errors:
        assert isinstance(e.category, str) and isinstance(e.property_causing_error, str)
        assert isinstance(e.value, str) and e.value
        assert isinstance(e.occurred_date_time, dt.datetime)


def test_users_parse_into_user_collection_response(graph, sample_doc):
    client = graph(sample_doc)
    r = client.get("/users", params={"$select": USER_FIELDS, "$top": "999"})
    page = _parse(r, UserCollectionResponse)
    assert page.odata_next_link is None
    users = {u.id: u for u in page.value}
    assert all(isinstance(u, User) for u in users.values())
    synced = next(u for u in users.values() if u.on_premises_sync_enabled and u.on_premises_provisioning_errors)
    assert isinstance(synced.user_principal_name, str) and isinstance(synced.mail, str)
    assert isinstance(synced.proxy_addresses, list) and all(isinstance(p, str) for p in synced.proxy_addresses)
    assert synced.user_type == "Member"
    assert synced.assigned_licenses and isinstance(synced.assigned_licenses[0], AssignedLicense)
    assert str(synced.assigned_licenses[0].sku_id).count("-") == 4
    assert isinstance(synced.on_premises_immutable_id, str)
    assert synced.on_premises_sync_enabled is True
    assert synced.on_premises_distinguished_name.startswith("CN=")
    assert synced.on_premises_security_identifier.startswith("S-1-5-21-")
    assert isinstance(synced.on_premises_domain_name, str)
    _check_errors(synced.on_premises_provisioning_errors)


def test_next_link_parses(graph, generated_doc):
    page = _parse(graph(generated_doc).get("/users"), UserCollectionResponse)
    assert len(page.value) == 100 and page.odata_next_link.startswith("http")


def test_deleted_users_carry_deleted_date_time(graph, sample_doc):
    r = graph(sample_doc).get("/directory/deletedItems/microsoft.graph.user", params={"$select": USER_FIELDS})
    page = _parse(r, UserCollectionResponse)
    assert isinstance(page.value[0].deleted_date_time, dt.datetime)


def test_groups_and_contacts_parse(graph, generated_doc):
    client = graph(generated_doc)
    groups = _parse(client.get("/groups", params={"$top": "999"}), GroupCollectionResponse).value
    assert all(isinstance(g, Group) for g in groups)
    g = next(g for g in groups if g.on_premises_provisioning_errors)
    _check_errors(g.on_premises_provisioning_errors)
    assert isinstance(g.proxy_addresses, list) and isinstance(g.mail_enabled, bool)
    contacts = _parse(client.get("/contacts", params={"$top": "999"}), OrgContactCollectionResponse).value
    assert contacts and all(isinstance(c, OrgContact) for c in contacts)
    assert any(c.on_premises_sync_enabled for c in contacts)
    assert all(isinstance(c.proxy_addresses, list) and isinstance(c.mail, str) for c in contacts)


def test_role_members_parse_as_their_own_types(graph, generated_doc):
    client = graph(generated_doc)
    role = next(r for r in generated_doc["directoryRoles"] if r["members"])
    page = _parse(client.get(f"/directoryRoles/{role['id']}/members"), DirectoryObjectCollectionResponse)
    assert [m.id for m in page.value] == role["members"]
    assert all(isinstance(m, (User, Group)) for m in page.value)
    one = _parse(client.get(f"/users/{generated_doc['users'][0]['id']}"), User)
    assert one.id == generated_doc["users"][0]["id"]
