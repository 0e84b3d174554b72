"""The two things Graph lets a tool change on an object synced from on-premises, as the emulator models them.

* The federated-domain-change detour (v1.0): a synced user's ``userPrincipalName`` may be set to an address in
  the tenant's initial (``*.onmicrosoft.com``) domain — Microsoft's documented fix for FederatedDomainChangeError
  (``Update-MgUser -UserPrincipalName``) — and back out of it (the undo); every other property of a synced
  object stays read-only.
* The source of authority (beta only): ``GET``/``PATCH /beta/{users|groups}/{id}/onPremisesSyncBehavior``
  with ``{"isCloudManaged": true}`` moves the object to the cloud: on-prem updates are blocked and Graph may
  change or delete it. The emulator then shows ``onPremisesSyncEnabled`` null (how Graph shows a converted object
  is not documented); ``false`` gives the object back to on-prem sync. Permissions:
  ``User-OnPremisesSyncBehavior.ReadWrite.All`` / ``Group-OnPremisesSyncBehavior.ReadWrite.All`` to write,
  the read permission of the collection to read. The same path under ``/v1.0`` is 400, as in Graph.
"""

from __future__ import annotations

import re
from typing import Any

from .listing import Resp
from .shapes import GraphError, bad_request, denied, not_found

__all__ = ["PERMISSIONS", "get_sync_behavior", "initial_domain_detour", "patch_sync_behavior"]

#: emulator permission keys -> the application permissions that grant them
PERMISSIONS: dict[str, set[str]] = {
    "user.soa": {"User-OnPremisesSyncBehavior.ReadWrite.All"},
    "group.soa": {"Group-OnPremisesSyncBehavior.ReadWrite.All"},
}
_KIND = {"users": "user", "groups": "group"}


def initial_domain_detour(em: Any, body: Any, obj: dict[str, Any] | None = None) -> bool:
    """True when a PATCH on a synced user only moves its UPN into the tenant's initial domain, or back out of
    it (``obj``: the user as it is now)."""
    if not isinstance(body, dict) or set(body) != {"userPrincipalName"} or not isinstance(body["userPrincipalName"], str):
        return False
    initial = {str(d.get("name", "")).casefold() for d in em.state.organization.get("verifiedDomains") or ()
               if d.get("isInitial")}
    upns = (body["userPrincipalName"], str((obj or {}).get("userPrincipalName") or ""))
    return any(u.rpartition("@")[2].casefold() in initial for u in upns)


def _object(em: Any, req: Any, m: re.Match[str], perm: str) -> tuple[str, dict[str, Any]]:
    if not str(req.base).endswith("/beta"):
        raise bad_request("Resource not found for the segment 'onPremisesSyncBehavior'.", "BadRequest")
    coll = m["coll"]
    key = perm.format(kind=_KIND[coll])
    if key in PERMISSIONS:
        held = em.config.permissions.get(req.token or "", set()) if em.config.permissions is not None else None
        if held is not None and not held & PERMISSIONS[key]:
            raise denied()
    else:
        em.require(req, key)
    obj = em.state.collections[coll].get(m["id"])
    if obj is None:
        raise not_found(m["id"])
    return coll, obj


def _shape(obj: dict[str, Any], base: str, coll: str) -> dict[str, Any]:
    return {"@odata.context": f"{base}/$metadata#{coll}('{obj['id']}')/onPremisesSyncBehavior/$entity",
            "id": obj["id"], "isCloudManaged": bool((obj.get("onPremisesSyncBehavior") or {}).get("isCloudManaged"))}


def get_sync_behavior(em: Any, req: Any, m: re.Match[str]) -> Resp:
    coll, obj = _object(em, req, m, "{kind}.read")
    return Resp(200, _shape(obj, str(req.base), coll), objects=1)


def patch_sync_behavior(em: Any, req: Any, m: re.Match[str]) -> Resp:
    coll, obj = _object(em, req, m, "{kind}.soa")
    body = req.body
    if not isinstance(body, dict) or set(body) != {"isCloudManaged"} or not isinstance(body["isCloudManaged"], bool):
        raise GraphError(400, "BadRequest", "Invalid request body: only isCloudManaged (Boolean) can be set.")
    if body["isCloudManaged"]:
        obj["onPremisesSyncBehavior"] = {"isCloudManaged": True}
        obj["onPremisesSyncEnabled"] = None
    else:
        obj["onPremisesSyncBehavior"] = {"isCloudManaged": False}
        obj["onPremisesSyncEnabled"] = True if obj.get("onPremisesImmutableId") or coll == "groups" else None
    em.state.version += 1
    return Resp(204)
