"""Every error origin at scale: request count and wall time of a scan through the emulator.

A generated tenant of N users (default 100,000) gets a week of Entra Cloud Sync
failures (default 1,000: half failed updates of synced users naming an address
another user holds, half failed creates of AD users that have no cloud object yet,
a quarter of those naming no value), on top of what `tenant generate` plants
(Connect, Exchange and Connect Health errors). The emulator runs in its own process
(`reconciler emulator serve`, with Graph-like latency), the scan in another
(`reconciler scan --graph-url … --onprem …`), each run against a fresh emulator.

Side by side, same tenant, same invocation:
  baseline  --errors connect                      (what scan read before origins existed)
  cloud     --errors connect,cloud_sync             (the Cloud Sync reads alone)
  origins   every origin (connect, cloud_sync, exchange, health via --health-url)

Printed: wall time, requests per endpoint (from the emulator's request log),
provisioning-log requests and 429s, findings per origin.

    /work/venv/bin/python bench/bench_origins.py                      # 100k users, 1,000 failures
    /work/venv/bin/python bench/bench_origins.py --users 20000 --failures 200   # quick
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.emulator.generate import GenerateOptions, generate  # noqa: E402

PY = sys.executable
UNIQUENESS = ("An attribute value violates a uniqueness constraint. Please study the values of the attributes, "
              "comparing them the attributes of already-existing objects in Azure Active Directory and resolve "
              "the conflict by modifying the value in the source directory.")


def add_failures(tenant: Path, n: int, seed: int) -> int:
    """Append ``n`` Cloud Sync failures within the last week to the tenant file (in place)."""
    doc = orjson.loads(tenant.read_bytes())
    rng = random.Random(seed)
    synced = [u for u in doc["users"] if u.get("onPremisesSyncEnabled") and u.get("onPremisesImmutableId")]
    mails = [u["mail"] for u in doc["users"] if u.get("mail")]
    now = datetime.now(UTC)
    tenant_hex = uuid.UUID(int=rng.getrandbits(128)).hex
    logs = doc.setdefault("provisioningLogs", [])
    for i in range(n):
        at = (now - timedelta(minutes=rng.randint(5, 6 * 24 * 60))).strftime("%Y-%m-%dT%H:%M:%SZ")
        if i % 2 == 0:  # a failed update of a synced user: the text names an address another user holds
            u = rng.choice(synced)
            guid = str(uuid.UUID(bytes_le=base64.b64decode(u["onPremisesImmutableId"])))
            target, action, name = u["id"], "update", u.get("displayName") or ""
            reason = f"{UNIQUENESS} [ProxyAddresses SMTP:{rng.choice(mails)};]"
        else:  # a failed create: no cloud object yet; a quarter name no value (nothing on-prem for them here)
            guid, target, action, name = str(uuid.UUID(int=rng.getrandbits(128))), "", "create", f"New user {i}"
            reason = UNIQUENESS if i % 4 == 1 else f"{UNIQUENESS} [UserPrincipalName {rng.choice(mails)};]"
        logs.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128))), "activityDateTime": at, "tenantId": tenant_hex,
            "jobId": f"AD2AADProvisioning.{tenant_hex}.{uuid.UUID(int=seed)}", "provisioningAction": action,
            "sourceIdentity": {"id": guid, "displayName": name, "identityType": "User", "details": {}},
            "targetIdentity": {"id": target, "displayName": name if target else "", "identityType": "User",
                               "details": {}},
            "provisioningStatusInfo": {"status": "failure", "errorInformation": {
                "errorCode": "", "reason": reason, "additionalDetails": None, "errorCategory": "nonServiceFailure",
                "recommendedAction": None}},
            "provisioningSteps": [], "modifiedProperties": []})
    tenant.write_bytes(orjson.dumps(doc))
    return len(logs)


@contextmanager
def emulator(tenant: Path, log: Path, latency_ms: float, per_object_ms: float) -> Iterator[str]:
    cmd = [PY, "-m", "reconciler", "emulator", "serve", "--tenant", str(tenant), "--page-size", "100",
           "--latency-ms", str(latency_ms), "--latency-per-object-ms", str(per_object_ms),
           "--request-log", str(log), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    try:
        url = (proc.stdout.readline() if proc.stdout else "").strip()
        if not url.startswith("http"):
            raise SystemExit("emulator did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def scan(url: str, ldif: Path, tmp: Path, errors: str | None) -> tuple[float, dict[str, Any]]:
    tag = (errors or "all").replace(",", "+")
    out = tmp / f"findings-{tag}.json"
    args = [PY, "-m", "reconciler", "scan", "--graph-url", url, "--auth", "none", "--onprem", str(ldif),
            "--db", str(tmp / f"r-{tag}.db"), "--format", "json", "-o", str(out), "-q"]
    if errors:
        args += ["--errors", errors]
    else:
        args += ["--health-url", url.removesuffix("/v1.0") + "/arm"]
    t0 = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"scan failed ({r.returncode}): {r.stderr[-2000:]}")
    return wall, json.loads(out.read_text())


def requests(log: Path) -> dict[str, Any]:
    by: dict[str, int] = {}
    throttled: dict[str, int] = {}
    for line in log.read_text().splitlines():
        e = json.loads(line)
        ep = e.get("endpoint") or e.get("path") or "?"
        by[ep] = by.get(ep, 0) + 1
        if e.get("status") == 429:
            throttled[ep] = throttled.get(ep, 0) + 1
    return {"total": sum(by.values()), "by_endpoint": dict(sorted(by.items(), key=lambda kv: -kv[1])),
            "throttled": throttled}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--failures", type=int, default=1000)
    ap.add_argument("--errors-per-1000", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--latency-ms", type=float, default=40.0)
    ap.add_argument("--per-object-ms", type=float, default=0.4)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-origins-") as d:
        tmp = Path(d)
        tenant, ldif = tmp / "tenant.json", tmp / "forest.ldif"
        t0 = time.monotonic()
        generate(GenerateOptions(users=a.users, errors_per_1000=a.errors_per_1000, seed=a.seed), tenant, ldif)
        logs = add_failures(tenant, a.failures, a.seed)
        print(f"tenant: {a.users} users, {logs} provisioning-log events ({a.failures} added), "
              f"generated in {time.monotonic() - t0:.1f} s; emulator latency {a.latency_ms:g} ms + "
              f"{a.per_object_ms:g} ms/object")
        rows = []
        for label, errors in (("baseline (--errors connect)", "connect"), ("connect + Cloud Sync", "connect,cloud_sync"),
                              ("every origin", None)):
            log = tmp / f"log-{errors or 'all'}.jsonl"
            with emulator(tenant, log, a.latency_ms, a.per_object_ms) as url:
                wall, doc = scan(url, ldif, tmp, errors)
            req = requests(log)
            by_origin: dict[str, int] = {}
            for f in doc["findings"]:
                for o in f["conflict"]["origins"]:
                    by_origin[o] = by_origin.get(o, 0) + 1
            rows.append((label, wall, req, len(doc["findings"]), by_origin))
        for label, wall, req, n, by_origin in rows:
            prov = req["by_endpoint"].get("auditLogs/provisioning", 0)
            print(f"\n{label}: {wall:.1f} s wall, {req['total']} requests "
                  f"(provisioning logs: {prov}, their 429s: {req['throttled'].get('auditLogs/provisioning', 0)}), "
                  f"{n} findings {by_origin}")
            print("  by endpoint: " + ", ".join(f"{k} {v}" for k, v in list(req["by_endpoint"].items())[:12]))
        base, full = rows[0], rows[-1]
        print(f"\nratio every origin / baseline: wall {full[1] / base[1]:.2f}x, requests "
              f"{full[2]['total'] / max(1, base[2]['total']):.2f}x")


if __name__ == "__main__":
    main()
