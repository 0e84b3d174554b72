"""Graph scan benchmark: reconciler vs a careful serial script vs msgraph-sdk typed models.

Every figure comes from one invocation. The emulator runs as a SEPARATE process
(so each scan's own peak RSS is measured in its own worker process) with
Graph-like latency (default 40 ms + 0.4 ms per returned object, ``$top`` up to
999) and the resource-unit throttle. Tenants come from ``reconciler.emulator.generate``.

Parts (``--part``, default all):
  compare   N users, E errors per 1000: our scan vs bench/baseline_serial.py vs
            bench/baseline_msgraph_typed.py (measured on --typed-users and scaled
            linearly to N), identical findings required.
  targeted  N users, --total-errors errors: --strategy targeted vs --strategy full,
            requests on the wire, $batch items, resource units.
  scale     --scale-users users under a 429-forcing throttle + --fault-rate faults:
            peak RSS of our scan and objects seen vs objects in the tenant.
  startup   ``reconciler --help`` vs ``python -c "import typer"``.

Small defaults run in about a minute; the issue's full sizes are:
  python bench/bench_graph_scan.py --users 100000 --typed-users 5000 --scale-users 500000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import orjson

HERE = Path(__file__).resolve().parent
PY = sys.executable


# ---------------------------------------------------------------- helpers


def digest(findings: list[Any]) -> str:
    data = [f.data() for f in findings]
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would include the forking parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reference(tenant: Path) -> tuple[str, int]:
    from reconciler.core.matcher import match
    from reconciler.sources.tenantfile import read_tenant_file

    f = match(read_tenant_file(tenant))
    return digest(f), len(f)


def generate(workdir: Path, users: int, per_1000: float, seed: int) -> tuple[Path, dict[str, int]]:
    from reconciler.emulator.generate import GenerateOptions
    from reconciler.emulator.generate import generate as gen

    path = workdir / f"tenant-{users}-{per_1000:g}-{seed}.json"
    s = gen(GenerateOptions(users=users, errors_per_1000=per_1000, seed=seed), path, workdir / f"{path.stem}.ldif")
    return path, dict(s.objects)


@contextmanager
def emulator(args: argparse.Namespace, tenant: Path, throttle: str | None,
             fault_rate: float = 0.0) -> Iterator[str]:
    """The emulator in its own process; yields its base URL."""
    port_file = Path(tempfile.mkstemp(prefix="emu-port-")[1])
    port_file.unlink()
    cmd = [PY, __file__, "--serve", str(tenant), "--port-file", str(port_file),
           "--latency-ms", str(args.latency_ms), "--per-object-ms", str(args.per_object_ms),
           "--fault-rate", str(fault_rate), "--throttle", throttle or "none"]
    proc = subprocess.Popen(cmd)
    try:
        deadline = time.monotonic() + 600
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("emulator did not start")
            time.sleep(0.1)
        time.sleep(0.1)
        yield port_file.read_text().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        port_file.unlink(missing_ok=True)


def worker(kind: str, url: str, strategy: str = "auto") -> dict[str, Any]:
    r = subprocess.run([PY, __file__, "--worker", kind, "--url", url, "--strategy", strategy],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- worker side (own process)


def run_worker(kind: str, url: str, strategy: str) -> None:
    from reconciler.core.matcher import match

    sys.path.insert(0, str(HERE))
    extra: dict[str, Any] = {}
    if kind == "typed":
        import baseline_msgraph_typed as typed  # noqa: F401  (import cost excluded from the timing)
        import msgraph  # noqa: F401
    t = time.perf_counter()
    if kind == "ours":
        from reconciler.sources.base import NullProgress
        from reconciler.wiring import SourceOptions, build_cloud_source

        src: Any = build_cloud_source(SourceOptions(graph_url=url, auth="none", strategy=strategy))
        snap = asyncio.run(src.read(NullProgress()))
        extra = {"counters": src.counters, "chosen": src.chosen, "seen": src.seen}
    elif kind == "serial":
        import baseline_serial

        snap, c = baseline_serial.read(url)
        extra = {"counters": c}
    else:
        import baseline_msgraph_typed

        snap = asyncio.run(baseline_msgraph_typed.read(url))
    findings = match(snap)
    wall = time.perf_counter() - t
    rss = peak_rss_mb()
    print(json.dumps({"wall": wall, "rss_mb": rss, "digest": digest(findings), "findings": len(findings),
                      "objects": len(snap.objects), **extra}))


def run_server(a: argparse.Namespace) -> None:
    from reconciler.emulator import EmulatorConfig, create_app
    from reconciler.emulator.server import bind_loopback, make_server

    cfg = EmulatorConfig(page_size=100, latency_ms=a.latency_ms, latency_per_object_ms=a.per_object_ms,
                         throttle=None if a.throttle == "none" else a.throttle, fault_rate=a.fault_rate, seed=1)
    app = create_app(a.serve, cfg)
    sock = bind_loopback(0)
    server = make_server(app)

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.02)
        Path(a.port_file).write_text(f"http://127.0.0.1:{sock.getsockname()[1]}/v1.0")
        await task
    asyncio.run(main())


# ---------------------------------------------------------------- parts


def part_compare(a: argparse.Namespace, work: Path) -> None:
    tenant, objs = generate(work, a.users, a.errors_per_1000, a.seed)
    ref, n = reference(tenant)
    print(f"\n== compare: {a.users} users, {a.errors_per_1000:g} errors/1000 ({n} findings), "
          f"{a.latency_ms:g} ms + {a.per_object_ms:g} ms/object, throttle {a.throttle}")
    with emulator(a, tenant, a.throttle) as url:
        ours = worker("ours", url)
        serial = worker("serial", url)
    print(f"ours    {ours['wall']:8.2f} s  rss {ours['rss_mb']:6.0f} MB  strategy {ours['chosen']}  "
          f"requests {ours['counters']['requests']} batch items {ours['counters']['batch_items']} "
          f"RU {ours['counters']['resource_units']:g} throttled {ours['counters']['throttled']}")
    print(f"serial  {serial['wall']:8.2f} s  rss {serial['rss_mb']:6.0f} MB  requests {serial['counters']['requests']}")
    print(f"findings identical: ours={ours['digest'] == ref} serial={serial['digest'] == ref}")
    print(f"RATIO serial/ours = {serial['wall'] / ours['wall']:.1f}x (target >= 10x)")
    if a.skip_typed:
        return
    t_tenant, _ = generate(work, a.typed_users, a.errors_per_1000, a.seed)
    t_ref, _ = reference(t_tenant)
    with emulator(a, t_tenant, a.throttle) as url:
        typed = worker("typed", url)
    scaled = typed["wall"] * a.users / a.typed_users
    print(f"typed   {typed['wall']:8.2f} s on {a.typed_users} users (scaled linearly to {a.users}: {scaled:.1f} s)"
          f"  rss {typed['rss_mb']:6.0f} MB  findings identical={typed['digest'] == t_ref}")
    print(f"RATIO typed(scaled)/ours = {scaled / ours['wall']:.1f}x (target >= 100x)")


def part_targeted(a: argparse.Namespace, work: Path) -> None:
    per_1000 = a.total_errors * 1000 / a.users
    tenant, _ = generate(work, a.users, per_1000, a.seed + 1)
    ref, n = reference(tenant)
    print(f"\n== targeted vs full: {a.users} users, {n} errors in total")
    with emulator(a, tenant, a.throttle) as url:
        tg = worker("ours", url, "targeted")
        fl = worker("ours", url, "full")
    for name, r in (("targeted", tg), ("full", fl)):
        c = r["counters"]
        print(f"{name:8} {r['wall']:7.2f} s  requests {c['requests']:5}  batch items {c['batch_items']:5}  "
              f"RU {c['resource_units']:7g}  findings identical={r['digest'] == ref}")
    rq = tg["counters"]["requests"] / fl["counters"]["requests"]
    ru = tg["counters"]["resource_units"] / max(1, fl["counters"]["resource_units"])
    print(f"RATIO targeted/full requests = {rq:.1%} (target <= 10%), resource units = {ru:.1%} (target <= 25%)")


def part_scale(a: argparse.Namespace, work: Path) -> None:
    tenant, objs = generate(work, a.scale_users, a.errors_per_1000, a.seed + 2)
    ref, n = reference(tenant)
    print(f"\n== scale: {a.scale_users} users, throttle {a.scale_throttle}, fault rate {a.fault_rate:g}, "
          f"strategy full")
    with emulator(a, tenant, a.scale_throttle, a.fault_rate) as url:
        r = worker("ours", url, "full")
    c = r["counters"]
    lost = {k: objs.get(k, 0) - r["seen"].get(k, 0) for k in objs}
    print(f"ours {r['wall']:.1f} s  peak RSS {r['rss_mb']:.0f} MB (target <= 400)  requests {c['requests']}  "
          f"throttled {c['throttled']} faults {c['faults']} retries {c['retries']}")
    print(f"objects seen {r['seen']} vs tenant {objs}; lost {sum(lost.values())}; "
          f"findings identical={r['digest'] == ref}")


def part_startup(a: argparse.Namespace) -> None:
    """Start-up, interleaved runs (a shared machine's load hits every command alike); min and median of 15."""
    bare = ("import typer\napp = typer.Typer()\n@app.command()\ndef a(x: int = 1):\n    'help'\n"
            "@app.command()\ndef b():\n    'help'\napp()")
    cmds = {"import typer": [PY, "-c", "import typer"], "bare typer app --help": [PY, "-c", bare, "--help"],
            "import reconciler.cli": [PY, "-c", "import reconciler.cli"],
            "reconciler --help": [PY, "-m", "reconciler", "--help"],
            "reconciler scan --help": [PY, "-m", "reconciler", "scan", "--help"],
            "reconciler --version": [PY, "-m", "reconciler", "--version"]}
    runs: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(15):
        for k, cmd in cmds.items():
            s = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            runs[k].append(time.perf_counter() - s)
    best = {k: min(v) for k, v in runs.items()}
    med = {k: statistics.median(v) for k, v in runs.items()}
    heavy = subprocess.run([PY, "-c", "import sys, reconciler.cli; print(sorted({m.split('.')[0] for m in "
                            "sys.modules} & {'msgraph', 'azure', 'kiota_http', 'httpx', 'orjson', 'rich', "
                            "'pydantic'}))"], capture_output=True, text=True).stdout.strip()
    print("\n== startup (15 interleaved runs)")
    for k in cmds:
        print(f"  {k:<24} min {best[k] * 1000:4.0f} ms   median {med[k] * 1000:4.0f} ms")
    print(f"  heavy modules loaded by the CLI: {heavy}")
    base = best["import typer"]
    print(f"RATIO help/import-typer = {best['reconciler --help'] / base:.2f}x (min), "
          f"{med['reconciler --help'] / med['import typer']:.2f}x (median) (target <= 2.5x); "
          f"scan --help/import-typer = {best['reconciler scan --help'] / base:.2f}x (min)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["all", "compare", "targeted", "scale", "startup"], default="all")
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--errors-per-1000", type=float, default=10.0)
    ap.add_argument("--typed-users", type=int, default=1000)
    ap.add_argument("--skip-typed", action="store_true")
    ap.add_argument("--total-errors", type=int, default=20)
    ap.add_argument("--scale-users", type=int, default=20000)
    ap.add_argument("--scale-throttle", default="storm", help="throttle profile of the scale part (forces 429s)")
    ap.add_argument("--fault-rate", type=float, default=0.01)
    ap.add_argument("--latency-ms", type=float, default=40.0)
    ap.add_argument("--per-object-ms", type=float, default=0.4)
    ap.add_argument("--throttle", default="graph")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port-file", help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--strategy", default="auto", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        return run_server(a)
    if a.worker:
        return run_worker(a.worker, a.url, a.strategy)
    with tempfile.TemporaryDirectory(prefix="bench-graph-", dir=a.workdir) as tmp:
        work = Path(tmp)
        if a.part in ("all", "startup"):
            part_startup(a)
        if a.part in ("all", "compare"):
            part_compare(a, work)
        if a.part in ("all", "targeted"):
            part_targeted(a, work)
        if a.part in ("all", "scale"):
            part_scale(a, work)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
