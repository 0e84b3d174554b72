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

from reconciler.core.model import Scenario
from reconciler.fixes.planner import Plan, PlanOptions
from reconciler.fixes.steps import Executor, StepKind, check_step

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


def check(t: Tenant, opts: PlanOptions, plan: Plan | None = None) -> Plan:
    plan = plan or t.plan(opts)  # property 1: never raises
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
    # property 3b: an on-prem step names the cloud account its next sync reaches, so apply guards it too
    anchors = {u.get("onPremisesImmutableId"): u["id"] for u in t.doc["users"] if u.get("onPremisesImmutableId")}
    for s in plan.steps:
        tgt = s.target or {}
        if s.executor is Executor.LDAP:
            reach = anchors.get(s.change.get("mS-DS-ConsistencyGuid")) if s.kind is StepKind.SET_CONSISTENCY_GUID \
                else t.onprem_of.get(str(tgt.get("dn")).casefold())
            assert reach is None or tgt.get("cloud_id") == reach, (s.data, reach)
    # property 4: no purge of a licensed / mailbox-holding object without --allow-purge
    if not opts.allow_purge:
        purged = {str(s.target["id"]) for s in plan.steps if s.kind is StepKind.PURGE_DELETED}
        assert not purged & t.valuable, (t.hazards, purged & t.valuable)
    # every refusal names a guard and says why; every step passes the table apply checks plans against
    assert all(r.guard and r.reason for r in plan.refusals)
    assert [(s.id, check_step(s)) for s in plan.steps if check_step(s)] == []
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


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), opts=OPTIONS, pick=st.integers(0, 10**6),
       scenario=st.sampled_from([s.value for s in Scenario]))
def test_prop_plan_invariants_hold_whatever_the_scenario_label_says(seed, opts, pick, scenario):
    """A finding classified wrongly (an old run, a matcher bug) still meets the guards of its targets: every
    remedy, the non-duplicate ones included, refuses role holders, external accounts and unconsented purges."""
    from reconciler.fixes.planner import context_from_snapshot, make_plan

    t = random_tenant(seed)
    snap, findings, details = t.scan()
    if findings:
        findings[pick % len(findings)]["scenario"] = scenario
    check(t, opts, make_plan(findings, details, context_from_snapshot(snap), opts))


def test_prop_generator_plants_what_it_claims():
    """The generator is not vacuous: over a few seeds the hazards yield refusals of each kind and real steps."""
    guards: set[str] = set()
    kinds: set[StepKind] = set()
    for seed in range(60):
        p = random_tenant(seed).plan(PlanOptions(allow_purge=True))
        guards |= {r.guard for r in p.refusals}
        kinds |= {s.kind for s in p.steps}
    assert {"holder_has_role", "holder_eligible_for_role", "external_account", "ambiguous_target",
            "names_disagree", "keep_undecided", "no_anchor"} <= guards
    assert {"coverage_unknown", "holder_unverified"} & guards  # unprovable orphans (anchorless / truncated)
    assert {StepKind.SET_IMMUTABLE_ID, StepKind.PURGE_DELETED, StepKind.REMOVE_SYNCED_OBJECT} <= kinds


JUNK = st.sampled_from([None, "", 0, -1, True, [], {}, [None], {"id": None}, "x" * 3000, "#EXT#", "\n\x00"])


def _paths(value, prefix=()):
    """Every (path) into a JSON value, so one of them can be damaged."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _damage(doc, path, junk, delete):
    if not path:
        return junk
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    return doc


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), pick=st.integers(0, 10**6), junk=JUNK, delete=st.booleans(), opts=OPTIONS,
       in_detail=st.booleans(), scenario=st.sampled_from([None, *(s.value for s in Scenario)]))
def test_prop_plan_never_crashes_on_damaged_stored_findings(seed, pick, junk, delete, opts, in_detail, scenario):
    """What the database holds may be old, hand-edited or half-migrated: plan refuses, it never raises.

    ``scenario`` re-labels one finding, so every remedy (the non-duplicate ones too) meets data it did not expect.
    """
    import copy

    from reconciler.fixes.planner import context_from_snapshot, make_plan

    t = random_tenant(seed, n=3)
    snap, findings, details = t.scan()
    if scenario and findings:
        findings[pick % len(findings)]["scenario"] = scenario
    target = details if in_detail else findings
    paths = list(_paths(target))
    damaged = _damage(copy.deepcopy(target), paths[pick % len(paths)], junk, delete)
    if in_detail:
        plan = make_plan(findings, damaged if isinstance(damaged, dict) else {}, context_from_snapshot(snap), opts)
    else:
        plan = make_plan(damaged if isinstance(damaged, list) else [], details, context_from_snapshot(snap), opts)
    assert all(r.guard and r.reason for r in plan.refusals)
    assert plan.fingerprint.startswith("sha256:")
