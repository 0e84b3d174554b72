"""plan, apply and undo (docs/plan-apply.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..core.errors import UsageError
from . import app
from .common import (
    AuthOpt,
    BindDnOpt,
    CertOpt,
    ClientIdOpt,
    CloudOpt,
    DbOpt,
    GraphUrlOpt,
    InsecureOpt,
    LdapCaOpt,
    OutOpt,
    QuietOpt,
    TenantIdOpt,
    TenantOpt,
    check_choice,
    err,
    handle_errors,
    output,
    source_options,
)

ScenarioOpt = Annotated[list[str] | None, typer.Option("--scenario", help="Only findings of this scenario "
                                                          "(repeatable).")]
FindingOpt = Annotated[list[str] | None, typer.Option("--finding", help="Only this finding id or a 6+ "
                                                         "character prefix (repeatable).")]
GraphFlag = Annotated[bool, typer.Option("--graph", help="Live Microsoft Graph (azure-identity credentials).",
                                         rich_help_panel="Cloud source")]
LdapUrlOpt = Annotated[str | None, typer.Option("--ldap", help="Write ldap steps on this DC (needs write "
                                                   "rights); without it they are emitted as an LDIF file.",
                                                   rich_help_panel="On-prem source")]
FmtOpt = Annotated[str, typer.Option("--format", "-f", help="table|json.")]


@app.command()
@handle_errors
def plan(
    db: DbOpt = None,
    run: Annotated[str | None, typer.Option("--run", help="Scan run id (default: the latest).")] = None,
    tenant_name: Annotated[str | None, typer.Option("--tenant-name", help="Tenant id or name "
                                                       "(when the database holds several).")] = None,
    scenario: ScenarioOpt = None, finding: FindingOpt = None,
    allow_reanchor: Annotated[bool, typer.Option("--allow-reanchor", help="Allow re-anchoring a cloud-only user "
                                                 "in a federated domain (onmicrosoft.com UPN detour).")] = False,
    assume_flags: Annotated[bool, typer.Option("--assume-flags", help="Plan matches although the tenant's sync "
                                               "feature flags could not be read (you checked them).")] = False,
    prefer: Annotated[str, typer.Option("--prefer", help="deleted_holder remedy: purge|restore.")] = "purge",
    allow_purge: Annotated[bool, typer.Option("--allow-purge", help="Also purge licensed or mailbox-holding objects, "
                                              "or ones that may be the original (without it the plan stops at the "
                                              "recycle bin, restorable for 30 days).")] = False,
    orphans: Annotated[str, typer.Option("--orphans", help="orphaned_holder remedy: adsynctools (needs a Global "
                                         "Administrator password session) | cloud (beta: move the source of "
                                         "authority to the cloud, delete through Graph).")] = "adsynctools",
    out: OutOpt = None,
    review: Annotated[Path | None, typer.Option("--review", help="Also render the plan for a change ticket "
                                                   "(FILE.md or FILE.html).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Turn the latest scan's findings into an inert plan file for review.

    Example: reconciler plan -o plan.json --review plan.md
    """
    from ..fixes.apply import plan_from_store
    from ..fixes.emit import render_review
    from ..fixes.planfile import write_text
    from ..fixes.planner import PlanOptions
    from ..history.store import Store

    check_choice("--prefer", prefer, ("purge", "restore"))
    check_choice("--orphans", orphans, ("adsynctools", "cloud"))
    if review is not None and review.suffix.lower() not in (".md", ".html", ".htm"):
        raise UsageError(f"--review {review}: use a .md or .html file name")
    opts = PlanOptions(scenarios=frozenset(scenario or ()), findings=frozenset(finding or ()),
                       allow_reanchor=allow_reanchor, assume_flags=assume_flags, prefer_restore=prefer == "restore",
                       allow_purge=allow_purge, orphans=orphans)
    with Store(db) as store:
        p = plan_from_store(store, opts, run_id=run, tenant=tenant_name)
    import orjson

    with output(out) as stream:
        stream.write(orjson.dumps(p.data, option=orjson.OPT_INDENT_2).decode() + "\n")
    if review is not None:
        from ..fixes.emit import names_from_findings

        with Store(db) as store:
            names = names_from_findings(store.findings(p.scan_run)) if p.scan_run else {}
        write_text(review, render_review(p, "html" if review.suffix.lower() in (".html", ".htm") else "md", names))
    if not quiet:
        for w in p.warnings:
            err(f"warning: {w}")
        err(f"plan {p.fingerprint}: {len(p.steps)} steps, {len(p.refusals)} refusals")


def _graph_opts(tenant: Path | None, graph: bool, graph_url: str | None, auth: str, tenant_id: str | None,
                client_id: str | None, certificate: Path | None, cloud: str) -> Any:
    return source_options(tenant=tenant, graph=graph, graph_url=graph_url, auth=auth, tenant_id=tenant_id,
                          client_id=client_id, certificate=certificate, cloud=cloud)


def _ldap_opts(ldap: str | None, bind_dn: str | None, ldap_ca: Path | None, insecure: bool) -> Any:
    return source_options(ldap=[ldap] if ldap else [], bind_dn=bind_dn, ldap_ca=ldap_ca, insecure=insecure)


def _notifier(quiet: bool) -> Any:
    """Where apply's notes go (emitted .ps1/LDIF files, manual steps): stderr, or nowhere with -q."""
    return (lambda _message: None) if quiet else err


def _finish(report: Any, fmt: str, quiet: bool) -> None:
    """Print the outcomes, then exit with the report's code (4 drift, 1 failed steps)."""
    _print_report(report, fmt, quiet)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _run_showing_steps(coro: Any, fmt: str, quiet: bool) -> Any:
    """Run apply/undo; when it stops after steps ran (drift: exit 4, a dry run over a threshold: exit 3) the
    step table is printed first, so the operator sees what already happened, then the one-line reason."""
    import asyncio

    from ..core.errors import ReconcilerError

    try:
        return asyncio.run(coro)
    except ReconcilerError as e:
        partial = getattr(e, "report", None)
        if partial is not None:
            _print_report(partial, fmt, quiet)
        raise


def _print_report(report: Any, fmt: str, quiet: bool) -> None:
    if fmt == "json":
        import orjson

        doc = {"run": report.run_id, "dry_run": report.dry_run, "fingerprint": report.fingerprint,
               "summary": report.summary(),
               "steps": [{"id": o.step, "kind": o.kind, "executor": o.executor, "status": o.status,
                          "detail": o.detail} for o in report.outcomes]}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for o in report.outcomes:
            typer.echo(f"{o.step:>6}  {o.status:<12} {o.executor:<10} {o.kind:<24} {o.detail}")
    if not quiet:
        mode = "dry run (nothing written; --doit to execute)" if report.dry_run else f"run {report.run_id}"
        err(f"{mode}: " + ", ".join(f"{v} {k}" for k, v in sorted(report.summary().items())))


@app.command()
@handle_errors
def apply(
    plan_file: Annotated[Path, typer.Argument(help="The reviewed plan (reconciler.plan/1).")],
    steps: Annotated[list[str] | None, typer.Argument(help="With --confirm: the external steps you ran.")] = None,
    tenant: TenantOpt = None, graph: GraphFlag = False, graph_url: GraphUrlOpt = None,
    auth: AuthOpt = "environment", tenant_id: TenantIdOpt = None, client_id: ClientIdOpt = None,
    certificate: CertOpt = None, cloud: CloudOpt = "global",
    ldap: LdapUrlOpt = None, bind_dn: BindDnOpt = None, ldap_ca: LdapCaOpt = None, insecure: InsecureOpt = False,
    db: DbOpt = None,
    doit: Annotated[bool, typer.Option("--doit", help="Execute; without it nothing is written (dry run).")] = False,
    confirm: Annotated[bool, typer.Option("--confirm", help="Record that you ran the external (PowerShell/manual) "
                                          "steps named as arguments, with --doit: "
                                          "apply plan.json --doit --confirm s1 s2.")] = False,
    checksum: Annotated[str | None, typer.Option("--checksum", help="Apply a plan this database did not make, "
                                                    "if its content hashes to this sha256.")] = None,
    max_deletes: Annotated[int, typer.Option("--max-deletes", help="Refuse above this many deletes/purges.")] = 10,
    max_changes: Annotated[int, typer.Option("--max-changes", help="Refuse above this many changes.")] = 50,
    force: Annotated[bool, typer.Option("--force", help="Go over --max-deletes/--max-changes.")] = False,
    skip_drift: Annotated[bool, typer.Option("--skip-drift", help="Skip steps whose target drifted (or that a "
                                             "guard refuses) and run the rest; the exit code reflects only the "
                                             "rest.")] = False,
    max_age: Annotated[float, typer.Option("--max-age", help="Refuse a plan older than this many days "
                                           "(exit 4).")] = 7.0,
    ps1: Annotated[Path | None, typer.Option("--ps1", help="Where to write the PowerShell script "
                                                "(default: beside the plan).")] = None,
    ldif: Annotated[Path | None, typer.Option("--ldif", help="Where to write the LDIF change file "
                                                 "(default: beside the plan).")] = None,
    fmt: FmtOpt = "table", quiet: QuietOpt = False,
) -> None:
    """Apply a plan: dry run unless --doit; verifies the fingerprint, re-reads every target first.

    Example: reconciler apply plan.json --graph-url http://127.0.0.1:8000/v1.0 --auth none --doit
    """
    from ..fixes.apply import ApplyOptions, run_apply

    check_choice("--format", fmt, ("table", "json"))
    if steps and not confirm:
        raise UsageError(f"unexpected arguments {' '.join(steps)}: name steps only after --confirm")
    if max_age <= 0:
        raise UsageError("--max-age must be a positive number of days")
    opts = ApplyOptions(doit=doit, checksum=checksum, max_deletes=max_deletes, max_changes=max_changes,
                        force=force, skip_drift=skip_drift, confirm=tuple(steps or ()), max_age_days=max_age)
    src = _graph_opts(tenant, graph, graph_url, auth, tenant_id, client_id, certificate, cloud)
    report = _run_showing_steps(run_apply(plan_file, db, src, _ldap_opts(ldap, bind_dn, ldap_ca, insecure), opts,
                                          ps1=ps1, ldif=ldif, notify=_notifier(quiet)), fmt, quiet)
    _finish(report, fmt, quiet)


@app.command()
@handle_errors
def undo(
    steps: Annotated[list[str] | None, typer.Argument(help="With --confirm: the external steps whose undo you "
                                                           "ran.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Apply run id (default: the latest).")] = None,
    tenant: TenantOpt = None, graph: GraphFlag = False, graph_url: GraphUrlOpt = None,
    auth: AuthOpt = "environment", tenant_id: TenantIdOpt = None, client_id: ClientIdOpt = None,
    certificate: CertOpt = None, cloud: CloudOpt = "global",
    ldap: LdapUrlOpt = None, bind_dn: BindDnOpt = None, ldap_ca: LdapCaOpt = None, insecure: InsecureOpt = False,
    db: DbOpt = None,
    doit: Annotated[bool, typer.Option("--doit", help="Execute; without it nothing is written (dry run).")] = False,
    ps1: Annotated[Path | None, typer.Option("--ps1", help="Where to write the undo PowerShell script(s) "
                                                "(one per host: NAME.entra-connect.ps1, NAME.exchange-online.ps1).")] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="Record that you ran the emitted undo of the external "
                                          "steps named as arguments: undo --run RUN --doit --confirm s1 s2.")] = False,
    fmt: FmtOpt = "table", quiet: QuietOpt = False,
) -> None:
    """Reverse the steps an apply run executed, newest first, from the journal's before-values.

    Example: reconciler undo --graph-url http://127.0.0.1:8000/v1.0 --auth none --doit
    """
    from ..fixes.apply import run_undo

    check_choice("--format", fmt, ("table", "json"))
    if steps and not confirm:
        raise UsageError(f"unexpected arguments {' '.join(steps)}: name steps only after --confirm")
    src = _graph_opts(tenant, graph, graph_url, auth, tenant_id, client_id, certificate, cloud)
    report = _run_showing_steps(run_undo(run, db, src, _ldap_opts(ldap, bind_dn, ldap_ca, insecure), doit=doit,
                                         ps1=ps1, notify=_notifier(quiet), confirm=tuple(steps or ())), fmt, quiet)
    _finish(report, fmt, quiet)

