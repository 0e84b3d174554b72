"""The Graph writer's two exceptions to "never write a synced object", each tried for harm against the emulator:
the federated-domain UPN detour (only the domain moves, into or out of the initial domain) and an object whose
source of authority moved to the cloud (beta onPremisesSyncBehavior)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.fixes.steps import Executor, Step, StepKind
from reconciler.fixes.writers.graph import SyncedObjectRefused

from .emu import Emu, tenant_doc


def _emu() -> Emu:
    doc = tenant_doc(1)
    doc["users"].append({"id": "s-1", "userPrincipalName": "omar@contoso.com", "onPremisesSyncEnabled": True,
                         "onPremisesImmutableId": "SYNC1==", "userType": "Member"})
    return Emu(doc)


def _run(emu: Emu, step: Step) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        w = emu.writer()
        try:
            current = await w.read(step)
            await w.write(step, current)
            return await w.read(step) or {}
        finally:
            await w.http.aclose()
    return asyncio.run(go())


def upn(value: str) -> Step:
    return Step(id="s1", kind=StepKind.SET_USER_PRINCIPAL_NAME, executor=Executor.GRAPH,
                target={"type": "user", "id": "s-1"}, change={"userPrincipalName": value})


def test_the_detour_and_its_way_back_are_allowed_on_a_synced_user() -> None:
    emu = _emu()
    assert _run(emu, upn("omar@contoso.onmicrosoft.com"))["userPrincipalName"] == "omar@contoso.onmicrosoft.com"
    assert _run(emu, upn("omar@contoso.com"))["userPrincipalName"] == "omar@contoso.com"


@pytest.mark.parametrize("value", ["omar@fabrikam.com", "someone.else@contoso.onmicrosoft.com"])
def test_any_other_rename_of_a_synced_user_is_refused_before_a_request(value: str) -> None:
    emu = _emu()
    with pytest.raises(SyncedObjectRefused):
        _run(emu, upn(value))
    assert emu.writes() == []
    step = Step(id="s2", kind=StepKind.SET_USER_PRINCIPAL_NAME, executor=Executor.GRAPH,
                target={"type": "user", "id": "s-1"},
                change={"userPrincipalName": "omar@contoso.onmicrosoft.com", "onPremisesImmutableId": "X=="})
    with pytest.raises(SyncedObjectRefused):  # the detour moves the UPN and nothing else
        _run(emu, step)
    assert emu.writes() == []


def test_a_synced_object_is_deleted_only_after_its_source_of_authority_moved_to_the_cloud() -> None:
    emu = _emu()
    delete = Step(id="d", kind=StepKind.DELETE_OBJECT, executor=Executor.GRAPH, target={"type": "user", "id": "s-1"})
    with pytest.raises(SyncedObjectRefused):
        _run(emu, delete)
    soa = Step(id="c", kind=StepKind.SET_CLOUD_MANAGED, executor=Executor.GRAPH, target={"type": "user", "id": "s-1"},
               change={"isCloudManaged": True}, undo={"isCloudManaged": False})
    assert _run(emu, soa)["isCloudManaged"] is True
    assert [e["path"] for e in emu.writes()] == ["/v1.0/beta/users/s-1/onPremisesSyncBehavior"]

    async def gone() -> Any:
        w = emu.writer()
        try:
            await w.write(delete, await w.read(delete))
            return await w.read(delete)
        finally:
            await w.http.aclose()
    assert asyncio.run(gone()) is None
    assert emu.em.state.find("s-1", ("deletedUsers",)) is not None
