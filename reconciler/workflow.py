"""Use cases shared by the CLI and library users: scan, explain.

Composes the pure core with sources and the store through Protocols; the
concrete adapters are built by :mod:`reconciler.wiring`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .core.errors import DirectoryError, UsageError
from .core.explain import ERROR_NAMES, finding_detail, parse_error_text, resolve_key
from .core.matcher import forest_warnings, match, uncovered_reason, upn_origin
from .core.model import CloudSnapshot, Finding, OnPremObject, OnPremSource, ScanResult, Scenario, fold
from .fixes.context import context_from_snapshot
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
    result.warnings += forest_warnings(snapshot, onprem)
    result.warnings += snapshot.warnings  # incl. each time stamp kept as given (sources.timestamps)
    by_origin: dict[str, int] = {}
    for f in findings:
        for o in f.all_origins:
            by_origin[o] = by_origin.get(o, 0) + 1
    result.stats = {"objects": len(snapshot.objects),
                    "onprem_objects": sum(_read(s) for s in onprem),
                    "errors": len(findings),
                    "onprem_sources": [source_stats(s) for s in onprem],
                    "unverified_holders": unverified_stats(findings),
                    "origins_read": list(snapshot.origins_read),
                    "by_origin": by_origin}
    return result, details


def _read(src: OnPremSource) -> int:
    """Objects the source read (a scan keeps only those it needs in ``objects``)."""
    return len(src.objects) if src.count is None else src.count


def source_stats(src: OnPremSource) -> dict[str, Any]:
    """What one on-prem source holds, what it cannot link (by reason) and whether it is whole."""
    return {"source": src.label, "objects": _read(src), "complete": src.complete,
            "incomplete": list(src.incomplete), "not_linkable": src.unlinkable(),
            "skipped_records": src.skipped}


def unverified_stats(findings: Sequence[Finding]) -> dict[str, int]:
    """Holders no supplied source could decide (unverified_holder findings), counted by the reason."""
    out: dict[str, int] = {}
    for f in findings:
        if f.scenario is Scenario.UNVERIFIED_HOLDER and f.holders:
            why = uncovered_reason(f.coverage, f.holders[0].object.kind.value)
            if f.coverage is not None:
                why = f"{f.coverage.source} {why}"
            out[why] = out.get(why, 0) + 1
    return dict(sorted(out.items()))


def _prepare(readers: Sequence[OnPremReader]) -> list[Any]:
    """The on-prem side's cheap pass (runs beside the cloud read): an index per file, or a full read."""
    from .sources.prefilter import Whole

    out = []
    for r in readers:
        prepare = getattr(r, "prepare", None)
        out.append(prepare() if prepare is not None else Whole(r.read(NullProgress())))
    return out


def _onprem_values(pending: Any) -> Any:
    """objectGUID -> the on-prem object's UPN, mail and SMTP values (for failures that name no value).

    ``pending`` is the on-prem pass still running beside the cloud read: the first call waits for it.
    """
    def values(guid: str) -> list[str]:
        for p in pending.result():
            o = p.by_guid(guid)
            if o is not None:
                return [v for v in (o.user_principal_name, o.mail, *o.smtp_addresses()) if v]
        return []
    return values


async def _select(cloud_read: Any, prepared: Sequence[Any], store: Store | None,
                  progress: Progress) -> tuple[CloudSnapshot, list[OnPremSource]]:
    """Wait for the cloud side, then keep on-prem only what its keys need (more rounds for failures)."""
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
        for _ in range(3):  # failures found through their on-prem object bring its values and anchor
            if not snapshot.error_records:
                break
            more = keys_for(snapshot, sources)
            if more == keys:
                break
            keys, sources = more, [p.select(more) for p in prepared]
    return snapshot, sources


async def scan(cloud: CloudSource, onprem: Sequence[OnPremReader], store: Store | None,
               progress: Progress | None = None) -> ScanOutcome:
    """Read the cloud and (at the same time) pass over the on-prem sources; keep on-prem only what matching needs.

    On-prem input errors win over cloud errors, as when the on-prem side was read first.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    progress = progress or NullProgress()
    pool = ThreadPoolExecutor(1, thread_name_prefix="onprem") if onprem else None
    future = pool.submit(_prepare, onprem) if pool is not None else None
    pending = asyncio.wrap_future(future) if future is not None else None
    if hasattr(cloud, "onprem_values") and future is not None:  # a targeted Graph read also looks up holders
        cloud.onprem_values = _onprem_values(future)  # type: ignore[attr-defined]
    cloud_read = asyncio.ensure_future(cloud.read(progress))
    try:
        prepared = await pending if pending is not None else []
    except BaseException:
        cloud_read.cancel()
        await asyncio.gather(cloud_read, return_exceptions=True)
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=False)
    for r, p in zip(onprem, prepared):
        progress.stage(f"reading {r.label}")
        progress.advance(p.count, objects=p.count)
    try:
        snapshot, sources = await _select(cloud_read, prepared, store, progress)
    finally:
        for p in prepared:
            close = getattr(p, "close", None)  # an LDAP index keeps its fetch connection until here
            if close is not None:
                close()
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
    matched: bool = False  # a finding, or an object whose notes answer the question (a MOERA UPN)


def explain(key: str, findings: Sequence[Mapping[str, Any]], details: Mapping[str, Mapping[str, Any]],
            snapshot: CloudSnapshot | None = None) -> Explanation:
    """Resolve KEY; when it names no finding, say why (e.g. a MOERA UPN is not a quarantine).

    For a pasted error text, the notes always say which attribute and value were
    searched (or what the text did not contain) and what a named error means.
    """
    hits, how = resolve_key(key, findings)
    notes: list[str] = []
    matched = bool(hits)
    parsed = parse_error_text(key) if how.startswith("pasted error text") else None
    if parsed is not None:
        if parsed.error_name:
            notes.append(f"{parsed.error_name}: {ERROR_NAMES[parsed.error_name]}")
        if parsed.value:
            notes.append(f"searched {parsed.property or 'UserPrincipalName, mail and proxyAddresses'} = "
                         f"{parsed.value}: {len(hits)} finding{'s' if len(hits) != 1 else ''}")
        notes += [f"could not extract {m}" for m in parsed.missing]
    if not hits and snapshot is not None:
        kf = fold(key)
        for o in snapshot.objects:
            if o.id.casefold() == kf or fold(o.user_principal_name or "") == kf:
                origin = upn_origin(o, snapshot.initial_domain)
                notes.append(f"{o.kind.value} {o.user_principal_name} ({o.id}) has no provisioning error.")
                matched = True
                if origin.kind != "normal" or (o.user_principal_name or "").endswith(
                        snapshot.initial_domain or "\0"):
                    notes.append(origin.explanation)
                break
    if not hits and not notes:
        notes.append(f"nothing matches {how}")
    return Explanation(key, how, list(hits), {f["id"]: details.get(f["id"], {}) for f in hits}, notes, matched)


def require_one_cloud_source(tenant: Any, graph: bool, graph_url: Any) -> None:
    n = sum(1 for x in (tenant, graph or None, graph_url) if x)
    if n == 0:
        raise UsageError("no cloud source: give --tenant FILE, --graph or --graph-url URL")
    if n > 1:
        raise UsageError("give only one cloud source: --tenant, --graph or --graph-url")
