"""GraphHttp through httpx.MockTransport: paging, throttling, $batch, error mapping."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Callable

import httpx
import orjson
import pytest

from reconciler.core.errors import AuthError, NetworkError, PermissionDenied, ThrottledError
from reconciler.sources.graph_http import BatchRequest, GraphHttp, GraphStatusError, permission_for

BASE = "https://graph.test/v1.0"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body), headers={"content-type": "application/json",
                                                                       **(headers or {})})


def _client(handler: Callable[[httpx.Request], httpx.Response], token: Any = "tok-secret",
            **kw: Any) -> tuple[GraphHttp, list[float]]:
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    g = GraphHttp(BASE, (lambda: token) if token else None, transport=httpx.MockTransport(handler),
                  sleep=sleep, rng=random.Random(1), **kw)
    return g, waits


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_paginate_follows_next_link_and_sends_token_and_request_id() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if "skiptoken" not in str(req.url):
            return _json(200, {"value": [{"id": "1"}, {"id": "2"}],
                               "@odata.nextLink": BASE + "/users?$skiptoken=abc"},
                         {"x-ms-resource-unit": "1"})
        return _json(200, {"value": [{"id": "3"}]}, {"x-ms-resource-unit": "1"})

    async def go() -> list[list[dict[str, Any]]]:
        g, _ = _client(handler)
        async with g:
            return [p async for p in g.paginate("/users", {"$select": "id,mail", "$top": 999})]

    pages = run(go())
    assert [[o["id"] for o in p] for p in pages] == [["1", "2"], ["3"]]
    assert seen[0].url.params["$select"] == "id,mail" and seen[0].url.params["$top"] == "999"
    assert all(r.headers["authorization"] == "Bearer tok-secret" for r in seen)
    ids = [r.headers["client-request-id"] for r in seen]
    assert len(set(ids)) == 2 and all(len(i) == 36 for i in ids)


def test_next_link_to_another_host_is_refused() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return _json(200, {"value": [], "@odata.nextLink": "https://evil.example/v1.0/users?x=1"})

    async def go() -> None:
        g, _ = _client(handler)
        async for _ in g.paginate("/users"):
            pass

    with pytest.raises(NetworkError, match="another host"):
        run(go())


def test_429_honours_retry_after_then_succeeds() -> None:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req.headers["client-request-id"])
        if len(calls) < 3:
            return _json(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "7"})
        return _json(200, {"value": [{"id": "x"}]})

    g, waits = _client(handler)
    body = run(g.get_json("/users"))
    assert body["value"][0]["id"] == "x"
    assert waits.count(7.0) >= 2  # waited what the server asked, twice
    assert len(set(calls)) == 1  # same client-request-id across retries
    assert g.counters.throttled == 2 and g.counters.retries == 2 and g.counters.requests == 3
    assert g.limiter.limit < g.limiter.maximum  # concurrency shrank


def test_5xx_and_resets_back_off_with_jitter() -> None:
    n = {"i": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        n["i"] += 1
        if n["i"] == 1:
            raise httpx.ReadError("connection reset by peer", request=req)
        if n["i"] == 2:
            return _json(503, {"error": {"code": "ServiceUnavailable"}})
        return _json(200, {"id": "org"})

    g, waits = _client(handler, backoff_base=0.5)
    assert run(g.get_json("/organization"))["id"] == "org"
    assert len(waits) == 2 and all(0 <= w <= 1.0 for w in waits)
    assert g.counters.faults == 2


def test_persistent_failure_names_request_id_not_token() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    g, _ = _client(handler, max_attempts=3)
    with pytest.raises(NetworkError) as ei:
        run(g.get_json("/users"))
    msg = str(ei.value)
    assert "client-request-id:" in msg and "tok-secret" not in msg and "connection refused" in msg


def test_endless_throttling_becomes_throttled_error() -> None:
    g, _ = _client(lambda r: _json(429, {}, {"Retry-After": "100"}), max_throttle_wait=250)
    with pytest.raises(ThrottledError, match="client-request-id"):
        run(g.get_json("/users"))


def test_401_is_auth_error() -> None:
    g, _ = _client(lambda r: _json(401, {"error": {"code": "InvalidAuthenticationToken",
                                                   "message": "token tok-secret expired"}}))
    with pytest.raises(AuthError) as ei:
        run(g.get_json("/users"))
    assert ei.value.exit_code == 5 and "tok-secret" not in str(ei.value)


def test_403_names_permission_from_our_table_not_the_body() -> None:
    body = {"error": {"code": "Authorization_RequestDenied", "message": "needs Directory.ReadWrite.All"}}
    g, _ = _client(lambda r: _json(403, body))
    with pytest.raises(PermissionDenied) as ei:
        run(g.get_json("/contacts", {"$select": "id"}))
    assert "OrgContact.Read.All" in str(ei.value) and "Directory.ReadWrite.All" not in str(ei.value)


def test_permission_table() -> None:
    assert permission_for("GET", BASE + "/users?$filter=x") == "User.Read.All"
    assert permission_for("GET", "/directory/deletedItems/microsoft.graph.group") == "Group.Read.All"
    assert permission_for("GET", "/roleManagement/directory/roleAssignments") == "RoleManagement.Read.Directory"
    assert "RoleEligibilitySchedule" in permission_for("GET", "/roleManagement/directory/roleEligibilitySchedules")
    assert "Global Administrator" in permission_for("GET", "/directory/onPremisesSynchronization")
    assert permission_for("GET", "/organization") == "Organization.Read.All"


def test_404_is_status_error_with_status() -> None:
    g, _ = _client(lambda r: _json(404, {"error": {"code": "Request_ResourceNotFound"}}))
    with pytest.raises(GraphStatusError) as ei:
        run(g.get_json("/users/nope"))
    assert ei.value.status == 404 and ei.value.code == "Request_ResourceNotFound"


def test_no_token_provider_sends_no_authorization() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return _json(200, {})

    g, _ = _client(handler, token=None)
    run(g.get_json("/organization"))
    assert "authorization" not in seen[0].headers


def test_async_token_provider() -> None:
    seen: list[str] = []

    async def tok() -> str:
        return "async-tok"

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.headers["authorization"])
        return _json(200, {})

    g = GraphHttp(BASE, tok, transport=httpx.MockTransport(handler))
    run(g.get_json("/organization"))
    assert seen == ["Bearer async-tok"]


def _batch_handler(plan: dict[str, list[int]], log: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/v1.0/$batch" and req.method == "POST"
        payload = orjson.loads(req.content)
        log.append(payload)
        out = []
        for item in payload["requests"]:
            statuses = plan[item["id"]]
            st = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            hdr = {"Retry-After": "3"} if st == 429 else {}
            out.append({"id": item["id"], "status": st, "headers": hdr,
                        "body": {"value": [{"id": "obj-" + item["id"]}]} if st == 200 else {}})
        return _json(200, {"responses": out}, {"x-ms-resource-unit": "1"})
    return handler


def test_batch_retries_only_throttled_items_with_their_retry_after() -> None:
    log: list[dict[str, Any]] = []
    plan = {"a": [200], "b": [429, 200], "c": [200]}
    g, waits = _client(_batch_handler(plan, log))
    items = [BatchRequest(i, f"/users?$filter=mail eq '{i}@x'") for i in "abc"]
    out = run(g.batch(items))
    assert [r.status for r in out] == [200, 200, 200]
    assert out[1].body["value"][0]["id"] == "obj-b"
    assert [len(p["requests"]) for p in log] == [3, 1] and log[1]["requests"][0]["id"] == "b"
    assert 3.0 in waits
    assert g.counters.requests == 2 and g.counters.batch_items == 4 and g.counters.throttled == 1


def test_batch_wire_format_is_camel_case_and_keeps_ids() -> None:
    log: list[dict[str, Any]] = []
    g, _ = _client(_batch_handler({"1": [200], "2": [200]}, log))
    run(g.batch([BatchRequest("1", "/users/a"), BatchRequest("2", "/users/b", depends_on=("1",),
                                                             headers={"ConsistencyLevel": "eventual"})]))
    req = log[0]["requests"][1]
    assert req["dependsOn"] == ["1"] and "depends_on" not in req and req["id"] == "2"
    assert req["headers"] == {"ConsistencyLevel": "eventual"}


def test_batch_item_403_raises_permission_denied_for_that_url() -> None:
    g, _ = _client(_batch_handler({"a": [200], "b": [403]}, []))
    with pytest.raises(PermissionDenied, match="Group.Read.All"):
        run(g.batch([BatchRequest("a", "/users?$top=1"), BatchRequest("b", "/groups?$top=1")]))


def test_batch_refuses_more_than_20() -> None:
    g, _ = _client(lambda r: _json(200, {}))
    with pytest.raises(ValueError):
        run(g.batch([BatchRequest(str(i), "/users") for i in range(21)]))


def test_post_is_not_retried_after_a_reset() -> None:
    n = {"i": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        n["i"] += 1
        raise httpx.ReadError("reset", request=req)

    g, _ = _client(handler)
    with pytest.raises(NetworkError):
        run(g.post("/directory/deletedItems/x/restore", {}))
    assert n["i"] == 1


def test_concurrency_is_bounded() -> None:
    state = {"now": 0, "peak": 0}

    async def handler(req: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return _json(200, {"id": "x"})

    async def go() -> None:
        g = GraphHttp(BASE, None, transport=httpx.MockTransport(handler), max_concurrency=3)
        await asyncio.gather(*(g.get_json(f"/users/{i}") for i in range(12)))

    run(go())
    assert state["peak"] == 3


def test_throttled_concurrency_shrinks_then_grows_back() -> None:
    n = {"i": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        n["i"] += 1
        return _json(429, {}, {"Retry-After": "0"}) if n["i"] == 1 else _json(200, {"id": "x"})

    async def go() -> GraphHttp:
        g, _ = _client(handler, max_concurrency=16)
        await g.get_json("/users/a")
        assert g.limiter.limit == 8
        for i in range(40):
            await g.get_json(f"/users/{i}")
        return g

    assert run(go()).limiter.limit == 10


def test_a_429_pauses_the_other_requests_too() -> None:
    sent: dict[str, list[float]] = {}

    async def handler(req: httpx.Request) -> httpx.Response:
        now = asyncio.get_running_loop().time()
        sent.setdefault(req.url.path, []).append(now)
        if req.url.path.endswith("/a") and len(sent[req.url.path]) == 1:
            return _json(429, {}, {"Retry-After": "0.3"})
        return _json(200, {})

    async def later(g: GraphHttp) -> None:
        await asyncio.sleep(0.05)  # starts after /a was throttled
        await g.get_json("/users/b")

    async def go() -> None:
        g = GraphHttp(BASE, None, transport=httpx.MockTransport(handler))
        await asyncio.gather(g.get_json("/users/a"), later(g))

    run(go())
    throttled_at = sent["/v1.0/users/a"][0]
    assert sent["/v1.0/users/b"][0] - throttled_at >= 0.25  # waited out /a's Retry-After


# ------------------------------------------------------------------ plain http roots (the loopback emulator)


def _ca_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    import ssl

    calls: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *a: Any, **kw: Any) -> None:
        calls.append(a or kw)
        real(self, *a, **kw)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_an_http_root_loads_no_ca_bundle_and_an_https_root_keeps_full_verification(monkeypatch) -> None:
    calls = _ca_loads(monkeypatch)
    run(GraphHttp("http://127.0.0.1:9/v1.0", None).aclose())
    assert calls == []
    g = GraphHttp("https://graph.microsoft.com/v1.0", None)
    assert calls  # httpx's own verified context, CA bundle and all
    pool = g._client._transport._pool  # type: ignore[attr-defined]
    assert pool._ssl_context.verify_mode.name == "CERT_REQUIRED" and pool._ssl_context.check_hostname
    run(g.aclose())


def test_the_plain_http_transport_refuses_anything_but_http() -> None:
    from reconciler.sources.graph_http import plain_http_transport

    t = plain_http_transport("http://127.0.0.1:9/v1.0", httpx.Limits())
    assert t is not None
    with pytest.raises(httpx.UnsupportedProtocol, match="https:// refused"):
        run(t.handle_async_request(httpx.Request("GET", "https://graph.microsoft.com/v1.0/users")))


def test_a_proxy_in_the_environment_keeps_the_default_transport(monkeypatch) -> None:
    from reconciler.sources.graph_http import plain_http_transport

    calls = _ca_loads(monkeypatch)
    assert plain_http_transport("https://graph.microsoft.com/v1.0", httpx.Limits()) is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    assert plain_http_transport("http://127.0.0.1:9/v1.0", httpx.Limits()) is None
    run(GraphHttp("http://127.0.0.1:9/v1.0", None).aclose())
    assert calls  # the default transport (the one that honours the proxy)
