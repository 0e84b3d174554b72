"""Planner properties over generated tenants with planted hazards (tests/safety/hazards.py).

For every seed and every option combination: ``plan`` does not crash; no two steps of different findings
change one attribute of one object (and steps of one finding on one object are ordered); no write of any
kind is planned onto a role holder (any path) or an external account, including on-prem writes whose sync
would carry the change to such an account; nothing is purged that is licensed or may hold a mailbox unless
``--allow-purge``. The ground truth comes from the generator, not from the code under test.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.fixes.planner import Plan, PlanOptions
from reconciler.fixes.steps import Executor, StepKind

from .hazards import Tenant, random_tenant

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
OPTIONS = st.builds(PlanOptions, allow_reanchor=st.booleans(), assume_flags=st.booleans(),
                    prefer_restore=st.booleans(), allow_purge=st.booleans())
WHOLE = {StepKind.DELETE_OBJECT, StepKind.PURGE_DELETED, StepKind.RESTORE_DELETED, StepKind.REMOVE_SYNCED_OBJECT}


def touched(step) -> list[tuple[str, str]]:
    """(object, attribute) a step changes, judged from the step alone."""
    t = step.target or {}
    if t.get("type") == "onprem":
        obj = ("dn", str(t.get("dn") or "").casefold())
        if not t.get("dn"):
            return []
    elif t.get("id"):
        obj = ("id", str(t["id"]).casefold())
    else:
        return []
    if step.kind in WHOLE:
        return [(obj[1], "*")]
    if step.executor is Executor.POWERSHELL:
        return [(obj[1], "proxyaddresses")]
    return [(obj[1], k.casefold()) for k in step.change]


def ancestors(plan: Plan) -> dict[str, set[str]]:
    by_id = {s.id: s for s in plan.steps}
    memo: dict[str, set[str]] = {}

    def up(sid: str) -> set[str]:
        if sid not in memo:
            memo[sid] = set()
            for a in by_id[sid].after:
                memo[sid] |= {a} | up(a)
        return memo[sid]
    return {s.id: up(s.id) for s in plan.steps}


def cloud_ids_written(t: Tenant, plan: Plan) -> set[str]:
    """Every cloud object a step writes, directly or (on-prem steps) through the next sync."""
    anchors = {u.get("onPremisesImmutableId"): u["id"] for u in t.doc["users"] if u.get("onPremisesImmutableId")}
    out = set()
    for s in plan.steps:
        tgt = s.target or {}
        if tgt.get("id"):
            out.add(str(tgt["id"]))
        if tgt.get("type") == "onprem" and tgt.get("dn"):
            linked = t.onprem_of.get(str(tgt["dn"]).casefold())
            if linked:
                out.add(linked)
            if s.kind is StepKind.SET_CONSISTENCY_GUID:  # the source takes over the account with this anchor
                out.add(anchors.get(s.change.get("mS-DS-ConsistencyGuid"), ""))
    out.discard("")
    return out


def check(t: Tenant, opts: PlanOptions) -> Plan:
    plan = t.plan(opts)  # property 1: never raises
    # property 2: one target, one change
    seen: dict[tuple[str, str], tuple[str | None, str]] = {}
    up = ancestors(plan)
    for s in plan.steps:
        for obj, attr in touched(s):
            for (o2, a2), (f2, sid2) in seen.items():
                if o2 == obj and (a2 == attr or "*" in (a2, attr)):
                    assert f2 == s.finding, f"{s.id} and {sid2} of findings {s.finding}/{f2} both change {obj} {attr}"
                    assert sid2 in up[s.id], f"{s.id} and {sid2} change {obj} {attr} unordered"
            seen[(obj, attr)] = (s.finding, s.id)
    # property 3: no write of any kind onto a role holder or an external account
    written = cloud_ids_written(t, plan)
    assert not written & t.role_holders, (t.hazards, written & t.role_holders)
    assert not written & t.external, (t.hazards, written & t.external)
    # property 4: no purge of a licensed / mailbox-holding object without --allow-purge
    if not opts.allow_purge:
        purged = {str(s.target["id"]) for s in plan.steps if s.kind is StepKind.PURGE_DELETED}
        assert not purged & t.valuable, (t.hazards, purged & t.valuable)
    # every refusal names a guard and says why; every finding is accounted for once at most per guard
    assert all(r.guard and r.reason for r in plan.refusals)
    return plan


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), opts=OPTIONS)
def test_prop_plan_invariants_hold_on_hazardous_tenants(seed, opts):
    check(random_tenant(seed), opts)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_prop_plan_invariants_hold_with_every_permission_granted(seed):
    """--allow-purge --allow-reanchor --assume-flags --prefer restore: the guards alone must hold the line."""
    check(random_tenant(seed, n=10), PlanOptions(allow_reanchor=True, assume_flags=True, prefer_restore=True,
                                                 allow_purge=True))


def test_prop_generator_plants_what_it_claims():
    """The generator is not vacuous: over a few seeds the hazards yield refusals of each kind and real steps."""
    guards: set[str] = set()
    kinds: set[StepKind] = set()
    for seed in range(60):
        p = random_tenant(seed).plan(PlanOptions(allow_purge=True))
        guards |= {r.guard for r in p.refusals}
        kinds |= {s.kind for s in p.steps}
    assert {"holder_has_role", "holder_eligible_for_role", "external_account", "ambiguous_target",
            "names_disagree", "keep_undecided", "coverage_unknown", "no_anchor"} <= guards
    assert {StepKind.SET_IMMUTABLE_ID, StepKind.PURGE_DELETED, StepKind.REMOVE_SYNCED_OBJECT} <= kinds
