"""Emulator throughput on one core: pages/s paging all users, and $filter holder lookups/s.

The emulator runs in its own process pinned to one CPU (`reconciler emulator serve`);
the client runs here. Baseline, same invocation: a bare Starlette app on uvicorn,
pinned the same way, answering every request with the pre-serialized bytes of a
full page (the HTTP + JSON floor). The ratio says how much the emulator's own
work (paging, projection, serialization) costs over that floor.

    /work/venv/bin/python bench/bench_emulator.py                 # 20k users, ~1 minute
    /work/venv/bin/python bench/bench_emulator.py --users 500000  # full size
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.emulator.generate import GenerateOptions, generate
from reconciler.sources.graphmap import USER_SELECT

BASELINE_APP = r'''
import os, sys, socket, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
body = open(sys.argv[1], "rb").read()
async def page(request):
    return Response(body, media_type="application/json")
app = Starlette(routes=[Route("/v1.0/users", page)])
sock = socket.socket(); sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); sock.bind(("127.0.0.1", 0))
print(f"http://127.0.0.1:{sock.getsockname()[1]}/v1.0", flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
'''


def _start(cmd: list[str], cpu: int) -> tuple[subprocess.Popen[str], str, float]:
    start = time.monotonic()
    proc = subprocess.Popen(["taskset", "-c", str(cpu), *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    url = (proc.stdout.readline() if proc.stdout else "").strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"server did not start: {cmd}")
    return proc, url, time.monotonic() - start


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def page_all(url: str, top: int, max_pages: int) -> tuple[int, int, float]:
    pages = objects = 0
    start = time.monotonic()
    with httpx.Client(timeout=120) as c:
        nxt: str | None = f"{url}/users?$select={USER_SELECT}&$top={top}"
        while nxt and pages < max_pages:
            body = orjson.loads(c.get(nxt).content)
            pages += 1
            objects += len(body["value"])
            nxt = body.get("@odata.nextLink")
    return pages, objects, time.monotonic() - start


def lookups(url: str, values: list[str]) -> float:
    start = time.monotonic()
    with httpx.Client(timeout=60) as c:
        for v in values:
            r = c.get(f"{url}/users", params={"$filter": f"proxyAddresses/any(p:p eq 'smtp:{v}') or "
                                                         f"userPrincipalName eq '{v}' or mail eq '{v}'",
                                              "$select": "id"})
            assert r.status_code == 200 and r.json()["value"], r.text
    return len(values) / (time.monotonic() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20000, help="tenant size to generate (default 20000)")
    ap.add_argument("--tenant", type=Path, help="use this tenant file instead of generating one")
    ap.add_argument("--top", type=int, default=999, help="page size requested ($top, default 999)")
    ap.add_argument("--max-pages", type=int, default=10**9, help="stop after this many pages")
    ap.add_argument("--lookups", type=int, default=300, help="number of $filter holder lookups")
    ap.add_argument("--cpu", type=int, default=0, help="CPU the servers are pinned to")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tenant = args.tenant
        if tenant is None:
            tenant = Path(tmp) / "tenant.json"
            t = time.monotonic()
            generate(GenerateOptions(users=args.users, seed=1), tenant, Path(tmp) / "forest.ldif")
            print(f"generated {args.users} users in {time.monotonic() - t:.1f} s")
        doc = orjson.loads(tenant.read_bytes())
        values = [u["mail"] for u in random.Random(1).sample(doc["users"], min(args.lookups, len(doc["users"])))
                  if u.get("mail")]
        del doc
        cmd = [sys.executable, "-m", "reconciler", "emulator", "serve", "--tenant", str(tenant), "-q"]
        proc, url, startup = _start(cmd, args.cpu)
        try:
            pages, objects, secs = page_all(url, args.top, args.max_pages)
            rate = lookups(url, values)
            first_page = httpx.get(f"{url}/users?$select={USER_SELECT}&$top={args.top}").content
            rss = _peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait()
        page_file = Path(tmp) / "page.json"
        page_file.write_bytes(first_page)
        base, burl, _ = _start([sys.executable, "-c", BASELINE_APP, str(page_file)], args.cpu)
        try:
            bpages, _, bsecs = page_all_static(burl, pages)
        finally:
            base.terminate()
            base.wait()
    eps, bps = pages / secs, bpages / bsecs
    print(f"emulator: start-up {startup:.1f} s, peak RSS {rss:.0f} MB")
    print(f"emulator: {pages} pages of <= {args.top} users in {secs:.2f} s = {eps:.1f} pages/s "
          f"({objects / secs:,.0f} users/s) on one core")
    print(f"emulator: {rate:.0f} holder lookups/s ($filter on proxyAddresses/any + userPrincipalName + mail)")
    print(f"baseline (static page bytes, same server stack): {bps:.1f} pages/s")
    print(f"ratio emulator/baseline: {eps / bps:.2f}")


def page_all_static(url: str, pages: int) -> tuple[int, int, float]:
    start = time.monotonic()
    objects = 0
    with httpx.Client(timeout=120) as c:
        for _ in range(pages):
            objects += len(orjson.loads(c.get(f"{url}/users").content)["value"])
    return pages, objects, time.monotonic() - start


if __name__ == "__main__":
    main()
