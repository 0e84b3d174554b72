"""`scan --all` benchmark: N tenants scanned concurrently vs the same tenants one by one.

Both figures come from one invocation, on the same generated tenants and the
same emulator process:

- tenants from ``reconciler.emulator.generate`` (seed = tenant number, so each has its own id);
- served by ``reconciler.emulator`` in a SEPARATE process (one loopback server per
  tenant, Graph-like latency: default 40 ms + 0.4 ms per returned object);
- a ``reconciler.toml`` listing every tenant (``graph_url``, ``auth = "none"``);
- baseline: ``multiscan.scan_all(parallel=1)``; measured: ``scan_all(parallel=P)``;
  each into its own fresh database. The findings per tenant must be identical.

``--source files`` scans the tenant files directly instead (no network: CPU-bound,
so concurrency buys little there; shown for contrast).

Small defaults run in about a minute; the issue's full size is:
  python bench/bench_scan_all.py --tenants 50 --users 2000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tenants", type=int, default=10, help="number of tenants (issue: 50)")
    p.add_argument("--users", type=int, default=500, help="users per tenant (issue: 2000)")
    p.add_argument("--errors-per-1000", type=float, default=10.0)
    p.add_argument("--parallel", type=int, default=8, help="tenants scanned at once in the concurrent run")
    p.add_argument("--source", choices=("emulator", "files"), default="emulator")
    p.add_argument("--latency-ms", type=float, default=40.0)
    p.add_argument("--per-object-ms", type=float, default=0.4)
    p.add_argument("--throttle", choices=("none", "graph"), default="none", help="emulator throttle profile")
    p.add_argument("--workdir", type=Path, default=None, help="keep generated files here (default: temp dir)")
    p.add_argument("--serve", nargs="+", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--url-file", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def serve_many(args: argparse.Namespace) -> None:
    """Child process: one emulator server per tenant file; writes their URLs, then waits to be stopped."""
    from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread

    cfg = EmulatorConfig(page_size=100, latency_ms=args.latency_ms, latency_per_object_ms=args.per_object_ms,
                         throttle=None if args.throttle == "none" else args.throttle)
    with ExitStack() as stack:
        urls = [stack.enter_context(serve_in_thread(create_app(str(t), cfg))) for t in args.serve]
        args.url_file.with_suffix(".tmp").write_text("\n".join(urls))
        args.url_file.with_suffix(".tmp").rename(args.url_file)
        sys.stdin.read()  # until the parent closes our stdin


@contextmanager
def emulators(args: argparse.Namespace, tenants: list[Path], workdir: Path) -> Iterator[list[str]]:
    url_file = workdir / "urls.txt"
    url_file.unlink(missing_ok=True)
    cmd = [PY, __file__, "--serve", *map(str, tenants), "--url-file", str(url_file),
           "--latency-ms", str(args.latency_ms), "--per-object-ms", str(args.per_object_ms),
           "--throttle", args.throttle]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600
        while not url_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the emulator process did not start")
            time.sleep(0.1)
        yield url_file.read_text().split()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)


def generate(args: argparse.Namespace, workdir: Path) -> list[Path]:
    from reconciler.emulator.generate import GenerateOptions
    from reconciler.emulator.generate import generate as gen

    paths = []
    for i in range(args.tenants):
        path = workdir / f"tenant{i:03d}-{args.users}.json"
        if not path.exists():
            gen(GenerateOptions(users=args.users, errors_per_1000=args.errors_per_1000, seed=i), path,
                workdir / f"{path.stem}.ldif")
        paths.append(path)
    return paths


def write_config(workdir: Path, tenants: list[Path], urls: list[str] | None) -> Path:
    lines = []
    for i, t in enumerate(tenants):
        source = f'graph_url = "{urls[i]}"\nauth = "none"' if urls else f'tenant_file = "{t}"'
        lines.append(f"[tenants.t{i:03d}]\n{source}\n")
    cfg = workdir / "reconciler.toml"
    cfg.write_text("\n".join(lines))
    return cfg


def timed_scan(cfg_path: Path, db: Path, parallel: int) -> tuple[float, dict[str, int]]:
    from reconciler.config import load_config
    from reconciler.multiscan import scan_all

    db.unlink(missing_ok=True)
    cfg = load_config(cfg_path)
    start = time.perf_counter()
    outcomes = scan_all(cfg, db, parallel=parallel)
    wall = time.perf_counter() - start
    failed = [f"{o.name}: {o.error}" for o in outcomes if not o.ok]
    if failed:
        raise SystemExit("scan failed: " + "; ".join(failed[:5]))
    return wall, {o.name: o.findings for o in outcomes}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        serve_many(args)
        return
    with ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scan-all-")))
        workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        tenants = generate(args, workdir)
        print(f"generated {len(tenants)} tenants x {args.users} users in {time.perf_counter() - t0:.1f} s")
        urls = stack.enter_context(emulators(args, tenants, workdir)) if args.source == "emulator" else None
        cfg = write_config(workdir, tenants, urls)
        serial, f1 = timed_scan(cfg, workdir / "serial.db", 1)
        conc, f2 = timed_scan(cfg, workdir / "concurrent.db", args.parallel)
    if f1 != f2:
        raise SystemExit("findings differ between the serial and the concurrent run")
    src = (f"emulator ({args.latency_ms:g} ms + {args.per_object_ms:g} ms/object, throttle {args.throttle})"
           if args.source == "emulator" else "tenant files")
    print(f"{args.tenants} tenants x {args.users} users, {sum(f1.values())} findings, source: {src}")
    print(f"one by one (parallel=1):        {serial:8.2f} s")
    print(f"scan --all (parallel={args.parallel}):{' ' * max(0, 9 - len(str(args.parallel)))}{conc:8.2f} s")
    print(f"ratio concurrent/one-by-one:    {conc / serial:8.3f}  (speed-up x{serial / conc:.1f})")


if __name__ == "__main__":
    main()
