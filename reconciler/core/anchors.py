"""Identity conversions between AD and Entra ID, and DN handling. Pure, stdlib only.

- objectGUID bytes (as LDAP returns them) <-> GUID string <-> ``onPremisesImmutableId``
  (base64 of the raw little-endian bytes, .NET ``Guid.ToByteArray()`` order).
- objectSid bytes <-> ``S-1-5-21-...`` string.
- Distinguished names: split into RDNs honouring RFC 4514 escapes, compare case-insensitively.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid

__all__ = [
    "guid_bytes_to_str",
    "guid_str_to_bytes",
    "guid_to_immutable_id",
    "immutable_id_to_guid",
    "sid_bytes_to_str",
    "sid_str_to_bytes",
    "split_dn",
    "normalize_dn",
    "dn_is_under",
    "common_dn_suffix",
    "dn_domain",
]


def guid_bytes_to_str(raw: bytes) -> str:
    """objectGUID as LDAP sends it (16 bytes, little-endian fields) -> canonical string."""
    if len(raw) != 16:
        raise ValueError(f"a GUID has 16 bytes, got {len(raw)}")
    h = (raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def guid_str_to_bytes(guid: str) -> bytes:
    return uuid.UUID(guid.strip("{}")).bytes_le


def guid_to_immutable_id(guid: str) -> str:
    """``f7cc07d7-7c15-447d-876d-c01b0e5a9e38`` -> ``1wfM9xV8fUSHbcAbDlqeOA==``."""
    return base64.b64encode(guid_str_to_bytes(guid)).decode("ascii")


def immutable_id_to_guid(immutable_id: str) -> str | None:
    """Reverse of :func:`guid_to_immutable_id`; ``None`` when it is not a base64 GUID."""
    try:
        raw = base64.b64decode(immutable_id, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 16:
        return None
    return str(uuid.UUID(bytes_le=raw))


_SID_DOMAINS: dict[bytes, str] = {}  # the bytes of a SID but its last sub-authority (the RID) -> their text


def sid_bytes_to_str(raw: bytes) -> str:
    """Binary objectSid -> ``S-1-5-21-...``. The objects of a domain share all but the last sub-authority (their
    RID): that part's text is remembered."""
    head = _SID_DOMAINS.get(raw[:-4])
    if head is not None and len(raw) > 8:
        return f"{head}-{int.from_bytes(raw[-4:], 'little')}"
    text = _sid_text(raw)
    if len(_SID_DOMAINS) < 64 and raw[1]:
        _SID_DOMAINS[raw[:-4]] = text.rpartition("-")[0]
    return text


def _sid_text(raw: bytes) -> str:
    if len(raw) < 8:
        raise ValueError("a SID has at least 8 bytes")
    revision, count = raw[0], raw[1]
    if len(raw) != 8 + 4 * count:
        raise ValueError(f"SID length {len(raw)} does not fit {count} sub-authorities")
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8:]) if count else ()
    return "S-" + "-".join([str(revision), str(authority), *map(str, subs)])


def sid_str_to_bytes(sid: str) -> bytes:
    parts = sid.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"not a SID: {sid!r}")
    revision, authority = int(parts[1]), int(parts[2])
    subs = [int(p) for p in parts[3:]]
    return (bytes([revision, len(subs)]) + authority.to_bytes(6, "big")
            + struct.pack(f"<{len(subs)}I", *subs))


def split_dn(dn: str) -> list[str]:
    """Split a DN into RDN strings, honouring ``\\,`` and ``\\2C`` escapes and quotes."""
    if "\\" not in dn and '"' not in dn and ";" not in dn:
        return [r.strip() for r in dn.split(",") if r.strip()]
    rdns: list[str] = []
    cur: list[str] = []
    i, n = 0, len(dn)
    quoted = False
    while i < n:
        c = dn[i]
        if c == "\\" and i + 1 < n:
            cur.append(dn[i:i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in ",;" and not quoted:
            rdns.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    last = "".join(cur).strip()
    if last or rdns:
        rdns.append(last)
    return [r for r in rdns if r]


def _norm_rdn(rdn: str) -> str:
    if "=" in rdn:
        t, v = rdn.split("=", 1)
        return f"{t.strip().casefold()}={v.strip().casefold()}"
    return rdn.strip().casefold()


def normalize_dn(dn: str) -> tuple[str, ...]:
    """Comparable form of a DN: tuple of folded RDNs, leaf first."""
    return tuple(_norm_rdn(r) for r in split_dn(dn))


def dn_is_under(dn: str, base: str) -> bool:
    """True when ``dn`` equals ``base`` or lies below it."""
    d, b = normalize_dn(dn), normalize_dn(base)
    return len(b) <= len(d) and (not b or d[len(d) - len(b):] == b)


def common_dn_suffix(dns: list[str]) -> str | None:
    """Longest DN suffix shared by all ``dns`` (original spelling of the first), or None."""
    if not dns:
        return None
    first = split_dn(dns[0])
    common = normalize_dn(dns[0])
    keep = len(common)
    for dn in dns[1:]:
        other = normalize_dn(dn)
        k = 0
        while k < keep and k < len(other) and common[-1 - k] == other[-1 - k]:
            k += 1
        keep = k
        if keep == 0:
            return None
    return ",".join(first[len(first) - keep:])


def dn_domain(dn: str) -> str | None:
    """DNS domain of a DN's ``DC=`` components: ``DC=corp,DC=contoso,DC=com`` -> ``corp.contoso.com``."""
    labels = []
    for rdn in split_dn(dn):
        t, _, v = rdn.partition("=")
        if t.strip().casefold() == "dc":
            labels.append(v.strip().casefold())
    return ".".join(labels) or None
