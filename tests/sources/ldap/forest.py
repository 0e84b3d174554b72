"""Test helpers: connect to the Samba DC started by tests/samba/samba-ad.sh and load fixture forests.

The DC assigns its own objectGUID and objectSid, so :func:`load_ldif` stamps each object's
mS-DS-ConsistencyGuid with the objectGUID bytes from the LDIF (what Entra Connect does: the
anchors then match the tenant file) and returns the SIDs the DC assigned, which
:func:`rewrite_tenant_sids` puts into a copy of the tenant file.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3

from reconciler.core.anchors import sid_bytes_to_str, split_dn
from reconciler.sources.ldif import iter_ldif_records

BASE_DN = "DC=corp,DC=contoso,DC=com"
ADMIN_DN = f"CN=Administrator,CN=Users,{BASE_DN}"
ADMIN_PASSWORD = os.environ.get("AD_ADMINPASS", "Passw0rd!Test123")
USER_PASSWORD = "Fixture!Pass123"
TREE_DELETE = "1.2.840.113556.1.4.805"

# Set by the DC, never sent on add.
_SYSTEM = {"objectguid", "objectsid", "whenchanged", "whencreated", "distinguishedname", "changetype",
           "usncreated", "usnchanged", "instancetype", "objectcategory"}


def samba_dir() -> Path:
    return Path(os.environ.get("SAMBA_DIR", "/tmp/samba-ad"))


def ca_file() -> Path:
    return samba_dir() / "tls" / "ca.pem"


def admin_connection(user: str = ADMIN_DN, password: str = ADMIN_PASSWORD) -> ldap3.Connection:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_file()))
    server = ldap3.Server("127.0.0.1", 636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    return ldap3.Connection(server, user, password, auto_bind=True, check_names=False,
                            raise_exceptions=False, receive_timeout=60)


def _check(conn: ldap3.Connection, what: str) -> None:
    if conn.result["result"] != 0:
        raise AssertionError(f"{what}: {conn.result['description']} {conn.result['message']}")


def exists(conn: ldap3.Connection, dn: str) -> bool:
    conn.search(dn, "(objectClass=*)", "BASE", attributes=["objectClass"])
    return conn.result["result"] == 0 and bool(conn.response)


def delete_tree(conn: ldap3.Connection, dn: str) -> None:
    if exists(conn, dn):
        conn.delete(dn, controls=[(TREE_DELETE, True, None)])
        _check(conn, f"tree delete {dn}")


def ensure_ou(conn: ldap3.Connection, dn: str) -> None:
    rdns = split_dn(dn)
    for i in range(len(rdns) - 1, -1, -1):
        part = ",".join(rdns[i:])
        if rdns[i].upper().startswith("OU=") and not exists(conn, part):
            conn.add(part, ["top", "organizationalUnit"])
            _check(conn, f"add {part}")


def _password(text: str) -> bytes:
    return f'"{text}"'.encode("utf-16-le")


def add_object(conn: ldap3.Connection, dn: str, attrs: dict[str, list[bytes]], *,
               password: str = USER_PASSWORD) -> None:
    """Add one entry (raw values); users get a password so userAccountControl 512 is accepted."""
    ensure_ou(conn, ",".join(split_dn(dn)[1:]))
    send: dict[str, Any] = {k: v for k, v in attrs.items() if k not in _SYSTEM}
    classes = [c.decode() for c in send.pop("objectclass")]
    if "user" in [c.lower() for c in classes]:
        send["unicodePwd"] = [_password(password)]
    conn.add(dn, classes, send)
    _check(conn, f"add {dn}")


@dataclass
class Loaded:
    """What the DC assigned: LDIF objectSid -> new SID string, DN -> new SID."""

    sids: dict[str, str] = field(default_factory=dict)
    dns: list[str] = field(default_factory=list)


def load_ldif(conn: ldap3.Connection, ldif: Path, *, replace_ous: Iterable[str] = ()) -> Loaded:
    """Load every record of ``ldif`` (an ldifde export); stamp ConsistencyGuid = LDIF objectGUID."""
    for ou in replace_ous:
        delete_tree(conn, ou)
    out = Loaded()
    old_sids: dict[str, str] = {}
    with ldif.open("rb") as f:
        for _line, dn, attrs in iter_ldif_records(f, ldif):
            if "objectguid" in attrs:
                attrs["mS-DS-ConsistencyGuid"] = [attrs["objectguid"][0]]
                attrs.pop("ms-ds-consistencyguid", None)
            if "objectsid" in attrs:
                old_sids[dn] = sid_bytes_to_str(attrs["objectsid"][0])
            add_object(conn, dn, attrs)
            out.dns.append(dn)
    for dn, old in old_sids.items():
        conn.search(dn, "(objectClass=*)", "BASE", attributes=["objectSid"])
        _check(conn, f"read {dn}")
        out.sids[old] = sid_bytes_to_str(conn.response[0]["raw_attributes"]["objectSid"][0])
    return out


def rewrite_tenant_sids(tenant: Path, sids: dict[str, str], out: Path) -> Path:
    """Copy of ``tenant`` with every onPremisesSecurityIdentifier replaced by the DC-assigned SID."""
    doc = json.loads(tenant.read_text(encoding="utf-8"))
    for coll in ("users", "groups", "contacts", "deletedUsers", "deletedGroups"):
        for obj in doc.get(coll, []):
            sid = obj.get("onPremisesSecurityIdentifier")
            if sid in sids:
                obj["onPremisesSecurityIdentifier"] = sids[sid]
    out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return out


def add_user(conn: ldap3.Connection, dn: str, *, sam: str, upn: str | None = None,
             proxies: Iterable[str] = (), password: str = USER_PASSWORD, uac: int = 512) -> None:
    attrs: dict[str, list[bytes]] = {"objectclass": [b"top", b"person", b"organizationalPerson", b"user"],
                                     "sAMAccountName": [sam.encode()],
                                     "userAccountControl": [str(uac).encode()]}
    if upn:
        attrs["userPrincipalName"] = [upn.encode()]
    if proxies:
        attrs["proxyAddresses"] = [p.encode() for p in proxies]
    add_object(conn, dn, attrs, password=password)
