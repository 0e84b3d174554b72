"""Graph adapter: reads provisioning errors and every possible holder of each value.

Two strategies (docs/graph.md):

* **targeted** — error objects through ``$filter`` on ``onPremisesProvisioningErrors``,
  then holder lookups combining up to 15 ``eq``/``any`` clauses per request,
  20 requests per ``$batch``, several batches in flight;
* **full** — page users, groups, contacts and the recycle bin at ``$top=999``
  with ``$select``, collections in parallel, users split into ``startswith``
  partitions (checked against ``$count``, else read as one chain). Pages are
  streamed: only error objects and holders of a conflicting value are kept.

``auto`` reads the error objects first, then compares the lookups the
targeted strategy needs with the pages a full read needs (from ``$count``).

Everything goes through :class:`~.graph_http.GraphHttp` (raw JSON + orjson, one
retry layer); the JSON is mapped with :func:`.graphmap.to_cloud_object`.
"""

from __future__ import annotations

import asyncio
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable, Iterator

import orjson

from ..core.anchors import guid_to_immutable_id
from ..core.errors import AuthError, DirectoryError, PermissionDenied
from ..core.model import ORIGINS, CloudObject, CloudSnapshot, ErrorRecord, ObjectKind, Origin, fold, strip_smtp
from .base import Progress
from .graph_http import BatchRequest, BatchResponse, GraphHttp, GraphStatusError, chunks
from .graphmap import CONTACT_SELECT, GROUP_SELECT, USER_SELECT, to_cloud_object, to_domains

__all__ = ["GraphSource", "odata_quote", "holder_filters", "Collection", "COLLECTIONS", "TenantWriter"]

MAX_CLAUSES = 15
#: item statuses (after the client's retries) that mean "could not read", never "not there"
_TRANSIENT = frozenset({0, 401, 408, 429, 500, 502, 503, 504})
ADVANCED = {"ConsistencyLevel": "eventual"}
_COUNT_URL = "{}?$count=true&$top=1&$select=id"
_UPN_FIRST = "abcdefghijklmnopqrstuvwxyz0123456789_-'!#^~.$%&*+=?`{|}/"


def odata_quote(value: str) -> str:
    """An OData string literal: single quotes, ``'`` doubled."""
    return "'" + value.replace("'", "''") + "'"


PIM = "PIM role eligibility"


def no_pim_licence(body: Any) -> bool:
    """Graph's answer for a tenant without the licence PIM needs (400 ``AadPremiumLicenseRequired``, "The tenant
    needs an AAD Premium 2 license."): there is no eligibility at all, which is known, not unknown."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return False
    text = f"{err.get('code') or ''} {err.get('message') or ''}".casefold()
    return "aadpremiumlicenserequired" in text or "premium 2 license" in text or "p2 license" in text


@dataclass(frozen=True, slots=True)
class Collection:
    key: str  # tenant-file key
    path: str
    kind: ObjectKind
    select: str
    deleted: bool = False
    has_upn: bool = False


COLLECTIONS = (
    Collection("users", "/users", ObjectKind.USER, USER_SELECT, has_upn=True),
    Collection("groups", "/groups", ObjectKind.GROUP, GROUP_SELECT),
    Collection("contacts", "/contacts", ObjectKind.CONTACT, CONTACT_SELECT),
    Collection("deletedUsers", "/directory/deletedItems/microsoft.graph.user", ObjectKind.USER,
               USER_SELECT + ",deletedDateTime", deleted=True, has_upn=True),
    Collection("deletedGroups", "/directory/deletedItems/microsoft.graph.group", ObjectKind.GROUP,
               GROUP_SELECT + ",deletedDateTime", deleted=True),
)
_ACTIVE = COLLECTIONS[:3]


def _clauses(value: str, has_upn: bool) -> list[str]:
    q = odata_quote(value)
    out = [f"userPrincipalName eq {q}"] if has_upn else []
    return out + [f"mail eq {q}", f"proxyAddresses/any(p:p eq {odata_quote('smtp:' + value)})"]


def holder_filters(values: Iterable[str], has_upn: bool, limit: int = MAX_CLAUSES) -> list[str]:
    """``$filter`` strings finding every holder of ``values``, at most ``limit`` clauses each."""
    per = max(1, limit // (3 if has_upn else 2))
    vals = list(values)
    return [" or ".join(c for v in vals[i:i + per] for c in _clauses(v, has_upn))
            for i in range(0, len(vals), per)]


def raw_values(d: dict[str, Any]) -> Iterator[str]:
    """Folded UPN, mail and SMTP proxies of a raw Graph object (no mapping needed)."""
    for k in ("userPrincipalName", "mail"):
        v = d.get(k)
        if isinstance(v, str) and v:
            yield fold(v)
    for p in d.get("proxyAddresses") or ():
        if isinstance(p, str) and p[:5].lower() == "smtp:":
            yield fold(p)


@dataclass(slots=True)
class _Read:
    """Mutable state of one read: kept objects (by id), raw copies for --save-tenant, notes."""

    objects: dict[str, CloudObject] = field(default_factory=dict)
    raw: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    keep_raw: bool = False
    warnings: list[str] = field(default_factory=list)  # time stamps kept raw, …

    def add(self, coll: Collection, d: dict[str, Any]) -> None:
        if d.get("id") in self.objects:
            return
        try:
            obj = to_cloud_object(d, coll.kind, deleted=coll.deleted, warnings=self.warnings)
        except ValueError as e:
            raise DirectoryError(f"Graph returned a malformed object in {coll.path}: {e}") from None
        self.objects[obj.id] = obj
        if self.keep_raw:
            self.raw.setdefault(coll.key, []).append(d)


class GraphSource:
    """:class:`~.base.CloudSource` over Microsoft Graph or a Graph-compatible URL."""

    def __init__(self, http_factory: Callable[[], GraphHttp], *, strategy: str = "auto",
                 save_tenant: Path | None = None, label: str = "graph", partitions: int = 8,
                 targeted_max_lookups: int = 2000, origins: Iterable[str] = ORIGINS,
                 since: Any = None, health: Any = None, report_window: float = 10.0,
                 report_page_size: int = 1000) -> None:
        if strategy not in ("auto", "targeted", "full"):
            raise ValueError(f"strategy must be auto, targeted or full; got {strategy!r}")
        self._factory = http_factory
        self.strategy = strategy
        self.save_tenant = save_tenant
        self.label = label
        self.partitions = max(1, partitions)
        self.targeted_max_lookups = targeted_max_lookups
        self.chosen: str | None = None
        self.seen: dict[str, int] = {}  # objects paged per collection by a full read
        self.counters: dict[str, float | int] = {}
        self.origins = tuple(o for o in ORIGINS if o in set(origins))
        self.since = since  # datetime: start of the Cloud Sync window (None: the default 7 days)
        self.health = health  # a HealthReader (Connect Health over ARM), or None
        #: on-prem hint set by the scan before reading: objectGUID -> the on-prem object's UPN/mail/SMTP values,
        #: so holders of a Cloud Sync failure that names no value are read too
        self.onprem_values: Callable[[str], list[str]] | None = None
        self.origin_requests: dict[str, int] = {}
        self.report_window = report_window  # the provisioning-log throttle window (5 requests per 10 s)
        self.report_page_size = report_page_size  # $top of each provisioning-log request

    async def read(self, progress: Progress) -> CloudSnapshot:
        async with self._factory() as http:
            if http.on_retry is None:
                http.on_retry = progress.note  # -v (and a terminal) shows each retry and its wait
            try:
                return await _Reader(self, http, progress).run()
            except DirectoryError as e:
                c = http.counters
                e.args = (f"{e}; the read stopped after {_n(c.succeeded, 'successful Graph request')} "
                          f"({_n(c.pages, 'page')} read)",)
                raise
            finally:
                self.counters = http.counters.as_dict()


class _Reader:
    def __init__(self, src: GraphSource, http: GraphHttp, progress: Progress) -> None:
        self.src, self.http, self.progress = src, http, progress
        self.state = _Read(keep_raw=src.save_tenant is not None)
        self._reported = {"requests": 0, "throttled": 0}
        self.writer: TenantWriter | None = None
        self.role_groups: dict[str, list[str]] = {}
        self.records: list[ErrorRecord] = []
        self.origins_read: list[str] = []
        self.warnings: list[str] = []
        self.raw_logs: list[dict[str, Any]] = []
        self.raw_health: list[dict[str, Any]] = []

    # -- orchestration ------------------------------------------------------------------

    async def run(self) -> CloudSnapshot:
        self.progress.stage(f"reading {self.src.label}")
        boot, _ = await gather_all(self.bootstrap(), self.other_origins())
        await self.error_objects()
        values = self.conflict_values()
        values.update(self.record_values())
        strategy = self.choose(values, boot["counts"])
        self.src.chosen = strategy
        self.role_groups = boot["groups"]
        if strategy != "targeted" and boot["counts"]:  # the size is known: "objects read N of ~M"
            self.progress.stage(f"reading {self.src.label}", total=sum(boot["counts"].values()))
        if strategy == "targeted":
            await self.targeted(values)
        else:
            if self.src.save_tenant is not None:
                self.state.keep_raw, self.state.raw = False, {}
                self.writer = TenantWriter(self.src.save_tenant)
            try:
                await self.full(values)
            except BaseException:
                if self.writer is not None:
                    self.writer.discard()  # no half-written spools left behind
                raise
        self.tick(0)
        snap = self.snapshot(boot)
        if self.src.save_tenant is not None:
            self.save(boot)
        return snap

    def tick(self, n: int) -> None:
        c = self.http.counters
        delta = {"requests": c.requests - self._reported["requests"],
                 "throttled": c.throttled - self._reported["throttled"]}
        self._reported = {"requests": c.requests, "throttled": c.throttled}
        self.progress.advance(n, objects=n, **delta)

    def note(self, message: str) -> None:
        self.state.notes.append(message)
        self.progress.note(message)

    async def pages(self, path: str, params: dict[str, Any],
                    headers: dict[str, str] | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        async for page in self.http.paginate(path, params, headers):
            yield page
            self.tick(len(page))

    # -- tenant-level reads: one bootstrap $batch ------------------------------------------

    def bootstrap_requests(self) -> list[BatchRequest]:
        """Organization, sync flags, roles and the error objects: one ``$batch`` round trip."""
        q = self.http.url
        rel = len(self.http.base_url)
        reqs = [BatchRequest("org", "/organization?$select=id,displayName,verifiedDomains"),
                BatchRequest("sync", "/directory/onPremisesSynchronization"),
                BatchRequest("assignments", "/roleManagement/directory/roleAssignments"),
                BatchRequest("eligibility", "/roleManagement/directory/roleEligibilitySchedules"),
                BatchRequest("roles", "/directoryRoles?$select=id,displayName,roleTemplateId"),
                BatchRequest("rolegroups", q("/groups", {"$filter": "isAssignableToRole eq true",
                                                         "$select": GROUP_SELECT, "$count": "true",
                                                         "$top": 999})[rel:], headers=ADVANCED)]
        for c in (_ACTIVE if Origin.CONNECT.value in self.src.origins else ()):
            reqs.append(BatchRequest("err-" + c.key, q(c.path, {
                "$filter": "onPremisesProvisioningErrors/$count ne 0", "$count": "true",
                "$select": c.select, "$top": 999})[rel:], headers=ADVANCED))
        if self.src.strategy in ("auto", "full"):  # auto: to choose; full: "objects read N of ~M"
            reqs += [BatchRequest("count-" + c.key, _COUNT_URL.format(c.path), headers=ADVANCED)
                     for c in _ACTIVE]
        return reqs

    async def bootstrap(self) -> dict[str, Any]:
        reqs = self.bootstrap_requests()
        res = await self.http.batch(reqs, raise_errors=False)
        got = {r.id: (q, r) for q, r in zip(reqs, res)}
        for q, r in got.values():  # optional reads may be refused (403), but never lost to a fault
            if r.status in _TRANSIENT:
                raise self.http.error_for_item(q, r)
        org = await self.organization(*got["org"])
        features = self.features(*got["sync"])
        assignments, eligibility, directory, groups, *_ = await gather_all(
            self.optional_list(*got["assignments"], "active role assignments"),
            self.optional_list(*got["eligibility"], PIM),
            self.directory_roles(*got["roles"]), self.role_group_members(*got["rolegroups"]),
            *(self.errors_in(c, *got["err-" + c.key]) for c in _ACTIVE if "err-" + c.key in got))
        if assignments is None and directory is None:
            # the guard that keeps admins from being matched needs active role holders: a refusal stops
            # the scan (exit 5, naming the permission) instead of reading as "nobody holds a role"
            raise self.http.error_for_item(*got["assignments"])
        directory = directory or []
        counts = {c.key: _odata_count(got["count-" + c.key][1]) for c in _ACTIVE} if "count-users" in got else {}
        return {"org": org, "features": features, "assignments": assignments, "eligibility": eligibility,
                "directory": directory, "groups": groups,
                "counts": counts if all(v is not None for v in counts.values()) and counts else None}

    async def items(self, req: BatchRequest, resp: BatchResponse) -> AsyncIterator[list[dict[str, Any]]]:
        """The item's first page, then its nextLink chain (raises the mapped error on failure)."""
        if not 200 <= resp.status < 300:
            raise self.http.error_for_item(req, resp)
        body = resp.body if isinstance(resp.body, dict) else {}
        yield body.get("value") or []
        if body.get("@odata.nextLink"):
            async for page in self.http.paginate(body["@odata.nextLink"], headers=req.headers):
                yield page

    async def organization(self, req: BatchRequest, resp: BatchResponse) -> dict[str, Any]:
        value = [o async for page in self.items(req, resp) for o in page]
        if not value or not isinstance(value[0], dict) or not value[0].get("id"):
            raise DirectoryError("Graph /organization returned no tenant id")
        return value[0]

    def features(self, req: BatchRequest, resp: BatchResponse) -> dict[str, Any] | None:
        if resp.status == 403:
            self.note("sync feature flags unknown: reading /directory/onPremisesSynchronization needs "
                      "delegated OnPremDirectorySynchronization.Read.All as a Global Administrator")
            return None
        if not 200 <= resp.status < 300:
            self.note(f"sync feature flags unknown: Graph answered HTTP {resp.status}")
            return None
        body = resp.body if isinstance(resp.body, dict) else {}
        value = body.get("value")
        item = value[0] if isinstance(value, list) and value else body
        feats = item.get("features") if isinstance(item, dict) else None
        return dict(feats) if isinstance(feats, dict) else None

    async def optional_list(self, req: BatchRequest, resp: BatchResponse, what: str) -> list[dict[str, Any]] | None:
        if what == PIM and no_pim_licence(resp.body):
            # PIM does not exist without the licence: nobody can be eligible (read, none), not "unknown"
            self.note(f"{what}: the tenant has no Entra ID P2 / ID Governance licence, so nobody is eligible")
            return []
        if not 200 <= resp.status < 300:
            why = "not permitted" if resp.status == 403 else f"HTTP {resp.status}"
            self.note(f"{what} unknown ({why}); the hard-match guard will say so")
            return None
        return [o async for page in self.items(req, resp) for o in page]

    async def directory_roles(self, req: BatchRequest, resp: BatchResponse) -> list[dict[str, Any]] | None:
        if not 200 <= resp.status < 300:
            self.note("directory roles unknown (not readable)")
            return None
        roles = [r async for page in self.items(req, resp) for r in page if isinstance(r, dict) and r.get("id")]
        members = await self.members_of("/directoryRoles", [r["id"] for r in roles])
        return [{"id": r["id"], "displayName": r.get("displayName"), "roleTemplateId": r.get("roleTemplateId"),
                 "members": members.get(r["id"], [])} for r in roles]

    async def role_group_members(self, req: BatchRequest, resp: BatchResponse) -> dict[str, list[str]]:
        """Members of role-assignable groups; the groups themselves join the snapshot."""
        if not 200 <= resp.status < 300:
            self.note("role-assignable groups unknown (not readable)")
            return {}
        ids = []
        async for page in self.items(req, resp):
            for g in page:
                self.state.add(COLLECTIONS[1], g)
                ids.append(g["id"])
        return await self.members_of("/groups", ids)

    async def members_of(self, base: str, ids: list[str]) -> dict[str, list[str]]:
        async def one(chunk: list[str]) -> list[tuple[str, list[str]]]:
            reqs = [BatchRequest(str(i), f"{base}/{oid}/members?$select=id") for i, oid in enumerate(chunk)]
            res = await self.http.batch(reqs)
            return [(oid, [m["id"] async for page in self.items(q, r) for m in page
                           if isinstance(m, dict) and "id" in m]) for oid, q, r in zip(chunk, reqs, res)]
        parts = await gather_all(*(one(c) for c in chunks(ids, 20)))
        return {oid: m for part in parts for oid, m in part}

    async def errors_in(self, coll: Collection, req: BatchRequest, resp: BatchResponse) -> None:
        """Every object with a provisioning error (any category); falls back to PropertyConflict."""
        if resp.status != 400:
            async for page in self.items(req, resp):
                for d in page:
                    self.state.add(coll, d)
                self.tick(len(page))
            return
        self.note(f"{coll.key}: the server refused the advanced error filter; reading PropertyConflict "
                  "errors only (other categories may be missing)")
        params = {"$select": coll.select, "$top": 999,
                  "$filter": "onPremisesProvisioningErrors/any(o:o/category eq 'PropertyConflict')"}
        async for page in self.pages(coll.path, params):
            for d in page:
                self.state.add(coll, d)

    # -- the other origins: Exchange, Cloud Sync, Connect Health --------------------------------

    async def other_origins(self) -> None:
        jobs = []
        if Origin.EXCHANGE.value in self.src.origins:
            jobs.append(self.exchange())
        if Origin.CLOUD_SYNC.value in self.src.origins:
            jobs.append(self.cloud_sync())
        if Origin.HEALTH.value in self.src.origins and self.src.health is not None:
            jobs.append(self.connect_health())
        elif Origin.HEALTH.value in self.src.origins:
            self.warnings.append("Connect Health was not read: no Azure Resource Manager to ask (give --health-url "
                                 "URL, or use --graph, whose cloud's ARM is used); its errors are missing, this is "
                                 "not 'no errors'")
        await gather_all(*jobs)
        if Origin.CONNECT.value in self.src.origins:
            self.origins_read.insert(0, Origin.CONNECT.value)

    async def exchange(self) -> None:
        """Unresolved serviceProvisioningErrors: not filterable on the server, so one light pass
        (``$select=id,displayName,serviceProvisioningErrors``, ``$top=999``) per collection."""
        from .exchange import service_error_records

        before = self.http.counters.requests

        select = "id,displayName,serviceProvisioningErrors"

        async def chain(coll: Collection, flt: str | None, found: list[ErrorRecord]) -> int:
            params: dict[str, Any] = {"$select": select + (",userPrincipalName" if coll.has_upn else ""), "$top": 999}
            if flt:
                params["$filter"] = flt
            n = 0
            async for page in self.pages(coll.path, params):
                n += len(page)
                for d in page:
                    if d.get("serviceProvisioningErrors"):
                        found += service_error_records(d, coll.kind, self.warnings)
            return n

        async def one(coll: Collection) -> None:
            found: list[ErrorRecord] = []
            total = await self.count(coll) if coll.has_upn and self.src.partitions > 1 else None
            if total is not None and total >= 999 * 4:  # big: the same startswith partitions as a full read
                groups = [_UPN_FIRST[i::self.src.partitions] for i in range(self.src.partitions)]
                flts = [" or ".join(f"startswith(userPrincipalName,{odata_quote(ch)})" for ch in g) for g in groups]
                try:
                    if sum(await gather_all(*(chain(coll, f, found) for f in flts))) == total:
                        self.records += found
                        return
                except GraphStatusError as e:
                    if e.status != 400:
                        raise
                found = []
            await chain(coll, None, found)
            self.records += found
        await gather_all(*(one(c) for c in _ACTIVE))
        self.origins_read.append(Origin.EXCHANGE.value)
        self.src.origin_requests["exchange"] = self.http.counters.requests - before

    async def cloud_sync(self) -> None:
        from datetime import datetime, timezone

        from .cloudsync import DEFAULT_SINCE, WINDOW_REQUESTS, WindowLimiter, failure_records, read_failures

        since = self.src.since or (datetime.now(timezone.utc) - DEFAULT_SINCE)
        before = self.http.counters.requests
        try:
            items = await read_failures(self.http, since, WindowLimiter(WINDOW_REQUESTS, self.src.report_window),
                                        top=self.src.report_page_size)
        except (PermissionDenied, AuthError) as e:
            licence = " (or the tenant has no Entra ID P1/P2 licence)" if "premium" in str(e).lower() else ""
            self.warnings.append(
                "Cloud Sync was not read: Graph refused GET /auditLogs/provisioning; grant AuditLog.Read.All"
                f"{licence}. Its errors are missing from this scan (this is not 'no errors')")
            return
        finally:
            self.src.origin_requests["cloud_sync"] = self.http.counters.requests - before
        recs, warns = failure_records(items, since)
        self.records += recs
        self.warnings += warns
        self.raw_logs = items
        self.origins_read.append(Origin.CLOUD_SYNC.value)

    async def connect_health(self) -> None:
        from .health import records

        got = await self.src.health.read(self.progress)
        self.warnings += got.warnings
        self.src.origin_requests["health"] = got.requests
        if got.read:
            self.records += records(got.errors)
            self.raw_health = got.items
            self.origins_read.append(Origin.HEALTH.value)

    async def error_objects(self) -> None:
        """The cloud objects the other origins name: by id (Exchange, a Cloud Sync update) and by anchor."""
        ids: dict[str, ObjectKind | None] = {}
        anchors: set[str] = set()
        for r in self.records:
            if r.object_id and r.object_id not in self.state.objects:
                ids.setdefault(r.object_id, r.object_kind)
            if r.object_id is None:
                if r.onprem_anchor:
                    anchors.add(r.onprem_anchor)
                if r.onprem_guid:
                    try:
                        anchors.add(guid_to_immutable_id(r.onprem_guid))
                    except ValueError:
                        pass
        rel = len(self.http.base_url)
        jobs: list[tuple[Collection, BatchRequest]] = []
        for i, (oid, kind) in enumerate(sorted(ids.items())):
            for c in ([c for c in _ACTIVE if c.kind is kind] if kind else list(_ACTIVE)):
                jobs.append((c, BatchRequest(f"id{i}-{c.key}", self.http.url(f"{c.path}/{oid}", {"$select": c.select})[rel:])))
        per = MAX_CLAUSES
        ordered = sorted(anchors)
        for i in range(0, len(ordered), per):
            flt = " or ".join(f"onPremisesImmutableId eq {odata_quote(a)}" for a in ordered[i:i + per])
            jobs.append((_ACTIVE[0], BatchRequest(f"anchor{i}", self.http.url(
                "/users", {"$filter": flt, "$select": _ACTIVE[0].select, "$top": 999})[rel:])))
        async def one(chunk: list[tuple[Collection, BatchRequest]]) -> None:
            res = await self.http.batch([q for _, q in chunk], raise_errors=False)
            for (coll, q), resp in zip(chunk, res):
                if resp.status == 404:
                    continue
                if not 200 <= resp.status < 300:
                    raise self.http.error_for_item(q, resp)
                body = resp.body if isinstance(resp.body, dict) else {}
                for d in body.get("value", [body]) if "value" in body else [body]:
                    if isinstance(d, dict) and d.get("id"):
                        self.state.add(coll, d)
        await gather_all(*(one(c) for c in chunks(jobs, 20)))  # batches in flight at once (the client caps it)

    def record_values(self) -> dict[str, str]:
        """Values the other origins name, plus the candidates of failures that name none."""
        out: dict[str, str] = {}
        for r in self.records:
            vals = [r.error.value] if r.error.value and "@" in r.error.value else []
            if not r.error.value:
                vals += [v for _, v in r.candidates]
                if r.onprem_guid and self.src.onprem_values is not None:
                    vals += self.src.onprem_values(r.onprem_guid)
            for v in vals:
                raw = strip_smtp(v.strip()).strip()
                if raw:
                    out.setdefault(fold(raw), raw)
        return out

    def conflict_values(self) -> dict[str, str]:
        """folded value -> value as written (for the query literal), from active error objects."""
        out: dict[str, str] = {}
        for o in self.state.objects.values():
            if o.deleted:
                continue
            for e in o.errors:
                raw = strip_smtp(e.value.strip()).strip()
                if raw:
                    out.setdefault(fold(raw), raw)
        return out

    # -- strategies -------------------------------------------------------------------------

    def lookups(self, values: dict[str, str]) -> int:
        n = len(values)
        return 2 * math.ceil(n / (MAX_CLAUSES // 3)) + 3 * math.ceil(n / (MAX_CLAUSES // 2))

    def choose(self, values: dict[str, str], counts: dict[str, int] | None) -> str:
        """targeted while its lookups fit the throttle budget or undercut a full read's pages."""
        if self.src.strategy != "auto":
            self.note(f"strategy {self.src.strategy} (as asked); {len(values)} conflicting values")
            return self.src.strategy
        need = self.lookups(values)
        pages = None if counts is None else sum(math.ceil(n / 999) + 1 for n in counts.values()) + 2
        pick = "targeted" if need <= self.src.targeted_max_lookups or (pages and need <= pages) else "full"
        size = "tenant size unknown" if counts is None else \
            f"a full read pages {sum(counts.values())} objects in ~{pages} requests"
        self.note(f"strategy auto -> {pick}: {len(values)} conflicting values need {need} filtered lookups "
                  f"(budget {self.src.targeted_max_lookups}); {size}")
        return pick

    async def targeted(self, values: dict[str, str]) -> None:
        raw = sorted(values.values(), key=fold)
        jobs: list[tuple[Collection, str]] = [(c, f) for c in COLLECTIONS
                                              for f in holder_filters(raw, c.has_upn)]
        deleted_refused: set[str] = set()
        batches = list(chunks(jobs, 20))
        await gather_all(*(self.lookup_batch(b, deleted_refused) for b in batches))
        for coll in COLLECTIONS:
            if coll.key in deleted_refused:
                self.note(f"{coll.key}: the server refused filtered lookups; reading the whole recycle bin")
                await self.dump(coll, set(values))

    async def lookup_batch(self, jobs: list[tuple[Collection, str]], refused: set[str]) -> None:
        reqs = [BatchRequest(str(i), self.http.url(c.path, {"$filter": f, "$select": c.select, "$top": 999})
                             [len(self.http.base_url):]) for i, (c, f) in enumerate(jobs)]
        res = await self.http.batch(reqs, raise_errors=False)
        for (coll, _), req, r in zip(jobs, reqs, res):
            if coll.deleted and r.status == 400:
                refused.add(coll.key)
                continue
            if not 200 <= r.status < 300:
                raise self.http.error_for_item(req, r)
            body = r.body if isinstance(r.body, dict) else {}
            for d in body.get("value") or []:
                self.state.add(coll, d)
            self.tick(len(body.get("value") or []))
            if body.get("@odata.nextLink"):
                async for page in self.pages(body["@odata.nextLink"], {}):
                    for d in page:
                        self.state.add(coll, d)

    async def full(self, values: dict[str, str]) -> None:
        wanted = set(values)
        await gather_all(*(self.dump(c, wanted) for c in COLLECTIONS))

    async def dump(self, coll: Collection, wanted: set[str]) -> None:
        """Page a whole collection; ``seen`` records how many objects came back."""
        n = None
        if coll.key == "users" and self.src.partitions > 1:
            n = await self.partitioned(coll, wanted)
        if n is None:
            n = await self.chain(coll, {"$select": coll.select, "$top": 999}, wanted, self.writer)
        self.src.seen[coll.key] = n

    async def chain(self, coll: Collection, params: dict[str, Any], wanted: set[str],
                    writer: "TenantWriter | None" = None) -> int:
        """One nextLink chain: keeps holders of ``wanted`` values, spools every object to ``writer``."""
        n = 0
        async for page in self.pages(coll.path, params):
            n += len(page)
            for d in page:
                if writer is not None:
                    writer.write(coll.key, self.with_members(coll, d))
                if not wanted.isdisjoint(raw_values(d)):
                    self.state.add(coll, d)
        return n

    async def partitioned(self, coll: Collection, wanted: set[str]) -> int | None:
        """Parallel ``startswith`` partitions; their total when it matches ``$count``, else None."""
        total = await self.count(coll)
        if total is None or total < 999 * 4:
            return None
        groups = [_UPN_FIRST[i::self.src.partitions] for i in range(self.src.partitions)]
        filters = [" or ".join(f"startswith(userPrincipalName,{odata_quote(ch)})" for ch in g) for g in groups]
        spool = self.writer.fork(coll.key) if self.writer is not None else None
        try:
            got = await gather_all(*(self.chain(coll, {"$filter": f, "$select": coll.select, "$top": 999},
                                                wanted, spool) for f in filters))
        except BaseException as e:
            if not (isinstance(e, GraphStatusError) and e.status == 400):
                if spool is not None:
                    spool.discard()
                raise
            got = [-1]
            self.note(f"{coll.key}: the server refused startswith partitions; reading it as one chain")
        if sum(got) == total:
            if spool is not None and self.writer is not None:
                self.writer.adopt(spool)
            return total
        if got != [-1]:
            self.note(f"{coll.key}: partitions returned {sum(got)} of {total}; reading it as one chain")
        if spool is not None:
            spool.discard()
        return None

    async def count(self, coll: Collection) -> int | None:
        try:
            body = await self.http.get_json(_COUNT_URL.format(coll.path), headers=ADVANCED)
        except (GraphStatusError, PermissionDenied):
            return None
        n = body.get("@odata.count") if isinstance(body, dict) else None
        return n if isinstance(n, int) else None

    # -- result ------------------------------------------------------------------------------

    def snapshot(self, boot: dict[str, Any]) -> CloudSnapshot:
        org = boot["org"]
        try:
            domains = to_domains(org)
        except ValueError as e:
            raise DirectoryError(f"Graph /organization: {e}") from None
        objects = list(self.state.objects.values())
        if Origin.CONNECT.value not in self.src.origins:  # --errors without connect: its errors are not asked for
            objects = [replace(o, errors=()) if o.errors else o for o in objects]
        return CloudSnapshot(
            tenant_id=str(org["id"]), tenant_name=org.get("displayName"), domains=domains,
            features=boot["features"], objects=objects,
            directory_role_members={str(r.get("displayName") or r["id"]): tuple(r["members"])
                                    for r in boot["directory"]},
            role_assignments=_tuple_or_none(boot["assignments"]),
            role_eligibility=_tuple_or_none(boot["eligibility"]),
            group_members={k: tuple(v) for k, v in boot["groups"].items()},
            complete=True, source_label=self.src.label, error_records=list(self.records),
            origins_read=tuple(o for o in ORIGINS if o in self.origins_read),
            warnings=list(dict.fromkeys(self.warnings + self.state.warnings)))

    def with_members(self, coll: Collection, d: dict[str, Any]) -> dict[str, Any]:
        if coll.key == "groups" and d.get("id") in self.role_groups:
            return {**d, "members": self.role_groups[d["id"]]}
        return d

    def save(self, boot: dict[str, Any]) -> None:
        assert self.src.save_tenant is not None
        head: dict[str, Any] = {"schema": "reconciler.tenant/1", "organization": boot["org"],
                                "directoryRoles": boot["directory"]}
        if boot["features"] is not None:
            head["onPremisesSynchronization"] = {"features": boot["features"]}
        for key, val in (("roleAssignments", boot["assignments"]), ("roleEligibilitySchedules", boot["eligibility"])):
            if val is not None:
                head[key] = val
        if self.raw_logs:
            head["provisioningLogs"] = self.raw_logs
        if self.raw_health:
            head["connectHealthErrors"] = self.raw_health
        writer = self.writer or TenantWriter(self.src.save_tenant)
        for coll in COLLECTIONS:
            for d in self.state.raw.get(coll.key, []):
                writer.write(coll.key, self.with_members(coll, d))
        writer.close(head)


async def gather_all(*coros: Any) -> list[Any]:
    """Like ``asyncio.gather`` but, on the first failure, cancels and awaits the siblings
    (no request left half-open when the client closes) and re-raises that failure itself."""
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(c) for c in coros]
    except BaseExceptionGroup as eg:
        raise _first_error(eg) from None
    return [t.result() for t in tasks]


def _first_error(eg: BaseExceptionGroup) -> BaseException:
    leaves: list[BaseException] = []
    stack: list[BaseException] = [eg]
    while stack:
        e = stack.pop(0)
        if isinstance(e, BaseExceptionGroup):
            stack[:0] = list(e.exceptions)
        else:
            leaves.append(e)
    return next((e for e in leaves if isinstance(e, DirectoryError)), leaves[0])


def _n(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def _tuple_or_none(v: list[Any] | None) -> tuple[Any, ...] | None:
    return None if v is None else tuple(v)


def _odata_count(resp: BatchResponse) -> int | None:
    n = resp.body.get("@odata.count") if 200 <= resp.status < 300 and isinstance(resp.body, dict) else None
    return n if isinstance(n, int) else None


class TenantWriter:
    """Writes a ``reconciler.tenant/1`` file collection by collection, atomically, in O(1) memory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(f".{self.path.name}.part")
        self._spools: dict[str, Any] = {}

    def _spool(self, key: str) -> Any:
        f = self._spools.get(key)
        if f is None:
            f = self._spools[key] = open(self.path.with_name(f".{self.path.name}.{key}.part"), "w+b")
        return f

    def write(self, key: str, obj: dict[str, Any]) -> None:
        f = self._spool(key)
        f.write(b"," if f.tell() else b"")
        f.write(orjson.dumps(obj))

    def fork(self, key: str) -> "TenantWriter":
        return TenantWriter(self.path.with_name(f"{self.path.name}.{key}.fork"))

    def adopt(self, other: "TenantWriter") -> None:
        """Append everything ``other`` spooled (a partitioned read) and discard it."""
        for key, src in other._spools.items():
            if not src.tell():
                continue
            dst = self._spool(key)
            if dst.tell():
                dst.write(b",")
            src.seek(0)
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        other.discard()

    def discard(self) -> None:
        for f in self._spools.values():
            f.close()
            os.unlink(f.name)
        self._spools.clear()

    def close(self, head: dict[str, Any]) -> None:
        with open(self._tmp, "wb") as out:
            out.write(orjson.dumps(head)[:-1])
            for key in (c.key for c in COLLECTIONS):
                out.write(b',"' + key.encode() + b'":[')
                f = self._spools.get(key)
                if f is not None:
                    f.seek(0)
                    while chunk := f.read(1 << 20):
                        out.write(chunk)
                out.write(b"]")
            out.write(b"}")
        self.discard()
        os.replace(self._tmp, self.path)
