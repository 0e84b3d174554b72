"""Collection reads: query options, ``$filter``, paging with opaque ``@odata.nextLink``."""

from __future__ import annotations

import builtins
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .odata import FilterError, candidates, check_filter, evaluate, parse_filter
from .shapes import GraphError, bad_request, decode_token, encode_token, known_properties, project
from .state import Collection

__all__ = ["Lister", "Req", "Resp", "View", "list_view", "parse_select"]

MAX_TOP = 999


@dataclass
class Req:
    method: str
    path: str                      # after /v1.0/, no leading slash
    query: dict[str, str]
    headers: dict[str, str]        # lower-case names
    body: Any = None
    base: str = "http://127.0.0.1/v1.0"
    token: str | None = None       # the bearer token, once authenticated


@dataclass
class Resp:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    objects: int = 0


@dataclass
class View:
    """What a listing reads: a live collection, or a small materialized list."""

    context: str                   # @odata.context fragment, e.g. "users"
    type_name: str                 # user | group | orgContact | directoryRole | ...
    coll: Collection | None = None
    items: Callable[[], Sequence[dict[str, Any]]] | None = None
    cast: bool = False             # add @odata.type to each item (directoryObject collections)
    key: str = ""                  # identity for the result cache and paging tokens

    def seen(self) -> set[str]:
        if self.coll is not None:
            return self.coll.keys
        keys: set[str] = set()
        for item in (self.items() if self.items else ()):
            keys.update(item)
        return keys


def parse_select(raw: str | None, type_name: str, seen: set[str]) -> list[str] | None:
    if raw is None:
        return None
    props = [p.strip() for p in raw.split(",") if p.strip()]
    known = known_properties(type_name, seen)
    for p in props:
        if p not in known:
            raise bad_request(f"Could not find a property named '{p}' on type 'microsoft.graph.{type_name}'.")
    return props


def _top(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_TOP:
        raise bad_request(f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_TOP} inclusive.",
                          "Request_UnsupportedQuery" if raw.strip().isdigit() else "BadRequest")
    return int(raw)


def is_advanced(req: Req, params: dict[str, Any]) -> bool:
    return req.headers.get("consistencylevel", "").lower() == "eventual" and params.get("count") is True


class Lister:
    """Answers list requests for one emulator; caches filtered results per state version."""

    def __init__(self, page_size: int, secret: bytes, version: Callable[[], int]) -> None:
        self.page_size = page_size
        self.page_cap: int | None = None  # server-side page limit below $top (Graph may send fewer)
        self.secret = secret
        self.version = version
        self._cache: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = OrderedDict()

    def params(self, req: Req, view: View) -> dict[str, Any]:
        q = req.query
        if "$skip" in q:
            raise bad_request("'$skip' is not supported by the service.", "Request_BadRequest")
        if "$skiptoken" in q:
            state = decode_token(q["$skiptoken"], self.secret)
            if state.get("view") != view.key:
                raise bad_request("The specified page token value has expired or is invalid: '$skiptoken'.",
                                  "Directory_ExpiredPageToken")
            return state
        if "$expand" in q:
            raise bad_request(f"$expand is not supported on this request by the emulator: '{q['$expand']}'.",
                              "Request_UnsupportedQuery")
        count = q.get("$count")
        if count not in (None, "true", "false"):
            raise bad_request(f"Invalid $count value '{count}'.", "BadRequest")
        return {"view": view.key, "filter": q.get("$filter"), "select": q.get("$select"),
                "top": min(_top(q.get("$top"), self.page_size), self.page_cap or MAX_TOP), "count": count == "true",
                "search": q.get("$search"), "orderby": q.get("$orderby"), "offset": 0, "raw": True}

    def list(self, req: Req, view: View) -> Resp:
        p = self.params(req, view)
        seen = view.seen()
        select = parse_select(p["select"], view.type_name, seen)
        advanced = is_advanced(req, p)
        node = self._filter(p, view, seen, advanced)
        self._check_search_order(p, advanced, node is not None,
                                 req.headers.get("consistencylevel", "").lower() == "eventual")
        if node is None and not p["search"] and not p["orderby"] and view.coll is not None:
            objs, nxt = self._raw_page(view.coll, p["offset"], p["top"])
            total = len(view.coll)
        else:
            results = self._results(view, node, p)
            objs, total = results[p["offset"]:p["offset"] + p["top"]], len(results)
            nxt = p["offset"] + p["top"] if p["offset"] + p["top"] < total else None
            p["raw"] = False
        return self._page(req, view, p, objs, select, nxt, total if advanced else None)

    def _filter(self, p: dict[str, Any], view: View, seen: set[str], advanced: bool) -> tuple[Any, ...] | None:
        if not p["filter"]:
            return None
        try:
            node = parse_filter(p["filter"])
            fc = check_filter(node, view.type_name, known_properties(view.type_name, seen))
        except FilterError as e:
            raise bad_request(e.message, e.code) from None
        if fc.advanced and not advanced:
            raise bad_request("Unsupported or invalid query filter clause specified: this filter needs an "
                              "advanced query (ConsistencyLevel: eventual header and $count=true).",
                              "Request_UnsupportedQuery")
        return node

    @staticmethod
    def _check_search_order(p: dict[str, Any], advanced: bool, filtered: bool, consistency: bool) -> None:
        if p["search"] and not consistency:
            raise bad_request("Request with $search query parameter only works through MSGraph with a special "
                              "request header: 'ConsistencyLevel: eventual'", "Request_UnsupportedQuery")
        order = p["orderby"]
        if order:
            field_, _, direction = order.strip().partition(" ")
            if field_ not in ("displayName", "userPrincipalName", "createdDateTime", "deletedDateTime") or \
                    direction.strip().lower() not in ("", "asc", "desc"):
                raise bad_request(f"Unsupported $orderby: '{order}'.", "Request_UnsupportedQuery")
            if (filtered or field_ != "displayName" and field_ != "userPrincipalName") and not advanced:
                raise bad_request("Sorting not supported for current query without advanced query "
                                  "parameters.", "Request_UnsupportedQuery")

    def _raw_page(self, coll: Collection, offset: int, top: int) -> tuple[builtins.list[dict[str, Any]], int | None]:
        out: builtins.list[dict[str, Any]] = []
        order, i, n = coll.order, offset, len(coll.order)
        while i < n and len(out) < top:
            oid = order[i]
            i += 1
            if oid is not None:
                out.append(coll.objs[oid])
        while i < n and order[i] is None:
            i += 1
        return out, (i if i < n else None)

    def _results(self, view: View, node: tuple[Any, ...] | None, p: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        key = (view.key, p["filter"], p["search"], p["orderby"], self.version())
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        objs = self._compute(view, node, p)
        self._cache[key] = objs
        while len(self._cache) > 16:
            self._cache.popitem(last=False)
        return objs

    def _compute(self, view: View, node: tuple[Any, ...] | None, p: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        if view.coll is not None:
            ids = candidates(node, view.coll) if node is not None else None
            pool: Any = (view.coll.objs[i] for i in view.coll.sort_ids(ids)) if ids is not None else view.coll
        else:
            pool = view.items() if view.items else ()
        objs = [o for o in pool if node is None or evaluate(node, o)]
        if p["search"]:
            objs = [o for o in objs if _search(p["search"], o)]
        if p["orderby"]:
            field_, _, direction = p["orderby"].strip().partition(" ")
            objs.sort(key=lambda o: str(o.get(field_) or "").casefold(),
                      reverse=direction.strip().lower() == "desc")
        return objs

    def _page(self, req: Req, view: View, p: dict[str, Any], objs: builtins.list[dict[str, Any]],
              select: builtins.list[str] | None, nxt: int | None, count: int | None) -> Resp:
        ctx = view.context + (f"({','.join(select)})" if select else "")
        body: dict[str, Any] = {"@odata.context": f"{req.base}/$metadata#{ctx}"}
        if count is not None:
            body["@odata.count"] = count
        body["value"] = [project(o, view.type_name, select, view.cast) for o in objs]
        if nxt is not None:
            token = encode_token({**p, "offset": nxt}, self.secret)
            body["@odata.nextLink"] = f"{req.base}/{req.path}?$skiptoken={token}"
        return Resp(200, body, objects=len(objs))


def _search(expr: str, obj: dict[str, Any]) -> bool:
    text = expr.strip().strip('"')
    prop, _, needle = text.partition(":")
    if prop not in ("displayName", "mail", "userPrincipalName", "mailNickname", "description"):
        raise GraphError(400, "Request_UnsupportedQuery", f"Unsupported $search property '{prop}'.")
    v = obj.get(prop)
    return isinstance(v, str) and needle.casefold() in v.casefold()


def list_view(lister: Lister, req: Req, view: View) -> Resp:
    return lister.list(req, view)
