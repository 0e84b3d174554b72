"""A source covers only what it can link: anchorless, incomplete and truncated sources never make an orphan.

The on-prem sources here are read from real public exports (tests/data/real/README.md) or derived from them.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.matcher import forest_warnings, match
from reconciler.core.model import CloudObject, CloudSnapshot, Domain, ObjectKind, OnPremSource, ProvisioningError
from reconciler.core.model import Scenario as S
from reconciler.sources.onprem import read_onprem_file

REAL = Path(__file__).resolve().parent.parent / "data" / "real" / "ldapsearch"
MONTEVERDE = REAL / "ad-monteverde-users-consistencyguid-truncated-head.ldif"
RAY_GUID = "e25b31dc-ea24-4a0e-8b21-21bdd9536b1f"
HOLDER_DN = "CN=Old Ray,OU=Toronto,OU=MegaBank Users,DC=MEGABANK,DC=LOCAL"


def _source(tmp_path: Path, data: bytes, name: str = "forest.ldif") -> OnPremSource:
    p = tmp_path / name
    p.write_bytes(data)
    return read_onprem_file(p)


def _monteverde() -> bytes:
    """The published excerpt (2 of 267 entries) made whole: header line dropped, trailer counts what it holds."""
    data = MONTEVERDE.read_bytes()[len(b"[...]\n"):]
    return data.replace(b"# numEntries: 267", b"# numEntries: 2")


def _snapshot(**holder: object) -> CloudSnapshot:
    """Ray's cloud object (linked to the export) fails on a UPN that a synced leftover holds."""
    ray = CloudObject(id="ray", kind=ObjectKind.USER, sync_enabled=True, immutable_id=guid_to_immutable_id(RAY_GUID),
                      user_principal_name="roleary1234@megabank.onmicrosoft.com", domain_name="MEGABANK.LOCAL",
                      errors=(ProvisioningError("PropertyConflict", "UserPrincipalName", "roleary@megabank.com"),))
    kw = {"dn": HOLDER_DN, "domain_name": "MEGABANK.LOCAL", **holder}
    old = CloudObject(id="old", kind=ObjectKind.USER, sync_enabled=True, user_principal_name="roleary@megabank.com",
                      immutable_id="AAAAAAAAAAAAAAAAAAAAAA==", **kw)  # type: ignore[arg-type]
    return CloudSnapshot(tenant_id="t", domains=(Domain("megabank.onmicrosoft.com", is_initial=True),),
                         objects=[ray, old])


def test_complete_anchored_export_makes_an_orphan_with_coverage(tmp_path: Path):
    src = _source(tmp_path, _monteverde())
    [f] = match(_snapshot(), [src])
    assert f.scenario is S.ORPHANED_HOLDER
    assert f.data()["coverage"] == {"source": src.label, "anchored": True, "complete": True}
    assert f.source is not None and f.source.object_guid == RAY_GUID


def test_export_without_anchors_does_not_cover(tmp_path: Path):
    """The same users exported with -l omitting objectGUID and mS-DS-ConsistencyGuid."""
    lines = [ln for ln in _monteverde().split(b"\n") if not ln.startswith((b"objectGUID::", b"mS-DS-Consistency"))]
    src = _source(tmp_path, b"\n".join(lines))
    assert not src.anchored("user")
    [f] = match(_snapshot(), [src])
    assert f.scenario is S.UNVERIFIED_HOLDER
    assert f.data()["coverage"] == {"source": src.label, "anchored": False, "complete": True}
    assert any("cannot link users" in r for r in f.reasons)


def test_size_limited_export_does_not_cover(tmp_path: Path):
    data = _monteverde().replace(b"result: 0 Success", b"result: 4 Size limit exceeded")
    src = _source(tmp_path, data)
    [f] = match(_snapshot(), [src])
    assert f.scenario is S.UNVERIFIED_HOLDER
    assert f.data()["coverage"] == {"source": src.label, "anchored": True, "complete": False}
    assert any("is incomplete" in r for r in f.reasons)


def test_truncated_export_does_not_cover(tmp_path: Path):
    body = _monteverde()
    src = _source(tmp_path, body[:body.index(b"uSNCreated: 41178\n")])
    [f] = match(_snapshot(), [src])
    assert f.scenario is S.UNVERIFIED_HOLDER and f.coverage is not None and not f.coverage.complete


def test_holder_outside_every_source_has_no_coverage(tmp_path: Path):
    src = _source(tmp_path, _monteverde())
    [f] = match(_snapshot(dn="CN=Old Ray,OU=Elsewhere,DC=MEGABANK,DC=LOCAL"), [src])
    assert f.scenario is S.UNVERIFIED_HOLDER and f.data()["coverage"] is None


def test_decisive_source_wins_over_a_partial_one(tmp_path: Path):
    partial = _source(tmp_path, _monteverde().replace(b"result: 0 Success", b"result: 4 Size limit exceeded"),
                      "partial.ldif")
    whole = _source(tmp_path, _monteverde(), "whole.ldif")
    [f] = match(_snapshot(), [partial, whole])
    assert f.scenario is S.ORPHANED_HOLDER and f.coverage is not None and f.coverage.source == whole.label


def test_forest_warning_when_no_source_matches_the_tenant(tmp_path: Path):
    src = _source(tmp_path, _monteverde())
    assert forest_warnings(_snapshot(), [src]) == []
    other = _snapshot(domain_name="corp.contoso.com", dn="CN=x,DC=corp,DC=contoso,DC=com")
    other.objects[0] = CloudObject(id="ray", kind=ObjectKind.USER, sync_enabled=True, domain_name="corp.contoso.com")
    [w] = forest_warnings(other, [src])
    assert "megabank.local" in w and "corp.contoso.com" in w and "wrong forest" in w
    assert forest_warnings(other, []) == []
