"""Bulk apply benchmark: N planned Graph steps against the emulator with Graph's write limits.

Each step is a ``set_immutable_id`` on its own cloud-only user, applied through
the full safety path (re-read, expect check, journal intent, PATCH, journal
outcome). The emulator enforces Graph's identity limits (``--throttle graph``:
3,000 writes per 150 s, resource units per 10 s) with every window shrunk by
``--time-scale``. Checks that every step is journaled done exactly once and
that the emulator saw exactly N PATCHes; prints the rate, the scaled real-time
estimate, and the ratio against a baseline in the same invocation: the same N
PATCHes sent raw through GraphHttp (no re-read, no journal) under the same limits.

    /work/venv/bin/python bench/bench_apply.py                      # 1,000 steps, ~1 min
    /work/venv/bin/python bench/bench_apply.py --steps 10000 --time-scale 0.01
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.emulator import EmulatorConfig, create_app
from reconciler.fixes.apply import ApplyOptions, apply_plan
from reconciler.fixes.journal import Journal
from reconciler.fixes.planfile import read_plan, write_plan
from reconciler.fixes.planner import Plan
from reconciler.fixes.steps import Executor, Step, StepKind
from reconciler.fixes.writers.graph import GraphWriter
from reconciler.history.store import Store
from reconciler.sources.graph_http import GraphHttp

TENANT = "bench-tenant"


def tenant(n: int) -> dict:
    users = [{"id": f"c-{i:06d}", "userPrincipalName": f"user{i}@contoso.com", "userType": "Member",
              "onPremisesImmutableId": None, "givenName": "U", "surname": str(i)} for i in range(n)]
    return {"schema": "reconciler.tenant/1", "users": users, "roleAssignments": [], "roleEligibilitySchedules": [],
            "organization": {"id": TENANT, "verifiedDomains": [{"name": "contoso.com", "isDefault": True}]}}


def plan(n: int) -> Plan:
    steps = tuple(Step(id=f"s{i + 1}", kind=StepKind.SET_IMMUTABLE_ID, executor=Executor.GRAPH,
                       target={"type": "user", "id": f"c-{i:06d}"},
                       expect={"onPremisesImmutableId": None, "userPrincipalName": f"user{i}@contoso.com",
                               "givenName": "U", "surname": str(i)},
                       change={"onPremisesImmutableId": f"ANCHOR{i:06d}=="}, undo={"onPremisesImmutableId": None})
                  for i in range(n))
    return Plan(tenant=TENANT, created="bench", scan_run=None, steps=steps)


def http(app, concurrency: int) -> GraphHttp:
    return GraphHttp("http://emulator.bench/v1.0", None, transport=httpx.ASGITransport(app),
                     max_concurrency=concurrency, backoff_base=0.01, max_throttle_wait=3600)


async def full(n: int, cfg: EmulatorConfig, concurrency: int, tmp: Path) -> dict:
    app = create_app(tenant(n), cfg)
    p = plan(n)
    path = tmp / "plan.json"
    write_plan(path, p)
    with Store(tmp / "bench.db") as store:
        journal = Journal(store)
        journal.record_plan(p.fingerprint, TENANT, None, n)
        async with http(app, concurrency) as h:
            t0 = time.perf_counter()
            report = await apply_plan(read_plan(path), journal, {Executor.GRAPH: GraphWriter(h)},
                                      ApplyOptions(doit=True, tenant_id=TENANT, force=True, concurrency=concurrency))
            wall = time.perf_counter() - t0
            counters = h.counters.as_dict()
        counts = journal.count(p.fingerprint)
        intents = journal.count(p.fingerprint, phase="intent", status="pending")
    em = app.state.emulator
    patches = sum(1 for e in em.log if e["method"] == "PATCH" and e["status"] == 204)
    ok = (len(counts) == n and set(counts.values()) == {1} and len(intents) == n and set(intents.values()) == {1}
          and patches == n and report.count("done") == n)
    return {"wall": wall, "ok": ok, "patches": patches, "throttled": sum(1 for e in em.log if e["status"] == 429),
            "requests": len(em.log), "counters": counters}


async def baseline(n: int, cfg: EmulatorConfig, concurrency: int) -> float:
    app = create_app(tenant(n), cfg)
    async with http(app, concurrency) as h:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                await h.patch(f"/users/c-{i:06d}", {"onPremisesImmutableId": f"ANCHOR{i:06d}=="})

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000, help="planned Graph steps (default 1000; full: 10000)")
    ap.add_argument("--time-scale", type=float, default=0.01,
                    help="emulator time scale: every throttle window and Retry-After is multiplied by it")
    ap.add_argument("--throttle", default="graph", choices=("none", "graph"), help="emulator throttle profile")
    ap.add_argument("--concurrency", type=int, default=8, help="writes in flight")
    a = ap.parse_args()
    cfg = EmulatorConfig(throttle=a.throttle, time_scale=a.time_scale)
    with tempfile.TemporaryDirectory() as d:
        r = asyncio.run(full(a.steps, cfg, a.concurrency, Path(d)))
    base = asyncio.run(baseline(a.steps, EmulatorConfig(throttle=a.throttle, time_scale=a.time_scale),
                                a.concurrency))
    floor = math.ceil(a.steps / 3000 - 1) * 150 if a.throttle == "graph" else 0
    print(f"steps {a.steps}  throttle {a.throttle}  time-scale {a.time_scale}  concurrency {a.concurrency}")
    print(f"journaled exactly once: {'yes' if r['ok'] else 'NO'}  (PATCH 204s: {r['patches']})")
    print(f"apply: {r['wall']:.2f} s, {a.steps / r['wall']:.0f} steps/s, {r['requests']} requests, "
          f"{r['throttled']} throttled (429)")
    print(f"baseline raw PATCH loop: {base:.2f} s, {a.steps / base:.0f} writes/s")
    print(f"ratio apply/baseline: {r['wall'] / base:.2f}x")
    if a.throttle == "graph":
        waited = min(r["wall"], float(r["counters"]["throttled_wait_s"]) / a.concurrency)
        estimate = max((r["wall"] - waited) + waited / a.time_scale, floor)
        print(f"throttled waits: {r['counters']['throttled']} (~{waited:.2f} s of wall time at scale)")
        print(f"scaled real-time estimate: ~{estimate:.0f} s = {estimate / 60:.1f} min (local work unscaled + "
              f"throttled time / time-scale; Graph's write-limit floor alone: {floor} s for {a.steps} writes at "
              "3,000 per 150 s; real Graph latency not included)")
    sys.exit(0 if r["ok"] else 1)


if __name__ == "__main__":
    main()
