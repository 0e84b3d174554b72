"""Baseline: the careful serial script an admin would write with raw HTTP.

Pages users, groups, contacts, deleted users and deleted groups one request at
a time at ``$top=999`` with reconciler's ``$select``, honours ``Retry-After``
on 429 (and backs off on 5xx/resets), keeps every object in memory and matches
there with reconciler's own matcher — so its findings are directly comparable.

    python bench/baseline_serial.py --graph-url http://127.0.0.1:PORT/v1.0
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Iterator

import httpx
import orjson

from reconciler.core.matcher import match
from reconciler.core.model import CloudSnapshot, ObjectKind
from reconciler.sources.graphmap import CONTACT_SELECT, GROUP_SELECT, USER_SELECT, to_cloud_object, to_domains

COLLECTIONS = (
    ("/users", ObjectKind.USER, USER_SELECT, False),
    ("/groups", ObjectKind.GROUP, GROUP_SELECT, False),
    ("/contacts", ObjectKind.CONTACT, CONTACT_SELECT, False),
    ("/directory/deletedItems/microsoft.graph.user", ObjectKind.USER, USER_SELECT + ",deletedDateTime", True),
    ("/directory/deletedItems/microsoft.graph.group", ObjectKind.GROUP, GROUP_SELECT + ",deletedDateTime", True),
)


class Serial:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(timeout=120, headers=headers)
        self.requests = 0
        self.throttled = 0

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        for attempt in range(30):
            self.requests += 1
            try:
                r = self.client.get(url, params=params)
            except httpx.TransportError:
                time.sleep(min(30, 0.5 * 2 ** attempt))
                continue
            if r.status_code == 429 or r.status_code >= 500:
                self.throttled += r.status_code == 429
                time.sleep(float(r.headers.get("Retry-After") or min(30, 0.5 * 2 ** attempt)))
                continue
            r.raise_for_status()
            return orjson.loads(r.content)
        raise RuntimeError(f"gave up on {url}")

    def pages(self, path: str, select: str) -> Iterator[list[dict[str, Any]]]:
        url: str | None = self.base + path
        params: dict[str, Any] | None = {"$select": select, "$top": 999}
        while url:
            body = self.get(url, params)
            params = None
            yield body.get("value") or []
            url = body.get("@odata.nextLink")


def read(base_url: str, token: str | None = None) -> tuple[CloudSnapshot, dict[str, int]]:
    s = Serial(base_url, token)
    org = s.get(s.base + "/organization")["value"][0]
    objects = []
    for path, kind, select, deleted in COLLECTIONS:
        for page in s.pages(path, select):
            objects += [to_cloud_object(d, kind, deleted=deleted) for d in page]
    sync = s.get(s.base + "/directory/onPremisesSynchronization")
    features = (sync.get("value") or [{}])[0].get("features")
    snap = CloudSnapshot(tenant_id=org["id"], tenant_name=org.get("displayName"), domains=to_domains(org),
                         features=features, objects=objects)
    return snap, {"requests": s.requests, "throttled": s.throttled}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph-url", required=True)
    a = ap.parse_args()
    t = time.perf_counter()
    snap, c = read(a.graph_url)
    findings = match(snap)
    print(f"{len(findings)} findings from {len(snap.objects)} objects in {time.perf_counter() - t:.1f}s; {c}")


if __name__ == "__main__":
    main()
