"""Property (hypothesis, over the hazard generator): plan a generated tenant, grant a role to one account a graph
step will write (directly, through a role-assignable group, PIM-eligible, AU-scoped, custom, directoryRoles), then
apply --doit: the emulator's request log shows no write of any kind to that account."""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.fixes.apply import ApplyOptions, apply_plan
from reconciler.fixes.journal import Journal
from reconciler.fixes.planfile import read_plan, write_plan
from reconciler.fixes.planner import PlanOptions
from reconciler.fixes.steps import EXTERNAL, Executor
from reconciler.history.store import Store
from tests.fixes.emu import Emu

from .hazards import random_tenant

GRANTS = ("direct", "group", "eligible", "eligible_group", "directoryRoles", "au", "custom")
MEMBERSHIP = {"group", "eligible_group", "directoryRoles"}  # not listable for a recycle-bin object


def _apply(tmp: Path, emu: Emu, plan) -> object:  # noqa: ANN001
    path = tmp / "plan.json"
    write_plan(path, plan)
    with Store(tmp / "r.db") as store:
        journal = Journal(store)
        journal.record_plan(plan.fingerprint, plan.tenant, None, len(plan.steps))
        confirm = tuple(s.id for s in plan.steps if s.executor in EXTERNAL)  # the admin ran every script
        opts = ApplyOptions(doit=True, force=True, skip_drift=True, confirm=confirm, tenant_id=plan.tenant)
        return asyncio.run(apply_plan(read_plan(path), journal, {Executor.GRAPH: emu.writer()}, opts))


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seed=st.integers(0, 2**32 - 1), pick=st.integers(0, 10**6), how=st.sampled_from(GRANTS))
def test_prop_apply_after_a_random_role_grant_writes_nothing_to_that_account(seed, pick, how):
    t = random_tenant(seed)
    t.doc.setdefault("roleEligibilitySchedules", [])  # readable, else every write is refused and this proves little
    plan = t.plan(PlanOptions(allow_purge=True, assume_flags=True))
    targets = sorted({str(s.target["id"]) for s in plan.steps if s.executor is Executor.GRAPH and s.target
                      and s.target.get("id")})
    if not targets:
        return
    target = targets[pick % len(targets)]
    deleted = any(o["id"] == target for k in ("deletedUsers", "deletedGroups") for o in t.doc.get(k) or ())
    if deleted and how in MEMBERSHIP:
        how = "direct"
    t.grant(target, how, random.Random(seed))  # after planning, before apply
    emu = Emu(t.doc)
    with tempfile.TemporaryDirectory() as d:
        report = _apply(Path(d), emu, plan)
    assert [w for w in emu.writes() if target in w["path"]] == [], (how, target)
    on_target = [o for o in report.outcomes if any(s.id == o.step and s.target and s.target.get("id") == target
                                                   for s in plan.steps)]
    assert all(o.status != "done" for o in on_target), on_target
