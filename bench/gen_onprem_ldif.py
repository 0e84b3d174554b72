"""Synthetic ldifde-style export for the check-onprem benchmark.

Writes N objects (70 % users, 15 % groups, 15 % contacts), each with about
three proxyAddresses, and plants problems in ``--problem-rate`` of them
(default 1 %): same-attribute and cross-attribute duplicates, bad UPN
characters, unknown top-level domains, extra colons, over-long values, leading
periods in mailNickname. A few well-known system objects are added so the skip
counter has work. Deterministic for a given ``--seed``.

    python bench/gen_onprem_ldif.py --objects 1000000 -o bench/out/onprem-1m.ldif
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

BASE = "DC=corp,DC=contoso,DC=com"
DOMAIN = "contoso.com"
PLANTS = ("dup_proxy", "cross_upn_proxy", "upn_chars", "smtp_tld", "extra_colon", "upn_length",
          "nickname_period", "dup_upn", "cross_mail", "x500_ok_apostrophe")


def _b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.getrandbits(8 * n).to_bytes(n, "little")).decode("ascii")


def _sid(i: int) -> str:
    raw = bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + (0x1D7EF7C7).to_bytes(4, "little") \
        + (0xC8557773).to_bytes(4, "little") + (0x01CE5A94).to_bytes(4, "little") \
        + (1000 + i).to_bytes(4, "little")
    return base64.b64encode(raw).decode("ascii")


class Gen:
    def __init__(self, objects: int, rate: float, seed: int) -> None:
        self.n = objects
        self.rng = random.Random(seed)
        self.rate = rate
        self.planted: dict[str, int] = {p: 0 for p in PLANTS}

    def _common(self, i: int, cn: str, ou: str, classes: tuple[str, ...]) -> list[str]:
        dn = f"CN={cn},OU={ou},OU=Site{i % 50:02d},{BASE}"
        lines = [f"dn: {dn}", "changetype: add"]
        lines += [f"objectClass: {c}" for c in classes]
        lines += [f"cn: {cn}", f"distinguishedName: {dn}",
                  f"whenCreated: 20{10 + i % 15:02d}0{1 + i % 9}1{i % 10}101500.0Z",
                  f"objectGUID:: {_b64(self.rng, 16)}"]
        return lines

    def _plant(self, i: int) -> str | None:
        if self.rng.random() >= self.rate:
            return None
        p = PLANTS[self.rng.randrange(len(PLANTS))]
        self.planted[p] += 1
        return p

    def user(self, i: int) -> str:
        local = f"user{i:07d}"
        cn = f"User {i:07d}"
        upn = f"{local}@{DOMAIN}"
        nick = local
        proxies = [f"SMTP:{local}@{DOMAIN}", f"smtp:{local}@mail.{DOMAIN}",
                   f"X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={local}"]
        mail = f"{local}@{DOMAIN}"
        p = self._plant(i)
        if p == "dup_proxy":
            proxies[1] = f"smtp:user{max(i - 1, 0):07d}@mail.{DOMAIN}"
        elif p == "cross_upn_proxy":
            proxies[1] = f"smtp:user{max(i - 2, 0):07d}@{DOMAIN}"
        elif p == "upn_chars":
            upn = f"user {i:07d}(x)@{DOMAIN}"
        elif p == "smtp_tld":
            proxies[1] = f"smtp:{local}@contoso.notatld"
        elif p == "extra_colon":
            proxies[1] = f"smtp::{local}@mail.{DOMAIN}"
        elif p == "upn_length":
            upn = f"{local}.{'x' * 120}@{DOMAIN}"
        elif p == "nickname_period":
            nick = f".{local}"
        elif p == "dup_upn":
            upn = f"user{max(i - 3, 0):07d}@{DOMAIN}"
        elif p == "cross_mail":
            mail = f"user{max(i - 4, 0):07d}@mail.{DOMAIN}"
        elif p == "x500_ok_apostrophe":
            proxies[2] = f"X500:/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=O'Brien{i}"
        lines = self._common(i, cn, "Users", ("top", "person", "organizationalPerson", "user"))
        lines += [f"sn: {i:07d}", "givenName: User", f"displayName: {cn}", "userAccountControl: 512",
                  f"objectSid:: {_sid(i)}", f"sAMAccountName: u{i:07d}", f"userPrincipalName: {upn}",
                  f"mail: {mail}", f"mailNickname: {nick}",
                  f"homeMDB: CN=DB{i % 20:02d},CN=Databases,CN=Exchange,CN=Services,CN=Configuration,{BASE}"]
        lines += [f"proxyAddresses: {x}" for x in proxies]
        return "\n".join(lines) + "\n\n"

    def group(self, i: int) -> str:
        local = f"group{i:07d}"
        cn = f"Group {i:07d}"
        proxies = [f"SMTP:{local}@{DOMAIN}", f"smtp:{local}@lists.{DOMAIN}",
                   f"X400:C=US;A= ;P=Contoso;O=Exchange;S={local};"]
        p = self._plant(i)
        if p in ("dup_proxy", "dup_upn"):
            proxies[1] = f"smtp:group{max(i - 1, 0):07d}@lists.{DOMAIN}"
        elif p in ("cross_upn_proxy", "cross_mail"):
            proxies[1] = f"smtp:user{max(i - 5, 0):07d}@{DOMAIN}"
        elif p == "smtp_tld":
            proxies[1] = f"smtp:{local}@lists.invalidtld"
        elif p == "extra_colon":
            proxies[1] = f"smtp:{local}:x@lists.{DOMAIN}"
        lines = self._common(i, cn, "Groups", ("top", "group"))
        lines += [f"displayName: {cn}", "groupType: -2147483640", f"objectSid:: {_sid(i)}",
                  f"sAMAccountName: g{i:07d}", f"mail: {local}@{DOMAIN}", f"mailNickname: {local}"]
        lines += [f"proxyAddresses: {x}" for x in proxies]
        return "\n".join(lines) + "\n\n"

    def contact(self, i: int) -> str:
        local = f"contact{i:07d}"
        cn = f"Contact {i:07d}"
        target = f"SMTP:{local}@partner.example.net"
        proxies = [f"SMTP:{local}@partner.example.net", f"smtp:{local}@{DOMAIN}",
                   f"X500:/o=Contoso/ou=External/cn=Recipients/cn={local}"]
        p = self._plant(i)
        if p in ("dup_proxy", "dup_upn"):
            proxies[1] = f"smtp:contact{max(i - 1, 0):07d}@{DOMAIN}"
        elif p in ("cross_upn_proxy", "cross_mail"):
            proxies[1] = f"smtp:user{max(i - 6, 0):07d}@{DOMAIN}"
        elif p == "smtp_tld":
            target = f"SMTP:{local}@partner.nosuchtld"
        lines = self._common(i, cn, "Contacts", ("top", "person", "organizationalPerson", "contact"))
        lines += [f"displayName: {cn}", f"mail: {local}@partner.example.net", f"mailNickname: {local}",
                  f"targetAddress: {target}"]
        lines += [f"proxyAddresses: {x}" for x in proxies]
        return "\n".join(lines) + "\n\n"

    def system(self, i: int) -> str:
        names = ("krbtgt", "SystemMailbox{1f05a927-0000}", "HealthMailbox0a1b2c", f"WKS{i:05d}$",
                 "DiscoverySearchMailbox {D919BA05-46A6}")
        cn = names[i % len(names)]
        lines = self._common(i, cn, "System", ("top", "person", "organizationalPerson", "user"))
        lines += [f"sAMAccountName: {cn[:20]}", "userAccountControl: 514"]
        return "\n".join(lines) + "\n\n"

    def write(self, out: TextIO) -> None:
        kinds: list[Callable[[int], str]] = [self.user] * 14 + [self.group] * 3 + [self.contact] * 3
        buf: list[str] = []
        for i in range(self.n):
            buf.append(self.system(i) if i % 10_000 == 9_999 else kinds[i % 20](i))
            if len(buf) >= 5000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))


def generate(path: Path, objects: int, rate: float = 0.01, seed: int = 1) -> dict[str, int]:
    """Write the LDIF; return how many of each planted problem it holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    g = Gen(objects, rate, seed)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        g.write(f)
    return g.planted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=100_000, help="objects to write (default 100000)")
    ap.add_argument("--problem-rate", type=float, default=0.01, help="share of objects with a planted problem")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--out", type=Path, default=Path("bench/out/onprem.ldif"))
    a = ap.parse_args(argv)
    planted = generate(a.out, a.objects, a.problem_rate, a.seed)
    print(f"wrote {a.objects} objects to {a.out}; planted {sum(planted.values())}: {planted}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
