"""Composition root: builds concrete adapters from command-line settings.

The CLI hands a :class:`SourceOptions` here and gets Protocol-typed sources
back; nothing else in the package constructs adapters.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from .core.errors import UsageError
from .sources.base import CloudSource, OnPremReader

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
    verbose: bool = False
    env: dict[str, str] | None = None  # per-tenant environment for credentials (scan --all); None = os.environ
    max_concurrency: int | None = None  # Graph requests in flight for this tenant (default 16)
    max_throttle_wait: float | None = None  # seconds one request may wait on 429s before giving up (default 600)
    password_prompt: Callable[[str], str] | None = None  # asks for the LDAP bind password when interactive
    # a configured msgraph GraphServiceClient (library use): its base URL and credential, our HTTP client
    graph_client: Any = None


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
        from .sources.files import TenantFileSource

        return TenantFileSource(o.tenant)
    return build_graph_source(o)


def graph_http_factory(o: SourceOptions) -> tuple[str, Callable[[], Any]]:
    """(base URL, factory of GraphHttp clients) for ``--graph``/``--graph-url``; readers and writers share it.

    URL and ``--auth`` checks happen here, once; credentials are built lazily by ``provider_for``.
    """
    from . import __version__
    from .sources.auth import cloud, provider_for
    from .sources.graph_http import GraphHttp

    tokens: Any
    if o.graph_client is not None:
        from .sources.msgraph_bridge import from_graph_service_client

        if o.graph_url:
            raise UsageError("give graph_client or graph_url, not both: the client's adapter has the base URL")
        base, tokens = from_graph_service_client(o.graph_client)
    else:
        if o.auth == "none" and not (o.graph_url and is_loopback_url(o.graph_url)):
            raise UsageError("--auth none is accepted only with a loopback --graph-url "
                             "(http://127.0.0.1:PORT/v1.0)")
        base = (o.graph_url or cloud(o.cloud).base_url).rstrip("/")
        tokens = None
    if urlparse(base).scheme not in ("http", "https"):
        raise UsageError(f"--graph-url must be an http(s) URL such as http://127.0.0.1:PORT/v1.0; got {base!r}")
    if base.startswith("http://") and not is_loopback_url(base):
        raise UsageError("refusing to talk to Graph over plain http on a non-loopback host; use https")
    if tokens is None:
        tokens = provider_for(o.auth, tenant_id=o.tenant_id, client_id=o.client_id, certificate=o.certificate,
                              cloud_name=o.cloud, env=o.env)
    limit = o.max_concurrency or 16
    wait = o.max_throttle_wait if o.max_throttle_wait is not None else 600.0
    return base, lambda: GraphHttp(base, tokens, user_agent=f"reconciler/{__version__}", max_concurrency=limit,
                                   max_throttle_wait=wait)


def build_graph_source(o: SourceOptions) -> CloudSource:
    """Live Graph or a Graph-compatible URL (the emulator)."""
    from .sources.graph import GraphSource

    base, make_http = graph_http_factory(o)
    return GraphSource(make_http, strategy=o.strategy, save_tenant=o.save_tenant, label=base)


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
                                             ca_file=o.ldap_ca))
            for url in o.ldap]
