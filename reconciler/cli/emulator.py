"""`reconciler emulator serve` and `reconciler tenant generate`."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import BadInput, UsageError
from . import app
from .common import QuietOpt, err, handle_errors

emulator_app = typer.Typer(name="emulator", help="A local Microsoft Graph v1.0 serving a tenant file.",
                           no_args_is_help=True, rich_markup_mode=None)
tenant_app = typer.Typer(name="tenant", help="Synthetic tenants with matching on-prem data and known conflicts.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(emulator_app, name="emulator")
app.add_typer(tenant_app, name="tenant")


def _permissions(path: Path | None) -> dict[str, set[str]] | None:
    if path is None:
        return None
    import orjson

    from ..sources.inputs import read_input

    try:
        doc = orjson.loads(read_input(path))
    except orjson.JSONDecodeError as e:
        raise BadInput(path, f"invalid JSON: {e}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, list) for v in doc.values()):
        raise BadInput(path, 'expected {"<token>": ["Permission.Name", ...], ...}')
    return {str(k): {str(p) for p in v} for k, v in doc.items()}


def _wait_for_stop() -> None:
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


@emulator_app.command("serve")
@handle_errors
def serve(
    tenant: Annotated[Path, typer.Option("--tenant", help="The reconciler.tenant/1 file to serve.")],
    port: Annotated[int, typer.Option("--port", help="Loopback port (0 = any free port).")] = 0,
    page_size: Annotated[int, typer.Option("--page-size", help="Default page size (Graph: 100).")] = 100,
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Fixed delay per response, ms.")] = 0.0,
    latency_per_object_ms: Annotated[float, typer.Option(
        "--latency-per-object-ms", help="Extra delay per returned object, ms (benchmarks: 0.4).")] = 0.0,
    throttle: Annotated[str, typer.Option(
        "--throttle", help="none|graph (identity limits by tenant size)|storm (frequent 429s).")] = "none",
    fault_rate: Annotated[float, typer.Option(
        "--fault-rate", help="Share of requests answered with 503/504, a reset or a slow response.")] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed for faults and storm throttling.")] = 0,
    time_scale: Annotated[float, typer.Option(
        "--time-scale", help="Multiply throttle windows and Retry-After (0.01 = 100x faster).")] = 1.0,
    permissions: Annotated[Path | None, typer.Option(
        "--permissions", help='JSON {"token": ["User.Read.All", ...]}; default: no auth checks.')] = None,
    request_log: Annotated[Path | None, typer.Option(
        "--request-log", help="Append one JSON line per request to FILE.")] = None,
    save: Annotated[Path | None, typer.Option(
        "--save", help="On shutdown, write the state (with writes applied) as a tenant file.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Serve a tenant file as Microsoft Graph v1.0 on 127.0.0.1 and print its base URL; Ctrl-C stops.

    Example: reconciler emulator serve --tenant tenant.json --port 8400 --throttle graph
    """
    if not 0 <= port <= 65535:  # socket.bind raised OverflowError: a traceback
        raise UsageError(f"--port {port}: a TCP port is 1-65535 (0 = any free port)")
    try:
        from ..emulator import EmulatorConfig, create_app, serve_in_thread
    except ModuleNotFoundError as e:  # starlette / uvicorn: the emulator extra
        raise UsageError(f"the emulator needs {e.name}, which a plain install leaves out: "
                         "pip install 'entra-reconciler[emulator]'") from None
    try:
        config = EmulatorConfig(page_size=page_size, latency_ms=latency_ms,
                                latency_per_object_ms=latency_per_object_ms,
                                throttle=None if throttle == "none" else throttle, fault_rate=fault_rate,
                                seed=seed, time_scale=time_scale, permissions=_permissions(permissions),
                                request_log=request_log)
    except ValueError as e:
        raise UsageError(str(e)) from None
    application = create_app(tenant, config, save=save)
    try:
        with serve_in_thread(application, port) as url:
            typer.echo(url)
            if not quiet:
                err(f"serving {tenant} ({application.state.emulator.state.user_count} users) at {url}; "
                    f"Ctrl-C stops")
            _wait_for_stop()
    except OSError as e:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {e.strerror}") from None
    if not quiet:
        stats = application.state.emulator.stats
        err(f"stopped after {stats['requests']} requests ({stats['throttled']} throttled)"
            + (f"; state saved to {save}" if save else ""))


def _parse_mix(raw: str | None) -> dict[str, float] | None:
    if not raw:
        return None
    mix: dict[str, float] = {}
    for part in raw.split(","):
        name, sep, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight) if sep else 1.0
        except ValueError:
            raise UsageError(f"--mix: weight for {name.strip()!r} is not a number: {weight!r}") from None
    return mix


@tenant_app.command("generate")
@handle_errors
def generate(
    users: Annotated[int, typer.Option("--users", help="Number of users.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Tenant file to write (reconciler.tenant/1).")],
    ldif: Annotated[Path, typer.Option("--ldif", help="On-prem LDIF to write (forest corp.contoso.com).")],
    expected: Annotated[Path | None, typer.Option(
        "--expected", help="Also write the planted conflicts (reconciler.expected/1).")] = None,
    errors_per_1000: Annotated[float, typer.Option(
        "--errors-per-1000", help="Planted provisioning errors per 1,000 users.")] = 10.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")] = 0,
    mix: Annotated[str | None, typer.Option(
        "--mix", help="Scenario weights, e.g. cloud_only_twin=3,no_holder=1 (default: every scenario).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Write a synthetic tenant, its on-prem LDIF and the conflicts planted in them.

    Example: reconciler tenant generate --users 10000 --seed 7 -o tenant.json --ldif forest.ldif --expected exp.json
    """
    from ..emulator.generate import DEFAULT_MIX, GenerateOptions
    from ..emulator.generate import generate as run

    opts = GenerateOptions(users=users, errors_per_1000=errors_per_1000, seed=seed,
                           mix=_parse_mix(mix) or dict(DEFAULT_MIX))
    start = time.monotonic()
    summary = run(opts, out, ldif, expected)
    if not quiet:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items())) or "none"
        objects = ", ".join(f"{k} {v}" for k, v in summary.objects.items())
        err(f"wrote {out} ({objects}), {ldif} ({summary.ldif_entries} entries) in "
            f"{time.monotonic() - start:.1f} s; planted: {counts}")


