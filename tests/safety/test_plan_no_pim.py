"""A tenant without Entra ID P2 has no PIM: the scan reads that as "nobody eligible", so `plan` is not refused
as eligibility_unknown; a PIM read that is merely not permitted stays unknown and refuses every write."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from reconciler.emulator import EmulatorConfig, create_app
from reconciler.fixes.planner import PlanOptions, context_from_snapshot, make_plan
from reconciler.sources.base import NullProgress
from reconciler.sources.graph import GraphSource, no_pim_licence
from reconciler.sources.graph_http import GraphHttp
from reconciler.workflow import scan_snapshot

from .hazards import Tenant, empty_tenant, plant_twin

NO_P2 = {"error": {"code": "AadPremiumLicenseRequired", "message": "The tenant needs an AAD Premium 2 license."}}


class Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


def without_p2(app: Any) -> Any:
    """The emulator, with Graph's answer for a tenant that has no P2 licence on the eligibility batch item."""
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("$batch"):
            await app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))
        await app(scope, receive, capture)
        doc = json.loads(b"".join(chunks))
        for r in doc.get("responses", []):
            if r.get("id") == "eligibility":
                r.update(status=400, body=NO_P2)
        body = json.dumps(doc).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return wrapped


def _scan(t: Tenant, app: Any) -> tuple[Any, list[str]]:
    def factory() -> GraphHttp:
        return GraphHttp("http://emulator/v1.0", None, transport=httpx.ASGITransport(app), backoff_base=0.01)
    notes = Notes()
    snap = asyncio.run(GraphSource(factory, strategy="full").read(notes))
    return snap, notes.notes


def _plan(t: Tenant, snap: Any) -> Any:
    result, details = scan_snapshot(snap, t.sources)
    return make_plan([f.data() for f in result.findings], details, context_from_snapshot(snap),
                     PlanOptions(allow_purge=True))


def test_plan_no_pim_licence_reads_as_nobody_eligible_and_the_merge_is_planned():
    t = empty_tenant()
    plant_twin(t, 0, __import__("random").Random(5), None)
    snap, notes = _scan(t, without_p2(create_app(t.doc, EmulatorConfig())))
    assert snap.role_eligibility == ()
    assert any("no Entra ID P2" in n for n in notes)
    plan = _plan(t, snap)
    assert not plan.refusals and "set_immutable_id" in {s.kind.value for s in plan.steps}


def test_plan_pim_not_permitted_stays_unknown_and_refuses():
    t = empty_tenant()
    plant_twin(t, 0, __import__("random").Random(5), None)
    del t.doc["roleEligibilitySchedules"]  # the emulator answers 403: not readable, which is not "none"
    snap, _ = _scan(t, create_app(t.doc, EmulatorConfig()))
    assert snap.role_eligibility is None
    assert [r.guard for r in _plan(t, snap).refusals] == ["eligibility_unknown"]


def test_plan_no_pim_licence_is_recognised_only_from_graphs_answer():
    assert no_pim_licence(NO_P2)
    assert no_pim_licence({"error": {"code": "BadRequest", "message": "The tenant needs an AAD Premium 2 license."}})
    assert not no_pim_licence({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}})
    assert not no_pim_licence(None) and not no_pim_licence({"value": []})
