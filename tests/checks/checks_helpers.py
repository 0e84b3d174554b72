"""Literal on-prem objects and cloud snapshots for the check-onprem tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.checks.engine import CheckResult, check
from reconciler.checks.rules import parse_tlds
from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.model import CloudObject, CloudSnapshot, ObjectKind, OnPremObject, OnPremSource

ROOT = Path(__file__).resolve().parents[2]
TLDS = parse_tlds((ROOT / "reconciler" / "data" / "tlds.txt").read_text("utf-8"))
BASE = "OU=Staff,DC=corp,DC=contoso,DC=com"
_GUIDS = iter(f"{i:08x}-0000-4000-8000-000000000000" for i in range(1, 10_000))


def obj(name: str, cls: str = "user", **kw: Any) -> OnPremObject:
    """A clean object with a unique GUID; override any attribute with keywords."""
    fields: dict[str, Any] = {"dn": f"CN={name},{BASE}", "object_class": cls, "cn": name, "display_name": name,
                              "object_guid": next(_GUIDS)}
    if cls == "user":
        fields["sam_account_name"] = name.replace(" ", "")[:20]
        fields["user_account_control"] = 512
    fields.update(kw)
    return OnPremObject(**fields)


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def run(*objs: OnPremObject, cloud: CloudSnapshot | None = None, forests: tuple[list[OnPremObject], ...] = (),
        tlds: frozenset[str] = TLDS, rules: frozenset[str] | None = None) -> CheckResult:
    sources = [OnPremSource(label="forest1.ldif", base_dn=None, objects=list(objs))]
    sources += [OnPremSource(label=f"forest{i + 2}.ldif", base_dn=None, objects=f) for i, f in enumerate(forests)]
    return check(sources, tlds, cloud, generated="2026-12-01T00:00:00Z", rules=rules, now=NOW)


def rules(res: CheckResult, dn: str | None = None) -> set[str]:
    return {p.rule for p in res.problems if dn is None or p.dn == dn}


def anchor(o: OnPremObject) -> str:
    assert o.object_guid
    return guid_to_immutable_id(o.object_guid)


def cloud_user(id: str, upn: str, **kw: Any) -> CloudObject:
    return CloudObject(id=id, kind=ObjectKind.USER, user_principal_name=upn, display_name=id, **kw)


def snapshot(*objects: CloudObject, features: dict[str, Any] | None = None, **kw: Any) -> CloudSnapshot:
    return CloudSnapshot(tenant_id="t1", features=features, objects=list(objects), **kw)


_CERT_CACHE: dict[tuple[int, int], tuple[bytes, ...]] = {}


def certs(valid: int, expired: int = 0) -> tuple[bytes, ...]:
    """DER X.509 certificates made with cryptography: ``expired`` whose notAfter is before NOW, ``valid`` after."""
    key = (valid, expired)
    if key not in _CERT_CACHE:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        k = ec.generate_private_key(ec.SECP256R1())
        out = []
        for i in range(expired + valid):
            gone = i < expired
            start = datetime(2020 + (i % 3), 1, 1, tzinfo=UTC)
            end = datetime(2022, 6, 1 + i % 28, tzinfo=UTC) if gone else datetime(2028, 1, 1 + i % 28, tzinfo=UTC)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Alice Moreau {i}")])
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
                    .serial_number(1000 + i).not_valid_before(start).not_valid_after(end).sign(k, hashes.SHA256()))
            out.append(cert.public_bytes(serialization.Encoding.DER))
        _CERT_CACHE[key] = tuple(out)
    return _CERT_CACHE[key]
