"""Literal on-prem objects and cloud snapshots for the check-onprem tests."""

from __future__ import annotations

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


def run(*objs: OnPremObject, cloud: CloudSnapshot | None = None, forests: tuple[list[OnPremObject], ...] = (),
        tlds: frozenset[str] = TLDS) -> CheckResult:
    sources = [OnPremSource(label="forest1.ldif", base_dn=None, objects=list(objs))]
    sources += [OnPremSource(label=f"forest{i + 2}.ldif", base_dn=None, objects=f) for i, f in enumerate(forests)]
    return check(sources, tlds, cloud, generated="2026-12-01T00:00:00Z")


def rules(res: CheckResult, dn: str | None = None) -> set[str]:
    return {p.rule for p in res.problems if dn is None or p.dn == dn}


def anchor(o: OnPremObject) -> str:
    assert o.object_guid
    return guid_to_immutable_id(o.object_guid)


def cloud_user(id: str, upn: str, **kw: Any) -> CloudObject:
    return CloudObject(id=id, kind=ObjectKind.USER, user_principal_name=upn, display_name=id, **kw)


def snapshot(*objects: CloudObject, features: dict[str, Any] | None = None, **kw: Any) -> CloudSnapshot:
    return CloudSnapshot(tenant_id="t1", features=features, objects=list(objects), **kw)
