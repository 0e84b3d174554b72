"""``scan --all``: scan every tenant of the config concurrently; one failing tenant never stops the others.

Each tenant runs in its own worker thread with its own event loop, its own
sources (so its own Graph client and throttle budget, ``max_concurrency``) and
its own database connection; SQLite's WAL mode and ``BEGIN IMMEDIATE`` queue the
writers, so concurrent runs lose nothing. At most ``parallel`` tenants run at once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Config, LdapConfig, TenantConfig
from .core.errors import ReconcilerError, UsageError
from .history.store import Store
from .history.timeline import RunPoint, Sighting, tenant_history
from .sources.base import CloudSource, NullProgress, OnPremReader

__all__ = ["TenantOutcome", "exit_code", "new_finding_ids", "scan_all", "scan_tenant"]


@dataclass(slots=True)
class TenantOutcome:
    """What happened to one tenant: a stored run, or the error that stopped it."""

    name: str
    tenant_id: str | None = None
    run_id: str | None = None
    complete: bool = False
    findings: int = 0
    new: list[str] = field(default_factory=list)  # new or reopened finding ids (vs the previous complete run)
    error: str | None = None
    error_exit: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def data(self) -> dict[str, Any]:
        return {"name": self.name, "tenant": self.tenant_id, "run": self.run_id, "complete": self.complete,
                "findings": self.findings, "new": len(self.new), "error": self.error,
                "seconds": round(self.seconds, 3)}


def _build(t: TenantConfig) -> tuple[CloudSource, list[OnPremReader]]:
    """This tenant's sources, with its own credentials and throttle budget (never the process's by mistake)."""
    from .wiring import SourceOptions, build_cloud_source, build_onprem_readers

    opts = t.source_options()
    secrets = t.secret_env()
    if secrets:  # this tenant's credentials, never the process's by accident
        opts.env = {**os.environ, **secrets}
    cloud = build_cloud_source(opts)
    readers = build_onprem_readers(SourceOptions(onprem=list(t.onprem)))
    for forest, forest_opts in zip(t.ldap, t.ldap_options()):
        readers += _forest_readers(forest, forest_opts)
    return cloud, readers


def _forest_readers(forest: LdapConfig, opts: Any) -> list[OnPremReader]:
    from .wiring import build_ldap_readers

    ref = forest.password
    if ref is None:
        return build_ldap_readers(opts)
    if os.environ.get("RECONCILER_LDAP_PASSWORD"):
        raise UsageError(f"{forest.url}: RECONCILER_LDAP_PASSWORD is set and would be used instead of the "
                         f"config's password reference ({ref}); unset it for scan --all")
    return build_ldap_readers(opts, prompt=lambda _message: ref.read())


def new_finding_ids(store: Store, tenant_id: str) -> list[str]:
    """Ids of findings that are new or reopened in the tenant's latest complete run."""
    runs = [RunPoint(r.id, r.started, r.complete, r.tenant_id, r.tenant_name)
            for r in store.history_runs([tenant_id]) if r.tenant_id == tenant_id]
    complete = [r.id for r in runs if r.complete][-2:]
    raw = store.history_sightings(complete)
    seen = {rid: [Sighting(*row) for row in rows] for rid, rows in raw.items()}
    hist = tenant_history(runs, seen)
    return [f.id for f in hist.findings if f.state in ("new", "reopened")]


def scan_tenant(t: TenantConfig, db: Path | str | None,
                build: Callable[[TenantConfig], tuple[CloudSource, list[OnPremReader]]] = _build) -> TenantOutcome:
    """Scan one tenant into the database; every error becomes part of the outcome, never raised."""
    from .workflow import scan

    out = TenantOutcome(t.name)
    started = time.perf_counter()
    try:
        cloud, readers = build(t)
        with Store(db) as store:
            res = asyncio.run(scan(cloud, readers, store, NullProgress()))
            out.tenant_id, out.run_id = res.result.tenant_id, res.run_id
            out.complete, out.findings = res.result.complete, len(res.result.findings)
            out.warnings = list(res.result.warnings)
            if res.result.complete:
                out.new = new_finding_ids(store, res.result.tenant_id)
    except ReconcilerError as e:
        out.error, out.error_exit = str(e), e.exit_code
    except OSError as e:
        out.error, out.error_exit = f"{type(e).__name__}: {e.strerror or e}", 5
    except Exception as e:  # noqa: BLE001 - one tenant's bug must not stop the others; reported, exit 1
        out.error, out.error_exit = f"internal error ({type(e).__name__}): {e}", 1
    out.seconds = time.perf_counter() - started
    return out


def scan_all(config: Config, db: Path | str | None, *, parallel: int | None = None,
             names: Sequence[str] = (),
             build: Callable[[TenantConfig], tuple[CloudSource, list[OnPremReader]]] = _build,
             on_done: Callable[[TenantOutcome], None] | None = None) -> list[TenantOutcome]:
    """Scan the config's enabled tenants (or those in ``names``), ``parallel`` at a time, in config order."""
    tenants = [config.tenant(n) for n in names] if names else [t for t in config.tenants if t.enabled]
    workers = max(1, min(parallel or config.parallel, len(tenants) or 1))
    Store(db).close()  # migrate once up front, not in every worker at the same moment
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconciler-tenant") as pool:
        futures = [pool.submit(scan_tenant, t, db, build) for t in tenants]
        for fut in as_completed(futures):  # report each tenant as soon as it is done
            if on_done is not None:
                on_done(fut.result())
    return [f.result() for f in futures]


def exit_code(outcomes: Sequence[TenantOutcome], *, check: bool = False, new_only: bool = False) -> int:
    """Highest wins: a tenant's error code (5 directory, 2 bad input…), else 1 for --check hits, else 0."""
    worst = max((o.error_exit for o in outcomes), default=0)
    if worst > 1:
        return worst
    if check and any((o.new if new_only else o.findings) for o in outcomes if o.ok):
        return 1
    return worst
