"""The Connect Health part of Azure Resource Manager, served from the same tenant file as the Graph emulator.

Mounted at ``/arm`` by :func:`reconciler.emulator.create_app`, so one emulator serves Graph at
``http://127.0.0.1:PORT/v1.0`` and ARM at ``http://127.0.0.1:PORT/arm`` (``scan --health-url``).
Paths, parameters and shapes follow the ``Microsoft.ADHybridHealthService`` REST spec:

* ``GET /providers/Microsoft.ADHybridHealthService/services?serviceType=AadSyncService`` — the sync
  service, present only when the tenant file has a ``connectHealthErrors`` list (no list: Connect
  Health is not set up for the tenant, so no service);
* ``GET …/services/{serviceName}/exporterrors/counts`` — ``{errorBucket, count, truncated}`` per bucket;
* ``GET …/services/{serviceName}/exporterrors/listV2?errorBucket=B`` — the items of bucket B exactly as
  the file holds them. Like ARM, one response holds the whole list, unless ``page_size`` is set: then
  each response carries ``page_size`` items and a ``nextLink``, to exercise a client's paging.

``api-version`` is required (400 ``MissingApiVersionParameter``), ``errorBucket`` too. When the Graph
emulator checks tokens (``EmulatorConfig.permissions``), ARM does as well: a token must carry
``Microsoft.ADHybridHealthService/services/read`` (the Connect Health Reader role's action), else 403
``AuthorizationFailed``; an unknown token is 401. Every request is appended to :attr:`ArmEmulator.log`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["READ_ACTION", "ArmEmulator", "ArmOptions", "bucket_of", "create_arm_app"]

READ_ACTION = "Microsoft.ADHybridHealthService/services/read"
PROVIDER = "/providers/Microsoft.ADHybridHealthService"
BUCKETS = ("DuplicateAttributeError", "DataMismatch", "DataValidationError", "LargeAttribute",
           "FederatedDomainChange", "Others")
_BUCKET_OF_TYPE = {
    "attributevaluemustbeunique": "DuplicateAttributeError",
    "quarantinedattributevaluemustbeunique": "DuplicateAttributeError",
    "invalidsoftmatch": "DataMismatch", "objecttypemismatch": "DataMismatch", "invalidhardmatch": "DataMismatch",
    "identitydatavalidationfailed": "DataValidationError", "datavalidationfailed": "DataValidationError",
    "largeobject": "LargeAttribute", "exceededallowedlength": "LargeAttribute",
    "federateddomainchangeerror": "FederatedDomainChange",
}


def bucket_of(item: Mapping[str, Any]) -> str:
    """The portal category (error bucket) an export error is listed under."""
    return _BUCKET_OF_TYPE.get(str(item.get("type") or "").casefold(), "Others")


@dataclass
class ArmOptions:
    """``page_size``: items per listV2 response (None: all, as ARM does). ``refuse``: 403 every request
    (a principal without RBAC read, even when the Graph side checks no tokens)."""

    page_size: int | None = None
    refuse: bool = False


class ArmEmulator:
    def __init__(self, graph: Any, options: ArmOptions | None = None) -> None:
        self.graph = graph  # the Graph Emulator: its tenant state and token table
        self.options = options or ArmOptions()
        self.log: list[dict[str, Any]] = []

    @property
    def errors(self) -> list[dict[str, Any]] | None:
        raw = self.graph.state.extra.get("connectHealthErrors")
        return [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else None

    @property
    def service_name(self) -> str:
        org = self.graph.state.organization
        initial = next((d.get("name") for d in org.get("verifiedDomains") or () if d.get("isInitial")), None)
        return f"AadSyncService-{initial or org.get('id') or 'tenant'}"

    def service(self) -> dict[str, Any]:
        org = self.graph.state.organization
        return {"activeAlerts": 0, "disabled": False, "displayName": self.service_name, "health": "Healthy",
                "serviceId": str(org.get("id") or ""), "serviceName": self.service_name,
                "tenantId": str(org.get("id") or ""), "type": "AadSyncService", "simpleProperties": None,
                "id": f"{PROVIDER}/services/{self.service_name}"}

    # ------------------------------------------------------------ checks

    def check(self, request: Request) -> JSONResponse | None:
        if self.options.refuse:
            return self._denied()
        perms = getattr(self.graph.config, "permissions", None)
        if perms is not None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token not in perms:
                return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")
            if READ_ACTION not in perms[token]:
                return self._denied()
        if not request.query_params.get("api-version"):
            return _error(400, "MissingApiVersionParameter",
                          "The api-version query parameter (?api-version=) is required for all requests.")
        return None

    @staticmethod
    def _denied() -> JSONResponse:
        return _error(403, "AuthorizationFailed", "The client does not have authorization to perform action "
                      f"'{READ_ACTION}' over scope '{PROVIDER}' or the scope is invalid.")

    # ------------------------------------------------------------ endpoints

    async def services(self, request: Request) -> JSONResponse:
        stype = request.query_params.get("serviceType")
        found = [self.service()] if self.errors is not None and stype in (None, "", "AadSyncService") else []
        return self._answer(request, {"value": found, "nextLink": None, "totalCount": len(found),
                                      "continuationToken": None})

    async def counts(self, request: Request) -> JSONResponse:
        if (missing := self._service_or_404(request)) is not None:
            return missing
        errors = self.errors or []
        rows = [{"errorBucket": b, "count": sum(1 for e in errors if bucket_of(e) == b), "truncated": False}
                for b in BUCKETS]
        rows.append({"errorBucket": "All", "count": len(errors), "truncated": False})
        return self._answer(request, {"value": rows})

    async def list_v2(self, request: Request) -> JSONResponse:
        if (missing := self._service_or_404(request)) is not None:
            return missing
        bucket = request.query_params.get("errorBucket")
        if not bucket:
            return self._answer(request, _body(400, "BadRequest", "errorBucket is required."), 400)
        items = [e for e in self.errors or [] if bucket == "All" or bucket_of(e) == bucket]
        size = self.options.page_size
        if not size:
            return self._answer(request, {"value": items})
        try:
            start = max(0, int(request.query_params.get("skipToken") or 0))
        except ValueError:
            return self._answer(request, _body(400, "BadRequest", "skipToken is not valid."), 400)
        body: dict[str, Any] = {"value": items[start:start + size]}
        if start + size < len(items):
            query = {k: v for k, v in request.query_params.items() if k != "skipToken"}
            query["skipToken"] = str(start + size)
            body["nextLink"] = str(request.url.replace(query=urlencode(query)))
        return self._answer(request, body)

    def _service_or_404(self, request: Request) -> JSONResponse | None:
        name = request.path_params["name"]
        if self.errors is None or name.casefold() != self.service_name.casefold():
            return self._answer(request, _body(404, "ResourceNotFound", f"The service {name!r} was not found."), 404)
        return None

    def _answer(self, request: Request, body: dict[str, Any], status: int = 200) -> JSONResponse:
        self.log.append({"method": request.method, "path": request.url.path, "query": dict(request.query_params),
                         "status": status, "items": len(body.get("value") or [])})
        return JSONResponse(body, status_code=status)


def _body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(_body(status, code, message), status_code=status)


def create_arm_app(graph: Any, options: ArmOptions | None = None) -> Starlette:
    """The ARM app over the Graph emulator ``graph`` (its tenant state and tokens); ``app.state.arm`` is the
    :class:`ArmEmulator` (``log``)."""
    arm = ArmEmulator(graph, options)

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            refused = arm.check(request)
            if refused is not None:
                arm.log.append({"method": request.method, "path": request.url.path,
                                "query": dict(request.query_params), "status": refused.status_code, "items": 0})
                return refused
            return await handler(request)
        return endpoint

    base = PROVIDER + "/services"
    app = Starlette(routes=[
        Route(base, guarded(arm.services), methods=["GET"]),
        Route(base + "/{name}/exporterrors/counts", guarded(arm.counts), methods=["GET"]),
        Route(base + "/{name}/exporterrors/listV2", guarded(arm.list_v2), methods=["GET"]),
    ])
    app.state.arm = arm
    return app
