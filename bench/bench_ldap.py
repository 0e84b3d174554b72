"""Read throughput of the LDAP reader against the Samba AD DC, vs a raw ldap3 paged search.

Needs the throw-away DC from tests/samba/samba-ad.sh (root):

    AD_REALM=CORP.CONTOSO.COM AD_DOMAIN=CORP tests/samba/samba-ad.sh all
    /work/venv/bin/python bench/bench_ldap.py                 # 2,000 objects (~30 s with loading)
    /work/venv/bin/python bench/bench_ldap.py --objects 20000 # the full-size figure

It loads N objects (users, contacts, mail-enabled groups, 4:1:1 with SMTP proxyAddresses and a
ConsistencyGuid) into OU=Bench once (kept for later runs unless --reload), then times, in the same
invocation and alternating:

- baseline: ldap3 paged search (1,000 a page, same filter and attributes), entries counted, nothing
  decoded: the floor set by the server and the wire;
- reconciler: ``LdapReader.read()``: the same search plus decoding into OnPremObject.

Prints objects/s for both and the ratio (reader / baseline; 1.0 = decoding costs nothing).

``--keys K`` times instead what a scan does with the forest when K on-prem objects are involved in
errors (their anchors are the keys), side by side and alternating:

- full: ``LdapReader.read()`` of every entry with every attribute, then cut down to the keys;
- filtered: ``LdapReader.prepare()`` (one cheap paged pass: objectClass, objectGUID, objectSid,
  mS-DS-ConsistencyGuid, mail) then ``select(keys)`` (the K entries fetched by objectGUID, 100 to an
  OR filter); both must give equal objects and counts.

It prints searches sent (one per page), wall time (best of --repeat) and the ratio.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ldap3

from reconciler.sources.base import NullProgress
from reconciler.sources.ldap import DEFAULT_FILTER, LdapReader, LdapSettings, iter_paged
from reconciler.sources.onprem import ONPREM_ATTRIBUTES

BASE = "DC=corp,DC=contoso,DC=com"
OU = f"OU=Bench,{BASE}"
ADMIN = f"CN=Administrator,CN=Users,{BASE}"


def settings(args: argparse.Namespace) -> LdapSettings:
    return LdapSettings.from_url(args.url, bind_dn=ADMIN, password=args.password, base_dn=OU,
                                 ca_file=Path(args.samba_dir) / "tls" / "ca.pem")


def connect(args: argparse.Namespace) -> ldap3.Connection:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(Path(args.samba_dir) / "tls" / "ca.pem"))
    server = ldap3.Server("127.0.0.1", 636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    return ldap3.Connection(server, ADMIN, args.password, auto_bind=True, check_names=False)


def count(conn: ldap3.Connection) -> int:
    """Objects already in OU=Bench (0 when the OU does not exist)."""
    if not conn.search(OU, "(objectClass=*)", "BASE"):
        return 0
    return sum(len(p) for p in iter_paged(conn, "bench", OU, "(objectClass=*)", ["objectClass"], 1000)) - 1


def entry(i: int) -> tuple[str, list[str], dict[str, object]]:
    kind = ("user", "user", "user", "user", "contact", "group")[i % 6]
    name = f"bench{i:06d}"
    attrs: dict[str, object] = {"mail": f"{name}@contoso.com", "displayName": f"Bench {i}",
                                "proxyAddresses": [f"SMTP:{name}@contoso.com", f"smtp:{name}@corp.contoso.com"],
                                "mS-DS-ConsistencyGuid": uuid.UUID(int=i + 1).bytes_le, "mailNickname": name}
    if kind == "user":
        attrs |= {"sAMAccountName": name, "userPrincipalName": f"{name}@contoso.com", "givenName": "Bench",
                  "sn": str(i)}
        classes = ["top", "person", "organizationalPerson", "user"]
    elif kind == "group":
        attrs |= {"sAMAccountName": name, "groupType": "8"}
        classes = ["top", "group"]
    else:
        attrs |= {"targetAddress": f"SMTP:{name}@partner.example"}
        classes = ["top", "person", "organizationalPerson", "contact"]
    return f"CN={name},{OU}", classes, attrs


def load(args: argparse.Namespace) -> float:
    conn = connect(args)
    have = count(conn)
    if args.reload and have:
        conn.delete(OU, controls=[("1.2.840.113556.1.4.805", True, None)])
        have = 0
    if have >= args.objects:
        return 0.0
    if not have:
        conn.add(OU, ["top", "organizationalUnit"])
    t = time.perf_counter()
    for i in range(have, args.objects):
        dn, classes, attrs = entry(i)
        if not conn.add(dn, classes, attrs):
            raise SystemExit(f"add {dn}: {conn.result['description']} {conn.result['message']}")
        if i % 2000 == 0:
            print(f"  loaded {i}/{args.objects}", file=sys.stderr)
    conn.unbind()
    return time.perf_counter() - t


def baseline(args: argparse.Namespace) -> int:
    """Raw ldap3: paged search with the reader's filter and attributes; entries counted, not decoded."""
    conn = connect(args)
    cookie, n = None, 0
    while True:
        conn.search(OU, DEFAULT_FILTER, attributes=list(ONPREM_ATTRIBUTES), paged_size=1000, paged_cookie=cookie)
        n += sum(1 for e in conn.response if e["type"] == "searchResEntry")
        cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
        if not cookie:
            break
    conn.unbind()
    return n


def ours(args: argparse.Namespace) -> int:
    return len(LdapReader(settings(args)).read(NullProgress()).objects)


class Counting:
    """connect= wrapper for LdapReader: counts the searches (pages) a read sends."""

    def __init__(self) -> None:
        self.searches = 0
        self.conns: list = []

    @property
    def received(self) -> int:
        """Bytes received after the binds (ldap3's usage counters)."""
        return sum(c._usage.bytes_received for c in self.conns)

    def __call__(self, s: LdapSettings):  # type: ignore[no-untyped-def]
        from ldap3.core.usage import ConnectionUsage

        from reconciler.sources.ldap import open_connection

        conn = open_connection(s)
        conn._usage = ConnectionUsage()
        conn._usage.start()
        self.conns.append(conn)
        search = conn.search

        def counted(*a, **kw):  # type: ignore[no-untyped-def]
            self.searches += 1
            return search(*a, **kw)
        conn.search = counted
        return conn


def scan_paths(args: argparse.Namespace) -> None:
    """Full read + cut vs cheap pass + batched fetch, for the anchors of ``args.keys`` objects."""
    from reconciler.sources.prefilter import NeededKeys, filtered_source

    every = LdapReader(settings(args)).read(NullProgress()).objects
    step = max(1, len(every) // max(1, args.keys))
    keys = NeededKeys.of([o.anchor for o in every[::step][:args.keys] if o.anchor], [], [])
    best: dict[str, tuple[float, int, int]] = {}
    results = {}
    for _ in range(args.repeat):
        for name in ("full", "filtered"):
            c = Counting()
            t = time.perf_counter()
            r = LdapReader(settings(args), connect=c)
            src = filtered_source(r.read(NullProgress()), keys) if name == "full" else r.prepare().select(keys)
            dt = time.perf_counter() - t
            results[name] = src
            if dt < best.get(name, (float("inf"), 0, 0))[0]:
                best[name] = (dt, c.searches, c.received)
    a, b = results["full"], results["filtered"]
    if a.objects != b.objects or a.count != b.count or a.unlinkable() != b.unlinkable():
        raise SystemExit("the filtered path differs from the full read")
    print(f"{len(every)} entries, {len(a.objects)} needed (keys: {len(keys.anchors)} anchors)")
    for name, (dt, n, got) in best.items():
        print(f"{name:>10}: {dt:.3f} s, {n} searches (incl. rootDSE), {got / 1e6:.2f} MB received")
    print(f"ratio full/filtered wall time: {best['full'][0] / best['filtered'][0]:.2f}")


def timed(fn, args: argparse.Namespace) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    n = fn(args)
    return n, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--objects", type=int, default=2000, help="objects in OU=Bench (default 2000; full: 20000)")
    p.add_argument("--repeat", type=int, default=3, help="timed rounds of each (best is reported)")
    p.add_argument("--reload", action="store_true", help="delete and re-load OU=Bench first")
    p.add_argument("--url", default="ldaps://127.0.0.1", help="reader URL (default ldaps://127.0.0.1)")
    p.add_argument("--samba-dir", default=os.environ.get("SAMBA_DIR", "/tmp/samba-ad"))
    p.add_argument("--password", default=os.environ.get("AD_ADMINPASS", "Passw0rd!Test123"),
                   help="Administrator password of the throw-away DC (default: samba-ad.sh's)")
    p.add_argument("--keys", type=int, default=0,
                   help="time a scan's full vs filtered path for this many involved objects instead")
    args = p.parse_args()
    loaded = load(args)
    if loaded:
        print(f"loaded {args.objects} objects in {loaded:.1f} s ({args.objects / loaded:.0f}/s)")
    if args.keys:
        scan_paths(args)
        return
    best = {"baseline": float("inf"), "reconciler": float("inf")}
    for _ in range(args.repeat):
        for name, fn in (("baseline", baseline), ("reconciler", ours)):
            n, dt = timed(fn, args)
            if n != args.objects:
                raise SystemExit(f"{name} read {n} objects, expected {args.objects} (OU=Bench holds more? --reload)")
            best[name] = min(best[name], dt)
    for name, dt in best.items():
        print(f"{name:>10}: {args.objects} objects in {dt:.2f} s = {args.objects / dt:,.0f} objects/s")
    print(f"ratio reconciler/baseline throughput: {best['baseline'] / best['reconciler']:.2f}")


if __name__ == "__main__":
    main()
