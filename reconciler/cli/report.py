"""report: history across runs and tenants, for people and schedulers."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from . import app
from .common import ConfigOpt, DbOpt, OutOpt, QuietOpt, check_choice, err, handle_errors, output

NOTIFY_HELP = ("Post a summary to this incoming webhook (Teams, Slack or generic JSON). The URL carries a "
               "token: prefer RECONCILER_NOTIFY_URL or notify.url_env in the config.")


def _window(since: str | None, last: int | None, now: datetime) -> str | None:
    from ..core.errors import UsageError
    from ..history.timeline import resolve_since

    if since is not None and last is not None:
        raise UsageError("give --since or --last, not both")
    if last is not None and last < 1:
        raise UsageError("--last must be 1 or more")
    if since is None:
        return None
    try:
        return resolve_since(since, now)
    except ValueError as e:
        raise UsageError(f"--since: {e}") from None


def _stuck(text: str):  # type: ignore[no-untyped-def]
    from ..core.errors import UsageError
    from ..history.timeline import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise UsageError(f"--stuck-after: {e}") from None


def _db(db: Path | None, cfg) -> Path | None:  # type: ignore[no-untyped-def]
    """--db, else $RECONCILER_DB, else the config's db, else the user state dir."""
    import os

    if db is not None or os.environ.get("RECONCILER_DB") or cfg is None:
        return db
    return cfg.db


def _notify_url(notify: str | None, cfg) -> str | None:  # type: ignore[no-untyped-def]
    if notify:
        return notify
    if cfg is not None and cfg.notify.url is not None:
        return cfg.notify.url.read()
    return None


@app.command()
@handle_errors
def report(
    db: DbOpt = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Changes since DATE (2026-11-30, 2026-11-30T06:00Z) or a duration ago (24h, 7d).")] = None,
    last: Annotated[int | None, typer.Option("--last", help="Changes over the last N complete runs "
                                                               "(default 1: since the previous run).")] = None,
    tenant_name: Annotated[list[str] | None, typer.Option(
        "--tenant-name", help="Only this tenant (name or id); repeat for several.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table|json|csv|md|html.")] = "table",
    out: OutOpt = None,
    stuck_after: Annotated[str | None, typer.Option(
        "--stuck-after", help="Open longer than this is stuck (default 24h: beyond the hourly quarantine job).")
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when findings are open (for schedulers).")] = False,
    new_only: Annotated[bool, typer.Option(
        "--new-only", help="With --check: exit 1 only for new or reopened findings.")] = False,
    keep_days: Annotated[float | None, typer.Option(
        "--keep-days", help="Retention: first delete runs older than N days (each tenant's latest complete "
                            "run is kept).")] = None,
    notify: Annotated[str | None, typer.Option("--notify", envvar="RECONCILER_NOTIFY_URL", show_envvar=False,
                                                  help=NOTIFY_HELP)] = None,
    notify_detail: Annotated[str | None, typer.Option(
        "--notify-detail", help="counts (default): numbers only; values: also new findings' values.")] = None,
    notify_format: Annotated[str | None, typer.Option(
        "--notify-format", help="auto (from the URL's host)|teams|slack|generic.")] = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Open, new, resolved, reopened and stuck findings per tenant, with a trend, from the database.

    Example (nightly): reconciler report --format html -o report.html --check --new-only
    """
    from ..config import find_config, load_config
    from ..core.errors import UsageError
    from ..history.report import REPORT_FORMATS, build_report, check_exit, render_report, summary_line
    from ..history.store import Store

    check_choice("--format", fmt, REPORT_FORMATS)
    if new_only and not check:
        raise UsageError("--new-only needs --check")
    if keep_days is not None and keep_days <= 0:
        raise UsageError("--keep-days must be more than 0")
    cfg_path = find_config(config)
    cfg = load_config(cfg_path) if cfg_path is not None else None
    now = datetime.now(UTC)
    window = _window(since, last, now)
    stuck = _stuck(stuck_after or (cfg.stuck_after if cfg and cfg.stuck_after else "24h"))
    with Store(_db(db, cfg)) as store:
        if keep_days is not None:
            n = store.prune_runs(keep_days, now=now)
            if not quiet:
                err(f"retention: deleted {n} run{'s' if n != 1 else ''} older than {keep_days:g} days")
        rep = build_report(store, tenants=tenant_name or (), since=window, last=last, stuck_after=stuck, now=now)
    if not rep.tenants:
        what = f" for {', '.join(tenant_name)}" if tenant_name else ""
        raise UsageError(f"no scan in the database{what} yet: run `reconciler scan` first")
    with output(out) as stream:
        render_report(rep, fmt, stream, color=out is None and fmt == "table" and sys.stdout.isatty())
    if not quiet and (out is not None or fmt != "table"):
        err(summary_line(rep))
    _send(rep, _notify_url(notify, cfg), notify_detail or (cfg.notify.detail if cfg else "counts"),
          notify_format or (cfg.notify.format if cfg else "auto"), quiet)
    code = check_exit(rep, new_only=new_only) if check else 0
    if code:
        raise typer.Exit(code)


def _send(rep, url: str | None, detail: str, fmt: str, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    if not url:
        return
    from ..history.notify import NOTIFY_FORMATS, build_payload, guess_format, redact_url, send

    check_choice("--notify-detail", detail, ("counts", "values"))
    check_choice("--notify-format", fmt, NOTIFY_FORMATS)
    kind = guess_format(url) if fmt == "auto" else fmt
    status = send(url, build_payload(rep.doc, kind, detail))
    if not quiet:
        err(f"notified {redact_url(url)} ({kind}, HTTP {status})")


# ---------------------------------------------------------------- used by `scan --all` / `scan --new-only`


def new_only_exit(db: Path | None, tenant_id: str, complete: bool) -> int:
    """``scan --check --new-only``: 1 when the run just stored has new or reopened findings."""
    from ..history.store import Store
    from ..multiscan import new_finding_ids

    if not complete:
        return 0  # an incomplete run counts for nothing
    with Store(db) as store:
        return 1 if new_finding_ids(store, tenant_id) else 0


def scan_all_command(config: Path | None, db: Path | None, *, parallel: int | None, fmt: str,
                     out: Path | None, check: bool, new_only: bool, quiet: bool, sources_given: bool) -> None:
    """``scan --all``: every tenant of the config, concurrently; prints one line per tenant; exits."""
    from ..config import find_config, load_config
    from ..core.errors import UsageError
    from ..history.report import render_outcomes
    from ..multiscan import exit_code, scan_all

    if sources_given:
        raise UsageError("--all scans the tenants of the config file: drop --tenant/--graph/--graph-url/"
                         "--onprem/--ldap (put them in the config)")
    check_choice("--format", fmt, ("table", "json", "csv", "md"))
    if parallel is not None and parallel < 1:
        raise UsageError("--parallel must be 1 or more")
    path = find_config(config)
    if path is None:
        raise UsageError("--all needs a config file: --config FILE, RECONCILER_CONFIG, or reconciler.toml in "
                         "the user config directory (see docs/reports.md)")
    cfg = load_config(path)

    def progress(o) -> None:  # type: ignore[no-untyped-def]
        if o.error:
            err(f"tenant {o.name}: error: {o.error}")
        elif not quiet:
            err(f"tenant {o.name}: {o.findings} finding(s), {len(o.new)} new, "
                f"{'complete' if o.complete else 'INCOMPLETE'} run {o.run_id} ({o.seconds:.1f} s)")

    outcomes = scan_all(cfg, _db(db, cfg), parallel=parallel, on_done=progress)
    with output(out) as stream:
        render_outcomes(outcomes, fmt, stream)
    code = exit_code(outcomes, check=check, new_only=new_only)
    if code:
        raise typer.Exit(code)
