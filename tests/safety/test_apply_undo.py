"""Class 7 "undo that does not restore": every reversible write records the target's before-values read just before
it; set_consistency_guid undo puts the previous GUID back (not clearing it); an ldap step applied from the emitted
LDIF and confirmed is read back when --ldap is given (else it is not undone); undo after a crash treats an intent
without an outcome as resume does. Before-values are read back equal. A Samba variant runs with
RECONCILER_TEST_LDAP=1."""

from __future__ import annotations

import base64
import copy
import os
from typing import Any

import pytest

from reconciler.fixes.apply import ApplyOptions, apply_plan, undo_run
from reconciler.fixes.emit import emit_ldif
from reconciler.fixes.planfile import read_ldif_changes
from reconciler.fixes.steps import Executor, Step, StepKind
from tests.fixes.emu import Emu, load, rename, save_plan, stamp, tenant_doc
from tests.fixes.fakes import FakeLdap, KillAfter, Killed

from .conftest import apply_emu, run

DN = "CN=Lena Fischer,OU=Staff,DC=corp,DC=contoso,DC=com"
OLD = base64.b64encode(bytes(range(16))).decode()
NEW = base64.b64encode(bytes(range(16, 32))).decode()


def directory() -> dict[str, dict[str, Any]]:
    return {DN: {"objectGUID": "5b0ea9f1-1111-4c2b-9c3e-0123456789ab", "mS-DS-ConsistencyGuid": OLD,
                 "userPrincipalName": "lena@contoso.com", "proxyAddresses": ["SMTP:lena@contoso.com",
                                                                            "smtp:lf@contoso.com"]}}


def guid_step(plan_undo: Any = None) -> Step:
    """The shape that lost the value before: the plan's own undo says "clear" (None)."""
    return Step(id="s1", kind=StepKind.SET_CONSISTENCY_GUID, executor=Executor.LDAP, target={"type": "onprem", "dn": DN},
                expect={"objectGUID": "5b0ea9f1-1111-4c2b-9c3e-0123456789ab", "mS-DS-ConsistencyGuid": OLD},
                change={"mS-DS-ConsistencyGuid": NEW}, undo={"mS-DS-ConsistencyGuid": plan_undo})


def proxy_step() -> Step:
    return Step(id="s2", kind=StepKind.REMOVE_PROXY_ADDRESS, executor=Executor.LDAP, target={"type": "onprem", "dn": DN},
                expect={"proxyAddresses": ["smtp:lf@contoso.com"]},
                change={"proxyAddresses": {"remove": ["smtp:lf@contoso.com"]}},
                undo={"proxyAddresses": {"add": ["smtp:lf@contoso.com"]}})


async def _apply(path: Any, journal: Any, writers: dict[Executor, Any], **kw: Any) -> Any:
    return await apply_plan(load(path), journal, writers, ApplyOptions(**kw))


def test_class7_set_consistency_guid_undo_restores_the_previous_value_not_clearing(tmp_path, journal):
    ldap = FakeLdap(directory())
    before = copy.deepcopy(ldap.entries)
    path = save_plan(tmp_path, [guid_step(None), proxy_step()], journal)
    report = run(_apply(path, journal, {Executor.LDAP: ldap}, doit=True))
    assert report.count("done") == 2 and ldap.entries[DN]["mS-DS-ConsistencyGuid"] == NEW
    undo = run(undo_run(journal, {Executor.LDAP: ldap}, report.run_id, doit=True))
    assert {o.step: o.status for o in undo.outcomes} == {"s1": "done", "s2": "done"}
    assert ldap.entries[DN]["mS-DS-ConsistencyGuid"] == OLD  # read back equal: the previous GUID, not empty
    assert sorted(ldap.entries[DN]["proxyAddresses"]) == sorted(before[DN]["proxyAddresses"])


def _admin_runs_ldif(ldap: FakeLdap, text: str) -> None:
    """What ldifde/ldapmodify does with our change file, including its refusal when a deleted value is absent."""
    for dn, mods in read_ldif_changes(text.encode()):
        entry = copy.deepcopy(ldap.entries[dn])
        for op, attr, values in mods:
            vals = [base64.b64encode(v).decode() if attr.lower() == "ms-ds-consistencyguid" else v.decode()
                    for v in values]
            have = entry.get(attr)
            if isinstance(have, list):
                for v in vals:
                    if op == "delete":
                        have.remove(v)
                    elif op == "add":
                        have.append(v)
            elif op == "delete":
                assert have == vals[0], "noSuchAttribute: the LDIF guard refuses a value that is not there"
                entry[attr] = None
            elif op in ("add", "replace"):
                assert op == "replace" or entry.get(attr) is None, "attributeOrValueExists"
                entry[attr] = vals[0] if vals else None
        ldap.entries[dn] = entry


def test_class7_ldif_step_confirmed_with_a_source_is_read_back_and_undone_exactly(tmp_path, journal):
    ldap = FakeLdap(directory())
    before = copy.deepcopy(ldap.entries)
    path = save_plan(tmp_path, [guid_step(None)], journal)
    first = run(_apply(path, journal, {}, doit=True))  # no --ldap: the step is written to an LDIF file
    assert [s.id for s in first.external] == ["s1"]
    text = emit_ldif(first.external)
    assert f"delete: mS-DS-ConsistencyGuid\nmS-DS-ConsistencyGuid:: {OLD}" in text  # guarded: only over OLD
    _admin_runs_ldif(ldap, text)
    second = run(_apply(path, journal, {Executor.LDAP: ldap}, doit=True, confirm=("s1",)))
    assert second.outcomes[0].status == "confirmed" and "read back" in second.outcomes[0].detail
    undo = run(undo_run(journal, {Executor.LDAP: ldap}, None, doit=True))
    assert [o.status for o in undo.outcomes] == ["done"]
    assert ldap.entries == before  # before-values read back equal


def test_class7_ldif_step_confirmed_without_a_source_is_not_undone(tmp_path, journal):
    ldap = FakeLdap(directory())
    path = save_plan(tmp_path, [guid_step(None)], journal)
    first = run(_apply(path, journal, {}, doit=True))
    _admin_runs_ldif(ldap, emit_ldif(first.external))
    after = copy.deepcopy(ldap.entries)
    second = run(_apply(path, journal, {}, doit=True, confirm=("s1",)))
    assert second.outcomes[0].status == "confirmed" and "cannot be undone" in second.outcomes[0].detail
    undo = run(undo_run(journal, {Executor.LDAP: ldap}, None, doit=True))
    assert [o.status for o in undo.outcomes] == ["irreversible"] and "without reading it back" in undo.outcomes[0].detail
    assert ldap.entries == after  # nothing cleared


def test_class7_confirming_an_ldif_step_that_was_not_applied_is_refused(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    ldap = FakeLdap(directory())
    path = save_plan(tmp_path, [guid_step(None), stamp(0, ("s1",))], journal)
    run(_apply(path, journal, {Executor.GRAPH: emu.writer()}, doit=True, tenant_id="t-0001"))
    from reconciler.core.errors import DriftDetected
    with pytest.raises(DriftDetected) as e:  # the admin says it ran, the directory says it did not
        run(_apply(path, journal, {Executor.GRAPH: emu.writer(), Executor.LDAP: ldap}, doit=True,
                   tenant_id="t-0001", confirm=("s1",)))
    by = {o.step: o for o in e.value.report.outcomes}
    assert by["s1"].status == "drift" and "does not show the change" in by["s1"].detail
    assert by["s0-stamp"].status == "skipped" and emu.writes() == []  # the dependant never ran


@pytest.mark.parametrize("before_write", [False, True], ids=["died-after-send", "died-before-send"])
def test_class7_undo_after_a_crash_treats_the_open_intent_as_resume_does(tmp_path, journal, before_write):
    emu = Emu(tenant_doc(3))
    original = {i: emu.get(f"/users/c-{i}") for i in range(3)}
    path = save_plan(tmp_path, [stamp(0), rename(1), stamp(2)], journal)
    with pytest.raises(Killed):  # s0 and s1 done; s2 journaled as intent, then the process died
        run(apply_emu(emu, path, journal, {Executor.GRAPH: KillAfter(emu.writer(), 2, before_write=before_write)},
                      doit=True, concurrency=1))
    sent = len(emu.writes())
    assert sent == (2 if before_write else 3)
    undo = run(undo_run(journal, {Executor.GRAPH: emu.writer()}, None, doit=True))
    by = {o.step: o for o in undo.outcomes}
    assert by["s0-stamp"].status == "done" and by["s1-upn"].status == "done"
    if before_write:
        assert by["s2-stamp"].status == "skipped" and "nothing to undo" in by["s2-stamp"].detail
    else:
        assert by["s2-stamp"].status == "done"  # the write did land: it is undone too
    for i in range(3):
        assert emu.get(f"/users/c-{i}") == original[i]  # before-values read back equal


@pytest.mark.skipif(os.environ.get("RECONCILER_TEST_LDAP") != "1", reason="needs the Samba AD DC (RECONCILER_TEST_LDAP=1)")
def test_class7_samba_consistency_guid_undo_restores_the_previous_value(tmp_path, journal):
    import ldap3

    from reconciler.fixes.writers.ldap import LdapStepWriter
    from reconciler.fixes.writers.ldapconn import LdapWriter
    from reconciler.sources.ldap import LdapSettings
    from tests.sources.ldap import forest

    ou = f"OU=Undo Tests,{forest.BASE_DN}"
    dn = f"CN=Undo Guid,{ou}"
    with forest.admin_connection() as conn:
        forest.delete_tree(conn, ou)
        forest.ensure_ou(conn, ou)
        forest.add_user(conn, dn, sam="uguid", upn="uguid@plan.test", proxies=["SMTP:uguid@plan.test"])
        conn.modify(dn, {"mS-DS-ConsistencyGuid": [(ldap3.MODIFY_REPLACE, [base64.b64decode(OLD)])]})
        try:
            step = Step(id="s1", kind=StepKind.SET_CONSISTENCY_GUID, executor=Executor.LDAP,
                        target={"type": "onprem", "dn": dn}, expect={"mS-DS-ConsistencyGuid": OLD},
                        change={"mS-DS-ConsistencyGuid": NEW}, undo={"mS-DS-ConsistencyGuid": None})
            path = save_plan(tmp_path, [step], journal)

            async def go(undo: bool = False, run_id: str | None = None) -> Any:
                with LdapWriter.connect(LdapSettings.from_url("ldaps://127.0.0.1", bind_dn=forest.ADMIN_DN,
                                                              password=forest.ADMIN_PASSWORD,
                                                              ca_file=forest.ca_file())) as w:
                    if undo:
                        return await undo_run(journal, {Executor.LDAP: LdapStepWriter(w)}, run_id, doit=True)
                    return await apply_plan(load(path), journal, {Executor.LDAP: LdapStepWriter(w)},
                                            ApplyOptions(doit=True))

            report = run(go())
            assert report.count("done") == 1
            run(go(undo=True, run_id=report.run_id))
            conn.search(dn, "(objectClass=*)", "BASE", attributes=["mS-DS-ConsistencyGuid"])
            assert conn.response[0]["raw_attributes"]["mS-DS-ConsistencyGuid"] == [base64.b64decode(OLD)]
        finally:
            forest.delete_tree(conn, ou)


def test_class1_onprem_change_reaching_a_new_admin_is_refused_at_apply(tmp_path, journal):
    """An ldap step names the cloud object its next sync changes (target.cloud_id): that object is re-read and
    guarded at apply like a direct write; without a cloud source the step is refused, never run blind."""
    from reconciler.core.errors import DriftDetected

    from .conftest import GRANTS

    emu = Emu(tenant_doc(1))
    ldap = FakeLdap(directory())
    before = copy.deepcopy(ldap.entries)
    step = Step(**{**proxy_step().__dict__, "target": {"type": "onprem", "dn": DN, "cloud_id": "c-0"}})
    path = save_plan(tmp_path, [step], journal)
    with pytest.raises(DriftDetected) as e:
        run(_apply(path, journal, {Executor.LDAP: ldap}, doit=True))
    assert "pass the cloud source" in e.value.report.outcomes[0].detail
    GRANTS["role_assignable_group"](emu, "c-0")
    with pytest.raises(DriftDetected) as e:
        run(_apply(path, journal, {Executor.LDAP: ldap, Executor.GRAPH: emu.writer()}, doit=True, tenant_id="t-0001"))
    assert "guard holder_has_role" in e.value.report.outcomes[0].detail
    assert ldap.entries == before and emu.writes() == []


def _ldapmodify(conn: Any, text: str) -> list[int]:
    """Send each LDIF change record as one modify, as ldapmodify/ldifde do; the result codes."""
    import ldap3

    ops = {"add": ldap3.MODIFY_ADD, "delete": ldap3.MODIFY_DELETE, "replace": ldap3.MODIFY_REPLACE}
    codes = []
    for dn, mods in read_ldif_changes(text.encode()):
        changes: dict[str, list[Any]] = {}
        for op, attr, values in mods:
            changes.setdefault(attr, []).append((ops[op], values))
        conn.modify(dn, changes)
        codes.append(conn.result["result"])
    return codes


@pytest.mark.skipif(os.environ.get("RECONCILER_TEST_LDAP") != "1", reason="needs the Samba AD DC (RECONCILER_TEST_LDAP=1)")
def test_class7_samba_ldif_step_confirmed_with_ldap_is_undone_exactly_and_the_guard_refuses_a_changed_value(
        tmp_path, journal):
    import ldap3

    from reconciler.fixes.writers.ldap import LdapStepWriter
    from reconciler.fixes.writers.ldapconn import LdapWriter
    from reconciler.sources.ldap import LdapSettings
    from tests.sources.ldap import forest

    ou = f"OU=Ldif Tests,{forest.BASE_DN}"
    dn = f"CN=Ldif Guid,{ou}"
    with forest.admin_connection() as conn:
        forest.delete_tree(conn, ou)
        forest.ensure_ou(conn, ou)
        forest.add_user(conn, dn, sam="lguid", upn="lguid@plan.test", proxies=["SMTP:lguid@plan.test"])
        conn.modify(dn, {"mS-DS-ConsistencyGuid": [(ldap3.MODIFY_REPLACE, [base64.b64decode(OLD)])]})

        def guid() -> list[bytes]:
            conn.search(dn, "(objectClass=*)", "BASE", attributes=["mS-DS-ConsistencyGuid"])
            return conn.response[0]["raw_attributes"].get("mS-DS-ConsistencyGuid", [])

        try:
            step = Step(id="s1", kind=StepKind.SET_CONSISTENCY_GUID, executor=Executor.LDAP,
                        target={"type": "onprem", "dn": dn}, expect={"mS-DS-ConsistencyGuid": OLD},
                        change={"mS-DS-ConsistencyGuid": NEW}, undo={"mS-DS-ConsistencyGuid": None})
            path = save_plan(tmp_path, [step], journal)
            first = run(_apply(path, journal, {}, doit=True))  # no --ldap: written to an LDIF file
            text = emit_ldif(first.external)
            other = base64.b64encode(bytes(range(32, 48))).decode()
            conn.modify(dn, {"mS-DS-ConsistencyGuid": [(ldap3.MODIFY_REPLACE, [base64.b64decode(other)])]})
            assert _ldapmodify(conn, text) != [0] and guid() == [base64.b64decode(other)]  # AD refused the swap
            conn.modify(dn, {"mS-DS-ConsistencyGuid": [(ldap3.MODIFY_REPLACE, [base64.b64decode(OLD)])]})
            assert _ldapmodify(conn, text) == [0] and guid() == [base64.b64decode(NEW)]

            async def with_ldap(**kw: Any) -> Any:
                with LdapWriter.connect(LdapSettings.from_url("ldaps://127.0.0.1", bind_dn=forest.ADMIN_DN,
                                                              password=forest.ADMIN_PASSWORD,
                                                              ca_file=forest.ca_file())) as w:
                    if kw.pop("undo", False):
                        return await undo_run(journal, {Executor.LDAP: LdapStepWriter(w)}, None, doit=True)
                    return await apply_plan(load(path), journal, {Executor.LDAP: LdapStepWriter(w)},
                                            ApplyOptions(**kw))

            confirmed = run(with_ldap(doit=True, confirm=("s1",)))
            assert confirmed.outcomes[0].status == "confirmed" and "read back" in confirmed.outcomes[0].detail
            undo = run(with_ldap(undo=True))
            assert [o.status for o in undo.outcomes] == ["done"]
            assert guid() == [base64.b64decode(OLD)]  # the previous GUID, read back from AD
        finally:
            forest.delete_tree(conn, ou)
