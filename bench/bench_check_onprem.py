"""check-onprem at scale, against an IdFix-style quadratic duplicate check, in one invocation.

1. Generates (or reuses) an ldifde-style LDIF of N objects: 70 % users, 15 % groups,
   15 % contacts, about three proxyAddresses each, 1 % planted problems
   (``bench/gen_onprem_ldif.py``).
2. Runs the check in a child process pinned to one core: the LDIF is streamed
   through the one decoding path (``reconciler.sources.onprem``) into
   ``reconciler.checks.engine.Checker`` (rules + hash indexes, then duplicate groups).
   Reports wall time (split into decode and check), peak RSS, problems by rule.
3. Runs the baseline on a slice of the same objects: IdFix's DuplicateStore,
   a per-attribute list scanned linearly for every new value (quadratic), and
   extrapolates it to N with (N / slice)^2. Prints the ratio.

Quick (about a minute):  python bench/bench_check_onprem.py
Full figures:            python bench/bench_check_onprem.py --objects 1000000

``--cli``: instead, the command an admin runs, ``reconciler check-onprem --onprem FILE --format json``, twice
side by side on the same file: decoded in one process (``RECONCILER_DECODE_PROCESSES=1``) and on every core
(``RECONCILER_DECODE_PROCESSES=<cores>``, the parts decoded in child processes; by default the command uses the
cores the load average leaves idle). Wall, CPU (children included) and peak RSS (the sum
over the process tree, sampled every 50 ms); the two JSON outputs must be equal (``generated`` aside).

    python bench/bench_check_onprem.py --objects 1000000 --cli
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

BATCH = 5_000


def _pin_one_core() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    except (AttributeError, OSError):
        return "unpinned"


def _batches(path: Path) -> Iterator[tuple[list[Any], float, float]]:
    from reconciler.sources.onprem import iter_onprem_file

    it = iter_onprem_file(path)
    while True:
        t, c = time.perf_counter(), time.process_time()
        batch = [o for _, o in zip(range(BATCH), it)]
        if not batch:
            return
        yield batch, time.perf_counter() - t, time.process_time() - c


def worker(path: Path) -> dict[str, Any]:
    """Child process: stream the file through the Checker; decode and check timed apart."""
    from reconciler.checks.engine import Checker
    from reconciler.cli.checks import load_tlds

    core = _pin_one_core()
    t0 = time.perf_counter()
    checker = Checker(load_tlds(None))
    decode = check = decode_cpu = check_cpu = 0.0
    for batch, spent, cpu in _batches(path):
        decode += spent
        decode_cpu += cpu
        t, c = time.perf_counter(), time.process_time()
        for o in batch:
            checker.add(o, path.name)
        check += time.perf_counter() - t
        check_cpu += time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    result = checker.finish("bench")
    finish = time.perf_counter() - t
    check_cpu += time.process_time() - c
    return {"core": core, "wall_s": time.perf_counter() - t0, "decode_s": decode, "check_s": check + finish,
            "decode_cpu_s": decode_cpu, "check_cpu_s": check_cpu,
            "finish_s": finish, "scanned": result.scanned, "skipped": result.skipped,
            "problems": len(result.problems), "by_rule": result.counts(),
            "cpu_s": _cpu(), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _tree(root: int) -> set[int]:
    """``root`` and its descendants (Linux /proc: every process's parent read, so it is done sparingly)."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    parent[int(d)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parent.items() if pp in tree and p not in tree}
        tree |= more
        grew = bool(more)
    return tree


def _rss_kb(tree: set[int]) -> int:
    """Resident memory of the processes in ``tree`` (Linux /proc), in kB."""
    total = 0
    for p in tree:
        try:
            with open(f"/proc/{p}/status", "rb") as f:
                total += next((int(ln.split()[1]) for ln in f if ln.startswith(b"VmRSS:")), 0)
        except OSError:
            pass
    return total


def cli_run(path: Path, processes: str, out: Path) -> dict[str, Any]:
    """``reconciler check-onprem`` as a user runs it; ``processes`` "1" = decode in one process, "" = default."""
    import threading

    env = dict(os.environ, PYTHONPATH=str(HERE.parent), RECONCILER_DECODE_PROCESSES=processes)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "check-onprem", "--onprem", str(path), "--format",
                             "json", "--out", str(out), "-q"], env=env, stderr=subprocess.PIPE)
    peak, own = [0], [0.0]
    tick = os.sysconf("SC_CLK_TCK")

    def sample() -> None:
        # the process tree is looked up every half second: walking all of /proc 20 times a second took 3 % of a
        # core here, reading the tree's own status files 0.8 %
        n, tree = 0, {proc.pid}
        while proc.poll() is None:
            if n % 10 == 0:
                tree = _tree(proc.pid)
            n += 1
            peak[0] = max(peak[0], _rss_kb(tree))
            try:  # the command's own CPU (utime + stime), without its children's
                with open(f"/proc/{proc.pid}/stat", "rb") as f:
                    st = f.read().rsplit(b")", 1)[1].split()
                own[0] = (int(st[11]) + int(st[12])) / tick
            except (OSError, ValueError, IndexError):
                pass
            time.sleep(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check-onprem failed ({proc.returncode}): {err.decode(errors='replace')}")
    return {"wall_s": wall, "cpu_s": cpu, "own_cpu_s": own[0], "peak_rss_mb": peak[0] / 1024}


def cli_main(path: Path) -> int:
    outs = {name: path.with_suffix(f".{name}.json") for name in ("single", "parallel")}
    runs = {"single": cli_run(path, "1", outs["single"]), "parallel": cli_run(path, str(os.cpu_count() or 2), outs["parallel"])}
    docs = []
    for o in outs.values():
        doc = json.loads(o.read_bytes())
        doc.pop("generated", None)
        docs.append(doc)
    same = docs[0] == docs[1]
    n = docs[0]["scanned"]
    print(f"reconciler check-onprem --onprem {path.name} --format json ({n:,} objects, "
          f"{path.stat().st_size / 1e6:.0f} MB), side by side; {os.cpu_count()} cores")
    for name, r in runs.items():
        print(f"  {name:8} wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s (children included; the command "
              f"itself {r['own_cpu_s']:.1f} s), peak RSS {r['peak_rss_mb']:.0f} MB (process tree)")
    par = runs["parallel"]
    print(f"  on 2 idle cores the parallel run would take about max(own CPU, all CPU / 2) = "
          f"{max(par['own_cpu_s'], par['cpu_s'] / 2):.1f} s")
    print(f"  parallel / single wall: {runs['parallel']['wall_s'] / runs['single']['wall_s']:.2f}; "
          f"outputs {'identical' if same else 'DIFFER'} ({len(docs[0]['problems']):,} problems); "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    from reconciler.sources.ldif_parts import decode_processes

    os.environ.pop("RECONCILER_DECODE_PROCESSES", None)
    print(f"  by default the command would use {decode_processes(True)} process(es) (no cloud source: the children "
          f"check the objects too); with a cloud source, at this load, {decode_processes()}")
    return 0 if same else 1


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# ---------------------------------------------------------------- baseline


def _values(o: Any) -> Iterator[tuple[str, str]]:
    if o.user_principal_name:
        yield "userPrincipalName", o.user_principal_name
    if o.mail:
        yield "mail", o.mail
    if o.mail_nickname:
        yield "mailNickname", o.mail_nickname
    for p in o.proxy_addresses:
        yield "proxyAddresses", p
    if o.target_address:
        yield "targetAddress", o.target_address


def idfix_duplicates(objs: list[Any]) -> int:
    """IdFix's DuplicateStore: per attribute a list, scanned linearly for each value (case-insensitive)."""
    store: dict[str, list[tuple[str, str]]] = {}
    dups = 0
    for o in objs:
        for attr, v in _values(o):
            seen = store.setdefault(attr, [])
            low = v.lower()
            for other, _dn in seen:
                if other == low:
                    dups += 1
                    break
            seen.append((low, o.dn))
    return dups


def baseline(path: Path, n: int) -> dict[str, Any]:
    from reconciler.checks.engine import Checker
    from reconciler.cli.checks import load_tlds
    from reconciler.sources.onprem import iter_onprem_file

    objs = [o for _, o in zip(range(n), iter_onprem_file(path))]
    t = time.perf_counter()
    dups = idfix_duplicates(objs)
    quad = time.perf_counter() - t
    t = time.perf_counter()
    c = Checker(load_tlds(None))
    for o in objs:
        c.add(o, "slice")
    ours = c.finish("slice")
    linear = time.perf_counter() - t
    return {"slice": len(objs), "idfix_s": quad, "idfix_dups": dups, "ours_s": linear,
            "ours_problems": len(ours.problems)}


def _fmt_s(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=100_000, help="objects in the LDIF (default 100000)")
    ap.add_argument("--slice", type=int, default=2_000, help="objects for the quadratic baseline (default 2000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ldif", type=Path, help="reuse this LDIF instead of generating one")
    ap.add_argument("--out-dir", type=Path, default=HERE / "out")
    ap.add_argument("--cli", action="store_true", help="time the command itself, one process vs every core")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker)))
        return 0
    path = a.ldif or a.out_dir / f"onprem-{a.objects}-s{a.seed}.ldif"
    planted: dict[str, int] | str = "reused file"
    if a.ldif is None and not path.exists():
        from gen_onprem_ldif import generate

        t = time.perf_counter()
        planted = generate(path, a.objects, 0.01, a.seed)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
    if a.cli:
        return cli_main(path)
    size = path.stat().st_size
    proc = subprocess.run([sys.executable, __file__, "--worker", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    r = json.loads(proc.stdout)
    n = r["scanned"]
    b = baseline(path, min(a.slice, n))
    extrapolated = b["idfix_s"] * (n / b["slice"]) ** 2
    print(f"check-onprem on {n:,} objects ({size / 1e6:.0f} MB LDIF, {r['skipped']} skipped), one core ({r['core']})")
    print(f"  wall {r['wall_s']:.1f} s = decode (foundation LDIF reader) {r['decode_s']:.1f} s + check "
          f"{r['check_s']:.1f} s (duplicate groups {r['finish_s']:.2f} s); peak RSS {r['peak_rss_mb']:.0f} MB")
    print(f"  CPU {r['cpu_s']:.1f} s = decode {r['decode_cpu_s']:.1f} s + check {r['check_cpu_s']:.1f} s")
    print(f"  (wall > CPU means the core was shared: load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"  {r['problems']:,} problems: {r['by_rule']}")
    print(f"  planted: {planted}")
    print(f"baseline (IdFix DuplicateStore, linear list scan) on a {b['slice']:,}-object slice: "
          f"{b['idfix_s']:.2f} s ({b['idfix_dups']} duplicates); ours on the same slice {b['ours_s']:.2f} s "
          f"(all rules, {b['ours_problems']} problems)")
    print(f"  baseline extrapolated to {n:,} objects (x{(n / b['slice']) ** 2:,.0f}): {_fmt_s(extrapolated)}")
    print(f"  ratio baseline duplicates only / our whole check: {extrapolated / r['check_s']:,.0f}x wall, "
          f"{extrapolated / r['check_cpu_s']:,.0f}x CPU (vs our wall incl. decoding: "
          f"{extrapolated / r['wall_s']:,.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
