"""The emulator: request pipeline (auth, throttling, faults, routing, logging) and the Starlette app.

Every request, and every ``$batch`` sub-request, goes through :meth:`Emulator.process`:
authenticate → route → charge resource units (429 when over) → maybe inject a
fault → handler → Graph-shaped response with ``request-id``,
``client-request-id`` and ``x-ms-resource-unit`` headers. ``app.state.emulator``
exposes ``stats``, ``log`` (one dict per request: method, path, query, status,
request-id, client-request-id, resource_units, endpoint, objects, batch) and
``state`` (the live tenant: writes land there).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount, Route

from .arm import create_arm_app
from .config import EmulatorConfig
from .faults import FaultPlan
from .handlers import route
from .listing import Lister, Req, Resp
from .shapes import PERMS, GraphError, bad_request, denied
from .state import TenantState
from .throttle import FaultPicker, Throttle, format_retry_after, request_cost

__all__ = ["EmulatedReset", "Emulator", "create_app"]

CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
MAX_BATCH = 20
SLOW_FAULT_S = 3.0
_QUERY_NAMES = {n.lower(): n for n in ("$select", "$filter", "$top", "$count", "$skiptoken", "$expand",
                                       "$orderby", "$search", "$skip")}
_WRITES = ("POST", "PATCH", "DELETE", "PUT")


class EmulatedReset(httpx.ReadError):
    """An injected connection reset (seen by in-process clients as a transport error)."""


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_query(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        out[_QUERY_NAMES.get(k.lower(), k)] = v
    return out


class Emulator:
    """One emulated tenant: state, settings, counters and the request log."""

    def __init__(self, tenant: Path | str | dict[str, Any], config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.state = TenantState.load(tenant)
        self.lister = Lister(self.config.page_size, f"emulator-{self.config.seed}".encode(),
                             lambda: self.state.version)
        self.lister.page_cap = self.config.page_cap
        self.throttle = Throttle(self.config.throttle, self.state.user_count, self.config.time_scale,
                                 self.config.seed)
        self.faults = FaultPicker(self.config.fault_rate, self.config.seed)
        self.plan = FaultPlan(self.config.faults, self.config.seed, self.config.fault_after,
                              self.config.fault_limit)
        self.stats: dict[str, Any] = {"requests": 0, "resource_units": 0, "throttled": 0, "faults": 0,
                                      "by_endpoint": {}, "writes": 0, "batch_items": 0}
        self.log: list[dict[str, Any]] = []
        self._log_file = self.config.request_log.open("ab") if self.config.request_log else None

    def close(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # ------------------------------------------------------------ permissions

    def authenticate(self, req: Req) -> None:
        if self.config.permissions is None:
            return
        auth = req.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not token or scheme.lower() != "bearer":
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        if token not in self.config.permissions:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        req.token = token

    def require(self, req: Req, perm: str) -> None:
        if self.config.permissions is None:
            return
        held = self.config.permissions.get(req.token or "", set())
        if not held & PERMS[perm]:
            raise denied()

    # ------------------------------------------------------------ pipeline

    def process(self, req: Req) -> tuple[Resp, str | None, dict[str, Any]]:
        """Answer one request; returns the response, an envelope-level fault and the log entry."""
        rid = str(uuid.uuid4())
        crid = req.headers.get("client-request-id") or rid
        entry: dict[str, Any] = {"time": _now_iso(), "method": req.method, "path": "/v1.0/" + req.path,
                                 "query": dict(req.query), "request-id": rid, "client-request-id": crid,
                                 "resource_units": 0, "endpoint": None, "objects": 0, "batch": None}
        fault = None
        try:
            resp, fault = self._dispatch(req, entry)
        except GraphError as e:
            resp = self.error(e, rid, crid)
        resp.headers.update({"request-id": rid, "client-request-id": crid})
        if entry["resource_units"]:
            resp.headers["x-ms-resource-unit"] = str(entry["resource_units"])
        entry["status"], entry["objects"] = resp.status, resp.objects
        self._count(req, resp, entry)
        return resp, fault, entry

    def _dispatch(self, req: Req, entry: dict[str, Any]) -> tuple[Resp, str | None]:
        self.authenticate(req)
        endpoint, handler, match = route(req.method, req.path)
        entry["endpoint"] = endpoint
        cost = request_cost(req.method, endpoint, req.query)
        entry["resource_units"] = cost
        verdict = self.throttle.charge(cost, req.method in _WRITES)
        if verdict.throttled:
            raise self.throttled(verdict)
        fault = self.faults.pick()
        if fault in ("503", "504"):
            self.stats["faults"] += 1
            raise GraphError(int(fault), "serviceNotAvailable" if fault == "503" else "gatewayTimeout",
                             "The service is temporarily unavailable. Please retry."
                             if fault == "503" else "The gateway timed out. Please retry.",
                             {"Retry-After": format_retry_after(self.config.time_scale)} if fault == "503" else None)
        named = self.plan.pick("status", next_link="$skiptoken" in req.query)
        if named is not None:
            self.stats["faults"] += 1
            raise self.named_fault(named)
        resp = handler(self, req, match)
        if verdict.used_pct > 80:
            resp.headers["x-ms-throttle-limit-percentage"] = f"{verdict.used_pct:.1f}"
        if fault is not None:
            self.stats["faults"] += 1
        return resp, fault

    def named_fault(self, mode: str) -> GraphError:
        """The error answer of a named status fault (see :mod:`.faults`)."""
        retry = {"Retry-After": format_retry_after(self.config.fault_retry_after * self.config.time_scale)}
        if mode == "429":
            self.stats["throttled"] += 1
            return GraphError(429, "TooManyRequests", "Too many requests.", {
                **retry, "x-ms-throttle-scope": "Tenant_Application/ReadWrite/All",
                "x-ms-throttle-information": "ResourceUnitLimitExceeded"})
        if mode == "5xx":
            status = self.plan.next_5xx()
            return GraphError(status, {500: "generalException", 502: "badGateway", 503: "serviceNotAvailable",
                                       504: "gatewayTimeout"}[status],
                              "The service is temporarily unavailable. Please retry.",
                              retry if status == 503 else None)
        if mode == "expire":
            return GraphError(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        if mode == "nextlink_404":
            return GraphError(404, "Request_ResourceNotFound", "The page this link pointed to no longer exists.")
        return GraphError(410, "resyncRequired", "The paging state has expired; start the query again.")

    def throttled(self, verdict: Any) -> GraphError:
        self.stats["throttled"] += 1
        return GraphError(429, "TooManyRequests", "Too many requests.", {
            "Retry-After": format_retry_after(verdict.retry_after),
            "x-ms-throttle-scope": verdict.scope, "x-ms-throttle-information": verdict.info})

    @staticmethod
    def error(e: GraphError, rid: str, crid: str) -> Resp:
        body = {"error": {"code": e.code, "message": e.message,
                          "innerError": {"date": _now_iso(), "request-id": rid, "client-request-id": crid}}}
        return Resp(e.status, body, dict(e.headers))

    def _count(self, req: Req, resp: Resp, entry: dict[str, Any]) -> None:
        s = self.stats
        s["resource_units"] += entry["resource_units"]
        ep = entry["endpoint"] or "(unknown)"
        s["by_endpoint"][ep] = s["by_endpoint"].get(ep, 0) + 1
        if req.method in _WRITES and 200 <= resp.status < 300 and ep != "$batch":
            s["writes"] += 1

    def record(self, entry: dict[str, Any]) -> None:
        self.stats["requests"] += 1
        self.log.append(entry)
        if self._log_file is not None:
            self._log_file.write(orjson.dumps(entry) + b"\n")
            self._log_file.flush()

    # ------------------------------------------------------------ $batch

    def batch(self, req: Req) -> tuple[Resp, dict[str, Any]]:
        rid = str(uuid.uuid4())
        crid = req.headers.get("client-request-id") or rid
        entry: dict[str, Any] = {"time": _now_iso(), "method": "POST", "path": "/v1.0/$batch", "query": {},
                                 "request-id": rid, "client-request-id": crid, "resource_units": 0,
                                 "endpoint": "$batch", "objects": 0, "batch": []}
        try:
            self.authenticate(req)
            items = self._batch_items(req.body)
            responses = self._run_batch(req, items, entry)
            resp = Resp(200, {"responses": responses}, objects=entry["objects"])
        except GraphError as e:
            resp = self.error(e, rid, crid)
        resp.headers.update({"request-id": rid, "client-request-id": crid})
        entry["status"] = resp.status
        self.stats["by_endpoint"]["$batch"] = self.stats["by_endpoint"].get("$batch", 0) + 1
        return resp, entry

    @staticmethod
    def _batch_items(body: Any) -> list[dict[str, Any]]:
        items = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise bad_request("Invalid batch payload format: a non-empty 'requests' array is required.",
                              "BadRequest")
        if len(items) > MAX_BATCH:
            raise bad_request(f"Number of requests in a batch cannot exceed {MAX_BATCH}; got {len(items)}.",
                              "BadRequest")
        ids = [str(i.get("id")) if isinstance(i, dict) else None for i in items]
        if None in ids or any(not isinstance(i, dict) or not i.get("method") or not i.get("url") or
                              i.get("id") is None for i in items):
            raise bad_request("Invalid batch payload format: every request needs id, method and url.", "BadRequest")
        if len(set(ids)) != len(ids):
            raise bad_request("Batch request ids must be unique.", "BadRequest")
        for i in items:
            for dep in i.get("dependsOn") or ():
                if str(dep) not in ids:
                    raise bad_request(f"Request '{i['id']}' depends on unknown request '{dep}'.", "BadRequest")
        return items

    def _run_batch(self, req: Req, items: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
        done: dict[str, dict[str, Any]] = {}
        by_id = {str(i["id"]): i for i in items}

        def run(item: dict[str, Any], stack: tuple[str, ...]) -> None:
            iid = str(item["id"])
            if iid in done:
                return
            if iid in stack:
                raise bad_request(f"Batch request '{iid}' has a circular dependsOn.", "BadRequest")
            deps = [str(d) for d in item.get("dependsOn") or ()]
            for d in deps:
                run(by_id[d], stack + (iid,))
            if any(done[d]["status"] >= 400 for d in deps):
                done[iid] = self._failed_dependency(iid)
            else:
                done[iid] = self._batch_item(req, item, entry)

        for item in items:
            run(item, ())
        return [done[str(i["id"])] for i in items]

    def _failed_dependency(self, iid: str) -> dict[str, Any]:
        rid = str(uuid.uuid4())
        resp = self.error(GraphError(424, "FailedDependency", "A request this one depends on failed."), rid, rid)
        return {"id": iid, "status": 424, "headers": {"Content-Type": "application/json"}, "body": resp.body}

    def _batch_item(self, req: Req, item: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        iid = str(item["id"])
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        if "authorization" in req.headers:
            headers.setdefault("authorization", req.headers["authorization"])
        url = str(item["url"])
        method = str(item["method"]).upper()
        body = item.get("body")
        if url.lower().startswith(("http://", "https://")):
            sub = self.error(bad_request("Batch request URLs must be relative.", "BadRequest"), iid, iid)
            sub_entry = {"status": 400, "url": url}
        elif body is not None and "content-type" not in headers:
            sub = self.error(bad_request(f"Write request id : {iid} does not contain Content-Type header or body.",
                                         "BadRequest"), iid, iid)
            sub_entry = {"status": 400, "url": url}
        else:
            path, _, query = url.lstrip("/").partition("?")
            path = path.removeprefix("v1.0/")
            sreq = Req(method, unquote(path), parse_query(query), headers, body, req.base)
            sub, fault, sub_entry = self.process(sreq)
            if fault in ("reset", "slow"):  # a sub-request cannot reset the envelope's connection
                sub = self.error(GraphError(504, "gatewayTimeout", "The gateway timed out. Please retry."),
                                 str(sub_entry["request-id"]), str(sub_entry["client-request-id"]))
            entry["resource_units"] += sub_entry["resource_units"]
            entry["objects"] += sub.objects
        self.stats["batch_items"] += 1
        entry["batch"].append({"id": iid, **sub_entry, "status": sub.status})
        headers_out = {k: v for k, v in sub.headers.items()}
        if sub.body is not None:
            headers_out["Content-Type"] = "application/json"
        out: dict[str, Any] = {"id": iid, "status": sub.status, "headers": headers_out}
        if sub.body is not None:
            out["body"] = sub.body
        return out

    # ------------------------------------------------------------ timing

    def delay(self, objects: int, fault: str | None) -> float:
        c = self.config
        seconds = (c.latency_ms + c.latency_per_object_ms * objects) / 1000.0
        if fault == "slow":
            seconds += SLOW_FAULT_S * c.time_scale
        return seconds


class _Endpoint:
    """Raw ASGI endpoint: needed to inject connection resets mid-response."""

    def __init__(self, em: Emulator) -> None:
        self.em = em

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        raw = await request.body()
        path = scope["path"]
        base = str(request.base_url).rstrip("/") + "/v1.0"
        headers = {k.lower(): v for k, v in request.headers.items()}
        sub = path[len("/v1.0/"):] if path.startswith("/v1.0/") else None
        if path.startswith("/beta/"):  # only the beta routes of emulator/sync_authority.py answer here
            sub, base = "beta/" + path[len("/beta/"):], base[:-len("/v1.0")] + "/beta"
        try:
            body = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError:
            body, sub = None, "\0badjson"
        req = Req(request.method, sub or "", parse_query(scope.get("query_string", b"").decode("latin-1")),
                  headers, body, base)
        resp, fault, entry = self._answer(req, sub)
        named = self.em.plan.pick("body") if 200 <= resp.status < 300 and resp.body is not None else None
        if named is not None:
            self.em.stats["faults"] += 1
            entry["fault"] = named
        self.em.record(entry)
        wait = self.em.delay(resp.objects, fault)
        if named == "stall":
            wait += self.em.config.fault_stall_s * self.em.config.time_scale
        if wait > 0:
            await asyncio.sleep(wait)
        if fault == "reset":
            await self._reset(send)
        await _send(send, resp, named)

    def _answer(self, req: Req, sub: str | None) -> tuple[Resp, str | None, dict[str, Any]]:
        if sub == "\0badjson" or sub is None or sub == "":
            msg = "Unable to read JSON request payload." if sub == "\0badjson" else "Invalid version."
            rid = str(uuid.uuid4())
            resp = self.em.error(GraphError(400, "BadRequest", msg), rid, req.headers.get("client-request-id", rid))
            resp.headers.update({"request-id": rid})
            entry = {"time": _now_iso(), "method": req.method, "path": "/v1.0/" + (req.path or ""),
                     "query": req.query, "status": 400, "request-id": rid, "client-request-id": rid,
                     "resource_units": 0, "endpoint": None, "objects": 0, "batch": None}
            return resp, None, entry
        if sub == "$batch" and req.method == "POST":
            resp, entry = self.em.batch(req)
            return resp, None, entry
        return self.em.process(req)

    @staticmethod
    async def _reset(send: Callable[..., Any]) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"value":[', "more_body": True})
        raise EmulatedReset("connection reset by the emulator (injected fault)")


async def _send(send: Callable[..., Any], resp: Resp, fault: str | None = None) -> None:
    """Send ``resp``; a ``reset`` fault drops the connection halfway, ``truncate`` sends half a body."""
    payload = orjson.dumps(resp.body) if resp.body is not None else b""
    headers = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in resp.headers.items()]
    if resp.body is not None:
        headers.append((b"content-type", CONTENT_TYPE.encode()))
    half = payload[:len(payload) // 2]
    headers.append((b"content-length", str(len(half if fault == "truncate" else payload)).encode()))
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    if fault == "reset":
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise EmulatedReset("connection reset by the emulator mid-body (injected fault)")
    await send({"type": "http.response.body", "body": half if fault == "truncate" else payload})


def create_app(tenant: Path | str | dict[str, Any], config: EmulatorConfig | None = None, *,
               save: Path | None = None) -> Starlette:
    """A Starlette app serving ``tenant`` as Microsoft Graph v1.0 under ``/v1.0``.

    ``save``: on shutdown, write the live state back to this file as a tenant file.
    """
    em = Emulator(tenant, config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if save is not None:
                em.state.save(Path(save))
            em.close()

    arm = create_arm_app(em)  # Connect Health's ARM API at /arm (emulator/arm.py)
    app = Starlette(routes=[Mount("/arm", arm), Route("/{path:path}", _Endpoint(em),
                                                      methods=["GET", "POST", "PATCH", "DELETE", "PUT"])],
                    lifespan=lifespan)
    app.state.emulator, app.state.arm = em, arm.state.arm
    return app


