"""$batch, resource-unit throttling and fault injection."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from reconciler.emulator import EmulatedReset, EmulatorConfig, create_app, serve_in_thread
from reconciler.emulator.throttle import Throttle, request_cost, ru_limit

from .conftest import emulator_of


def _batch(client: Any, requests: list[dict[str, Any]], **kw: Any) -> Any:
    return client.post("/$batch", json={"requests": requests}, **kw)


def test_batch_answers_each_item_with_its_own_status(graph, sample_doc):
    client = graph(sample_doc)
    uid = sample_doc["users"][0]["id"]
    r = _batch(client, [
        {"id": "1", "method": "GET", "url": f"/users/{uid}?$select=id,mail"},
        {"id": "2", "method": "GET", "url": "/users/00000000-0000-0000-0000-000000000000"},
        {"id": "3", "method": "GET", "url": "users?$filter=userPrincipalName ne 'x'&$count=true&$select=id",
         "headers": {"ConsistencyLevel": "eventual"}},
    ])
    assert r.status_code == 200
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert by_id["1"]["status"] == 200 and by_id["1"]["body"]["mail"] == sample_doc["users"][0]["mail"]
    assert by_id["2"]["status"] == 404 and by_id["2"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert by_id["3"]["status"] == 200 and by_id["3"]["body"]["@odata.count"] == len(sample_doc["users"])
    em = emulator_of(client)
    assert em.stats["batch_items"] == 3 and em.log[-1]["batch"][1]["status"] == 404


def test_batch_limits_and_shape(graph, sample_doc):
    client = graph(sample_doc)
    items = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(21)]
    r = _batch(client, items)
    assert r.status_code == 400 and "20" in r.json()["error"]["message"]
    assert _batch(client, items[:20]).status_code == 200
    assert _batch(client, [{"id": "1", "method": "GET", "url": "/users"}] * 2).status_code == 400
    assert _batch(client, [{"id": "1", "url": "/users"}]).status_code == 400
    assert client.post("/$batch", content=b"{not json", headers={"Content-Type": "application/json"}
                       ).status_code == 400


def test_batch_write_needs_content_type_and_failed_dependencies_give_424(graph, sample_doc):
    client = graph(sample_doc)
    synced = next(u for u in sample_doc["users"] if u["onPremisesSyncEnabled"])
    r = _batch(client, [
        {"id": "a", "method": "PATCH", "url": f"/users/{synced['id']}", "body": {"displayName": "x"}},
        {"id": "b", "method": "PATCH", "url": f"/users/{synced['id']}", "body": {"displayName": "x"},
         "headers": {"Content-Type": "application/json"}},
        {"id": "c", "method": "GET", "url": "/organization", "dependsOn": ["b"]},
    ])
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert by_id["a"]["status"] == 400 and "Content-Type" in by_id["a"]["body"]["error"]["message"]
    assert by_id["b"]["status"] == 400 and "on-premises mastered" in by_id["b"]["body"]["error"]["message"]
    assert by_id["c"]["status"] == 424


def test_batch_items_are_throttled_one_by_one(graph, sample_doc):
    client = graph(sample_doc, EmulatorConfig(throttle="storm", seed=3, time_scale=0.01))
    r = _batch(client, [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(20)])
    assert r.status_code == 200
    statuses = [x["status"] for x in r.json()["responses"]]
    assert 429 in statuses and 200 in statuses
    throttled = next(x for x in r.json()["responses"] if x["status"] == 429)
    assert float(throttled["headers"]["Retry-After"]) <= 0.011
    assert emulator_of(client).stats["throttled"] == statuses.count(429)


def test_resource_unit_costs_follow_graph():
    assert request_cost("GET", "users", {}) == 2
    assert request_cost("GET", "users", {"$select": "id"}) == 1
    assert request_cost("GET", "groups/{id}/members", {}) == 3
    assert request_cost("GET", "groups/{id}/members", {"$top": "5"}) == 2
    assert request_cost("GET", "groups", {"$select": "id", "$top": "5"}) == 1
    assert request_cost("PATCH", "users/{id}", {}) == 1
    assert (ru_limit(10), ru_limit(300), ru_limit(501)) == (3500, 5000, 8000)


def test_resource_unit_header(graph, sample_doc):
    client = graph(sample_doc)
    assert client.get("/users").headers["x-ms-resource-unit"] == "2"
    assert client.get("/users", params={"$select": "id"}).headers["x-ms-resource-unit"] == "1"


def test_graph_profile_buckets_refill_after_the_window():
    now = [0.0]
    t = Throttle("graph", users=10, time_scale=1.0, seed=0, clock=lambda: now[0])
    verdicts = [t.charge(2, False) for _ in range(1750)]
    assert not any(v.throttled for v in verdicts)
    over = t.charge(2, False)
    assert over.throttled and 0 < over.retry_after <= 10 and over.info == "ResourceUnitLimitExceeded"
    now[0] = 10.5
    assert not t.charge(2, False).throttled


def test_write_limit_is_3000_per_150_seconds_scaled():
    now = [0.0]
    t = Throttle("graph", users=1000, time_scale=0.01, seed=0, clock=lambda: now[0])
    for i in range(3000):  # 3,000 units fit the 8,000-unit bucket; the write bucket is the limit
        assert not t.charge(1, True).throttled, i
    over = t.charge(1, True)
    assert over.throttled and over.info == "WriteLimitExceeded" and over.retry_after <= 1.5
    now[0] = 1.6
    assert not t.charge(1, True).throttled


def test_throttled_requests_are_graph_shaped_429s(graph, sample_doc):
    client = graph(sample_doc, EmulatorConfig(throttle="storm", seed=1))
    responses = [client.get("/organization") for _ in range(30)]
    throttled = [r for r in responses if r.status_code == 429]
    assert throttled and len(throttled) < 30
    r = throttled[0]
    assert r.headers["Retry-After"] == "1"
    assert r.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    assert r.json()["error"]["code"] == "TooManyRequests"
    assert emulator_of(client).stats["throttled"] == len(throttled)


def _statuses(base: str, n: int) -> list[str]:
    out = []
    with httpx.Client(timeout=30) as c:
        for _ in range(n):
            try:
                out.append(str(c.get(f"{base}/organization").status_code))
            except httpx.TransportError as e:
                out.append(type(e).__name__)
    return out


@pytest.mark.faults
def test_faults_over_real_http_are_seeded(sample_doc):
    config = EmulatorConfig(fault_rate=0.5, seed=42, time_scale=0.02)
    runs = []
    for _ in range(2):
        with serve_in_thread(create_app(sample_doc, config)) as base:
            runs.append(_statuses(base, 40))
    assert runs[0] == runs[1]
    kinds = set(runs[0])
    assert {"200", "503", "504"} <= kinds
    assert "RemoteProtocolError" in kinds  # an injected reset: the connection drops mid-response


@pytest.mark.faults
def test_reset_in_process_is_a_transport_error(sample_doc):
    app = create_app(sample_doc, EmulatorConfig(fault_rate=1.0, seed=0, time_scale=0.01))

    async def run() -> list[str]:
        out = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator/v1.0") as c:
            for _ in range(12):
                try:
                    out.append(str((await c.get("/organization")).status_code))
                except httpx.TransportError as e:
                    assert isinstance(e, EmulatedReset)
                    out.append("reset")
        return out

    got = asyncio.run(run())
    assert "reset" in got and ("503" in got or "504" in got)
    assert app.state.emulator.stats["faults"] == 12


def test_latency_per_object(sample_doc):
    import time

    app = create_app(sample_doc, EmulatorConfig(latency_ms=50, latency_per_object_ms=10))
    with serve_in_thread(app) as base, httpx.Client() as c:
        start = time.monotonic()
        c.get(f"{base}/users", params={"$top": "20"})
        slow = time.monotonic() - start
        start = time.monotonic()
        c.get(f"{base}/users", params={"$top": "1"})
        fast = time.monotonic() - start
    assert slow >= 0.25 and fast >= 0.06 and slow > fast + 0.1
