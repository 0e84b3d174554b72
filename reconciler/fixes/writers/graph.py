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
from ...sources.graph_http import GraphHttp, GraphStatusError
from ..steps import Executor, Step, StepKind

__all__ = ["SELECT", "GraphWriter", "SyncedObjectRefused"]

SELECT = ("id,displayName,userPrincipalName,mail,proxyAddresses,onPremisesImmutableId,onPremisesSyncEnabled,"
          "userType,givenName,surname,accountEnabled")
_GROUP_SELECT = "id,displayName,mail,proxyAddresses,onPremisesSyncEnabled,mailEnabled,securityEnabled"
_COLLECTION = {"user": "users", "group": "groups"}


class SyncedObjectRefused(DirectoryError):
    """A Graph write on an object mastered on-premises: done on-prem or with ADSyncTools instead."""


def _seg(value: Any) -> str:
    text = str(value or "")
    if not text:
        raise DirectoryError("the step's target has no object id")
    return quote(text, safe="")


class GraphWriter:
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
        if ttype == "deleted":  # "object" names the deleted object's type (default user)
            path = f"/directory/deletedItems/{oid}"
            params = {"$select": (_GROUP_SELECT if t.get("object") == "group" else SELECT) + ",deletedDateTime"}
        elif ttype in _COLLECTION:
            path = f"/{_COLLECTION[ttype]}/{oid}"
            params = {"$select": SELECT if ttype == "user" else _GROUP_SELECT}
        else:
            raise DirectoryError(f"step {step.id}: Graph cannot read a target of type {ttype!r}")
        try:
            body = await self.http.get_json(path, params)
        except GraphStatusError as e:
            if e.status != 404:
                raise
            if ttype != "deleted":
                return None
            return await self._read_restored(t, oid)
        out = _shape(body, deleted=ttype == "deleted")
        if step.kind is StepKind.SET_CLOUD_MANAGED:  # beta: the source of authority lives on a sub-resource
            behavior = await self.http.get_json(self._sync_behavior(t, oid))
            out["isCloudManaged"] = bool((behavior or {}).get("isCloudManaged"))
        return out

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
            await self.http.post(f"/directory/deletedItems/{oid}/restore", {})
        elif k is StepKind.SET_CLOUD_MANAGED:
            await self.http.patch(self._sync_behavior(t, oid), {"isCloudManaged": bool(step.change.get("isCloudManaged"))})
        else:
            raise DirectoryError(f"step {step.id}: {k.value} is not something Graph can do")


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
