"""Connect Health read: requests and wall time of reading N export errors from the emulator's ARM over loopback
HTTP, then decoding them into the matcher's error records.

    PYTHONPATH=$PWD python bench/bench_health.py --errors 10000 [--page-size 0]

``--page-size 0`` (default) answers each bucket in one response, as ARM does; a positive size makes the
emulator page with ``nextLink`` (the reader follows it).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import time
from typing import Any

import orjson

from reconciler.emulator import create_app, serve_in_thread
from reconciler.emulator.arm import ArmOptions, create_arm_app
from reconciler.sources.health import HealthReader, http_factory, records

_TYPES = [("AttributeValueMustBeUnique", "UserPrincipalName"), ("AttributeValueMustBeUnique", "ProxyAddresses"),
          ("InvalidSoftMatch", "UserPrincipalName"), ("IdentityDataValidationFailed", "UserPrincipalName"),
          ("LargeObject", "userCertificate"), ("FederatedDomainChangeError", "UserPrincipalName")]


def items(n: int) -> list[dict[str, Any]]:
    real = orjson.loads(open("fixtures/connect-health/merged-export-errors.json", "rb").read())["response"]["value"][0]
    out = []
    for i in range(n):
        etype, attr = _TYPES[i % len(_TYPES)]
        it = copy.deepcopy(real)
        it.update(id=f"mee-{i}", type=etype, attributeName=attr, attributeValue=f"user{i}@contoso.com")
        it["incomingObject"]["sourceAnchor"] = f"ANCHOR{i:08d}=="
        out.append(it)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--errors", type=int, default=10_000)
    ap.add_argument("--page-size", type=int, default=0)
    a = ap.parse_args()
    doc = {"schema": "reconciler.tenant/1", "organization": {"id": "t-bench", "verifiedDomains": [
        {"name": "contoso.onmicrosoft.com", "isInitial": True}]}, "connectHealthErrors": items(a.errors)}
    graph = create_app(doc)
    arm = create_arm_app(graph.state.emulator, ArmOptions(page_size=a.page_size or None))
    with serve_in_thread(arm) as url:
        root = url.rsplit("/v1.0", 1)[0]
        reader = HealthReader(http_factory(root, None))
        t0 = time.perf_counter()
        got = asyncio.run(reader.read())
        t1 = time.perf_counter()
        recs = records(got.errors)
        t2 = time.perf_counter()
    assert got.read and len(recs) == a.errors, (got.warnings, len(recs))
    print(f"errors={a.errors} page_size={a.page_size or 'all'} requests={got.requests} "
          f"read={t1 - t0:.2f}s decode={t2 - t1:.2f}s records={len(recs)}")


if __name__ == "__main__":
    main()
