"""Hostile plan files: the reader raises nothing but BadInput, and the CLI says one line and exits 2.

A plan the reader accepts must also be usable: fingerprinted, rendered for review, and its external
steps emitted (PowerShell / LDIF) without error -- apply checks all of that before writing anything.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.core.errors import BadInput
from reconciler.fixes.emit import emit_ldif, emit_ps1, render_review
from reconciler.fixes.planfile import parse_plan_bytes
from reconciler.fixes.planner import PLAN_SCHEMA
from reconciler.fixes.steps import Executor, StepKind

from .hostile import no_nul, small, values

# a failing 64 KB example makes hypothesis warn about its repr size; keep the real failure visible
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.data_too_large])
leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 63 - 1),
                   st.floats(allow_nan=False, allow_infinity=False), values)
json_values = st.recursive(leaves, lambda c: st.lists(c, max_size=4) | st.dictionaries(small, c, max_size=4),
                           max_leaves=12)


def _maybe(good: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly well-typed, sometimes any JSON at all."""
    return st.one_of(good, good, good, json_values)


params = st.dictionaries(st.sampled_from(["Identity", "Address", "Recipient", "SourceAnchor", "ObjectType", "Add"]),
                         st.one_of(values, st.sampled_from(["user", "group", "contact", "User", "Group"]),
                                   st.booleans(), st.none()), max_size=5)
steps = st.fixed_dictionaries(
    {"id": _maybe(small), "kind": _maybe(st.sampled_from([k.value for k in StepKind])),
     "executor": _maybe(st.sampled_from([e.value for e in Executor]))},
    optional={"target": _maybe(st.fixed_dictionaries({"type": st.sampled_from(["user", "group", "deleted"]),
                                                      "id": values}, optional={"dn": values})),
              "expect": _maybe(st.dictionaries(small, json_values, max_size=3)),
              "change": _maybe(st.one_of(st.fixed_dictionaries({"params": params}),
                                         st.dictionaries(small, st.one_of(values, st.fixed_dictionaries(
                                             {}, optional={"add": _maybe(st.lists(values, max_size=2)),
                                                           "remove": _maybe(st.lists(values, max_size=2))})),
                                                         max_size=2))),
              "undo": _maybe(st.fixed_dictionaries({"params": params})),
              "after": _maybe(st.lists(small, max_size=2)), "why": _maybe(values)})
plans = st.fixed_dictionaries(
    {"schema": _maybe(st.just(PLAN_SCHEMA))},
    optional={"tenant": _maybe(values), "fingerprint": _maybe(values), "steps": _maybe(st.lists(steps, max_size=4)),
              "refusals": _maybe(st.lists(st.fixed_dictionaries({"finding": small, "guard": small,
                                                                  "reason": values}), max_size=2)),
              "warnings": json_values, "created": json_values, "scan_run": json_values})


@st.composite
def valid_plans(draw: st.DrawFn) -> dict:
    """Well-formed plans whose every free value is hostile (ids, targets, expect, params, why)."""
    out = []
    for i in range(draw(st.integers(0, 4))):
        sid = f"{draw(small)}#{i}"
        base = {"id": sid, "why": draw(values), "after": [out[-1]["id"]] if out and draw(st.booleans()) else []}
        shape = draw(st.sampled_from(["graph", "ps", "ldap", "manual"]))
        if shape == "graph":
            base.update(kind="set_immutable_id", executor="graph", target={"type": "user", "id": draw(values)},
                        expect={"userPrincipalName": draw(values)}, change={"onPremisesImmutableId": draw(values)})
        elif shape == "ps":
            p = {"Identity": draw(no_nul), "Address": draw(no_nul), "Recipient": "user"}
            base.update(kind="remove_proxy_address", executor="powershell", target=None, change={"params": p},
                        undo={"params": {**p, "Add": True}})
        elif shape == "ldap":
            base.update(kind="remove_proxy_address", executor="ldap", target={"type": "user", "dn": draw(values)},
                        change={"proxyAddresses": {"remove": [draw(values)]}},
                        undo={"proxyAddresses": {"add": [draw(values)]}})
        else:
            base.update(kind="wait", executor="manual", change={"text": draw(values)})
        out.append(base)
    return {"schema": PLAN_SCHEMA, "tenant": draw(values), "fingerprint": draw(values), "steps": out,
            "refusals": [{"finding": draw(small), "guard": draw(small), "reason": draw(values)}],
            "warnings": [draw(values)]}


documents = st.one_of(valid_plans().map(orjson.dumps), plans.map(orjson.dumps), st.binary(max_size=300),
                      st.tuples(plans.map(orjson.dumps), st.integers(0, 400)).map(lambda t: t[0][:t[1]]))


def _use(loaded) -> None:
    plan = loaded.plan
    assert plan.fingerprint.startswith("sha256:")
    render_review(plan, "md")
    render_review(plan, "html")
    emit_ps1(list(plan.steps), fingerprint=plan.fingerprint)
    emit_ps1(list(plan.steps), fingerprint=plan.fingerprint, undo=True)
    emit_ldif(list(plan.steps))
    emit_ldif(list(plan.steps), undo=True)


@SETTINGS
@given(documents)
def test_plan_reader_raises_only_bad_input(data):
    try:
        loaded = parse_plan_bytes(data, "plan.json")
    except BadInput as e:
        assert str(e).startswith("plan.json") and "\n" not in str(e).strip()
        event("refused (BadInput)")
        return
    event(f"accepted with {len(loaded.plan.steps)} step(s)")
    _use(loaded)


runner = CliRunner()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(documents)
def test_apply_cli_on_a_hostile_plan_is_one_line_and_exit_2(tmp_path, data):
    path = tmp_path / "plan.json"
    path.write_bytes(data)
    try:
        parse_plan_bytes(data, str(path))
        readable = True
    except BadInput:
        readable = False
    result = runner.invoke(app, ["apply", str(path), "--db", str(tmp_path / "r.db")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == (4 if readable else 2)  # readable: this database never made it (exit 4)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output


def test_a_nul_in_a_powershell_value_is_refused_when_the_plan_is_read():
    step = {"id": "s1", "kind": "remove_proxy_address", "executor": "powershell",
            "change": {"params": {"Identity": "a\x00b", "Address": "x@y", "Recipient": "user"}}}
    doc = {"schema": PLAN_SCHEMA, "tenant": "t", "fingerprint": "sha256:0", "steps": [step]}
    try:
        parse_plan_bytes(orjson.dumps(doc), "plan.json")
    except BadInput as e:
        assert e.exit_code == 2 and "steps[0]" in str(e) and "NUL" in str(e)
    else:
        raise AssertionError("a plan whose script cannot be written was accepted")


def test_warnings_that_are_not_a_list_are_bad_input_not_a_crash():
    doc = {"schema": PLAN_SCHEMA, "tenant": "t", "fingerprint": "sha256:0", "steps": [], "warnings": True}
    try:
        parse_plan_bytes(orjson.dumps(doc), "plan.json")
    except BadInput as e:
        assert "warnings" in str(e)
    else:
        raise AssertionError("accepted")


def test_apply_prints_a_hostile_claimed_fingerprint_escaped(tmp_path):
    """Text from the plan reaches the terminal escaped: no raw control characters (ANSI, line breaks)."""
    doc = {"schema": PLAN_SCHEMA, "tenant": "t", "fingerprint": "\x1b[2J\x1e\nforged", "steps": []}
    path = tmp_path / "plan.json"
    path.write_bytes(orjson.dumps(doc))
    result = runner.invoke(app, ["apply", str(path), "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 4 and "\x1b" not in result.output and "\\x1b[2J" in result.output
    assert len(result.output.strip().splitlines()) == 1
