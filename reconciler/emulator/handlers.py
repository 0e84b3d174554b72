"""Endpoint handlers: one function per Graph route, reading and writing ``TenantState``."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .auditlogs import provisioning_logs
from .listing import Req, Resp, View
from .shapes import GraphError, bad_request, denied, not_found, project
from .state import ACTIVE, Collection
from .sync_authority import get_sync_behavior, initial_domain_detour, patch_sync_behavior

if TYPE_CHECKING:
    from .app import Emulator

__all__ = ["ROUTES", "route"]

Handler = Callable[["Emulator", Req, "re.Match[str]"], Resp]
_ID = r"(?P<id>[^/]+)"


def _list(coll_name: str, type_name: str, perm: str) -> Handler:
    def handler(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
        em.require(req, perm)
        coll = em.state.collections[coll_name]
        return em.lister.list(req, View(coll_name, type_name, coll=coll, key=coll_name))
    return handler


def _deleted_list(coll_name: str, type_name: str, perm: str) -> Handler:
    def handler(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
        em.require(req, perm)
        coll = em.state.collections[coll_name]
        view = View(f"directoryObjects/microsoft.graph.{type_name}", type_name, coll=coll, key=coll_name)
        return em.lister.list(req, view)
    return handler


def _entity(req: Req, em: Emulator, obj: dict[str, Any], ctx: str, type_name: str, seen: set[str],
            cast: bool = False) -> Resp:
    from .listing import parse_select

    select = parse_select(req.query.get("$select"), type_name, seen)
    body = {"@odata.context": f"{req.base}/$metadata#{ctx}{'(' + ','.join(select) + ')' if select else ''}/$entity"}
    body.update(project(obj, type_name, select, cast))
    return Resp(200, body, objects=1)


def _get(coll_name: str, type_name: str, perm: str) -> Handler:
    def handler(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
        em.require(req, perm)
        coll = em.state.collections[coll_name]
        oid = m["id"]
        obj = coll.get(oid)
        if obj is None and coll_name == "users":
            ids = coll.lookup("userPrincipalName", oid)
            obj = coll.get(ids[0]) if ids else None
        if obj is None:
            raise not_found(oid)
        return _entity(req, em, obj, coll_name, type_name, coll.keys)
    return handler


def _deleted_item(em: Emulator, oid: str) -> tuple[Collection, dict[str, Any], str]:
    found = em.state.find(oid, ("deletedUsers", "deletedGroups"))
    if found is None:
        raise not_found(oid)
    coll, obj = found
    return coll, obj, coll.kind


def get_deleted(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    coll, obj, kind = _deleted_item(em, m["id"])
    em.require(req, f"{kind}.read")
    return _entity(req, em, obj, "directoryObjects", kind, coll.keys, cast=True)


def _member_objects(em: Emulator, ids: list[str]) -> list[dict[str, Any]]:
    out = []
    for mid in ids:
        found = em.state.find(str(mid), ("users", "groups"))
        if found is not None:
            coll, obj = found
            out.append({**obj, "@odata.type": f"#microsoft.graph.{coll.kind}"})
    return out


def _members_view(em: Emulator, key: str, ids: list[str]) -> View:
    return View("directoryObjects", "directoryObject", items=lambda: _member_objects(em, ids), key=key)


def role_members(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    em.require(req, "role.read")
    role = next((r for r in em.state.roles if r.get("id") == m["id"] or r.get("roleTemplateId") == m["id"]), None)
    if role is None:
        raise not_found(m["id"])
    return _list_members(em, req, f"roles/{role['id']}", list(role.get("members") or []))


def group_members(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    em.require(req, "member.read")
    group = em.state.collections["groups"].get(m["id"])
    if group is None:
        raise not_found(m["id"])
    return _list_members(em, req, f"groups/{group['id']}", list(group.get("members") or []))


def _list_members(em: Emulator, req: Req, key: str, ids: list[str]) -> Resp:
    resp = em.lister.list(req, _members_view(em, key, ids))
    if resp.body:  # members are typed directoryObjects shaped as their own type
        resp.body["value"] = [_member_shape(em, v, req) for v in resp.body["value"]]
    return resp


def _member_shape(em: Emulator, item: dict[str, Any], req: Req) -> dict[str, Any]:
    found = em.state.find(str(item.get("id")), ("users", "groups"))
    if found is None:
        return item
    coll, obj = found
    select = [p.strip() for p in req.query["$select"].split(",")] if "$select" in req.query else None
    return project(obj, coll.kind, select, cast=True)


def _containers(em: Emulator, oid: str) -> list[dict[str, Any]]:
    """Groups holding ``oid`` directly or through nested groups, then directory roles of it or of those groups."""
    groups: list[dict[str, Any]] = []
    seen: set[str] = set()
    frontier = {oid}
    while frontier:
        nxt: set[str] = set()
        for g in em.state.collections["groups"]:
            if g["id"] not in seen and frontier & set(g.get("members") or ()):
                seen.add(g["id"])
                groups.append({**g, "@odata.type": "#microsoft.graph.group"})
                nxt.add(g["id"])
        frontier = nxt
    holders = {oid} | seen
    roles = [{**r, "@odata.type": "#microsoft.graph.directoryRole"} for r in em.state.roles
             if holders & set(r.get("members") or ())]
    return groups + roles


def transitive_member_of(kind: str, cast: str | None = None) -> Handler:
    """``/users/{id}/transitiveMemberOf`` (and groups): groups and directory roles, direct or nested; with an
    OData cast (``/microsoft.graph.group``, ``/microsoft.graph.directoryRole``) only that type."""
    def handler(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
        em.require(req, f"{kind}.read")
        if em.state.collections[kind + "s"].get(m["id"]) is None:
            raise not_found(m["id"])
        items = [i for i in _containers(em, m["id"]) if cast is None or i["@odata.type"] == f"#microsoft.graph.{cast}"]
        plain = Req(req.method, req.path, {k: v for k, v in req.query.items() if k != "$select"}, req.headers,
                    req.body, req.base, req.token)  # $select applies per type below (groups and roles differ)
        resp = em.lister.list(plain, View("directoryObjects", "directoryObject", items=lambda: items,
                                        key=f"tmo/{cast}/{m['id']}"))
        if resp.body:
            select = [p.strip() for p in req.query["$select"].split(",")] if "$select" in req.query else None
            by_id = {i["id"]: i for i in items}
            resp.body["value"] = [_typed(by_id.get(v.get("id"), v), select) for v in resp.body["value"]]
        return resp
    return handler


def _typed(obj: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    kind = str(obj.get("@odata.type", "")).rpartition(".")[2] or "directoryObject"
    known = {p for p in (select or ()) if p in obj or p in ("isAssignableToRole", "roleTemplateId", "displayName")}
    out = project({k: v for k, v in obj.items() if k != "@odata.type"}, kind,
                  sorted(known | {"id"}) if select else None, cast=True)
    out.pop("members", None)
    return out


def directory_roles(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    em.require(req, "role.read")
    return em.lister.list(req, View("directoryRoles", "directoryRole", items=lambda: em.state.roles,
                                    key="directoryRoles"))


def _optional_list(attr: str, ctx: str, type_name: str, perm: str) -> Handler:
    def handler(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
        em.require(req, perm)
        items = getattr(em.state, attr)
        if items is None:  # absent from the tenant file: "not readable with the permissions used"
            raise denied()
        return em.lister.list(req, View(ctx, type_name, items=lambda: items, key=ctx))
    return handler


def organization(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    em.require(req, "org.read")
    org = em.state.organization
    return Resp(200, {"@odata.context": f"{req.base}/$metadata#organization", "value": [org]}, objects=1)


def on_prem_sync(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    em.require(req, "sync.read")
    sync = em.state.sync
    if sync is None:
        raise denied()
    item = {"id": sync.get("id") or em.state.organization.get("id"), **{k: v for k, v in sync.items() if k != "id"}}
    item.setdefault("configuration", None)
    return Resp(200, {"@odata.context": f"{req.base}/$metadata#directory/onPremisesSynchronization",
                      "value": [item]}, objects=1)


# ---------------------------------------------------------------- writes

_READ_ONLY = {"id", "proxyAddresses", "onPremisesSyncEnabled", "onPremisesProvisioningErrors", "createdDateTime",
              "deletedDateTime", "onPremisesDistinguishedName", "onPremisesSecurityIdentifier",
              "onPremisesSamAccountName", "onPremisesDomainName", "onPremisesLastSyncDateTime",
              "onPremisesUserPrincipalName", "serviceProvisioningErrors"}
_SYNCED_MSG = ("Unable to update the specified properties for on-premises mastered Directory Sync objects or "
               "objects currently undergoing migration.")
_IMMUTABLE_BAD = re.compile(r"[$_\s]")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def patch_user(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    em.require(req, "user.update")
    users = em.state.collections["users"]
    obj = users.get(m["id"])
    if obj is None:
        raise not_found(m["id"])
    body = req.body
    if not isinstance(body, dict) or not body:
        raise bad_request("Empty Payload. JSON content expected.", "BadRequest")
    for key in body:
        if key in _READ_ONLY:
            raise bad_request(f"Property '{key}' is read-only and cannot be set.")
    if obj.get("onPremisesSyncEnabled") is True and not initial_domain_detour(em, body, obj):
        raise bad_request(_SYNCED_MSG)
    _check_upn(em, obj, body)
    _check_immutable(em, obj, body)
    old = dict(obj)
    obj.update(body)
    users.reindex(obj, old)
    em.state.version += 1
    return Resp(204)


def _check_upn(em: Emulator, obj: dict[str, Any], body: dict[str, Any]) -> None:
    if "userPrincipalName" not in body:
        return
    upn = body["userPrincipalName"]
    if not isinstance(upn, str) or upn.count("@") != 1:
        raise bad_request("Invalid value specified for property 'userPrincipalName' of resource 'User'.")
    domain = upn.split("@")[1].casefold()
    verified = {str(d.get("name", "")).casefold() for d in em.state.organization.get("verifiedDomains") or ()}
    if verified and domain not in verified:
        raise bad_request("The domain portion of the userPrincipalName property is invalid. You must use one of "
                          "the verified domain names in your organization.")
    others = [i for i in em.state.holders_of("userPrincipalName", upn) if i != obj["id"]]
    others += [i for name in ACTIVE for i in em.state.collections[name].lookup("proxyAddresses", "smtp:" + upn)
               if i != obj["id"]]
    if others:
        raise bad_request("Another object with the same value for property userPrincipalName already exists.")


def _check_immutable(em: Emulator, obj: dict[str, Any], body: dict[str, Any]) -> None:
    if "onPremisesImmutableId" not in body or body["onPremisesImmutableId"] is None:
        return
    value = body["onPremisesImmutableId"]
    if not isinstance(value, str) or not value or _IMMUTABLE_BAD.search(value) or len(value) >= 60:
        raise bad_request("Invalid value specified for property 'onPremisesImmutableId' of resource 'User'.")
    for name in ("users", "deletedUsers"):
        for other in em.state.collections[name]:
            if other.get("onPremisesImmutableId") == value and other["id"] != obj["id"]:
                raise bad_request("Another object with the same value for property onPremisesImmutableId "
                                  "already exists.")


def _delete(coll_name: str, deleted_name: str | None, perm: str) -> Handler:
    def handler(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
        if deleted_name is None:
            raise bad_request("Data contract version does not allow 'Delete' operations against instances of "
                              "resource 'OrgContact'.")
        em.require(req, perm)
        coll = em.state.collections[coll_name]
        obj = coll.get(m["id"])
        if obj is None:
            raise not_found(m["id"])
        if obj.get("onPremisesSyncEnabled") is True:
            raise bad_request("Unable to delete the specified object because it is synchronized from "
                              "on-premises (Directory Sync mastered).")
        coll.remove(m["id"])
        obj["deletedDateTime"] = _now()
        em.state.collections[deleted_name].add(obj)
        em.state.version += 1
        return Resp(204)
    return handler


def purge_deleted(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    coll, _, kind = _deleted_item(em, m["id"])
    em.require(req, f"{kind}.purge")
    coll.remove(m["id"])
    em.state.version += 1
    return Resp(204)


def restore_deleted(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    coll, obj, kind = _deleted_item(em, m["id"])
    em.require(req, f"{kind}.restore")
    body = req.body if isinstance(req.body, dict) else {}
    restored = dict(obj)
    restored.pop("deletedDateTime", None)
    if kind == "user":
        _restore_user_values(em, restored, body)
    coll.remove(m["id"])
    em.state.collections["users" if kind == "user" else "groups"].add(restored)
    em.state.version += 1
    out = {"@odata.context": f"{req.base}/$metadata#directoryObjects/$entity"}
    out.update(project(restored, kind, None, cast=True))
    return Resp(200, out, objects=1)


def _restore_user_values(em: Emulator, user: dict[str, Any], body: dict[str, Any]) -> None:
    prefix = str(user["id"]).replace("-", "")
    if str(user.get("userPrincipalName") or "").startswith(prefix):  # Graph's deleted-user UPN mangling
        user["userPrincipalName"] = str(user["userPrincipalName"])[len(prefix):]
    new_upn = body.get("newUserPrincipalName")
    if new_upn:
        _check_upn(em, user, {"userPrincipalName": new_upn})
        user["userPrincipalName"] = new_upn
    elif [i for i in em.state.holders_of("userPrincipalName", str(user.get("userPrincipalName") or ""), ACTIVE)
          if i != user["id"]]:
        raise bad_request("Another object with the same value for property userPrincipalName already exists. "
                          "Supply newUserPrincipalName to restore.")
    clashing = [p for p in user.get("proxyAddresses") or ()
                if any(i != user["id"] for name in ACTIVE
                       for i in em.state.collections[name].lookup("proxyAddresses", p))]
    if clashing and not body.get("autoReconcileProxyConflict"):
        raise bad_request("Another object with the same value for property proxyAddresses already exists. "
                          "Set autoReconcileProxyConflict to restore.")
    user["proxyAddresses"] = [p for p in user.get("proxyAddresses") or () if p not in clashing]


def _not_allowed(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    raise GraphError(405, "Request_BadRequest", f"The requested operation '{req.method}' is not allowed on "
                     f"this resource.")


ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    ("GET", re.compile(r"users"), "users", _list("users", "user", "user.read")),
    ("GET", re.compile(rf"users/{_ID}"), "users/{id}", _get("users", "user", "user.read")),
    ("PATCH", re.compile(rf"users/{_ID}"), "users/{id}", patch_user),
    ("DELETE", re.compile(rf"users/{_ID}"), "users/{id}", _delete("users", "deletedUsers", "user.delete")),
    ("GET", re.compile(r"groups"), "groups", _list("groups", "group", "group.read")),
    ("GET", re.compile(rf"groups/{_ID}"), "groups/{id}", _get("groups", "group", "group.read")),
    ("DELETE", re.compile(rf"groups/{_ID}"), "groups/{id}", _delete("groups", "deletedGroups", "group.delete")),
    ("GET", re.compile(rf"groups/{_ID}/members"), "groups/{id}/members", group_members),
    *[("GET", re.compile(rf"{kind}s/{_ID}/transitiveMemberOf" + (rf"/microsoft\.graph\.{cast}" if cast else "")),
       f"{kind}s/{{id}}/transitiveMemberOf" + (f"/microsoft.graph.{cast}" if cast else ""),
       transitive_member_of(kind, cast))
      for kind in ("user", "group") for cast in (None, "group", "directoryRole")],
    ("GET", re.compile(r"contacts"), "contacts", _list("contacts", "orgContact", "contact.read")),
    ("GET", re.compile(rf"contacts/{_ID}"), "contacts/{id}", _get("contacts", "orgContact", "contact.read")),
    ("DELETE", re.compile(rf"contacts/{_ID}"), "contacts/{id}", _delete("contacts", None, "contact.read")),
    ("GET", re.compile(r"directory/deletedItems/microsoft\.graph\.user"), "directory/deletedItems/microsoft.graph.user",
     _deleted_list("deletedUsers", "user", "user.read")),
    ("GET", re.compile(r"directory/deletedItems/microsoft\.graph\.group"),
     "directory/deletedItems/microsoft.graph.group", _deleted_list("deletedGroups", "group", "group.read")),
    ("GET", re.compile(rf"directory/deletedItems/{_ID}"), "directory/deletedItems/{id}", get_deleted),
    ("DELETE", re.compile(rf"directory/deletedItems/{_ID}"), "directory/deletedItems/{id}", purge_deleted),
    ("POST", re.compile(rf"directory/deletedItems/{_ID}/restore"), "directory/deletedItems/{id}/restore",
     restore_deleted),
    ("GET", re.compile(r"directoryRoles"), "directoryRoles", directory_roles),
    ("GET", re.compile(rf"directoryRoles/{_ID}/members"), "directoryRoles/{id}/members", role_members),
    ("GET", re.compile(r"roleManagement/directory/roleAssignments"), "roleManagement/directory/roleAssignments",
     _optional_list("role_assignments", "roleManagement/directory/roleAssignments", "unifiedRoleAssignment",
                    "role.read")),
    ("GET", re.compile(r"roleManagement/directory/roleEligibilitySchedules"),
     "roleManagement/directory/roleEligibilitySchedules",
     _optional_list("role_eligibility", "roleManagement/directory/roleEligibilitySchedules",
                    "unifiedRoleEligibilitySchedule", "eligibility.read")),
    ("GET", re.compile(r"auditLogs/provisioning"), "auditLogs/provisioning", provisioning_logs),
    ("GET", re.compile(rf"beta/(?P<coll>users|groups)/{_ID}/onPremisesSyncBehavior"),
     "beta/{coll}/{id}/onPremisesSyncBehavior", get_sync_behavior),
    ("PATCH", re.compile(rf"beta/(?P<coll>users|groups)/{_ID}/onPremisesSyncBehavior"),
     "beta/{coll}/{id}/onPremisesSyncBehavior", patch_sync_behavior),
    ("GET", re.compile(r"organization"), "organization", organization),
    ("GET", re.compile(r"directory/onPremisesSynchronization"), "directory/onPremisesSynchronization", on_prem_sync),
]


def route(method: str, path: str) -> tuple[str, Handler, re.Match[str]]:
    """The endpoint template, handler and match for a request; GraphError 404/405 when none."""
    path = path.strip("/")
    matched_path = False
    for meth, pattern, template, handler in ROUTES:
        m = pattern.fullmatch(path)
        if m is None:
            continue
        matched_path = True
        if meth == method:
            return template, handler, m
    if matched_path:
        return "(not allowed)", _not_allowed, re.match("", "")  # type: ignore[return-value]
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path.split('/')[0]}'.")
