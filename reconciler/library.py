"""reconciler from Python: the command line's use cases as functions that return typed results.

Every function raises only the documented exception tree (:mod:`reconciler.core.errors`): ``BadInput`` and
``UsageError`` (exit 2 on the command line), ``UnsafePlan`` (3), ``PlanMismatch`` / ``DriftDetected`` (4),
``DirectoryError`` and its subclasses (5). docs/library.md has runnable examples.

The synchronous functions run their own event loop (``asyncio.run``); inside a running loop (Jupyter, an
async service) use the ``*_async`` twins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from .core.errors import UsageError
from .fixes.apply import ApplyOptions, ApplyReport, StepOutcome
from .fixes.planner import Plan, PlanOptions
from .history.report import Report
from .sources.base import NullProgress, Progress
from .wiring import SourceOptions
from .workflow import Explanation, ScanOutcome

__all__ = [
    "ApplyOptions",
    "ApplyReport",
    "Explanation",
    "NullProgress",
    "Plan",
    "PlanOptions",
    "Progress",
    "Report",
    "ScanOutcome",
    "Sources",
    "StepOutcome",
    "apply",
    "apply_async",
    "explain",
    "plan",
    "report",
    "scan",
    "scan_async",
]

#: Where to read from: the command line's source options as fields (``tenant``, ``graph``, ``graph_url``,
#: ``auth``, ``onprem``, ``ldap``, ... and, for scripts, ``graph_client``: a configured msgraph
#: ``GraphServiceClient``).
Sources = SourceOptions

DbPath = Path | str | None


def _sources(sources: SourceOptions | None, options: dict[str, Any]) -> SourceOptions:
    if sources is not None and options:
        raise UsageError("give a Sources object or keyword options, not both")
    if sources is not None:
        return sources
    if isinstance(options.get("onprem"), (str, Path)):
        options["onprem"] = [options["onprem"]]
    for key in ("tenant", "certificate", "ldap_ca", "save_tenant"):
        if isinstance(options.get(key), str):
            options[key] = Path(options[key])
    options["onprem"] = [Path(p) for p in options.get("onprem") or ()]
    return SourceOptions(**options)


# ---------------------------------------------------------------- scan


async def scan_async(sources: SourceOptions | None = None, /, *, db: DbPath = None, store: bool = True,
                     progress: Progress | None = None, **options: Any) -> ScanOutcome:
    """Read the cloud and on-prem sources, match, and (``store=True``) record the run in ``db``."""
    from .history.store import Store
    from .wiring import build_cloud_source, build_onprem_readers
    from .workflow import scan as scan_uc

    o = _sources(sources, options)
    cloud, readers = build_cloud_source(o), build_onprem_readers(o)
    if not store:
        return await scan_uc(cloud, readers, None, progress)
    with Store(db) as st:
        return await scan_uc(cloud, readers, st, progress)


def scan(sources: SourceOptions | None = None, /, *, db: DbPath = None, store: bool = True,
         progress: Progress | None = None, **options: Any) -> ScanOutcome:
    """Scan, like ``reconciler scan``: ``scan(tenant="t.json", onprem=["corp.ldif"], db="r.db")``.

    Returns the findings (``outcome.result.findings``: :class:`~reconciler.core.model.Finding`), the run id
    and what was read. Keyword options are :class:`Sources` fields; or pass one ``Sources`` object.
    """
    return asyncio.run(scan_async(sources, db=db, store=store, progress=progress, **options))


# ---------------------------------------------------------------- explain


def explain(key: str, outcome: ScanOutcome | None = None, *, db: DbPath = None, run: str | None = None,
            tenant_name: str | None = None) -> Explanation:
    """Explain a finding id, object id, UPN, value or pasted sync error text, like ``reconciler explain``.

    From ``outcome`` (a scan in this process) or else from the database's latest run (or ``run``).
    ``Explanation.findings`` is empty and ``notes`` says why when nothing matches.
    """
    from .workflow import explain as explain_uc

    if outcome is not None:
        findings = [f.data() for f in outcome.result.findings]
        return explain_uc(key, findings, outcome.details, outcome.snapshot)
    from .history.store import Store

    with Store(db) as st:
        info = st.get_run(run) if run else st.latest_run(tenant=tenant_name)
        if info is None:
            raise UsageError(f"no scan run {run} in the database" if run else "no scan in the database yet")
        stored = st.findings(info.id)
        details = {f["id"]: st.finding_detail(info.id, f["id"]) for f in stored}
    return explain_uc(key, stored, details)


# ---------------------------------------------------------------- plan


def plan(*, db: DbPath = None, run: str | None = None, tenant_name: str | None = None,
         options: PlanOptions | None = None, out: Path | str | None = None, review: Path | str | None = None,
         **option_fields: Any) -> Plan:
    """Plan the latest scan's findings (or ``run``'s), like ``reconciler plan``.

    ``options`` or keyword fields of :class:`PlanOptions` (``scenarios``, ``findings``, ``allow_reanchor``,
    ``assume_flags``, ``prefer_restore``). ``out``: also write the plan file ``apply`` takes; ``review``: a
    ``.md`` or ``.html`` rendering for a change ticket. The fingerprint is recorded in ``db``.
    """
    from .fixes.apply import plan_from_store
    from .fixes.planfile import write_plan, write_text
    from .history.store import Store

    if options is not None and option_fields:
        raise UsageError("give options=PlanOptions(...) or keyword fields, not both")
    for key in ("scenarios", "findings"):
        if key in option_fields:
            option_fields[key] = frozenset(option_fields[key])
    opts = options or PlanOptions(**option_fields)
    with Store(db) as st:
        p: Plan = plan_from_store(st, opts, run_id=run, tenant=tenant_name)
    if out is not None:
        write_plan(Path(out), p)
    if review is not None:
        from .fixes.emit import render_review

        path = Path(review)
        write_text(path, render_review(p, "html" if path.suffix.lower() in (".html", ".htm") else "md"))
    return p


# ---------------------------------------------------------------- apply


async def apply_async(plan_file: Path | str, sources: SourceOptions | None = None, /, *, db: DbPath = None,
                      doit: bool = False, options: ApplyOptions | None = None,
                      on_step: Callable[[StepOutcome], None] | None = None,
                      ldap: Sequence[str] = (), bind_dn: str | None = None, ldap_ca: Path | str | None = None,
                      insecure: bool = False, notify: Callable[[str], None] | None = None,
                      **source_fields: Any) -> ApplyReport:
    """Apply a reviewed plan file; a dry run unless ``doit``. See :func:`apply`."""
    from .fixes.apply import run_apply

    src = _sources(sources, source_fields)
    opts = replace(options or ApplyOptions(), doit=doit or (options.doit if options else False))
    if on_step is not None:
        opts = replace(opts, on_step=on_step)
    ldap_opts = SourceOptions(ldap=list(ldap), bind_dn=bind_dn, ldap_ca=Path(ldap_ca) if ldap_ca else None,
                              insecure=insecure)
    return await run_apply(Path(plan_file), Path(db) if db is not None else None, src, ldap_opts, opts,
                           notify=notify or (lambda _message: None))


def apply(plan_file: Path | str, sources: SourceOptions | None = None, /, *, db: DbPath = None, doit: bool = False,
          options: ApplyOptions | None = None, on_step: Callable[[StepOutcome], None] | None = None,
          ldap: Sequence[str] = (), bind_dn: str | None = None, ldap_ca: Path | str | None = None,
          insecure: bool = False, notify: Callable[[str], None] | None = None, **source_fields: Any) -> ApplyReport:
    """Apply a plan file like ``reconciler apply``: verify its fingerprint, re-read every target, then write
    (``doit=True``) or only report what would be written (the default).

    ``on_step(outcome)`` is called as each step finishes (progress). ``options``: thresholds, ``force``,
    ``checksum``, ``confirm``. Raises ``PlanMismatch``, ``UnsafePlan``, ``DriftDetected`` (the report of the
    other steps is on the exception's ``report``), ``DirectoryError``. ``notify`` receives the lines the
    command line prints about emitted PowerShell/LDIF files.
    """
    return asyncio.run(apply_async(plan_file, sources, db=db, doit=doit, options=options, on_step=on_step, ldap=ldap,
                                   bind_dn=bind_dn, ldap_ca=ldap_ca, insecure=insecure, notify=notify,
                                   **source_fields))


# ---------------------------------------------------------------- report


def report(*, db: DbPath = None, tenants: Sequence[str] = (), since: str | None = None, last: int | None = None,
           stuck_after: timedelta = timedelta(hours=24)) -> Report:
    """History across runs, like ``reconciler report``: ``Report.doc`` is the ``reconciler.report/1`` document.

    ``since``: an ISO date or date-time, or a duration back from now (``"24h"``, ``"7d"``).
    """
    from datetime import UTC, datetime

    from .history.report import build_report
    from .history.store import Store
    from .history.timeline import resolve_since

    now = datetime.now(UTC)
    if since is not None and last is not None:
        raise UsageError("give since or last, not both")
    try:
        since_iso = resolve_since(since, now) if since is not None else None
    except ValueError as e:
        raise UsageError(f"since: {e}") from None
    with Store(db) as st:
        return build_report(st, tenants=tenants, since=since_iso, last=last, stuck_after=stuck_after, now=now)
