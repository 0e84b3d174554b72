"""Directory writers used by :mod:`reconciler.fixes.apply` (each wrapped by one ``apply.Gate``).

:func:`open_writers` is the composition root for apply/undo: it builds the
Graph writer (``--graph``/``--graph-url``), the read-only tenant-file reader
(``--tenant``: dry runs only) and the LDAP writer (``--ldap``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from ...core.errors import UsageError
from ..steps import Executor, Step

__all__ = ["SnapshotReader", "open_writers"]


class SnapshotReader:
    """Reads targets from a ``reconciler.tenant/1`` file; refuses every write (offline dry runs)."""

    executor = Executor.GRAPH

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.tenant = str((doc.get("organization") or {}).get("id") or "")
        self._active = {o["id"]: o for k in ("users", "groups", "contacts") for o in doc.get(k) or ()}
        self._deleted = {o["id"]: o for k in ("deletedUsers", "deletedGroups") for o in doc.get(k) or ()}
        self._doc = doc

    def _containers(self, oid: str) -> set[str]:
        groups = [g for g in self._doc.get("groups") or () if isinstance(g, Mapping)]
        found: set[str] = set()
        frontier = {oid}
        while frontier:
            frontier = {g["id"] for g in groups if g["id"] not in found and frontier & set(g.get("members") or ())}
            found |= frontier
        return found

    def roles_of(self, oid: str) -> dict[str, Any]:
        """The guard keys, from the file's role data (``None`` where the file has none: not readable)."""
        holders = {oid} | self._containers(oid)
        assignments = self._doc.get("roleAssignments")
        eligibility = self._doc.get("roleEligibilitySchedules")
        roles = [str(r.get("displayName") or r.get("id")) for r in self._doc.get("directoryRoles") or ()
                 if holders & set(r.get("members") or ())]
        roles += [str(a.get("roleDefinitionId")) for a in assignments or () if a.get("principalId") in holders]
        readable = assignments is not None or "directoryRoles" in self._doc
        elig = None if eligibility is None else [str(a.get("roleDefinitionId")) for a in eligibility
                                                 if a.get("principalId") in holders]
        return {"@roles": sorted(set(roles)) if readable else None, "@eligibleRoles": elig}

    async def read(self, step: Step) -> dict[str, Any] | None:
        t = step.target or {}
        deleted = t.get("type") == "deleted"
        oid = str(t.get("id"))
        obj = (self._deleted if deleted else self._active).get(oid)
        return None if obj is None else {**obj, "deleted": deleted, **self.roles_of(oid)}

    async def write(self, step: Step, current: Mapping[str, Any] | None) -> None:
        raise UsageError("a tenant file is read-only: apply --doit needs --graph or --graph-url")


@asynccontextmanager
async def open_writers(src: Any, ldap_opts: Any, *, doit: bool) -> AsyncIterator[tuple[dict[Executor, Any], str | None]]:
    """(writers by executor, connected tenant id or None)."""
    writers: dict[Executor, Any] = {}
    tenant_id: str | None = None
    http = None
    ldap_writer = None
    try:
        if src.graph or src.graph_url or getattr(src, "graph_client", None) is not None:
            if src.tenant:
                raise UsageError("give only one cloud source: --tenant, --graph or --graph-url")
            from .graph import GraphWriter

            http = _graph_http(src)
            gw = GraphWriter(http)
            tenant_id = await gw.tenant_id()
            writers[Executor.GRAPH] = gw
        elif src.tenant:
            if doit:
                raise UsageError("--tenant FILE is offline and read-only: apply --doit needs --graph or --graph-url")
            from ...sources.tenantfile import TENANT_SCHEMA, load_json_document

            reader = SnapshotReader(load_json_document(src.tenant, TENANT_SCHEMA))
            tenant_id = reader.tenant or None
            writers[Executor.GRAPH] = reader
        if ldap_opts.ldap:
            ldap_writer = _ldap_writer(ldap_opts)
            from .ldap import LdapStepWriter

            writers[Executor.LDAP] = LdapStepWriter(ldap_writer)
        yield writers, tenant_id
    finally:
        if http is not None:
            await http.aclose()
        if ldap_writer is not None:
            ldap_writer.close()


def _graph_http(o: Any) -> Any:
    """One GraphHttp client, built exactly as the scan's Graph source builds its clients."""
    from ...wiring import graph_http_factory

    _base, make_http = graph_http_factory(o)
    return make_http()


def _ldap_writer(o: Any) -> Any:
    from ...sources.ldap import LdapSettings
    from .ldapconn import LdapWriter

    password = os.environ.get("RECONCILER_LDAP_PASSWORD") if o.bind_dn else None
    if o.bind_dn and not password:
        raise UsageError(f"no password for --bind-dn {o.bind_dn}: set RECONCILER_LDAP_PASSWORD")
    return LdapWriter.connect(LdapSettings.from_url(o.ldap[0], insecure=o.insecure, bind_dn=o.bind_dn,
                                                    password=password, ca_file=o.ldap_ca))
