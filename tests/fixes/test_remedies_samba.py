"""Remedies planned from findings and applied on a real Samba AD DC: the data-validation UPN fix and the
large-attribute certificate clean-up, each undone to the exact before-values (skipped unless Samba runs)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.fixes.apply import ApplyOptions, apply_plan, undo_run
from reconciler.fixes.journal import Journal
from reconciler.fixes.planfile import read_plan, write_plan
from reconciler.fixes.steps import Executor, StepKind
from reconciler.fixes.writers.ldap import LdapStepWriter
from reconciler.fixes.writers.ldapconn import LdapWriter
from reconciler.history.store import Store
from reconciler.sources.ldap import LdapSettings
from tests.sources.ldap import forest
from tests.sources.ldap.conftest import samba  # noqa: F401  (fixture)

from .emu import Emu, tenant_doc
from .test_remedies import _cert, finding, plan

pytestmark = pytest.mark.ldap
OU = f"OU=Remedy Tests,{forest.BASE_DN}"
MIA = f"CN=Mia Remedy,{OU}"
BAD_UPN = "mia müller@plan.test"


@pytest.fixture(scope="module")
def eighteen() -> list[str]:
    return [_cert(-900, -10, "expired-a"), _cert(-800, -300, "expired-b")] + \
        [_cert(-400 + i * 10, 400, f"valid{i:02d}") for i in range(16)]


@pytest.fixture
def ad(samba, eighteen):  # noqa: F811
    import base64

    with forest.admin_connection() as conn:
        forest.delete_tree(conn, OU)
        forest.ensure_ou(conn, OU)
        forest.add_user(conn, MIA, sam="miarem", upn=BAD_UPN)
        import ldap3

        conn.modify(MIA, {"userCertificate": [(ldap3.MODIFY_ADD, [base64.b64decode(c) for c in eighteen])]})
        assert conn.result["result"] == 0, conn.result
        yield conn
        forest.delete_tree(conn, OU)


def state(conn: Any) -> dict[str, Any]:
    conn.search(MIA, "(objectClass=*)", "BASE", attributes=["userPrincipalName", "userCertificate"])
    raw = conn.response[0]["raw_attributes"]
    return {"upn": [v.decode() for v in raw.get("userPrincipalName", [])],
            "certs": sorted(raw.get("userCertificate", []))}


def run(path: Any, journal: Journal, *, undo: bool = False, run_id: str | None = None) -> Any:
    async def go() -> Any:
        with LdapWriter.connect(LdapSettings.from_url("ldaps://127.0.0.1", bind_dn=forest.ADMIN_DN,
                                                      password=forest.ADMIN_PASSWORD,
                                                      ca_file=forest.ca_file())) as w:
            # the steps name the synced user their next sync reaches (target.cloud_id): apply guards it too
            writers = {Executor.LDAP: LdapStepWriter(w), Executor.GRAPH: _cloud().writer()}
            if undo:
                return await undo_run(journal, writers, run_id, doit=True)
            return await apply_plan(read_plan(path), journal, writers, ApplyOptions(doit=True))
    return asyncio.run(go())


def _cloud() -> Emu:
    doc = tenant_doc(0)
    doc["users"].append({"id": "u-1", "userPrincipalName": "mia@contoso.com", "userType": "Member",
                         "onPremisesSyncEnabled": True, "onPremisesImmutableId": "ANCHOR1==", "displayName": "Mia"})
    return Emu(doc)


def _dn(pair: tuple[dict[str, Any], dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    f, d = pair
    f["source"]["dn"] = MIA
    for c in d["columns"]:
        if c["role"] == "source":
            c["attrs"]["distinguishedName"] = MIA
    return f, d


def test_data_validation_and_large_attribute_applied_and_undone_on_samba(ad, eighteen, tmp_path) -> None:
    before = state(ad)
    assert before["upn"] == [BAD_UPN] and len(before["certs"]) == 18
    p = plan(_dn(finding("data_validation", "UserPrincipalName", BAD_UPN,
                         onprem={"userPrincipalName": BAD_UPN, "sAMAccountName": "miarem"})),
             _dn(finding("large_attribute", "userCertificate", "18", category="LargeObject",
                         onprem={"userCertificate": eighteen})))
    assert [s.kind for s in p.steps] == [StepKind.SET_USER_PRINCIPAL_NAME, StepKind.REMOVE_ATTRIBUTE_VALUE]
    path = tmp_path / "plan.json"
    write_plan(path, p)
    with Store(tmp_path / "r.db") as store:
        journal = Journal(store)
        journal.record_plan(p.fingerprint, p.tenant, None, len(p.steps))
        report = run(path, journal)
        assert [o.status for o in report.outcomes] == ["done", "done"], report.outcomes
        after = state(ad)
        assert after["upn"] == ["miamuller@plan.test"]
        import base64

        left = {base64.b64encode(c).decode() for c in after["certs"]}
        assert len(left) == 15 and eighteen[0] not in left and eighteen[1] not in left  # expired ones gone
        assert eighteen[2] not in left and eighteen[-1] in left  # then the oldest valid one
        undone = run(path, journal, undo=True, run_id=report.run_id)
        assert [o.status for o in undone.outcomes] == ["done", "done"]
        assert state(ad) == before  # the removed certificates are back, byte for byte


def test_a_certificate_already_gone_is_drift_and_nothing_is_removed(ad, eighteen, tmp_path) -> None:
    import base64

    import ldap3

    from reconciler.core.errors import DriftDetected

    p = plan(_dn(finding("large_attribute", "userCertificate", "18", category="LargeObject",
                         onprem={"userCertificate": eighteen})))
    (step,) = p.steps
    ad.modify(MIA, {"userCertificate": [(ldap3.MODIFY_DELETE, [base64.b64decode(eighteen[0])])]})  # someone else
    before = state(ad)
    path = tmp_path / "plan.json"
    write_plan(path, p)
    with Store(tmp_path / "r.db") as store:
        journal = Journal(store)
        journal.record_plan(p.fingerprint, p.tenant, None, len(p.steps))
        with pytest.raises(DriftDetected, match=step.id) as e:
            run(path, journal)
        assert "no longer contains" in e.value.report.outcomes[0].detail  # the certificate, not a guard
    assert state(ad) == before  # the other stale certificate was not removed either
