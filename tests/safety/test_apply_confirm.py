"""Class 8 "confirming what never ran": --confirm takes only powershell and manual ids (and ldap steps applied from
the emitted LDIF, read back when --ldap is given); a graph id is exit 2 naming it, before anything runs, and
dependants never run on a false confirm."""

from __future__ import annotations

import pytest

from reconciler.core.errors import UsageError
from reconciler.fixes.journal import Journal
from reconciler.fixes.steps import Executor, Step, StepKind
from reconciler.history.store import Store
from tests.fixes.emu import Emu, load, save_plan, stamp, tenant_doc
from tests.fixes.test_cli import invoke

from .conftest import apply_emu, run

PAUSE = Step(id="s1", kind=StepKind.PAUSE_SYNC_SCHEDULER, executor=Executor.POWERSHELL,
             target={"type": "onprem", "dn": None}, change={"params": {}}, undo={"params": {}})


def test_class8_confirming_a_graph_step_is_exit_2_and_nothing_runs(tmp_path, journal):
    emu = Emu(tenant_doc(2))
    path = save_plan(tmp_path, [PAUSE, stamp(0, ("s1",), sid="s2"), stamp(1, ("s2",), sid="s3")], journal)
    with pytest.raises(UsageError) as e:
        run(apply_emu(emu, path, journal, doit=True, confirm=("s1", "s2")))
    assert e.value.exit_code == 2 and "s2" in str(e.value) and "graph steps are run by the tool" in str(e.value)
    assert emu.writes() == []
    assert journal.count(load(path).plan.fingerprint, action="confirm") == {}  # not even s1 was recorded
    assert journal.store.conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 0


def test_class8_cli_graph_id_without_any_cloud_source_is_exit_2(tmp_path):
    db = tmp_path / "r.db"
    with Store(db) as s:
        path = save_plan(tmp_path, [PAUSE, stamp(0, ("s1",), sid="s2")], Journal(s))
    r = invoke("apply", path, "--db", db, "--doit", "--confirm", "s2")
    assert r.exit_code == 2 and "--confirm s2" in r.output and "Traceback" not in r.output
    r = invoke("apply", path, "--db", db, "--doit", "--confirm", "s9")
    assert r.exit_code == 2 and "s9" in r.output
    r = invoke("apply", path, "--db", db, "--doit", "--confirm", "")  # an empty id (a shell variable left unset)
    assert r.exit_code == 2 and "not in the plan: ''" in r.output


def test_class8_dependants_wait_for_a_real_confirmation(tmp_path, journal):
    emu = Emu(tenant_doc(1))
    path = save_plan(tmp_path, [PAUSE, stamp(0, ("s1",), sid="s2")], journal)
    r1 = run(apply_emu(emu, path, journal, doit=True))
    assert [o.status for o in r1.outcomes] == ["waiting", "waiting"] and emu.writes() == []
    r2 = run(apply_emu(emu, path, journal, doit=True, confirm=("s1",)))
    assert [o.status for o in r2.outcomes] == ["confirmed", "done"]
    assert emu.get("/users/c-0")["onPremisesImmutableId"] == "NEW0=="


def test_a_dry_run_shows_the_first_plan_warnings_and_doit_shows_them_all_before_writing(tmp_path):
    """A large plan's warnings pushed the step table off the screen on every dry run; --doit still prints every
    one of them before its first write."""
    from dataclasses import replace

    from reconciler.fixes.apply import DRY_RUN_WARNINGS
    from reconciler.fixes.planfile import write_plan

    db = tmp_path / "r.db"
    with Store(db) as s:
        path = save_plan(tmp_path, [PAUSE], None)
        plan = replace(load(path).plan, warnings=tuple(f"finding f{i}: reported only" for i in range(25)))
        write_plan(path, plan)
        Journal(s).record_plan(plan.fingerprint, plan.tenant, None, 1)
    dry = invoke("apply", path, "--db", db)
    assert dry.exit_code == 0, dry.output
    shown = [line for line in dry.output.splitlines() if "plan warning: finding" in line]
    assert len(shown) == DRY_RUN_WARNINGS and f"and {25 - DRY_RUN_WARNINGS} more" in dry.output
    assert dry.output.index("plan warning") < dry.output.index("s1")
    doit = invoke("apply", path, "--db", db, "--doit")
    assert sum("plan warning: finding" in line for line in doit.output.splitlines()) == 25
