"""Literal findings + detail columns as the store keeps them (the findings JSON, docs/formats.md).

Each builder returns ``(finding, detail)`` for one scenario, with every column the guards read
(names, userType, licences, dates, anchors), so a test changes only the fact it is about.
"""

from __future__ import annotations

from typing import Any

from reconciler.fixes.planner import TenantContext

TENANT = "t-0001"
FEATURES = {"softMatchOnUpnEnabled": True, "blockSoftMatchEnabled": False,
            "blockCloudObjectTakeoverThroughHardMatchEnabled": False}
COVERED = {"source": "forest.ldif", "anchored": True, "complete": True}


def ctx(**kw: Any) -> TenantContext:
    base: dict[str, Any] = {
        "tenant": TENANT, "features": FEATURES, "initial_domain": "contoso.onmicrosoft.com",
        "domains": {"contoso.com": "Managed", "contoso.onmicrosoft.com": "Managed"},
        "role_holders": {}, "eligible": {}, "object_identifiers": {}}
    base.update(kw)
    return TenantContext(**base)


def _user(oid: str, upn: str, **kw: Any) -> dict[str, Any]:
    u = {"id": oid, "type": "user", "state": "active", "userPrincipalName": upn, "givenName": "Lena",
         "surname": "Fischer", "displayName": "Lena Fischer", "userType": "Member", "accountEnabled": True,
         "onPremisesImmutableId": None, "onPremisesSyncEnabled": False, "mail": None, "proxyAddresses": [],
         "licences": 0, "createdDateTime": "2026-01-01T00:00:00Z", "creationType": None,
         "externalUserState": None, "employeeId": None}
    u.update(kw)
    return u


def twin(n: int = 1, *, holder: dict[str, Any] | None = None, source_names: tuple[str, str] = ("Lena", "Fischer"),
         value: str | None = None, source: dict[str, Any] | None = None, obj: dict[str, Any] | None = None,
         dn: str | None = None, anchor: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A cloud_only_twin finding: synced DAR duplicate u-dup-N, cloud-only holder u-twin-N."""
    value = value or f"lena{n}@contoso.com"
    h = _user(f"u-twin-{n}", value, createdDateTime="2025-06-01T00:00:00Z")
    h.update(holder or {})
    anchor = anchor or f"AAAAAAAAAAAAAAAAAAAA{n:04d}=="
    o = _user(f"u-dup-{n}", f"lena{n}1234@contoso.onmicrosoft.com", onPremisesImmutableId=anchor,
              onPremisesSyncEnabled=True, createdDateTime="2026-11-19T22:03:12Z")
    o.update(obj or {})
    dn = dn or f"CN=Lena {n},OU=Staff,DC=corp,DC=contoso,DC=com"
    finding = {
        "id": f"f{n:05d}", "scenario": "cloud_only_twin",
        "object": {"id": o["id"], "type": "user", "display_name": o["displayName"],
                   "user_principal_name": o["userPrincipalName"], "on_premises_immutable_id": anchor},
        "conflict": {"category": "PropertyConflict", "property": "UserPrincipalName", "value": value,
                     "occurred": "2026-11-19T22:03:12Z"},
        "source": {"dn": dn, "object_guid": "g", "immutable_id": anchor},
        "holders": [{"id": h["id"], "type": "user", "display_name": h["displayName"], "user_principal_name": value,
                     "state": "active", "synced": False, "matched_on": ["userPrincipalName"], "source": None}],
        "keep": None, "reasons": [], "fixes": []}
    src = {"givenName": source_names[0], "sn": source_names[1], "displayName": " ".join(source_names),
           "distinguishedName": dn, "enabled": True, "anchor": anchor}
    src.update(source or {})
    detail = {"columns": [{"role": "object", "attrs": o}, {"role": "holder", "attrs": h},
                          {"role": "source", "attrs": src}]}
    return finding, detail


def onprem_dup(keep: str = "source", value: str = "priya@contoso.com", *, holder: dict[str, Any] | None = None,
               obj: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    f = {"id": "fdup1", "scenario": "onprem_duplicate",
         "object": {"id": "u-new", "type": "user", "display_name": "Priya N", "user_principal_name": "pn@contoso.com",
                    "on_premises_immutable_id": "x"},
         "conflict": {"category": "PropertyConflict", "property": "ProxyAddress", "value": value},
         "source": {"dn": "CN=Priya N,DC=corp", "object_guid": "g1", "immutable_id": "x"},
         "holders": [{"id": "u-old", "type": "user", "state": "active", "synced": True,
                      "matched_on": ["proxyAddresses"], "source": {"dn": "CN=Priya R,DC=corp"}}],
         "keep": keep, "reasons": ["licence decides"]}
    o = _user("u-new", "pn@contoso.com", givenName="Priya", surname="N", displayName="Priya N",
              onPremisesSyncEnabled=True, onPremisesImmutableId="x")
    o.update(obj or {})
    h = _user("u-old", "pr@contoso.com", givenName="Priya", surname="R", displayName="Priya R",
              onPremisesSyncEnabled=True, onPremisesImmutableId="y", licences=1,
              proxyAddresses=["SMTP:pr@contoso.com", f"smtp:{value}"])
    h.update(holder or {})
    d = {"columns": [
        {"role": "object", "attrs": o}, {"role": "holder", "attrs": h},
        {"role": "source", "attrs": {"distinguishedName": "CN=Priya N,DC=corp",
                                     "proxyAddresses": ["SMTP:pn@contoso.com", f"smtp:{value}"]}},
        {"role": "holder_source", "attrs": {"distinguishedName": "CN=Priya R,DC=corp",
                                            "proxyAddresses": ["SMTP:pr@contoso.com", f"smtp:{value}"]}}]}
    return f, d


def other_type(*, holder: dict[str, Any] | None = None, htype: str = "user",
               value: str = "omar@contoso.com") -> tuple[dict[str, Any], dict[str, Any]]:
    """cloud_only_other_type: a cloud-only holder of another type (default: a cloud user holding it as UPN)."""
    if htype == "user":
        h = _user("c-holder", value, givenName="Olga", surname="Admin", displayName="Olga Admin")
    else:
        h = {"id": "c-holder", "type": htype, "state": "active", "displayName": "Sales", "mail": value,
             "proxyAddresses": [f"SMTP:{value}", "smtp:sales@contoso.onmicrosoft.com"],
             "onPremisesSyncEnabled": False, "createdDateTime": "2024-01-01T00:00:00Z"}
    h.update(holder or {})
    f = {"id": "fother", "scenario": "cloud_only_other_type",
         "object": {"id": "g-onprem", "type": "group", "display_name": "Sales (on-prem)", "user_principal_name": None,
                    "on_premises_immutable_id": None},
         "conflict": {"category": "PropertyConflict", "property": "ProxyAddress", "value": f"smtp:{value}"},
         "source": {"dn": "CN=Sales,OU=Groups,DC=corp,DC=contoso,DC=com", "object_guid": "g2", "immutable_id": None},
         "holders": [{"id": "c-holder", "type": htype, "state": "active", "synced": False,
                      "matched_on": ["userPrincipalName" if htype == "user" else "proxyAddresses"], "source": None}],
         "keep": None, "reasons": []}
    o = {"id": "g-onprem", "type": "group", "state": "active", "displayName": "Sales (on-prem)",
         "onPremisesSyncEnabled": True, "proxyAddresses": []}
    return f, {"columns": [{"role": "object", "attrs": o}, {"role": "holder", "attrs": h}]}


def orphan(*, holder: dict[str, Any] | None = None, obj: dict[str, Any] | None = None,
           coverage: dict[str, Any] | None = COVERED, htype: str = "user",
           value: str = "tomasz@contoso.com") -> tuple[dict[str, Any], dict[str, Any]]:
    """orphaned_holder: synced holder u-orphan whose AD object is gone; error object u-new (the re-created one)."""
    h = _user("u-orphan", value, givenName="Tomasz", surname="Kowalski", displayName="Tomasz Kowalski",
              onPremisesSyncEnabled=True, onPremisesImmutableId="ORPHANANCHOR==",
              createdDateTime="2026-02-01T00:00:00Z")
    if htype != "user":
        h.update(type=htype, onPremisesImmutableId=None, userType=None, userPrincipalName=None, licences=None)
    h.update(holder or {})
    o = _user("u-new", "tomasz1576@contoso.onmicrosoft.com", givenName="Tomasz", surname="Kowalski",
              displayName="Tomasz Kowalski", onPremisesSyncEnabled=True, onPremisesImmutableId="NEWANCHOR==",
              createdDateTime="2026-11-19T22:03:25Z")
    o.update(obj or {})
    dn = "CN=Tomasz Kowalski,OU=Staff,DC=corp,DC=contoso,DC=com"
    f = {"id": "forphan", "scenario": "orphaned_holder",
         "object": {"id": "u-new", "type": "user", "display_name": "Tomasz Kowalski",
                    "user_principal_name": o["userPrincipalName"], "on_premises_immutable_id": "NEWANCHOR=="},
         "conflict": {"category": "PropertyConflict", "property": "UserPrincipalName", "value": value},
         "source": {"dn": dn, "object_guid": "g3", "immutable_id": "NEWANCHOR=="},
         "holders": [{"id": "u-orphan", "type": htype, "state": "active", "synced": True,
                      "matched_on": ["userPrincipalName"], "source": None}],
         "keep": None, "reasons": [], "coverage": coverage}
    if coverage is None:
        f.pop("coverage")
    src = {"givenName": "Tomasz", "sn": "Kowalski", "displayName": "Tomasz Kowalski", "distinguishedName": dn,
           "enabled": True, "anchor": "NEWANCHOR==", "mS-DS-ConsistencyGuid": "NEWANCHOR=="}
    return f, {"columns": [{"role": "object", "attrs": o}, {"role": "holder", "attrs": h},
                           {"role": "source", "attrs": src}]}


def deleted(*, holder: dict[str, Any] | None = None,
            value: str = "grace@contoso.com") -> tuple[dict[str, Any], dict[str, Any]]:
    """deleted_holder: the only holder d-1 is in the recycle bin."""
    h = _user("d-1", f"d1x{value}", givenName="Grace", surname="Okafor", displayName="Grace Okafor",
              state="deleted", deletedDateTime="2026-11-01T00:00:00Z", mail=None, proxyAddresses=[f"smtp:{value}"])
    h.update(holder or {})
    f = {"id": "fdel", "scenario": "deleted_holder",
         "object": {"id": "u-grace", "type": "user", "display_name": "Grace Okafor",
                    "user_principal_name": "grace2451@contoso.onmicrosoft.com", "on_premises_immutable_id": "G=="},
         "conflict": {"category": "PropertyConflict", "property": "ProxyAddress", "value": f"smtp:{value}"},
         "source": None,
         "holders": [{"id": "d-1", "type": "user", "state": "deleted", "synced": False,
                      "matched_on": ["proxyAddresses"], "source": None}],
         "keep": None, "reasons": []}
    o = _user("u-grace", "grace2451@contoso.onmicrosoft.com", onPremisesSyncEnabled=True)
    return f, {"columns": [{"role": "object", "attrs": o}, {"role": "holder", "attrs": h}]}
