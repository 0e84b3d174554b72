"""In-memory directory writers for apply tests: enforce uniqueness like Entra, refuse synced writes."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from reconciler.core.errors import DirectoryError
from reconciler.fixes.steps import Executor, Step, StepKind


class FakeGraph:
    """Users/groups by id plus a recycle bin; UPN and immutable id unique across both, like Entra."""

    executor = Executor.GRAPH

    def __init__(self, users: list[dict[str, Any]], deleted: list[dict[str, Any]] = ()) -> None:
        self.active = {u["id"]: copy.deepcopy(u) for u in users}
        self.bin = {u["id"]: copy.deepcopy(u) for u in deleted}
        self.writes: list[tuple[str, str]] = []

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy({"active": self.active, "bin": self.bin})

    async def read(self, step: Step) -> dict[str, Any] | None:
        t = step.target or {}
        deleted = t.get("type") == "deleted"
        obj = (self.bin if deleted else self.active).get(t.get("id"))
        if obj is None:
            return None
        roles = {"@roles": list(obj.get("roles") or []), "@eligibleRoles": list(obj.get("eligible") or [])}
        return {**copy.deepcopy(obj), "deleted": deleted, **roles}

    def _unique(self, oid: str, attr: str, value: Any) -> None:
        if value is None:
            return
        for o in [*self.active.values(), *self.bin.values()]:
            if o["id"] != oid and str(o.get(attr) or "").casefold() == str(value).casefold():
                raise DirectoryError(f"Another object with the same value for property {attr} already exists.")

    async def write(self, step: Step, current: Mapping[str, Any] | None) -> None:
        oid = str((step.target or {}).get("id"))
        self.writes.append((step.kind.value, oid))
        if step.kind in (StepKind.SET_IMMUTABLE_ID, StepKind.SET_USER_PRINCIPAL_NAME):
            obj = self.active[oid]
            if obj.get("onPremisesSyncEnabled"):
                raise DirectoryError("Unable to update the specified properties for on-premises mastered objects")
            for k, v in step.change.items():
                self._unique(oid, k, v)
            obj.update(step.change)
        elif step.kind is StepKind.PURGE_DELETED:
            del self.bin[oid]
        elif step.kind is StepKind.RESTORE_DELETED:
            self.active[oid] = self.bin.pop(oid)
        elif step.kind is StepKind.DELETE_OBJECT:
            self.bin[oid] = self.active.pop(oid)
        else:
            raise DirectoryError(f"{step.kind.value} is not a Graph step")


class FakeLdap:
    executor = Executor.LDAP

    def __init__(self, entries: dict[str, dict[str, Any]]) -> None:
        self.entries = copy.deepcopy(entries)

    async def read(self, step: Step) -> dict[str, Any] | None:
        e = self.entries.get(str(step.dn))
        return None if e is None else copy.deepcopy(e)

    async def write(self, step: Step, current: Mapping[str, Any] | None) -> None:
        e = self.entries[str(step.dn)]
        for attr, spec in step.change.items():
            if isinstance(spec, Mapping):
                vals = e.setdefault(attr, [])
                for v in spec.get("remove") or ():
                    vals.remove(v)
                vals.extend(spec.get("add") or ())
            else:
                e[attr] = spec


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing in apply catches it."""


class KillAfter:
    """Wraps a writer; the process 'dies' at the (k+1)-th write, before or after sending it."""

    def __init__(self, inner: Any, k: int, *, before_write: bool = False) -> None:
        self.inner, self.k, self.n, self.before_write = inner, k, 0, before_write
        self.executor = inner.executor

    async def read(self, step: Step) -> dict[str, Any] | None:
        return await self.inner.read(step)

    async def write(self, step: Step, current: Mapping[str, Any] | None) -> None:
        self.n += 1
        if self.n > self.k and self.before_write:
            raise Killed()  # died between the journal's intent and the request
        await self.inner.write(step, current)
        if self.n > self.k:
            raise Killed()  # the request went through; died before the outcome was journaled
