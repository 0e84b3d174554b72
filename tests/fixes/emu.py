"""Emulator wiring for apply tests: an in-process Graph over httpx.ASGITransport, plus plan helpers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from reconciler.emulator import EmulatorConfig, create_app
from reconciler.fixes.journal import Journal
from reconciler.fixes.planfile import read_plan, write_plan
from reconciler.fixes.planner import Plan
from reconciler.fixes.steps import Executor, Step, StepKind
from reconciler.fixes.writers.graph import SELECT, GraphWriter
from reconciler.history.store import utcnow
from reconciler.sources.graph_http import GraphHttp

TENANT = "t-0001"
WRITES = ("PATCH", "DELETE", "POST")


def tenant_doc(n: int) -> dict[str, Any]:
    users = [{"id": f"c-{i}", "userPrincipalName": f"lena{i}@contoso.com", "displayName": f"Lena {i}",
              "givenName": "Lena", "surname": f"Fischer{i}", "userType": "Member", "onPremisesImmutableId": None,
              "onPremisesSyncEnabled": None, "mail": None, "proxyAddresses": [], "accountEnabled": True,
              "createdDateTime": "2026-01-01T00:00:00Z", "assignedLicenses": []} for i in range(n)]
    users.append({"id": "synced-1", "userPrincipalName": "sync@contoso.com", "onPremisesSyncEnabled": True,
                  "onPremisesImmutableId": "SYNCED==", "userType": "Member"})
    deleted = [{"id": f"d-{i}", "userPrincipalName": f"d-{i}x@contoso.com", "mail": f"old{i}@contoso.com",
                "proxyAddresses": [f"SMTP:old{i}@contoso.com"], "onPremisesImmutableId": f"DEL{i}==",
                "deletedDateTime": "2026-11-01T00:00:00Z", "userType": "Member"} for i in range(n)]
    return {"schema": "reconciler.tenant/1",
            "organization": {"id": TENANT, "displayName": "Contoso",
                             "verifiedDomains": [{"name": "contoso.com", "isDefault": True, "isInitial": False},
                                                 {"name": "contoso.onmicrosoft.com", "isInitial": True}]},
            "users": users, "deletedUsers": deleted,
            "roleAssignments": [], "roleEligibilitySchedules": []}  # readable: nobody holds or is eligible for a role


class Emu:
    def __init__(self, doc: dict[str, Any], config: EmulatorConfig | None = None) -> None:
        self.app = create_app(doc, config or EmulatorConfig())
        self.em = self.app.state.emulator

    def http(self) -> GraphHttp:
        return GraphHttp("http://emulator.test/v1.0", None, transport=httpx.ASGITransport(self.app),
                         backoff_base=0.01)

    def writer(self) -> GraphWriter:
        return GraphWriter(self.http())

    def writes(self) -> list[dict[str, Any]]:
        """Every write request, $batch sub-requests included (apply's re-reads are GETs inside a $batch)."""
        out = []
        for e in self.em.log:
            if e.get("endpoint") == "$batch":
                out += [b for b in e.get("batch") or () if b.get("method") in WRITES]
            elif e["method"] in WRITES:
                out.append(e)
        return out

    def get(self, path: str) -> Any:
        """GET with the properties apply re-reads (Graph returns only defaults without $select)."""
        params = {"$select": SELECT} if path.startswith("/users/") else None

        async def go() -> Any:
            async with self.http() as h:
                return await h.get_json(path, params)
        return asyncio.run(go())

    def patch(self, path: str, body: dict[str, Any]) -> None:
        async def go() -> None:
            async with self.http() as h:
                await h.patch(path, body)
        asyncio.run(go())


def stamp(i: int, after: tuple[str, ...] = (), sid: str | None = None) -> Step:
    return Step(id=sid or f"s{i}-stamp", kind=StepKind.SET_IMMUTABLE_ID, executor=Executor.GRAPH,
                target={"type": "user", "id": f"c-{i}"},
                expect={"onPremisesImmutableId": None, "userPrincipalName": f"lena{i}@contoso.com",
                        "userType": "Member", "givenName": "Lena", "surname": f"Fischer{i}"},
                change={"onPremisesImmutableId": f"NEW{i}=="}, undo={"onPremisesImmutableId": None}, after=after)


def rename(i: int) -> Step:
    return Step(id=f"s{i}-upn", kind=StepKind.SET_USER_PRINCIPAL_NAME, executor=Executor.GRAPH,
                target={"type": "user", "id": f"c-{i}"}, expect={"userPrincipalName": f"lena{i}@contoso.com"},
                change={"userPrincipalName": f"lena{i}@contoso.onmicrosoft.com"},
                undo={"userPrincipalName": f"lena{i}@contoso.com"})


def purge(i: int, after: tuple[str, ...] = ()) -> Step:
    return Step(id=f"s{i}-purge", kind=StepKind.PURGE_DELETED, executor=Executor.GRAPH,
                target={"type": "deleted", "id": f"d-{i}"},
                expect={"deleted": True, "mail": f"old{i}@contoso.com"}, after=after, why="IRREVERSIBLE")


def restore(i: int) -> Step:
    return Step(id=f"s{i}-restore", kind=StepKind.RESTORE_DELETED, executor=Executor.GRAPH,
                target={"type": "deleted", "id": f"d-{i}"}, expect={"deleted": True}, undo={"delete": True})


def save_plan(tmp: Path, steps: list[Step], journal: Journal | None, name: str = "plan.json") -> Path:
    plan = Plan(tenant=TENANT, created=utcnow(), scan_run=None, steps=tuple(steps))
    path = tmp / name
    write_plan(path, plan)
    if journal is not None:
        journal.record_plan(plan.fingerprint, TENANT, None, len(steps))
    return path


def load(path: Path) -> Any:
    return read_plan(path)
