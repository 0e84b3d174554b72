"""Shared CLI plumbing: option types, error handling, output, progress."""

from __future__ import annotations

import functools
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterator, Optional, TextIO, TypeVar

import typer

from ..core.errors import ReconcilerError, UsageError

if TYPE_CHECKING:
    from ..wiring import SourceOptions

F = TypeVar("F", bound=Callable[..., Any])

# ---------------------------------------------------------------- option types

TenantOpt = Annotated[Optional[Path], typer.Option(
    "--tenant", help="Cloud source: a reconciler.tenant/1 file (offline snapshot).",
    rich_help_panel="Cloud source")]
GraphOpt = Annotated[bool, typer.Option(
    "--graph", help="Cloud source: live Microsoft Graph with azure-identity credentials.",
    rich_help_panel="Cloud source")]
GraphUrlOpt = Annotated[Optional[str], typer.Option(
    "--graph-url", help="Cloud source: a Graph-compatible base URL, e.g. the emulator's "
    "http://127.0.0.1:PORT/v1.0.", rich_help_panel="Cloud source")]
AuthOpt = Annotated[str, typer.Option(
    "--auth", help="environment, secret, certificate, device-code, azure-cli, managed-identity, "
    "workload-identity, token or none (none: loopback --graph-url only).", rich_help_panel="Cloud source")]
TenantIdOpt = Annotated[Optional[str], typer.Option("--tenant-id", help="Entra tenant id (overrides AZURE_TENANT_ID).",
                                                    rich_help_panel="Cloud source")]
ClientIdOpt = Annotated[Optional[str], typer.Option("--client-id", help="App (client) id (overrides AZURE_CLIENT_ID).",
                                                    rich_help_panel="Cloud source")]
CertOpt = Annotated[Optional[Path], typer.Option("--certificate", help="Client certificate (PEM/PFX) path.",
                                                 rich_help_panel="Cloud source")]
CloudOpt = Annotated[str, typer.Option("--cloud", help="global|usgov|usgov-dod|china.",
                                       rich_help_panel="Cloud source")]
OnpremOpt = Annotated[Optional[list[Path]], typer.Option(
    "--onprem", help="On-prem export: .ldif/.ldf (ldifde, ldapsearch) or .csv (csvde, or PowerShell "
    "Get-ADUser | Export-Csv). Repeat for several forests.", rich_help_panel="On-prem source")]
LdapOpt = Annotated[Optional[list[str]], typer.Option(
    "--ldap", help="Live AD: ldaps://dc:636 or ldap://dc:389 (StartTLS). Repeat per forest; "
    "password from RECONCILER_LDAP_PASSWORD.", rich_help_panel="On-prem source")]
BindDnOpt = Annotated[Optional[str], typer.Option("--bind-dn", help="Bind identity for every --ldap.",
                                                  rich_help_panel="On-prem source")]
BaseDnOpt = Annotated[Optional[str], typer.Option("--base-dn", help="Search base (default: the domain).",
                                                  rich_help_panel="On-prem source")]
LdapFilterOpt = Annotated[Optional[str], typer.Option("--ldap-filter", help="LDAP filter override.",
                                                      rich_help_panel="On-prem source")]
LdapCaOpt = Annotated[Optional[Path], typer.Option("--ldap-ca", help="CA file to verify the DC's certificate.",
                                                   rich_help_panel="On-prem source")]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="Allow plain ldap:// without TLS.",
                                           rich_help_panel="On-prem source")]
DbOpt = Annotated[Optional[Path], typer.Option(
    "--db", help="SQLite database (default: $RECONCILER_DB, else the user state dir).")]
OutOpt = Annotated[Optional[Path], typer.Option("-o", "--out", help="Write results to FILE instead of stdout.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="No progress or summary on stderr.")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Explain what is read and why on stderr.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="reconciler.toml (default: $RECONCILER_CONFIG).")]


def source_options(*, tenant: Path | None = None, graph: bool = False, graph_url: str | None = None,
                   auth: str = "environment", tenant_id: str | None = None, client_id: str | None = None,
                   certificate: Path | None = None, cloud: str = "global",
                   onprem: list[Path] | None = None, ldap: list[str] | None = None,
                   bind_dn: str | None = None, base_dn: str | None = None, ldap_filter: str | None = None,
                   ldap_ca: Path | None = None, insecure: bool = False, verbose: bool = False,
                   **extra: Any) -> SourceOptions:
    from ..wiring import SourceOptions

    o = SourceOptions(tenant=tenant, graph=graph, graph_url=graph_url, auth=auth, tenant_id=tenant_id,
                      client_id=client_id, certificate=certificate, cloud=cloud, onprem=list(onprem or []),
                      ldap=list(ldap or []), bind_dn=bind_dn, base_dn=base_dn, ldap_filter=ldap_filter,
                      ldap_ca=ldap_ca, insecure=insecure, verbose=verbose,
                      password_prompt=_password_prompt if sys.stdin.isatty() else None)
    for k, v in extra.items():
        setattr(o, k, v)
    return o


def _password_prompt(text: str) -> str:
    """Hidden-input prompt for the LDAP bind password (only offered on an interactive terminal)."""
    return str(typer.prompt(text, hide_input=True))


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


# ---------------------------------------------------------------- errors → exit codes


# C0/C1 controls and bidirectional overrides: directory data and file contents echoed in a message
# must not move the cursor, recolour the terminal or reorder the line an admin reads.
_UNSAFE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_UNSAFE.update({c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def safe_line(text: str) -> str:
    """One printable line: controls and bidi overrides escaped (so a message stays one line)."""
    return text.translate(_UNSAFE)


def err(message: str) -> None:
    typer.echo(f"reconciler: {safe_line(message)}", err=True)


_FOLDER_OPTIONS = frozenset({"workdir"})
_PATH_ARGUMENTS = frozenset({"plan_file"})


def _refuse_empty_paths(kwargs: dict[str, Any]) -> None:
    """A file option given "" (an unset shell variable) arrives as Path("."), which names no file: one line here,
    rather than a traceback (Path.with_name) or a misleading message further down."""
    for name, value in kwargs.items():
        if name in _FOLDER_OPTIONS:
            continue
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(v, Path) and v.name in ("", ".."):
                what = name.upper() if name in _PATH_ARGUMENTS else f"--{name.replace('_', '-')}"
                raise UsageError(f"{what} {str(v)!r}: not a file name")


def handle_errors(fn: F) -> F:
    """Library errors become one line on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _refuse_empty_paths(kwargs)
            return fn(*args, **kwargs)
        except ReconcilerError as e:
            err(f"error: {e}")
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            err("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:  # the reader went away (`| head`): stop as a process SIGPIPE stops, silently
            _stdout_to_devnull()
            raise typer.Exit(PIPE_CLOSED) from None

    return wrapper  # type: ignore[return-value]


PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a command stopped by a closed pipe


def _stdout_to_devnull() -> None:
    """Nothing more reaches the closed pipe, not even Python's flush at exit (no 'BrokenPipeError' message)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner's stdout)
        pass


@contextmanager
def output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or FILE written atomically (a temp file renamed into place: never half-written)."""
    if path is None:
        yield sys.stdout
        return
    if path.name in ("", ".", ".."):  # -o "" is Path("."): with_name raised ValueError (a traceback)
        raise UsageError(f"{str(path)!r}: cannot write: not a file name")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        f = tmp.open("w", encoding="utf-8", newline="")
    except OSError as e:
        raise UsageError(f"{path}: cannot write: {e.strerror}") from None
    try:
        with f:
            yield f
        try:
            os.replace(tmp, path)
        except OSError as e:  # e.g. -o names a folder
            raise UsageError(f"{path}: cannot write: {e.strerror}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def terminal_width() -> int | None:
    """Columns of the terminal stdout writes to (``COLUMNS`` wins); None for a pipe or a file (whole values)."""
    if not sys.stdout.isatty():
        return None
    import shutil

    return shutil.get_terminal_size().columns


def utf8_console() -> None:
    """stdout/stderr in UTF-8 where the console allows it, else its own encoding with unknown characters
    replaced (a legacy Windows code page must not turn "Müller" or "…" into a UnicodeEncodeError)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        encoding = (getattr(stream, "encoding", "") or "").lower().replace("-", "")
        try:
            if encoding in ("utf8", "utf8sig"):
                continue
            if sys.platform == "win32" or not stream.isatty():
                reconfigure(encoding="utf-8", errors="replace")  # pipes and files: UTF-8, like every output file
            else:
                reconfigure(errors="replace")  # a terminal in a legacy locale: its encoding, "?" for the rest
        except (OSError, ValueError):  # a closed or detached stream: leave it as it is
            pass


# ---------------------------------------------------------------- progress


def progress_text(completed: float, total: float | None, counters: dict[str, int]) -> str:
    """The one line a read shows: "objects read 46,631 of ~95,000 · 57 requests · 3 throttled"."""
    done = f"objects read {int(completed):,}" + (f" of ~{int(total):,}" if total else "")
    extra = [f"{v:,} {k}" for k, v in counters.items() if k != "objects" and v]
    return " · ".join([done, *extra])


class StderrProgress:
    """Progress on stderr: a live bar and one line of counts on a terminal, nothing when quiet or not a tty."""

    def __init__(self, quiet: bool = False, verbose: bool = False) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.verbose = verbose and not quiet
        self._progress: Any = None
        self._task: Any = None
        self.counters: dict[str, int] = {}

    def __enter__(self) -> "StderrProgress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                      TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage; the same name again (a total learnt later, e.g. the tenant's size) keeps the counts."""
        if self._progress is not None:
            if self._task is not None:
                same = self._progress.tasks[-1].description == name if self._progress.tasks else False
                if same:
                    self._progress.update(self._task, total=total)
                    return
                self._progress.remove_task(self._task)
            self.counters = {}
            self._task = self._progress.add_task(name, total=total, info=progress_text(0, total, {}) if total else "")
        elif self.verbose:
            typer.echo(f"… {name}", err=True)

    def advance(self, n: int = 1, **counters: int) -> None:
        for k, v in counters.items():
            self.counters[k] = self.counters.get(k, 0) + v
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=n)
            task = self._progress.tasks[-1]
            self._progress.update(self._task, info=progress_text(task.completed, task.total, self.counters))

    def note(self, message: str) -> None:
        if self.verbose or self.enabled:
            if self._progress is not None:
                self._progress.console.print(message, markup=False, highlight=False)
            else:
                typer.echo(message, err=True)


# ---------------------------------------------------------------- help: readable metavars

# option name -> metavar, where the type alone would say too little (<str>, <list[Path]>)
_METAVARS = {"graph_url": "URL", "ldap": "URL", "notify": "URL", "health_url": "URL", "bind_dn": "DN",
             "base_dn": "DN", "workdir": "DIR", "tenant_id": "ID", "client_id": "ID", "finding": "ID", "run": "ID",
             "confirm": "STEP", "ldap_filter": "FILTER", "since": "WHEN", "max_age": "AGE", "checksum": "SHA256",
             "port": "PORT", "latency_ms": "MS", "seed": "N", "tenant_name": "NAME", "last": "N"}


# option name -> help panel, for options that do not set rich_help_panel= themselves
_PANELS = {**dict.fromkeys(("format", "out", "quiet", "verbose", "db", "review", "check", "new_only", "notify"),
                           "Output"),
           **dict.fromkeys(("doit", "force", "max_deletes", "max_changes", "allow_reanchor", "allow_purge",
                            "skip_drift", "checksum", "confirm", "assume_flags", "max_age"), "Safety")}


def readable_metavars(command: Any) -> None:
    """Give every option of ``command`` (recursively) a metavar an admin reads: FILE, URL, DN, N.

    Typer would print the Python type (``<list[Path]>``, ``<str>``) and ``<bool>`` for flags; an option that
    sets ``metavar=`` itself keeps it. Runs once per command tree, when the group is built.
    """
    for sub in getattr(command, "commands", {}).values():
        readable_metavars(sub)
    get_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        opt = get_help_option(ctx)
        if opt is not None:
            opt.metavar = ""
            # unset, typer coerces the flag through pydantic (~0.1 s of imports) on every subcommand --help
            opt.default = False
        return opt

    command.get_help_option = help_option
    import types

    from .helpfmt import format_help

    command.format_help = types.MethodType(format_help, command)
    for p in command.params:
        if p.param_type_name == "option" and getattr(p, "rich_help_panel", "") is None and p.name in _PANELS:
            p.rich_help_panel = _PANELS[p.name]
        if p.param_type_name == "argument":
            p.metavar = p.metavar or (p.name or "").upper()  # KEY, PLAN_FILE: the name says it; no <path> beside it
            p.display_type_rich = lambda ctx: None
            continue
        if p.param_type_name != "option" or p.metavar is not None:
            continue
        if p.is_flag:
            p.metavar = ""
            continue
        name = p.name or ""
        kind = _value_kind(p)
        if name in _METAVARS:
            p.metavar = _METAVARS[name]
        elif kind == "path":
            p.metavar = "DIR" if name.endswith("dir") else "FILE"
        elif kind == "int":
            p.metavar = "N"
        elif kind == "float":
            p.metavar = "SECONDS" if "wait" in name else "NUMBER"
        else:
            p.metavar = name.upper()


def _value_kind(p: Any) -> str:
    """path | int | float | str for one option, from typer's type descriptor (or click's type)."""
    from typing import get_args, get_origin

    td = getattr(p, "type_descriptor", None)
    if td is None:  # older typer: a click ParamType
        name = getattr(getattr(p, "type", None), "name", "")
        return {"path": "path", "integer": "int", "float": "float"}.get(name, "str")
    ann = td.annotation
    if get_origin(ann) is list and get_args(ann):
        ann = get_args(ann)[0]
    if td.is_path or ann is Path:
        return "path"
    return {int: "int", float: "float"}.get(ann, "str")
