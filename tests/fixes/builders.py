"""Literal findings + detail columns as the store keeps them (the findings JSON, docs/formats.md)."""

from __future__ import annotations

from typing import Any

from reconciler.fixes.planner import TenantContext

TENANT = "t-0001"
FEATURES = {"softMatchOnUpnEnabled": True, "blockSoftMatchEnabled": False,
            "blockCloudObjectTakeoverThroughHardMatchEnabled": False}


def ctx(**kw: Any) -> TenantContext:
    base: dict[str, Any] = {
        "tenant": TENANT, "features": FEATURES, "initial_domain": "contoso.onmicrosoft.com",
        "domains": {"contoso.com": "Managed", "contoso.onmicrosoft.com": "Managed"},
        "role_holders": {}, "eligible": {}, "object_identifiers": {}}
    base.update(kw)
    return TenantContext(**base)


def twin(n: int = 1, *, holder: dict[str, Any] | None = None, source_names: tuple[str, str] = ("Lena", "Fischer"),
         value: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A cloud_only_twin finding: synced DAR duplicate u-dup-N, cloud-only holder u-twin-N."""
    value = value or f"lena{n}@contoso.com"
    h = {"id": f"u-twin-{n}", "userPrincipalName": value, "givenName": "Lena", "surname": "Fischer",
         "userType": "Member", "onPremisesImmutableId": None, "onPremisesSyncEnabled": False,
         "displayName": "Lena Fischer", "mail": None, "proxyAddresses": []}
    h.update(holder or {})
    anchor = f"AAAAAAAAAAAAAAAAAAAA{n:04d}=="
    o = {"id": f"u-dup-{n}", "userPrincipalName": f"lena{n}1234@contoso.onmicrosoft.com", "givenName": "Lena",
         "surname": "Fischer", "userType": "Member", "onPremisesImmutableId": anchor, "onPremisesSyncEnabled": True}
    finding = {
        "id": f"f{n:05d}", "scenario": "cloud_only_twin",
        "object": {"id": o["id"], "type": "user", "display_name": "Lena Fischer",
                   "user_principal_name": o["userPrincipalName"], "on_premises_immutable_id": anchor},
        "conflict": {"category": "PropertyConflict", "property": "UserPrincipalName", "value": value,
                     "occurred": "2026-11-19T22:03:12Z"},
        "source": {"dn": f"CN=Lena {n},OU=Staff,DC=corp,DC=contoso,DC=com", "object_guid": "g", "immutable_id": anchor},
        "holders": [{"id": h["id"], "type": "user", "display_name": h["displayName"], "user_principal_name": value,
                     "state": "active", "synced": False, "matched_on": ["userPrincipalName"], "source": None}],
        "keep": None, "reasons": [], "fixes": []}
    detail = {"columns": [
        {"role": "object", "attrs": o}, {"role": "holder", "attrs": h},
        {"role": "source", "attrs": {"givenName": source_names[0], "sn": source_names[1],
                                     "distinguishedName": finding["source"]["dn"]}}]}
    return finding, detail


def onprem_dup(keep: str = "source", value: str = "priya@contoso.com") -> tuple[dict[str, Any], dict[str, Any]]:
    f = {"id": "fdup1", "scenario": "onprem_duplicate",
         "object": {"id": "u-new", "type": "user", "display_name": "Priya N", "user_principal_name": "pn@contoso.com",
                    "on_premises_immutable_id": "x"},
         "conflict": {"category": "PropertyConflict", "property": "ProxyAddress", "value": value},
         "source": {"dn": "CN=Priya N,DC=corp", "object_guid": "g1", "immutable_id": "x"},
         "holders": [{"id": "u-old", "type": "user", "state": "active", "synced": True,
                      "matched_on": ["proxyAddresses"], "source": {"dn": "CN=Priya R,DC=corp"}}],
         "keep": keep, "reasons": ["licence decides"]}
    d = {"columns": [
        {"role": "source", "attrs": {"distinguishedName": "CN=Priya N,DC=corp",
                                     "proxyAddresses": ["SMTP:pn@contoso.com", f"smtp:{value}"]}},
        {"role": "holder_source", "attrs": {"distinguishedName": "CN=Priya R,DC=corp",
                                            "proxyAddresses": ["SMTP:pr@contoso.com", f"smtp:{value}"]}}]}
    return f, d
