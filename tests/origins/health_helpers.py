"""Connect Health test data: MergedExportError items in the real shape (fixtures/connect-health)."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from tests.conftest import FIXTURES

_REAL = orjson.loads((FIXTURES / "connect-health" / "merged-export-errors.json").read_bytes())
REAL_ITEM: dict[str, Any] = _REAL["response"]["value"][0]
SERVICES = orjson.loads((FIXTURES / "connect-health" / "services-and-counts.json").read_bytes())


def item(n: int, etype: str, attribute: str, value: str, *, anchor: str | None = None, upn: str | None = None,
         dn: str | None = None, existing: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A MergedExportError shaped exactly like the published example, with our values."""
    it = copy.deepcopy(REAL_ITEM)
    it.update({"id": f"mee-{n}", "mergedEntityId": f"me-{n}", "type": etype, "attributeName": attribute,
               "attributeValue": value, "userPrincipalName": upn or value, "dn": dn or f"CN=User {n},OU=Staff",
               "incomingObjectDisplayName": f"User {n}", "csObjectId": f"cs-{n}",
               "timeOccurred": "2026-12-01T10:00:00Z", "timeFirstOccurred": "2026-11-30T10:00:00Z",
               "serverErrorDetail": f"{etype} detail {n}"})
    it["incomingObject"].update({"displayName": f"User {n}", "distinguishedName": it["dn"],
                                 "sourceAnchor": anchor or f"ANCHOR{n}==", "objectGuid": None,
                                 "userPrincipalName": upn or value, "objectType": "user"})
    it["existingObject"] = existing if existing is not None else {}
    it.update(extra)
    return it


def tenant(errors: list[dict[str, Any]] | None, users: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": "reconciler.tenant/1",
        "organization": {"id": "t-health", "displayName": "Contoso",
                         "verifiedDomains": [{"name": "contoso.com", "isDefault": True, "isInitial": False},
                                             {"name": "contoso.onmicrosoft.com", "isInitial": True}]},
        "onPremisesSynchronization": {"features": {"softMatchOnUpnEnabled": True, "blockSoftMatchEnabled": False,
                                                   "blockCloudObjectTakeoverThroughHardMatchEnabled": True}},
        "users": users or [], "directoryRoles": [], "roleAssignments": [], "roleEligibilitySchedules": []}
    if errors is not None:
        doc["connectHealthErrors"] = errors
    return doc


EVERY_TYPE = [
    item(1, "AttributeValueMustBeUnique", "UserPrincipalName", "lena@contoso.com"),
    item(2, "QuarantinedAttributeValueMustBeUnique", "ProxyAddresses", "smtp:sales@contoso.com"),
    item(3, "InvalidSoftMatch", "UserPrincipalName", "omar@contoso.com"),
    item(4, "ObjectTypeMismatch", "ProxyAddresses", "SMTP:team@contoso.com"),
    item(5, "InvalidHardMatch", "SourceAnchor", "ANCHOR5=="),
    item(6, "IdentityDataValidationFailed", "UserPrincipalName", "bad user@contoso.com"),
    item(7, "LargeObject", "userCertificate", "16"),
    item(8, "FederatedDomainChangeError", "UserPrincipalName", "mia@fabrikam.com"),
    item(9, "ExistingAdminRoleConflict", "UserPrincipalName", "admin@contoso.com"),
    item(10, "AttributeValueMustBeUnique", "OnPremiseSecurityIdentifier", "System.Byte[]"),
    item(11, "SomethingNew", "Department", "x"),
]
EXPECTED_SCENARIO = {
    "mee-1": "duplicate", "mee-2": "duplicate", "mee-3": "duplicate", "mee-4": "duplicate",
    "mee-5": "hard_match_blocked", "mee-6": "data_validation", "mee-7": "large_attribute",
    "mee-8": "federated_domain_change", "mee-9": "admin_role_conflict", "mee-10": "unsupported",
    "mee-11": "unsupported",
}
