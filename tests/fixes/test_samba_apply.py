"""ldap plan steps applied, resumed and undone on a real Samba AD DC (skipped unless .ci/run started Samba)."""

from __future__ import annotations

import asyncio
import base64

import pytest

from reconciler.core.errors import DriftDetected
from reconciler.fixes.apply import ApplyOptions, apply_plan, undo_run
from reconciler.fixes.journal import Journal
from reconciler.fixes.steps import Executor, Step, StepKind
from reconciler.fixes.writers.ldap import LdapStepWriter
from reconciler.fixes.writers.ldapconn import LdapWriter
from reconciler.history.store import Store
from reconciler.sources.ldap import LdapSettings
from tests.sources.ldap import forest
from tests.sources.ldap.conftest import samba  # noqa: F401  (fixture)

from .emu import load, save_plan

pytestmark = pytest.mark.ldap
OU = f"OU=Plan Tests,{forest.BASE_DN}"
PRIYA = f"CN=Priya Plan,{OU}"
ANCHOR = "1wfM9xV8fUSHbcAbDlqeOA=="


@pytest.fixture
def ad(samba):  # noqa: F811
    with forest.admin_connection() as conn:
        forest.delete_tree(conn, OU)
        forest.ensure_ou(conn, OU)
        forest.add_user(conn, PRIYA, sam="pplan", upn="priya@plan.test",
                        proxies=["SMTP:priya.raman@plan.test", "smtp:priya@plan.test"])
        yield conn
        forest.delete_tree(conn, OU)


def state(conn, attrs=("userPrincipalName", "proxyAddresses", "mS-DS-ConsistencyGuid")):
    conn.search(PRIYA, "(objectClass=*)", "BASE", attributes=list(attrs))
    raw = conn.response[0]["raw_attributes"]
    return {a: sorted(raw.get(a, [])) for a in attrs}


def steps() -> list[Step]:
    t = {"type": "onprem", "dn": PRIYA}
    return [Step(id="s1", kind=StepKind.REMOVE_PROXY_ADDRESS, executor=Executor.LDAP, target=t,
                 expect={"proxyAddresses": ["smtp:priya@plan.test"]},
                 change={"proxyAddresses": {"remove": ["smtp:priya@plan.test"]}},
                 undo={"proxyAddresses": {"add": ["smtp:priya@plan.test"]}}),
            Step(id="s2", kind=StepKind.SET_USER_PRINCIPAL_NAME, executor=Executor.LDAP, target=t,
                 expect={"userPrincipalName": "priya@plan.test", "sAMAccountName": "pplan"},
                 change={"userPrincipalName": "pplan@plan.test"}, undo={"userPrincipalName": "priya@plan.test"}),
            Step(id="s3", kind=StepKind.SET_CONSISTENCY_GUID, executor=Executor.LDAP, target=t, after=("s1",),
                 expect={"mS-DS-ConsistencyGuid": None}, change={"mS-DS-ConsistencyGuid": ANCHOR},
                 undo={"mS-DS-ConsistencyGuid": None})]


def run_apply(path, journal, **kw):
    async def go():
        with LdapWriter.connect(LdapSettings.from_url("ldaps://127.0.0.1", bind_dn=forest.ADMIN_DN,
                                                      password=forest.ADMIN_PASSWORD,
                                                      ca_file=forest.ca_file())) as w:
            if kw.pop("undo", False):
                return await undo_run(journal, {Executor.LDAP: LdapStepWriter(w)}, kw.get("run"), doit=True)
            return await apply_plan(load(path), journal, {Executor.LDAP: LdapStepWriter(w)}, ApplyOptions(**kw))
    return asyncio.run(go())


def test_ldap_steps_dry_run_apply_undo_on_samba(ad, tmp_path):
    original = state(ad)
    with Store(tmp_path / "r.db") as store:
        journal = Journal(store)
        path = save_plan(tmp_path, steps(), journal)
        dry = run_apply(path, journal)
        assert [o.status for o in dry.outcomes] == ["would_run", "would_run", "planned"]
        assert state(ad) == original
        report = run_apply(path, journal, doit=True)
        assert [o.status for o in report.outcomes] == ["done", "done", "done"]
        now = state(ad)
        assert now["proxyAddresses"] == [b"SMTP:priya.raman@plan.test"]
        assert now["userPrincipalName"] == [b"pplan@plan.test"]
        assert now["mS-DS-ConsistencyGuid"] == [base64.b64decode(ANCHOR)]
        undo = run_apply(path, journal, undo=True, run=report.run_id)
        assert [o.status for o in undo.outcomes] == ["done", "done", "done"]
        assert state(ad) == original


def test_ldap_drift_is_skipped_on_samba(ad, tmp_path):
    import ldap3

    ad.modify(PRIYA, {"proxyAddresses": [(ldap3.MODIFY_DELETE, [b"smtp:priya@plan.test"])]})
    with Store(tmp_path / "r.db") as store:
        journal = Journal(store)
        path = save_plan(tmp_path, steps(), journal)
        with pytest.raises(DriftDetected, match="s1"):
            run_apply(path, journal, doit=True)
        report = run_apply(path, journal, doit=True, skip_drift=True)
        assert {o.step: o.status for o in report.outcomes} == {"s1": "drift", "s2": "done", "s3": "skipped"}
        assert state(ad)["mS-DS-ConsistencyGuid"] == []
