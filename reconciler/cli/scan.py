"""scan, explain and demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import (
    AuthOpt,
    BaseDnOpt,
    BindDnOpt,
    CertOpt,
    ClientIdOpt,
    CloudOpt,
    DbOpt,
    GraphOpt,
    GraphUrlOpt,
    InsecureOpt,
    LdapCaOpt,
    LdapFilterOpt,
    LdapOpt,
    OnpremOpt,
    OutOpt,
    QuietOpt,
    StderrProgress,
    TenantIdOpt,
    TenantOpt,
    VerboseOpt,
    check_choice,
    err,
    handle_errors,
    output,
    source_options,
)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table|json|csv|md|html.")]
ExplainFormatOpt = Annotated[str, typer.Option("--format", "-f", metavar="FMT", help="table|json|md.")]


def _run_scan(opts, db: Optional[Path], quiet: bool, verbose: bool):  # type: ignore[no-untyped-def]
    import asyncio

    from ..history.store import Store
    from ..wiring import build_cloud_source, build_onprem_readers
    from ..workflow import scan as scan_uc

    cloud = build_cloud_source(opts)
    readers = build_onprem_readers(opts)
    with Store(db) as store, StderrProgress(quiet, verbose) as progress:
        return asyncio.run(scan_uc(cloud, readers, store, progress))


@app.command()
@handle_errors
def scan(
    tenant: TenantOpt = None, graph: GraphOpt = False, graph_url: GraphUrlOpt = None,
    auth: AuthOpt = "environment", tenant_id: TenantIdOpt = None, client_id: ClientIdOpt = None,
    certificate: CertOpt = None, cloud: CloudOpt = "global",
    strategy: Annotated[str, typer.Option("--strategy", help="Graph read strategy: auto|targeted|full.",
                                          rich_help_panel="Cloud source")] = "auto",
    save_tenant: Annotated[Optional[Path], typer.Option(
        "--save-tenant", help="Also write what was read as a reconciler.tenant/1 file.",
        rich_help_panel="Cloud source")] = None,
    errors: Annotated[Optional[str], typer.Option(
        "--errors", help="Origins to read, comma-separated: connect,cloud_sync,exchange,health (default: every "
                         "origin the credentials allow).", rich_help_panel="Cloud source")] = None,
    since: Annotated[Optional[str], typer.Option(
        "--since", help="Cloud Sync failures since: a duration (7d, 36h) or an ISO date (default 7d).",
        rich_help_panel="Cloud source")] = None,
    health_url: Annotated[Optional[str], typer.Option(
        "--health-url", help="Azure Resource Manager-compatible root for Connect Health (e.g. the emulator's "
                             "http://127.0.0.1:PORT/arm); default with --graph: the cloud's ARM.",
        rich_help_panel="Cloud source")] = None,
    onprem: OnpremOpt = None, ldap: LdapOpt = None, bind_dn: BindDnOpt = None, base_dn: BaseDnOpt = None,
    ldap_filter: LdapFilterOpt = None, ldap_ca: LdapCaOpt = None, insecure: InsecureOpt = False,
    ldap_full_read: Annotated[bool, typer.Option(
        "--ldap-full-read", help="Read every --ldap entry in full instead of a cheap pass and a fetch of the "
                                 "entries the errors need (same findings; more traffic).",
        rich_help_panel="On-prem source")] = False,
    db: DbOpt = None, fmt: FormatOpt = "table", out: OutOpt = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when findings exist (for schedulers).")] = False,
    new_only: Annotated[bool, typer.Option(
        "--new-only", help="With --check: exit 1 only for findings new or reopened since the previous run.")] = False,
    all_tenants: Annotated[bool, typer.Option(
        "--all", help="Scan every tenant of the config file concurrently (one failing does not stop the others).",
        rich_help_panel="Many tenants")] = False,
    config: Annotated[Path | None, typer.Option(
        "--config", help="reconciler.toml (default: $RECONCILER_CONFIG, else the user config dir).",
        rich_help_panel="Many tenants")] = None,
    parallel: Annotated[int | None, typer.Option(
        "--parallel", help="With --all: tenants scanned at once (default: the config's parallel, else 8).",
        rich_help_panel="Many tenants")] = None,
    quiet: QuietOpt = False, verbose: VerboseOpt = False,
) -> None:
    """Read sync errors and their holders, match them to on-prem objects, store the run, print findings.

    Example: reconciler scan --tenant tenant.json --onprem forest.ldif --format json -o findings.json
    """
    from ..core.errors import UsageError
    from .render import FORMATS, render_findings, stats_lines, summary_line

    check_choice("--format", fmt, FORMATS)
    check_choice("--strategy", strategy, ("auto", "targeted", "full"))
    if new_only and not check:
        raise UsageError("--new-only needs --check")
    if all_tenants:
        from .report import scan_all_command

        scan_all_command(config, db, parallel=parallel, fmt=fmt, out=out, check=check, new_only=new_only,
                         quiet=quiet, sources_given=bool(tenant or graph or graph_url or onprem or ldap))
        return
    from ..wiring import parse_errors_option, parse_since_option

    opts = source_options(tenant=tenant, graph=graph, graph_url=graph_url, auth=auth, tenant_id=tenant_id,
                          client_id=client_id, certificate=certificate, cloud=cloud, onprem=onprem, ldap=ldap,
                          bind_dn=bind_dn, base_dn=base_dn, ldap_filter=ldap_filter, ldap_ca=ldap_ca,
                          insecure=insecure, verbose=verbose, strategy=strategy, save_tenant=save_tenant,
                          errors=parse_errors_option(errors), since=parse_since_option(since),
                          health_url=health_url, ldap_full_read=ldap_full_read)
    outcome = _run_scan(opts, db, quiet, verbose)
    doc = outcome.result.data()
    with output(out) as stream:
        render_findings(doc, fmt, stream, color=out is None and fmt == "table" and sys.stdout.isatty())
    if not quiet:
        for w in outcome.result.warnings:
            err(f"warning: {w}")
        for line in stats_lines(outcome.result.stats):
            err(line)
        if out is not None or fmt != "table":
            err(f"{summary_line(doc['findings'])} (run {outcome.run_id})")
    if check and new_only:
        from .report import new_only_exit

        if new_only_exit(db, outcome.result.tenant_id, outcome.result.complete):
            raise typer.Exit(1)
    elif check and doc["findings"]:
        raise typer.Exit(1)


@app.command()
@handle_errors
def explain(
    key: Annotated[str, typer.Argument(help="Finding id, object id, UPN, the conflicting value, or the pasted "
                                            "text of a sync error e-mail.")],
    tenant: TenantOpt = None, graph: GraphOpt = False, graph_url: GraphUrlOpt = None,
    auth: AuthOpt = "environment", onprem: OnpremOpt = None, ldap: LdapOpt = None,
    bind_dn: BindDnOpt = None, base_dn: BaseDnOpt = None,
    db: DbOpt = None,
    run: Annotated[Optional[str], typer.Option("--run", help="Explain from this run (default: latest).")] = None,
    tenant_name: Annotated[Optional[str], typer.Option("--tenant-name", help="Pick the tenant's latest run.")] = None,
    fmt: ExplainFormatOpt = "table", out: OutOpt = None, quiet: QuietOpt = False, verbose: VerboseOpt = False,
) -> None:
    """Side-by-side view of one conflict: error object, every holder, their on-prem objects, and why.

    Works from the latest scan in the database; with a source option it scans first.
    Example: reconciler explain "[UserPrincipalName john@contoso.com;]"
    """
    from ..core.errors import UsageError
    from ..history.store import Store
    from ..workflow import explain as explain_uc
    from .render import render_explanation

    check_choice("--format", fmt, ("table", "json", "md"))
    if not key.strip():  # e.g. an unset shell variable: it matched every error object not yet in the cloud
        raise UsageError("explain KEY is empty: give a finding id, object id, UPN, value or the pasted error text")
    snapshot = None
    opts = source_options(tenant=tenant, graph=graph, graph_url=graph_url, auth=auth, onprem=onprem,
                          ldap=ldap, bind_dn=bind_dn, base_dn=base_dn, verbose=verbose)
    if tenant or graph or graph_url:
        outcome = _run_scan(opts, db, quiet, verbose)
        findings = [f.data() for f in outcome.result.findings]
        details = outcome.details
        snapshot = outcome.snapshot
    else:
        with Store(db) as store:
            info = store.get_run(run) if run else store.latest_run(tenant=tenant_name)
            if info is None:
                raise UsageError("no scan in the database yet: run `reconciler scan` first, or pass a "
                                 "source (--tenant/--graph) to explain to scan now")
            findings = store.findings(info.id)
            details = {f["id"]: store.finding_detail(info.id, f["id"]) for f in findings}
    exp = explain_uc(key, findings, details, snapshot)
    with output(out) as stream:
        render_explanation(exp, fmt, stream, color=out is None and fmt == "table" and sys.stdout.isatty())
    if not exp.matched:  # nothing matched: exit 1 (the notes say what was searched)
        raise typer.Exit(1)


@app.command()
@handle_errors
def demo(
    db: DbOpt = None,
    workdir: Annotated[Optional[Path], typer.Option(
        "--workdir", help="Keep the demo's plan, review, PowerShell and LDIF files here (default: a temporary "
        "folder, removed afterwards).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run the whole flow on the bundled sample tenant and on-prem LDIF: no network, no credentials.

    Stages: scan, explain the first finding, plan (with a review file), dry-run apply (nothing is written),
    history report, and check-onprem (the IdFix successor) against the same data.
    """
    import asyncio
    import tempfile
    from contextlib import ExitStack
    from importlib import resources

    from ..history.store import Store
    from ..wiring import SourceOptions, build_cloud_source, build_onprem_readers
    from ..workflow import explain as explain_uc
    from ..workflow import scan as scan_uc
    from .render import render_explanation, render_findings

    color = sys.stdout.isatty()
    data = resources.files("reconciler") / "data"
    with ExitStack() as stack:
        tenant_path = stack.enter_context(resources.as_file(data / "sample-tenant.json"))
        ldif_path = stack.enter_context(resources.as_file(data / "sample-onprem.ldif"))
        keep = workdir is not None
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reconciler-demo-")))
        workdir.mkdir(parents=True, exist_ok=True)
        db = db or workdir / "demo.db"
        opts = SourceOptions(tenant=tenant_path, onprem=[ldif_path])
        _heading("1. scan: bundled sample tenant (Contoso) + on-prem LDIF (DC=corp,DC=contoso,DC=com)")
        with Store(db) as store, StderrProgress(quiet) as progress:
            outcome = asyncio.run(scan_uc(build_cloud_source(opts), build_onprem_readers(opts), store, progress))
        doc = outcome.result.data()
        render_findings(doc, "table", sys.stdout, color=color)
        if not doc["findings"]:
            return
        first = doc["findings"][0]
        _heading(f"2. explain {first['id']}   (reconciler explain KEY)")
        exp = explain_uc(first["id"], doc["findings"], outcome.details, outcome.snapshot)
        render_explanation(exp, "table", sys.stdout, color=color)
        _later_stages(db, workdir, tenant_path, ldif_path, quiet, keep)
        if keep:
            files = sorted(p.name for p in workdir.iterdir() if p.is_file() and not p.name.startswith("."))
            typer.echo(f"\nThe demo's files are kept in {workdir}: {', '.join(files)}")
        else:
            typer.echo("\nThe demo worked in a temporary folder, removed now; `reconciler demo --workdir DIR` keeps "
                       "its plan, review, PowerShell and LDIF files.")
        typer.echo("Next: `reconciler scan --tenant FILE --onprem FILE` (or --graph / --ldap) on your own data.")


def _heading(text: str) -> None:
    typer.echo(f"\n== {text}\n")


def _later_stages(db: Path, workdir: Path, tenant_path: Path, ldif_path: Path, quiet: bool = False,
                  keep: bool = True) -> None:
    """plan -> dry-run apply -> report -> check-onprem, each through its own command.

    ``keep``: the files stay after the demo, so they are named with their paths; in a temporary folder
    only their names are given (a path that is gone when the admin looks would mislead).
    """
    from .checks import check_onprem
    from .plan import apply, plan
    from .report import report

    plan_path = workdir / "plan.json"
    _heading(f"3. plan -o {plan_path.name} --review plan.md   (inert JSON for review; nothing is changed)")
    plan(db=db, out=plan_path, review=workdir / "plan.md", quiet=quiet)
    if keep:
        typer.echo(f"plan written to {plan_path} and its review to {workdir / 'plan.md'}")
    else:
        typer.echo("plan written to plan.json and its review to plan.md (in the demo's temporary folder)")
    _heading(f"4. apply {plan_path.name}   (dry run: re-reads every target, writes nothing)")
    try:
        apply(plan_file=plan_path, tenant=tenant_path, db=db, quiet=quiet or not keep)
    except typer.Exit as e:  # a dry run reports waiting steps; the demo goes on
        if e.exit_code not in (0, 1, 4):
            raise
    emitted = [p.name for p in [*sorted(workdir.glob("plan*.ps1")), workdir / "plan.ldif"] if p.exists()]
    if emitted and not keep:
        typer.echo(f"steps for the admin written to {' and '.join(emitted)} (in the demo's temporary folder); "
                   "run them, then `reconciler apply plan.json --doit --confirm STEP`")
    _heading("5. report   (history: open / new / resolved since the last run)")
    report(db=db, quiet=quiet)
    _heading("6. check-onprem   (IdFix successor: on-prem rules, duplicates, values the cloud already holds)")
    check_onprem(onprem=[ldif_path], tenant=tenant_path, quiet=quiet)
