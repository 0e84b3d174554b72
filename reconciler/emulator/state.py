"""The live tenant behind the emulator: raw Graph dicts plus lookup indexes.

The tenant file stays the source of truth: objects are kept exactly as the file
holds them (Graph property names and shapes), so responses are Graph-shaped.
Each collection keeps insertion order (stable paging) and case-folded indexes on
``userPrincipalName``, ``mail`` and each ``proxyAddresses`` entry, plus the set
of objects carrying provisioning errors, so ``$filter`` lookups never scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ..core.errors import BadInput
from ..sources.tenantfile import TENANT_SCHEMA, load_json_document

__all__ = ["ACTIVE", "DELETED", "KIND_OF", "Collection", "TenantState"]

ACTIVE = ("users", "groups", "contacts")
DELETED = ("deletedUsers", "deletedGroups")
KIND_OF = {"users": "user", "groups": "group", "contacts": "orgContact",
           "deletedUsers": "user", "deletedGroups": "group"}
_INDEXED = ("userPrincipalName", "mail", "onPremisesImmutableId")


def _add(index: dict[str, Any], key: str, oid: str) -> None:
    cur = index.get(key)
    if cur is None:
        index[key] = oid
    elif isinstance(cur, list):
        if oid not in cur:
            cur.append(oid)
    elif cur != oid:
        index[key] = [cur, oid]


def _remove(index: dict[str, Any], key: str, oid: str) -> None:
    cur = index.get(key)
    if cur == oid:
        del index[key]
    elif isinstance(cur, list) and oid in cur:
        cur.remove(oid)
        if len(cur) == 1:
            index[key] = cur[0]


def _ids(index: dict[str, Any], key: str) -> list[str]:
    cur = index.get(key)
    if cur is None:
        return []
    return list(cur) if isinstance(cur, list) else [cur]


class Collection:
    """One Graph collection: ordered ids, raw dicts, indexes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = KIND_OF[name]
        self.order: list[str | None] = []
        self.pos: dict[str, int] = {}
        self.objs: dict[str, dict[str, Any]] = {}
        self.index: dict[str, dict[str, Any]] = {"userPrincipalName": {}, "mail": {}, "proxyAddresses": {},
                                                 "onPremisesImmutableId": {}}
        self.with_errors: set[str] = set()
        self.keys: set[str] = set()

    def __len__(self) -> int:
        return len(self.objs)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for oid in self.order:
            if oid is not None:
                yield self.objs[oid]

    def get(self, oid: str) -> dict[str, Any] | None:
        return self.objs.get(oid)

    def add(self, obj: dict[str, Any]) -> None:
        oid = str(obj["id"])
        if oid in self.objs:
            self.remove(oid)
        self.pos[oid] = len(self.order)
        self.order.append(oid)
        self.objs[oid] = obj
        self.keys.update(obj)
        self._index(obj, _add)

    def remove(self, oid: str) -> dict[str, Any]:
        obj = self.objs.pop(oid)
        self.order[self.pos.pop(oid)] = None
        self._index(obj, _remove)
        return obj

    def reindex(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        """Call after changing ``obj`` in place; ``old`` is a copy from before."""
        self._index(old, _remove)
        self._index(obj, _add)

    def _index(self, obj: dict[str, Any], op: Any) -> None:
        oid = str(obj["id"])
        for prop in _INDEXED:
            v = obj.get(prop)
            if isinstance(v, str) and v:
                op(self.index[prop], v.casefold(), oid)
        for p in obj.get("proxyAddresses") or ():
            if isinstance(p, str):
                op(self.index["proxyAddresses"], p.casefold(), oid)
        if obj.get("onPremisesProvisioningErrors"):
            if op is _add:
                self.with_errors.add(oid)
            else:
                self.with_errors.discard(oid)

    def lookup(self, prop: str, value: str) -> list[str]:
        """Ids whose ``prop`` equals ``value`` case-insensitively (indexed props only)."""
        return _ids(self.index[prop], value.casefold())

    def sort_ids(self, ids: Any) -> list[str]:
        return sorted((i for i in ids if i in self.pos), key=self.pos.__getitem__)


class TenantState:
    """Every collection of one tenant file, mutable through the emulator's writes."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.extra = {k: v for k, v in doc.items()
                      if k not in ACTIVE + DELETED and k != "schema"}
        self.organization: dict[str, Any] = dict(doc.get("organization") or {})
        self.sync: dict[str, Any] | None = doc.get("onPremisesSynchronization")
        self.collections = {name: Collection(name) for name in ACTIVE + DELETED}
        for name, coll in self.collections.items():
            for obj in doc.get(name) or ():
                if isinstance(obj, dict) and obj.get("id"):
                    coll.add(obj)
        self.roles: list[dict[str, Any]] = list(doc.get("directoryRoles") or [])
        self.role_assignments: list[dict[str, Any]] | None = doc.get("roleAssignments")
        self.role_eligibility: list[dict[str, Any]] | None = doc.get("roleEligibilitySchedules")
        self.version = 0

    @classmethod
    def load(cls, tenant: Path | str | dict[str, Any]) -> TenantState:
        if isinstance(tenant, dict):
            if tenant.get("schema") != TENANT_SCHEMA:
                raise BadInput("<tenant>", f"expected schema {TENANT_SCHEMA!r}", place="schema")
            return cls(tenant)
        return cls(load_json_document(tenant, TENANT_SCHEMA))

    @property
    def user_count(self) -> int:
        return len(self.collections["users"])

    def find(self, oid: str, names: tuple[str, ...] = ACTIVE) -> tuple[Collection, dict[str, Any]] | None:
        for name in names:
            coll = self.collections[name]
            obj = coll.get(oid)
            if obj is not None:
                return coll, obj
        return None

    def holders_of(self, prop: str, value: str, names: tuple[str, ...] = ACTIVE + DELETED) -> list[str]:
        out: list[str] = []
        for name in names:
            out.extend(self.collections[name].lookup(prop, value))
        return out

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema": TENANT_SCHEMA}
        doc.update(self.extra)
        doc["organization"] = self.organization
        for name, coll in self.collections.items():
            doc[name] = list(coll)
        doc["directoryRoles"] = self.roles
        for key, val in (("roleAssignments", self.role_assignments),
                         ("roleEligibilitySchedules", self.role_eligibility),
                         ("onPremisesSynchronization", self.sync)):
            if val is None:
                doc.pop(key, None)
            else:
                doc[key] = val
        return doc

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(orjson.dumps(self.to_document(), option=orjson.OPT_INDENT_2))
        tmp.replace(path)
