"""Use cases shared by the CLI and library users: scan, explain.

Composes the pure core with sources and the store through Protocols; the
concrete adapters are built by :mod:`reconciler.wiring`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .core.errors import DirectoryError, UsageError
from .core.explain import finding_detail, parse_error_text, resolve_key
from .core.matcher import match, upn_origin
from .core.model import CloudSnapshot, OnPremObject, OnPremSource, ScanResult, fold
from .fixes.planner import context_from_snapshot
from .history.store import Store, utcnow
from .sources.base import CloudSource, NullProgress, OnPremReader, Progress

__all__ = ["ScanOutcome", "scan", "scan_snapshot", "Explanation", "explain"]


@dataclass(slots=True)
class ScanOutcome:
    result: ScanResult
    run_id: str | None
    snapshot: CloudSnapshot
    onprem: list[OnPremSource]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)


def scan_snapshot(snapshot: CloudSnapshot, onprem: Sequence[OnPremSource]) -> tuple[ScanResult, dict[str, Any]]:
    """Pure part of a scan: match and build the explain details."""
    findings = match(snapshot, onprem)
    by_dn: dict[str, OnPremObject] = {o.dn: o for src in onprem for o in src.objects}
    details = {f.id: finding_detail(f, by_dn) for f in findings}
    result = ScanResult(tenant_id=snapshot.tenant_id, tenant_name=snapshot.tenant_name,
                        generated=utcnow(), findings=findings, complete=snapshot.complete)
    if snapshot.features is None:
        result.warnings.append("tenant sync feature flags are unknown (reading them needs delegated "
                               "Global Administrator); soft/hard-match guards will treat them as unknown")
    if not onprem:
        result.warnings.append("no on-prem source supplied: no finding can be onprem_duplicate or "
                               "orphaned_holder (supply --onprem or --ldap)")
    result.stats = {"objects": len(snapshot.objects),
                    "onprem_objects": sum(len(s.objects) if s.count is None else s.count for s in onprem),
                    "errors": len(findings)}
    return result, details


def _prepare(readers: Sequence[OnPremReader]) -> list[Any]:
    """The on-prem side's cheap pass (runs beside the cloud read): an index per file, or a full read."""
    from .sources.prefilter import Whole

    out = []
    for r in readers:
        prepare = getattr(r, "prepare", None)
        out.append(prepare() if prepare is not None else Whole(r.read(NullProgress())))
    return out


async def scan(cloud: CloudSource, onprem: Sequence[OnPremReader], store: Store | None,
               progress: Progress | None = None) -> ScanOutcome:
    """Read the cloud and (at the same time) pass over the on-prem sources; keep on-prem only what matching needs.

    On-prem input errors win over cloud errors, as when the on-prem side was read first.
    """
    import asyncio

    progress = progress or NullProgress()
    pending = asyncio.ensure_future(asyncio.to_thread(_prepare, onprem)) if onprem else None
    cloud_read = asyncio.ensure_future(cloud.read(progress))
    try:
        prepared = await pending if pending is not None else []
    except BaseException:
        cloud_read.cancel()
        await asyncio.gather(cloud_read, return_exceptions=True)
        raise
    for r, p in zip(onprem, prepared):
        progress.stage(f"reading {r.label}")
        progress.advance(p.count, objects=p.count)
    try:
        snapshot = await cloud_read
    except DirectoryError as e:  # nothing half-read is matched or stored: earlier runs stay as they were
        if store is not None:
            e.args = (f"{e}; nothing was stored",)
        raise
    sources: list[OnPremSource] = []
    if prepared:
        from .sources.prefilter import keys_for

        progress.stage("reading the on-prem objects the errors need")
        keys = keys_for(snapshot)
        sources = [p.select(keys) for p in prepared]
    progress.stage("matching")
    result, details = scan_snapshot(snapshot, sources)
    result.warnings += [f"{src.label}: {note}" for src in sources for note in src.notes]
    run_id = None
    if store is not None:
        run_id = store.start_run(snapshot.tenant_id, snapshot.tenant_name, "scan",
                                 [cloud.label, *(r.label for r in onprem)])
        # the planner's guards (roles, flags, domains) work from the database, not a re-read
        store.save_run_context(run_id, context_from_snapshot(snapshot).data())
        store.save_findings(run_id, [(f.data(), details[f.id]) for f in result.findings],
                            complete=result.complete, stats=result.stats, warnings=result.warnings)
    return ScanOutcome(result, run_id, snapshot, list(sources), details)


@dataclass(slots=True)
class Explanation:
    key: str
    how: str
    findings: list[Mapping[str, Any]]
    details: dict[str, Mapping[str, Any]]
    notes: list[str]


def explain(key: str, findings: Sequence[Mapping[str, Any]], details: Mapping[str, Mapping[str, Any]],
            snapshot: CloudSnapshot | None = None) -> Explanation:
    """Resolve KEY; when it names no finding, say why (e.g. a MOERA UPN is not a quarantine)."""
    hits, how = resolve_key(key, findings)
    notes: list[str] = []
    if not hits and snapshot is not None:
        kf = fold(key)
        for o in snapshot.objects:
            if o.id.casefold() == kf or fold(o.user_principal_name or "") == kf:
                origin = upn_origin(o, snapshot.initial_domain)
                notes.append(f"{o.kind.value} {o.user_principal_name} ({o.id}) has no provisioning error.")
                if origin.kind != "normal" or (o.user_principal_name or "").endswith(
                        snapshot.initial_domain or "\0"):
                    notes.append(origin.explanation)
                break
    if not hits and not notes:
        parsed = parse_error_text(key)
        if parsed is not None and parsed.missing:
            notes += [f"could not extract {m}" for m in parsed.missing]
    if not hits and not notes:
        notes.append(f"nothing matches {how}")
    return Explanation(key, how, list(hits), {f["id"]: details.get(f["id"], {}) for f in hits}, notes)


def require_one_cloud_source(tenant: Any, graph: bool, graph_url: Any) -> None:
    n = sum(1 for x in (tenant, graph or None, graph_url) if x)
    if n == 0:
        raise UsageError("no cloud source: give --tenant FILE, --graph or --graph-url URL")
    if n > 1:
        raise UsageError("give only one cloud source: --tenant, --graph or --graph-url")
