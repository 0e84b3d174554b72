#!/usr/bin/env python3
"""Matcher micro-benchmark: generated tenant (default 200k objects, 2,000 errors).

Phases, each timed: write tenant JSON + LDIF, read the tenant file, read the LDIF,
match. Baseline in the same run: a naive matcher that scans every object for each
error (what a quick script does), timed on a slice of the errors and extrapolated.

    python bench/bench_matcher.py                    # 200k objects, 2,000 errors
    python bench/bench_matcher.py --objects 20000 --errors 200
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.core.matcher import cloud_values, match  # noqa: E402
from reconciler.core.model import fold  # noqa: E402
from reconciler.sources.onprem import read_onprem_file  # noqa: E402
from reconciler.sources.tenantfile import read_tenant_file  # noqa: E402

BASE = "DC=corp,DC=bench,DC=test"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(dirpath: Path, n_objects: int, n_errors: int, seed: int) -> tuple[Path, Path]:
    rnd = random.Random(seed)
    users, groups, contacts = [], [], []
    tenant = dirpath / "tenant.json"
    ldif = dirpath / "forest.ldif"
    n_groups = n_objects // 20
    n_contacts = n_objects // 20
    n_users = n_objects - n_groups - n_contacts
    error_at = set(rnd.sample(range(n_users), n_errors))
    with ldif.open("w") as lf:
        for i in range(n_users):
            g = uuid.UUID(int=rnd.getrandbits(128))
            anchor = base64.b64encode(g.bytes_le).decode()
            upn = f"user{i}@bench.test"
            u = {"id": str(uuid.UUID(int=rnd.getrandbits(128))), "displayName": f"User {i}",
                 "userPrincipalName": upn, "mail": upn, "proxyAddresses": [f"SMTP:{upn}", f"smtp:u{i}@alias.bench.test"],
                 "onPremisesImmutableId": anchor, "onPremisesSyncEnabled": True,
                 "onPremisesDistinguishedName": f"CN=User {i},OU=Staff,{BASE}", "userType": "Member",
                 "assignedLicenses": [{"skuId": "x"}], "onPremisesProvisioningErrors": []}
            if i in error_at:
                # the newcomer's UPN collides with a cloud-only twin created below
                u["onPremisesProvisioningErrors"] = [{"category": "PropertyConflict", "propertyCausingError":
                                                      "UserPrincipalName", "value": f"twin{i}@bench.test",
                                                      "occurredDateTime": "2026-11-19T22:00:00Z"}]
                users.append({"id": str(uuid.UUID(int=rnd.getrandbits(128))), "userPrincipalName": f"twin{i}@bench.test",
                              "userType": "Member", "onPremisesSyncEnabled": None})
            users.append(u)
            lf.write(f"dn: CN=User {i},OU=Staff,{BASE}\nobjectClass: user\nobjectGUID:: {anchor}\n"
                     f"userPrincipalName: {upn}\nmail: {upn}\nproxyAddresses: SMTP:{upn}\n"
                     f"proxyAddresses: smtp:u{i}@alias.bench.test\nsAMAccountName: u{i}\n\n")
    for i in range(n_groups):
        groups.append({"id": str(uuid.UUID(int=rnd.getrandbits(128))), "displayName": f"G{i}",
                       "mail": f"g{i}@bench.test", "proxyAddresses": [f"SMTP:g{i}@bench.test"]})
    for i in range(n_contacts):
        contacts.append({"id": str(uuid.UUID(int=rnd.getrandbits(128))), "mail": f"c{i}@ext.test",
                         "proxyAddresses": [f"SMTP:c{i}@ext.test"]})
    doc = {"schema": "reconciler.tenant/1", "organization": {"id": "bench", "verifiedDomains": [
        {"name": "bench.onmicrosoft.com", "isInitial": True}]},
           "users": users, "groups": groups, "contacts": contacts}
    tenant.write_text(json.dumps(doc))
    return tenant, ldif


def naive(snapshot, errors_slice):
    """Baseline: for each error, scan every object (a per-error filter, like a quick script)."""
    out = []
    for obj, e in errors_slice:
        v = fold(e.value)
        out.append([o.id for o in snapshot.objects if o.id != obj.id
                    and any(val == v for _, val in cloud_values(o))])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=200_000)
    ap.add_argument("--errors", type=int, default=2_000)
    ap.add_argument("--baseline-errors", type=int, default=20, help="errors the naive baseline is timed on")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        tenant, ldif = generate(Path(d), a.objects, a.errors, a.seed)
        t_gen = time.perf_counter() - t0
        size_mb = tenant.stat().st_size / 1e6
        t0 = time.perf_counter()
        snap = read_tenant_file(tenant)
        t_read = time.perf_counter() - t0
        rss_after_read = rss_mb()
        t0 = time.perf_counter()
        src = read_onprem_file(ldif)
        t_ldif = time.perf_counter() - t0
    n = len(snap.objects)
    t0 = time.perf_counter()
    findings = match(snap, [src])
    t_match = time.perf_counter() - t0
    errs = [(o, e) for o in snap.objects for e in o.errors][: a.baseline_errors]
    t0 = time.perf_counter()
    naive(snap, errs)
    t_naive_slice = time.perf_counter() - t0
    t_naive = t_naive_slice / max(1, len(errs)) * a.errors
    scen = {}
    for f in findings:
        scen[f.scenario.value] = scen.get(f.scenario.value, 0) + 1
    print(f"objects={n} errors={len(findings)} onprem={len(src.objects)} tenant_file={size_mb:.0f} MB")
    print(f"generate: {t_gen:.1f} s")
    print(f"read tenant file: {t_read:.2f} s ({n / t_read:,.0f} objects/s), peak RSS after read {rss_after_read:.0f} MB")
    print(f"read LDIF: {t_ldif:.2f} s ({len(src.objects) / t_ldif:,.0f} objects/s)")
    print(f"match: {t_match:.3f} s ({(n + len(src.objects)) / t_match:,.0f} objects/s), scenarios {scen}")
    print(f"naive per-error scan: {t_naive_slice:.2f} s for {len(errs)} errors -> {t_naive:.1f} s extrapolated "
          f"to {a.errors}")
    print(f"ratio naive/match: {t_naive / t_match:,.0f}x")
    print(f"peak RSS: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
