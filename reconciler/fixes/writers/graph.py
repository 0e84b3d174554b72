"""GraphWriter: the only code that writes to Microsoft Graph, over :class:`GraphHttp`.

It reads a step's target and executes its change; :class:`reconciler.fixes.apply.Gate`
does the expect check and the journal around it. What Graph allows (docs/plan-apply.md):
PATCH of a cloud-mastered user's UPN / immutable id, DELETE of users and groups,
and recycle-bin purge / restore. It never deletes or patches a synced object
(``onPremisesSyncEnabled`` true): that refusal happens here, before any request —
except the two documented paths: a synced user's UPN moved to the tenant's
onmicrosoft.com domain (the federated-domain-change detour), and an object whose
source of authority was moved to the cloud (beta ``onPremisesSyncBehavior``,
``set_cloud_managed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ...core.errors import DirectoryError
from ...sources.graph_http import BatchRequest, GraphHttp, GraphStatusError
from ..steps import Executor, Step, StepKind

__all__ = ["ELIGIBLE", "ROLES", "SELECT", "GraphWriter", "SyncedObjectRefused", "role_names"]

SELECT = ("id,displayName,userPrincipalName,mail,proxyAddresses,onPremisesImmutableId,onPremisesSyncEnabled,"
          "userType,givenName,surname,accountEnabled,onPremisesObjectIdentifier,creationType,externalUserState,"
          "employeeId,createdDateTime,assignedLicenses")
_GROUP_SELECT = ("id,displayName,mail,proxyAddresses,onPremisesSyncEnabled,mailEnabled,securityEnabled,"
                 "isAssignableToRole,createdDateTime")
_COLLECTION = {"user": "users", "group": "groups"}
#: Keys the re-read adds for the guards (never plan attributes: a step's keys cannot start with '@').
ROLES = "@roles"
ELIGIBLE = "@eligibleRoles"
_ROLE_FIELDS = "id,principalId,roleDefinitionId,directoryScopeId"
#: Well-known built-in role template ids, so a refusal names the role (others are shown by id).
_ROLE_NAMES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2": "Hybrid Identity Administrator",
}


def role_names(assignments: list[dict[str, Any]], via: str = "") -> list[str]:
    """'Global Administrator', 'Helpdesk Administrator (scope /administrativeUnits/…)', '… via group X'."""
    out = []
    for a in assignments:
        rid = str(a.get("roleDefinitionId") or "?")
        name = _ROLE_NAMES.get(rid, f"role {rid}")
        scope = str(a.get("directoryScopeId") or "/")
        out.append(name + (f" (scope {scope})" if scope != "/" else "") + (f" via group {via}" if via else ""))
    return out


class SyncedObjectRefused(DirectoryError):
    """A Graph write on an object mastered on-premises: done on-prem or with ADSyncTools instead."""


def _seg(value: Any) -> str:
    text = str(value or "")
    if not text:
        raise DirectoryError("the step's target has no object id")
    return quote(text, safe="")


def _membership_requests(collection: str, seg: str) -> list[BatchRequest]:
    """The object's transitive memberships, cast per type (Graph's documented OData cast on transitiveMemberOf):
    groups with ``isAssignableToRole`` and directory roles with ``roleTemplateId``."""
    base = f"/{collection}/{seg}/transitiveMemberOf"
    return [BatchRequest("groups", f"{base}/microsoft.graph.group?$select=id,displayName,isAssignableToRole"),
            BatchRequest("roles", f"{base}/microsoft.graph.directoryRole?$select=id,displayName,roleTemplateId")]


def _odata(value: str) -> str:
    return value.replace("'", "''")


class GraphWriter:
    """Reads a target with everything the guards need in ONE ``$batch`` and executes a step's change.

    The read (``read``) returns the object plus ``@roles`` and ``@eligibleRoles``: active and PIM-eligible
    directory roles, direct, through a role-assignable group (``transitiveMemberOf``), scoped to an
    administrative unit or custom; ``None`` for either means Graph would not say (the guards refuse).
    """

    executor = Executor.GRAPH

    def __init__(self, http: GraphHttp) -> None:
        self.http = http

    async def tenant_id(self) -> str | None:
        body = await self.http.get_json("/organization", {"$select": "id"})
        values = body.get("value") if isinstance(body, dict) else None
        return str(values[0]["id"]) if values else None

    async def read(self, step: Step) -> dict[str, Any] | None:
        t = step.target or {}
        ttype, oid = str(t.get("type")), _seg(t.get("id"))
        raw_id = str(t.get("id"))
        if ttype == "deleted":  # "object" names the deleted object's type (default user)
            obj_url = (f"/directory/deletedItems/{oid}?$select="
                       f"{(_GROUP_SELECT if t.get('object') == 'group' else SELECT)},deletedDateTime")
        elif ttype in _COLLECTION:
            obj_url = f"/{_COLLECTION[ttype]}/{oid}?$select={SELECT if ttype == 'user' else _GROUP_SELECT}"
        else:
            raise DirectoryError(f"step {step.id}: Graph cannot read a target of type {ttype!r}")
        flt = quote(f"principalId eq '{_odata(raw_id)}'", safe="")
        reqs = [BatchRequest("obj", obj_url),
                BatchRequest("assigned", f"/roleManagement/directory/roleAssignments?$filter={flt}"
                                         f"&$select={_ROLE_FIELDS}"),
                BatchRequest("eligible", f"/roleManagement/directory/roleEligibilitySchedules?$filter={flt}"
                                         f"&$select={_ROLE_FIELDS}")]
        if ttype in _COLLECTION:
            reqs += _membership_requests(_COLLECTION[ttype], oid)
        got = dict(zip([r.id for r in reqs], await self.http.batch(reqs, raise_errors=False)))
        by_id = {r.id: r for r in reqs}
        obj = got["obj"]
        if obj.status == 404:
            if ttype != "deleted":
                return None
            body = await self._read_restored(t, oid)
            if body is None:
                return None
            return {**body, **await self._roles(raw_id, ttype=str(t.get("object") or "user"))}
        if not 200 <= obj.status < 300:
            raise self.http.error_for_item(by_id["obj"], obj)
        out = _shape(obj.body, deleted=ttype == "deleted")
        out.update(await self._roles_from(raw_id, got, by_id))
        if step.kind is StepKind.SET_CLOUD_MANAGED:  # beta: the source of authority lives on a sub-resource
            behavior = await self.http.get_json(self._sync_behavior(t, oid))
            out["isCloudManaged"] = bool((behavior or {}).get("isCloudManaged"))
        return out

    async def _roles(self, oid: str, *, ttype: str) -> dict[str, Any]:
        """The guard keys for an object read outside the first batch (a restored recycle-bin target)."""
        flt = quote(f"principalId eq '{_odata(oid)}'", safe="")
        seg = quote(oid, safe="")
        reqs = [BatchRequest("assigned", f"/roleManagement/directory/roleAssignments?$filter={flt}"
                                         f"&$select={_ROLE_FIELDS}"),
                BatchRequest("eligible", f"/roleManagement/directory/roleEligibilitySchedules?$filter={flt}"
                                         f"&$select={_ROLE_FIELDS}"),
                *_membership_requests(_COLLECTION.get(ttype, "users"), seg)]
        got = dict(zip([r.id for r in reqs], await self.http.batch(reqs, raise_errors=False)))
        return await self._roles_from(oid, got, {r.id: r for r in reqs})

    async def _roles_from(self, oid: str, got: Mapping[str, Any], reqs: Mapping[str, BatchRequest]) -> dict[str, Any]:
        """Active and eligible roles of ``oid`` from the batch answers, plus those of its role-assignable groups."""
        assigned = await self._list(reqs["assigned"], got["assigned"], required=True)
        eligible = await self._list(reqs["eligible"], got["eligible"], required=False)
        roles: list[str] = role_names(assigned or [])
        elig: list[str] | None = None if eligible is None else role_names(eligible)
        if "groups" in got:
            for r in await self._list(reqs["roles"], got["roles"], required=True) or []:
                tid = str(r.get("roleTemplateId") or "")
                roles.append(_ROLE_NAMES.get(tid, str(r.get("displayName") or f"role {tid}")))
            groups = [g for g in await self._list(reqs["groups"], got["groups"], required=True) or []
                      if g.get("isAssignableToRole") is not False]  # role-assignable, or not said: ask
            for g in groups:
                g_roles, g_elig = await self._group_roles(str(g.get("id")))
                name = str(g.get("displayName") or g.get("id"))
                roles += [f"{r} via group {name}" for r in g_roles]
                if elig is not None:
                    elig = None if g_elig is None else elig + [f"{r} via group {name}" for r in g_elig]
        return {ROLES: sorted(set(roles)), ELIGIBLE: None if elig is None else sorted(set(elig))}

    async def _group_roles(self, gid: str) -> tuple[list[str], list[str] | None]:
        flt = quote(f"principalId eq '{_odata(gid)}'", safe="")
        reqs = [BatchRequest("assigned", f"/roleManagement/directory/roleAssignments?$filter={flt}"
                                         f"&$select={_ROLE_FIELDS}"),
                BatchRequest("eligible", f"/roleManagement/directory/roleEligibilitySchedules?$filter={flt}"
                                         f"&$select={_ROLE_FIELDS}")]
        a, e = await self.http.batch(reqs, raise_errors=False)
        assigned = await self._list(reqs[0], a, required=True) or []
        eligible = await self._list(reqs[1], e, required=False)
        return role_names(assigned), None if eligible is None else role_names(eligible)

    async def _list(self, req: BatchRequest, resp: Any, *, required: bool) -> list[dict[str, Any]] | None:
        """All items of a list answer (following nextLink); a refusal is fatal when required, else None."""
        if not 200 <= resp.status < 300:
            if required or resp.status in (401, 429) or resp.status >= 500:
                raise self.http.error_for_item(req, resp)
            if _no_pim_licence(resp.body):
                return []  # no Entra ID P2 / Governance licence: PIM does not exist here, nobody can be eligible
            return None  # not permitted: unknown (the guards refuse)
        body = resp.body if isinstance(resp.body, dict) else {}
        items = [i for i in body.get("value") or () if isinstance(i, dict)]
        if body.get("@odata.nextLink"):
            async for page in self.http.paginate(body["@odata.nextLink"]):
                items += [i for i in page if isinstance(i, dict)]
        return items

    def _sync_behavior(self, target: Mapping[str, Any], oid: str) -> str:
        """``{graph}/beta/{users|groups}/{id}/onPremisesSyncBehavior`` (a beta API: there is no v1.0 one)."""
        root = self.http.base_url.rsplit("/", 1)[0]
        return f"{root}/beta/{_COLLECTION.get(str(target.get('type')), 'users')}/{oid}/onPremisesSyncBehavior"

    async def _read_restored(self, target: Mapping[str, Any], oid: str) -> dict[str, Any] | None:
        """A recycle-bin target that is gone from the bin: restored (active again) or purged (None).

        Resuming a killed restore must see the restore, and a purge must not mistake a restored object
        for a purged one.
        """
        group = target.get("object") == "group"
        try:
            body = await self.http.get_json(f"/{'groups' if group else 'users'}/{oid}",
                                            {"$select": _GROUP_SELECT if group else SELECT})
        except GraphStatusError as e:
            if e.status == 404:
                return None
            raise
        return _shape(body, deleted=False)

    async def write(self, step: Step, current: Mapping[str, Any] | None) -> None:
        t = step.target or {}
        oid = _seg(t.get("id"))
        if current is not None and current.get("onPremisesSyncEnabled") is True and step.kind in (
                StepKind.DELETE_OBJECT, StepKind.SET_IMMUTABLE_ID, StepKind.SET_USER_PRINCIPAL_NAME) \
                and not current.get("isCloudManaged") and not _initial_domain_detour(step, current):
            raise SyncedObjectRefused(f"step {step.id}: {t.get('id')} is synced from on-premises; Graph must not "
                                      "change or delete it (use ADSyncTools or the on-prem directory)")
        k = step.kind
        if k in (StepKind.SET_IMMUTABLE_ID, StepKind.SET_USER_PRINCIPAL_NAME):
            await self.http.patch(f"/users/{oid}", dict(step.change))
        elif k is StepKind.DELETE_OBJECT:
            await self.http.delete(f"/{_COLLECTION.get(str(t.get('type')), 'users')}/{oid}")
        elif k is StepKind.PURGE_DELETED:
            await self.http.delete(f"/directory/deletedItems/{oid}")
        elif k is StepKind.RESTORE_DELETED:
            await self.http.post(f"/directory/deletedItems/{oid}/restore", restore_body(step))
        elif k is StepKind.SET_CLOUD_MANAGED:
            await self.http.patch(self._sync_behavior(t, oid), {"isCloudManaged": bool(step.change.get("isCloudManaged"))})
        else:
            raise DirectoryError(f"step {step.id}: {k.value} is not something Graph can do")


def _no_pim_licence(body: Any) -> bool:
    """Graph's answer for a tenant without the licence PIM needs (then there is no eligibility at all)."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return False
    text = f"{err.get('code') or ''} {err.get('message') or ''}".casefold()
    return "aadpremiumlicenserequired" in text or "premium license" in text or "p2 license" in text


def restore_body(step: Step) -> dict[str, Any]:
    """What Graph needs to restore: a user whose proxy address another object now holds is refused unless
    ``autoReconcileProxyConflict`` is sent (Graph then drops the conflicting address from the restored user),
    so a user restore always sends it; ``newUserPrincipalName`` when the plan gives one."""
    t = step.target or {}
    body: dict[str, Any] = {}
    if t.get("object", "user") == "user":
        body["autoReconcileProxyConflict"] = bool(step.change.get("autoReconcileProxyConflict", True))
        if step.change.get("newUserPrincipalName"):
            body["newUserPrincipalName"] = step.change["newUserPrincipalName"]
    return body
_INITIAL_SUFFIXES = (".onmicrosoft.com", ".onmicrosoft.us", ".onmschina.cn")


def _initial_domain_detour(step: Step, current: Mapping[str, Any]) -> bool:
    """A synced user's UPN moved into the tenant's initial (onmicrosoft) domain — the documented fix for a
    FederatedDomainChangeError, which Graph allows on a synced user (the next sync sets the new UPN) — or
    back out of it (the undo of that step)."""
    upn = step.change.get("userPrincipalName") if step.kind is StepKind.SET_USER_PRINCIPAL_NAME else None
    if not isinstance(upn, str) or set(step.change) != {"userPrincipalName"}:
        return False
    now = str(current.get("userPrincipalName") or "")
    if upn.rpartition("@")[0].casefold() != now.rpartition("@")[0].casefold():
        return False  # the detour keeps the name before the @; anything else is a rename Graph must not do here
    return any(v.rpartition("@")[2].casefold().endswith(_INITIAL_SUFFIXES) for v in (upn, now))


def _shape(body: Any, *, deleted: bool) -> dict[str, Any]:
    out = {k: v for k, v in (body or {}).items() if not k.startswith("@odata.context")}
    out["deleted"] = deleted
    otype = str(out.get("@odata.type") or "")
    if otype:
        out["type"] = "group" if otype.endswith(".group") else "user"
    return out
