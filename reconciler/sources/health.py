"""Entra Connect Health export errors through Azure Resource Manager (origin ``health``).

Connect Health keeps every Entra Connect export error with both objects of the
conflict. reconciler reads it the way the Azure portal does (docs/connect-health.md):

1. ``GET {arm}/providers/Microsoft.ADHybridHealthService/services?serviceType=AadSyncService``
   finds the sync service(s) (paged through ``nextLink``);
2. ``GET …/services/{serviceName}/exporterrors/listV2?errorBucket=B`` for every bucket B
   (``errorBucket`` is required; the ``All`` bucket would repeat the others), following a
   ``nextLink`` when ARM sends one.

The requests go through :class:`~reconciler.sources.graph_http.GraphHttp` (one retry layer:
``Retry-After``, backoff, a token refresh on 401) with an ARM root as its base URL, and a
management-scope token (:func:`~reconciler.sources.auth.arm_token_provider`).

The origin is optional: a 401/403 (no Azure RBAC read on Connect Health), a missing provider or
service, or a network failure after retries is a *warning* naming what is missing, and
:attr:`HealthRead.read` says the origin was not read — never "no errors".

:func:`decode` turns one MergedExportError (as returned, the shape a tenant file's
``connectHealthErrors`` holds) into a :class:`HealthError` with the scenario its type maps to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..core.errors import AuthError, DirectoryError, PermissionDenied
from ..core.model import DUPLICATE, ErrorRecord, ObjectKind, Origin, ProvisioningError
from ..core.timestamps import normalize_time
from .base import as_mapping, is_loopback_url

__all__ = [
    "API_VERSION",
    "BUCKETS",
    "PERMISSION",
    "PROVIDER",
    "HealthError",
    "HealthRead",
    "HealthReader",
    "decode",
    "decode_all",
    "records",
    "reader_for",
    "records_from_items",
    "scenario_for",
]

PROVIDER = "/providers/Microsoft.ADHybridHealthService"
#: The stable api-version; it serves ``exporterrors/listV2`` as the 2025-03-01-preview does.
API_VERSION = "2014-01-01"
#: Every error bucket but ``All`` (which repeats them); the bucket also helps classify an unknown type.
BUCKETS = ("DuplicateAttributeError", "DataMismatch", "DataValidationError", "LargeAttribute",
           "FederatedDomainChange", "Others")
PERMISSION = ("Azure RBAC read on Microsoft Entra Connect Health (the Connect Health Reader role at "
              "/providers/Microsoft.ADHybridHealthService, all service instances or the sync service; "
              "Global Administrators hold it)")
_MAX_PAGES = 10_000  # a nextLink chain longer than this is a loop, not data

# Connect error type (``type``, case-insensitive) -> scenario. "duplicate" means: a value conflict,
# classified like every other duplicate (holders found in the cloud, then the matcher's scenarios).
_TYPES: dict[str, str] = {
    "attributevaluemustbeunique": "duplicate",
    "quarantinedattributevaluemustbeunique": "duplicate",
    "invalidsoftmatch": "duplicate",
    "objecttypemismatch": "duplicate",
    "invalidhardmatch": "hard_match_blocked",
    "identitydatavalidationfailed": "data_validation",
    "datavalidationfailed": "data_validation",
    "invalidupn": "data_validation",
    "largeobject": "large_attribute",
    "exceededallowedlength": "large_attribute",
    "attributevaluetoolarge": "large_attribute",
    "federateddomainchangeerror": "federated_domain_change",
    "federateddomainchange": "federated_domain_change",
    "existingadminroleconflict": "admin_role_conflict",
    "adminroleconflict": "admin_role_conflict",
}
_BUCKETS: dict[str, str] = {
    "duplicateattributeerror": "duplicate", "datamismatch": "duplicate", "datavalidationerror": "data_validation",
    "largeattribute": "large_attribute", "federateddomainchange": "federated_domain_change",
}
# attributeName -> the finding property of a value conflict (others are not addresses: reported raw)
_PROPERTIES = {"userprincipalname": "UserPrincipalName", "proxyaddresses": "ProxyAddress",
               "proxyaddress": "ProxyAddress", "mail": "ProxyAddress"}


def scenario_for(error_type: str | None, bucket: str | None = None, attribute: str | None = None) -> str:
    """The scenario a Connect error maps to: ``duplicate`` (classify as a value conflict), a
    non-duplicate scenario name, or ``unsupported``."""
    t = (error_type or "").replace(" ", "").casefold()
    kind = _TYPES.get(t)
    if kind is None and "adminrole" in t:
        kind = "admin_role_conflict"
    if kind is None:
        kind = _BUCKETS.get((bucket or "").casefold(), "unsupported")
    if kind == "duplicate" and (attribute or "").casefold() not in _PROPERTIES:
        return "unsupported"  # e.g. OnPremiseSecurityIdentifier, SipProxyAddress: not an address conflict
    return kind


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


@dataclass(frozen=True, slots=True)
class HealthError:
    """One Connect Health export error, decoded; ``raw`` is the item exactly as ARM returned it."""

    id: str
    type: str
    scenario: str  # "duplicate" | a non-duplicate scenario name | "unsupported"
    attribute: str | None
    value: str | None
    occurred: str | None
    first_occurred: str | None
    bucket: str | None
    user_principal_name: str | None
    dn: str | None
    display_name: str | None
    object_type: str | None
    incoming: Mapping[str, Any]
    existing: Mapping[str, Any]
    detail: str | None
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @property
    def finding_property(self) -> str:
        """The finding property: ``UserPrincipalName``/``ProxyAddress`` for a value conflict, else as sent."""
        return _PROPERTIES.get((self.attribute or "").casefold(), self.attribute or "")

    @property
    def source_anchor(self) -> str | None:
        """The incoming (on-prem) object's sourceAnchor: the immutable id its cloud object has or will have."""
        return _text(self.incoming.get("sourceAnchor"))

    @property
    def object_guid(self) -> str | None:
        return _text(self.incoming.get("objectGuid"))

    @property
    def proposed_or_removed(self) -> str | None:
        return _text(self.raw.get("modifiedOrRemovedAttributeValue"))


def _when(value: Any) -> str | None:
    """A time stamp as ISO 8601 UTC; None for none and for .NET's DateTime.MinValue (``0001-01-01T00:00:00Z``),
    which Connect Health writes where it does not know the time (never "stuck since year 1")."""
    text = _text(value)
    if text is None or text.startswith("0001-01-01"):
        return None
    return normalize_time(text)


def decode(item: Mapping[str, Any], bucket: str | None = None) -> HealthError:
    """One MergedExportError -> :class:`HealthError` (never raises on missing fields: they stay None)."""
    incoming: Mapping[str, Any] = as_mapping(item.get("incomingObject"))
    existing: Mapping[str, Any] = as_mapping(item.get("existingObject"))
    etype = _text(item.get("type")) or ""
    attribute = _text(item.get("attributeName"))
    value = _text(item.get("attributeValue"))
    ident = _text(item.get("id")) or _text(item.get("mergedEntityId")) or "|".join(
        str(x) for x in (etype, attribute, value, incoming.get("sourceAnchor") or item.get("dn")))
    return HealthError(
        id=ident, type=etype, scenario=scenario_for(etype, bucket, attribute), attribute=attribute, value=value,
        occurred=_when(item.get("timeOccurred")) or _when(item.get("createdDate")),
        first_occurred=_when(item.get("timeFirstOccurred")),
        bucket=bucket, user_principal_name=_text(item.get("userPrincipalName")),
        dn=_text(item.get("dn")) or _text(incoming.get("distinguishedName")),
        display_name=_text(item.get("incomingObjectDisplayName")) or _text(incoming.get("displayName")),
        object_type=(_text(item.get("incomingObjectType")) or _text(incoming.get("objectType")) or "").lower()
        or None,
        incoming=dict(incoming), existing=dict(existing), detail=_text(item.get("serverErrorDetail")),
        raw=dict(item))


def decode_all(items: Iterable[Any], buckets: Mapping[str, str] | None = None) -> list[HealthError]:
    """Decode a list of items (a tenant file's ``connectHealthErrors``), one per id, non-objects skipped."""
    out: dict[str, HealthError] = {}
    for item in items:
        if isinstance(item, Mapping):
            e = decode(item, (buckets or {}).get(str(item.get("id"))))
            out.setdefault(e.id, e)
    return list(out.values())


@dataclass(slots=True)
class HealthRead:
    """What one read of Connect Health produced. ``read`` False: the origin was NOT read (see warnings)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    buckets: dict[str, str] = field(default_factory=dict)  # item id -> the bucket it was listed under
    services: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    read: bool = True
    requests: int = 0

    @property
    def errors(self) -> list[HealthError]:
        return decode_all(self.items, self.buckets)


class HealthReader:
    """Reads every export error of the tenant's Connect sync service(s) from ARM.

    ``make_http``: a factory of :class:`~reconciler.sources.graph_http.GraphHttp` clients whose base
    URL is the ARM root (``https://management.azure.com``, a national cloud's, or the emulator's
    ``http://127.0.0.1:PORT/arm``) and whose token provider asks for the management scope.
    """

    def __init__(self, make_http: Callable[[], Any] | None, *, label: str = "connect-health",
                 api_version: str = API_VERSION, buckets: Sequence[str] = BUCKETS,
                 unavailable: str | None = None) -> None:
        self._make_http = make_http
        self.label = label
        self.api_version = api_version
        self.buckets = tuple(buckets)
        self.unavailable = unavailable  # why Connect Health cannot be read at all (a warning, e.g. no ARM token)

    async def read(self, progress: Any = None) -> HealthRead:
        out = HealthRead()
        if self._make_http is None or self.unavailable:
            out.read = False
            out.warnings.append(f"Connect Health was not read: {self.unavailable or 'no ARM endpoint'}; its errors "
                                "are missing from this scan (this is not 'no errors')")
            return out
        # no progress.stage() here: the read runs beside Graph's and must not take over its progress bar
        http = self._make_http()
        try:
            await self._read(http, out)
        except (AuthError, PermissionDenied) as e:
            out.read = False
            status = "401" if isinstance(e, AuthError) else "403"
            out.warnings.append(f"Connect Health was not read: Azure Resource Manager refused the request ({status}); "
                                f"grant {PERMISSION}. Its errors are missing from this scan (this is not 'no errors')")
        except DirectoryError as e:
            out.read = False
            out.warnings.append(f"Connect Health was not read ({_one_line(e)}); its errors are missing from this "
                                "scan (this is not 'no errors')")
        finally:
            await http.aclose()
        requests = getattr(getattr(http, "counters", None), "requests", 0)
        out.requests = int(requests or 0)
        return out

    async def _read(self, http: Any, out: HealthRead) -> None:
        services = []
        async for page in self._pages(http, f"{PROVIDER}/services",
                                      {"serviceType": "AadSyncService", "api-version": self.api_version}):
            services += [s for s in page if isinstance(s, Mapping)
                         and str(s.get("type") or "AadSyncService").casefold() == "aadsyncservice"
                         and s.get("serviceName") and not s.get("disabled")]
        if not services:
            out.read = False
            out.warnings.append("Connect Health was not read: the tenant has no Entra Connect sync service "
                                "registered in Connect Health (agent not installed, or no Entra ID P1/P2); its "
                                "errors are missing from this scan (this is not 'no errors')")
            return
        seen: set[str] = set()
        for svc in services:
            name = str(svc["serviceName"])
            out.services.append(name)
            path = f"{PROVIDER}/services/{_seg(name)}/exporterrors/listV2"
            # the buckets are read at once (a handful of round trips in parallel), kept in bucket order
            lists = await asyncio.gather(*(self._bucket(http, path, b) for b in self.buckets))
            for bucket, items in zip(self.buckets, lists):
                for item in items:
                    key = str(item.get("id") or item.get("mergedEntityId") or len(out.items))
                    if key in seen:
                        continue
                    seen.add(key)
                    out.items.append(dict(item))
                    out.buckets[key] = bucket

    async def _bucket(self, http: Any, path: str, bucket: str) -> list[Mapping[str, Any]]:
        got: list[Mapping[str, Any]] = []
        async for page in self._pages(http, path, {"errorBucket": bucket, "api-version": self.api_version}):
            got += page
        return got

    async def _pages(self, http: Any, path: str, params: Mapping[str, Any]) -> Any:
        """Each page's ``value``; follows ARM's ``nextLink`` (same host only: the token never leaves it)."""
        url: str | None = http.url(path, params)
        seen: set[str] = set()
        while url and len(seen) < _MAX_PAGES:
            seen.add(url)
            body = await http.get_json(url)
            body = body if isinstance(body, Mapping) else {}
            value = body.get("value")
            yield [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
            nxt = body.get("nextLink") or body.get("@odata.nextLink")
            url = _same_origin(http.base_url, str(nxt)) if nxt else None
            if url in seen:
                break


def _seg(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _same_origin(base: str, link: str) -> str:
    b, n = urlsplit(base), urlsplit(link)
    if (b.scheme, b.netloc) != (n.scheme, n.netloc):
        raise DirectoryError(f"Azure Resource Manager returned a nextLink to another host ({n.netloc}); "
                             "refusing to send the token there")
    return link


def _one_line(e: Exception) -> str:
    text = str(e).replace("Graph ", "Azure Resource Manager ", 1)
    return (text.splitlines() or [""])[0][:300]


_KINDS = {"user": ObjectKind.USER, "group": ObjectKind.GROUP, "contact": ObjectKind.CONTACT}


def _describe(obj: Mapping[str, Any]) -> str:
    name = _text(obj.get("displayName")) or _text(obj.get("distinguishedName")) or "?"
    upn = _text(obj.get("userPrincipalName"))
    soa = _text(obj.get("sourceOfAuthority"))
    anchor = _text(obj.get("sourceAnchor"))
    return name + (f" <{upn}>" if upn else "") + (f", source of authority {soa}" if soa else "") + \
        (f", anchor {anchor}" if anchor else "")


def record(e: HealthError) -> ErrorRecord:
    """One decoded Connect Health error -> the matcher's :class:`ErrorRecord` (origin ``health``).

    Connect Health names the on-prem object (sourceAnchor, objectGUID, DN), never the Entra object id:
    the matcher finds the cloud object by the anchor, and the holders in the cloud data.
    ``existingObject`` is kept as evidence.
    """
    nature = DUPLICATE if e.scenario == "duplicate" else e.scenario
    evidence = [f"Connect Health: {e.type or 'error'} on {e.attribute or '?'}"
                + (f" = {e.value}" if e.value else "") + (f" (bucket {e.bucket})" if e.bucket else "")]
    if e.existing:
        evidence.append("Connect Health's existing object: " + _describe(e.existing))
    if e.detail:
        evidence.append("Connect Health detail: " + e.detail[:500])
    if e.first_occurred and e.first_occurred != e.occurred:
        evidence.append(f"first seen by Connect Health {e.first_occurred}")
    value = e.value or ""
    if value == "System.Byte[]":  # Connect Health prints binary attributes (e.g. the SID) by their .NET type
        value = ""
    return ErrorRecord(
        error=ProvisioningError(category=e.type or (e.bucket or "ConnectHealth"), property=e.finding_property, value=value,
                                occurred=e.occurred, origin=Origin.HEALTH.value, nature=nature,
                                description=e.detail, code=e.type or None),
        onprem_guid=e.object_guid, onprem_anchor=e.source_anchor,
        object_kind=_KINDS.get(e.object_type or ""), existing=dict(e.existing) or None,
        evidence=tuple(evidence), display_name=e.display_name)


def records(errors: Iterable[HealthError]) -> list[ErrorRecord]:
    return [record(e) for e in errors]


def records_from_items(items: Any) -> list[ErrorRecord]:
    """A tenant file's ``connectHealthErrors`` (the ARM list's items as returned) -> error records."""
    return records(decode_all(items if isinstance(items, list) else []))


TokenProvider = Callable[[], "str | None | Awaitable[str | None]"]


def http_factory(base_url: str, tokens: TokenProvider | None, *, user_agent: str = "reconciler",
                 transport: Any = None, **kw: Any) -> Callable[[], Any]:
    """A factory of ARM clients over the shared HTTP layer (``transport`` for in-process tests)."""
    def make() -> Any:
        from .graph_http import GraphHttp

        return GraphHttp(base_url.rstrip("/"), tokens, user_agent=user_agent, transport=transport,
                         max_concurrency=4, **kw)
    return make


def reader_for(o: Any, graph_tokens: Any, *, user_agent: str = "reconciler") -> HealthReader | None:
    """The Connect Health reader for the scan's source options ``o`` (``health_url``, ``graph``, ``graph_url``,
    ``auth``, ``cloud``, ``env``), or None when there is no ARM to ask.

    ``--health-url URL``: any ARM-compatible root (the emulator's ``http://127.0.0.1:PORT/arm``); plain http and
    ``--auth none`` only on loopback, as for ``--graph-url``. ``--graph`` without it: the national cloud's ARM
    root. ``--graph-url`` without it: None (a Graph look-alike says nothing about where its ARM is).
    ``graph_tokens``: the Graph token provider; ARM asks the same credential for the management scope.
    """
    from ..core.errors import UsageError
    from .auth import arm_token_provider, cloud

    url = getattr(o, "health_url", None)
    auth, cloud_name = getattr(o, "auth", "environment"), getattr(o, "cloud", "global")
    if url:
        url = str(url).rstrip("/")
        try:
            urlsplit(url).port  # noqa: B018 - raises ValueError on a bad port or an unclosed IPv6 bracket
        except ValueError as e:
            raise UsageError(f"--health-url {url!r} is not a valid URL ({e}); give one such as "
                             "http://127.0.0.1:PORT/arm") from None
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise UsageError(f"--health-url must be an http(s) URL such as http://127.0.0.1:PORT/arm; got {url!r}")
        if url.startswith("http://") and not is_loopback_url(url):
            raise UsageError("refusing to talk to Azure Resource Manager over plain http on a non-loopback host; "
                             "use https")
        if auth == "none" and not is_loopback_url(url):
            raise UsageError("--auth none is accepted only with a loopback --health-url (http://127.0.0.1:PORT/arm)")
    elif getattr(o, "graph", False):
        url = cloud(cloud_name).arm
    else:
        return None
    try:
        tokens = arm_token_provider(graph_tokens, auth, cloud_name=cloud_name, env=getattr(o, "env", None))
    except UsageError as e:
        if getattr(o, "health_url", None):
            raise
        return HealthReader(None, label=url, unavailable=str(e))
    return HealthReader(http_factory(url, tokens, user_agent=user_agent), label=url)
