"""Composition root: builds concrete adapters from command-line settings.

The CLI hands a :class:`SourceOptions` here and gets Protocol-typed sources
back; nothing else in the package constructs adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse, urlsplit

from .core.errors import UsageError
from .sources.base import CloudSource, OnPremReader, is_loopback_url

__all__ = ["SourceOptions", "build_cloud_source", "build_graph_source", "build_onprem_readers", "graph_http_factory",
           "is_loopback_url"]


@dataclass(slots=True)
class SourceOptions:
    tenant: Path | None = None
    graph: bool = False
    graph_url: str | None = None
    auth: str = "environment"
    tenant_id: str | None = None
    client_id: str | None = None
    certificate: Path | None = None
    cloud: str = "global"
    strategy: str = "auto"
    save_tenant: Path | None = None
    onprem: list[Path] = field(default_factory=list)
    ldap: list[str] = field(default_factory=list)
    bind_dn: str | None = None
    base_dn: str | None = None
    ldap_filter: str | None = None
    ldap_ca: Path | None = None
    insecure: bool = False
    ldap_full_read: bool = False  # scan: read every LDAP entry in full (no cheap pass + batched fetch)
    verbose: bool = False
    env: dict[str, str] | None = None  # per-tenant environment for credentials (scan --all); None = os.environ
    max_concurrency: int | None = None  # Graph requests in flight for this tenant (default 16)
    max_throttle_wait: float | None = None  # seconds one request may wait on 429s before giving up (default 600)
    password_prompt: Callable[[str], str] | None = None  # asks for the LDAP bind password when interactive
    errors: tuple[str, ...] | None = None  # origins to read (--errors); None = every origin
    since: Any = None  # datetime: start of the Cloud Sync window (--since); None = 7 days
    health_url: str | None = None  # ARM-compatible root for Connect Health (--health-url)
    # a configured msgraph GraphServiceClient (library use): its base URL and credential, our HTTP client
    graph_client: Any = None


ORIGIN_NAMES = ("connect", "cloud_sync", "exchange", "health")


def parse_errors_option(text: str | None) -> tuple[str, ...] | None:
    """``--errors connect,cloud_sync,exchange,health`` -> the origins (UsageError on an unknown name)."""
    if text is None or not text.strip():
        return None
    names = [n.strip().casefold().replace("-", "_") for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in ORIGIN_NAMES]
    if bad:
        raise UsageError(f"--errors: unknown origin {bad[0]!r}; known: {', '.join(ORIGIN_NAMES)}")
    return tuple(n for n in ORIGIN_NAMES if n in names)


def parse_since_option(text: str | None) -> Any:
    if text is None or not text.strip():
        return None
    from .sources.timestamps import parse_since

    try:
        return parse_since(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _check_url(url: str, option: str, example: str) -> None:
    """A URL that cannot be parsed (bad port, unclosed IPv6 bracket, no host): one line, exit 2."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number or out of range
    except ValueError as e:
        raise UsageError(f"{option} {url!r} is not a valid URL ({e}); give one such as {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{option} must be an http(s) URL such as {example}; got {url!r}")
    if option == "--graph-url" and parts.path.strip("/") == "":  # Graph answers 400 "Invalid version" (exit 5)
        raise UsageError(f"--graph-url {url!r} has no API version: add it, e.g. {url.rstrip('/')}/v1.0")


def has_cloud_source(o: SourceOptions) -> bool:
    return bool(o.tenant or uses_graph(o))


def uses_graph(o: SourceOptions) -> bool:
    """Graph is the cloud source: ``--graph``, ``--graph-url`` or a script's GraphServiceClient."""
    return bool(o.graph or o.graph_url or o.graph_client is not None)


def build_cloud_source(o: SourceOptions) -> CloudSource:
    given = [x for x in (o.tenant, o.graph, o.graph_url, o.graph_client is not None) if x]
    if not given:
        raise UsageError("no cloud source: give --tenant FILE, --graph or --graph-url URL")
    if len(given) > 1:
        raise UsageError("give only one cloud source: --tenant, --graph or --graph-url")
    if o.tenant:
        if o.save_tenant:  # it was silently ignored: no file, exit 0
            raise UsageError("--save-tenant keeps what --graph or --graph-url read; --tenant FILE is already a "
                             "snapshot (copy the file instead)")
        from .sources.files import TenantFileSource

        return TenantFileSource(o.tenant, origins=o.errors or ORIGIN_NAMES, since=o.since)
    return build_graph_source(o)


def graph_http_factory(o: SourceOptions, tokens: Any = None) -> tuple[str, Callable[[], Any]]:
    """(base URL, factory of GraphHttp clients) for ``--graph``/``--graph-url``; readers and writers share it.

    URL and ``--auth`` checks happen here, once; credentials are built lazily by ``provider_for``.
    """
    from . import __version__
    from .sources.auth import cloud
    from .sources.graph_http import GraphHttp

    if o.graph_client is not None:
        from .sources.msgraph_bridge import from_graph_service_client

        if o.graph_url:
            raise UsageError("give graph_client or graph_url, not both: the client's adapter has the base URL")
        base, tokens = from_graph_service_client(o.graph_client)
    else:
        if o.graph_url:
            _check_url(o.graph_url, "--graph-url", "http://127.0.0.1:PORT/v1.0")
        if o.auth == "none" and not (o.graph_url and is_loopback_url(o.graph_url)):
            raise UsageError("--auth none is accepted only with a loopback --graph-url "
                             "(http://127.0.0.1:PORT/v1.0)")
        base = (o.graph_url or cloud(o.cloud).base_url).rstrip("/")
    if urlparse(base).scheme not in ("http", "https"):
        raise UsageError(f"--graph-url must be an http(s) URL such as http://127.0.0.1:PORT/v1.0; got {base!r}")
    if base.startswith("http://") and not is_loopback_url(base):
        raise UsageError("refusing to talk to Graph over plain http on a non-loopback host; use https")
    if tokens is None:
        tokens = _graph_tokens(o)
    limit = o.max_concurrency or 16
    wait = o.max_throttle_wait if o.max_throttle_wait is not None else 600.0
    return base, lambda: GraphHttp(base, tokens, user_agent=f"reconciler/{__version__}", max_concurrency=limit,
                                   max_throttle_wait=wait)


def _graph_tokens(o: SourceOptions) -> Any:
    from .sources.auth import provider_for

    return provider_for(o.auth, tenant_id=o.tenant_id, client_id=o.client_id, certificate=o.certificate,
                        cloud_name=o.cloud, env=o.env)


def build_graph_source(o: SourceOptions) -> CloudSource:
    """Live Graph or a Graph-compatible URL (the emulator), with the other error origins asked for."""
    from .sources.graph import GraphSource

    origins = o.errors or ORIGIN_NAMES
    if o.graph_url and o.graph_client is None:
        _check_url(o.graph_url, "--graph-url", "http://127.0.0.1:PORT/v1.0")
    if o.graph_client is not None:  # a script's GraphServiceClient holds a Graph credential, not an ARM one
        if o.errors and "health" in o.errors:
            raise UsageError("errors=health reads Connect Health through Azure Resource Manager; a GraphServiceClient "
                             "carries only a Graph credential: use graph=True with azure-identity settings")
        origins = tuple(x for x in origins if x != "health")
    tokens = None
    if "health" in origins:  # one sign-in: ARM asks the Graph credential for the management scope
        if o.auth == "none" and not (o.graph_url and is_loopback_url(o.graph_url)):
            graph_http_factory(o)  # the usual --auth none refusal, before any credential is built
        tokens = _graph_tokens(o)
    base, make_http = graph_http_factory(o, tokens)
    health = None
    if "health" in origins:
        from .sources.health import reader_for

        health = reader_for(o, tokens)
        if health is None and o.errors and "health" in o.errors:
            raise UsageError("--errors health needs Connect Health's Azure Resource Manager: give --health-url URL "
                             "(or use --graph, whose cloud's ARM is used)")
    return GraphSource(make_http, strategy=o.strategy, save_tenant=o.save_tenant, label=base,
                       origins=origins, since=o.since, health=health)


def build_onprem_readers(o: SourceOptions) -> list[OnPremReader]:
    from .sources.files import OnPremFileReader

    readers: list[OnPremReader] = [OnPremFileReader(p) for p in o.onprem]
    readers += build_ldap_readers(o, o.password_prompt)
    return readers


def build_ldap_readers(o: SourceOptions, prompt: "Callable[[str], str] | None" = None) -> list[OnPremReader]:
    """One LDAP reader per ``--ldap`` URL. The bind password comes from ``RECONCILER_LDAP_PASSWORD``,
    else from ``prompt`` (the CLI passes a hidden-input prompt when interactive), never an argument."""
    if not o.ldap:
        return []
    import os

    from .sources.ldap import LdapReader, LdapSettings

    password = os.environ.get("RECONCILER_LDAP_PASSWORD") if o.bind_dn else None
    if o.bind_dn and not password:
        if prompt is None:
            raise UsageError(f"no password for --bind-dn {o.bind_dn}: set RECONCILER_LDAP_PASSWORD")
        password = prompt(f"LDAP password for {o.bind_dn}")
    return [LdapReader(LdapSettings.from_url(url, insecure=o.insecure, bind_dn=o.bind_dn, password=password,
                                             base_dn=o.base_dn, search_filter=o.ldap_filter,
                                             ca_file=o.ldap_ca, full_read=o.ldap_full_read))
            for url in o.ldap]
