"""Class 9 / invariant 6: a plan is checked before anything runs, with or without --checksum: every change, expect and
undo key must be an attribute its kind may touch (the table in reconciler.fixes.steps), values strings or lists of
strings of bounded length, no line breaks (LDIF injection through a key or a value). Exit 2 naming the step."""

from __future__ import annotations

import orjson
import pytest

from reconciler.core.errors import BadInput
from reconciler.fixes.planfile import parse_plan_bytes
from reconciler.fixes.planner import fingerprint
from tests.fixes.emu import Emu, tenant_doc
from tests.fixes.test_cli import invoke

DN = "CN=Priya,OU=Staff,DC=corp,DC=contoso,DC=com"


def ldap_step(**over):
    step = {"id": "s5", "kind": "remove_proxy_address", "executor": "ldap", "target": {"type": "onprem", "dn": DN},
            "expect": {"proxyAddresses": ["smtp:priya@contoso.com"]},
            "change": {"proxyAddresses": {"remove": ["smtp:priya@contoso.com"]}},
            "undo": {"proxyAddresses": {"add": ["smtp:priya@contoso.com"]}}, "why": "duplicate"}
    step.update(over)
    return step


INJECTED_KEY = {"proxyAddresses\n-\ndelete: proxyAddresses\n-\nreplace: userPrincipalName\nuserPrincipalName: evil@x.com\n"
                "-\nadd: proxyAddresses": {"remove": ["smtp:priya@contoso.com"]}}
BAD = {
    "ldif_injection_in_a_change_key": ldap_step(change=INJECTED_KEY),
    "line_break_in_a_change_value": ldap_step(change={"proxyAddresses": {"remove": ["smtp:a@x\ndelete: mail"]}}),
    "line_break_in_an_expect_value": ldap_step(expect={"proxyAddresses": ["smtp:a@x\r\n"]}),
    "attribute_the_kind_may_not_touch": ldap_step(change={"userPrincipalName": "evil@contoso.com"}),
    "undo_touching_another_attribute": ldap_step(undo={"mail": "x@contoso.com"}),
    "unicode_line_separator": ldap_step(change={"proxyAddresses": {"remove": ["smtp:a@x\u2028b"]}}),
    "value_too_long": ldap_step(expect={"proxyAddresses": ["smtp:" + "a" * 2000 + "@x"]}),
    "nested_object_value": ldap_step(expect={"proxyAddresses": {"$ne": None}}),
    "graph_patch_of_another_attribute": {"id": "s6", "kind": "set_immutable_id", "executor": "graph",
                                         "target": {"type": "user", "id": "c-0"}, "expect": {},
                                         "change": {"onPremisesImmutableId": "A==", "accountEnabled": False}},
    "graph_kind_on_the_wrong_executor": {"id": "s7", "kind": "purge_deleted", "executor": "ldap",
                                         "target": {"type": "onprem", "dn": DN}},
    "powershell_parameter_outside_the_template": {"id": "s8", "kind": "remove_synced_object", "executor": "powershell",
                                                  "target": {"type": "user", "id": "c-0"},
                                                  "change": {"params": {"SourceAnchor": "A==", "ObjectType": "User",
                                                                        "Force": True}}},
    "line_break_in_a_dn": ldap_step(target={"type": "onprem", "dn": DN + "\nchangetype: delete"}),
}


def _doc(step):
    steps = [step]
    return {"schema": "reconciler.plan/1", "tenant": "t-0001", "created": "2026-12-01T00:00:00Z",
            "fingerprint": fingerprint("t-0001", steps, []), "steps": steps, "refusals": [], "warnings": []}


@pytest.mark.parametrize("case", list(BAD))
def test_class9_plan_content_is_checked_before_anything_runs(case):
    with pytest.raises(BadInput) as e:
        parse_plan_bytes(orjson.dumps(_doc(BAD[case])), "plan.json")
    assert e.value.exit_code == 2 and f"step {BAD[case]['id']!r}" in str(e.value) and "\n" not in str(e.value)


def test_class9_with_checksum_through_the_cli_exit_2_and_nothing_written(tmp_path):
    from reconciler.emulator import EmulatorConfig, create_app
    from reconciler.emulator.server import serve_in_thread

    doc = _doc(ldap_step(change=INJECTED_KEY))
    path = tmp_path / "plan.json"
    path.write_bytes(orjson.dumps(doc))
    emu = Emu(tenant_doc(1))
    application = create_app(tenant_doc(1), EmulatorConfig())
    with serve_in_thread(application) as url:
        r = invoke("apply", path, "--graph-url", url, "--auth", "none", "--db", tmp_path / "r.db", "--doit",
                   "--checksum", doc["fingerprint"])
    assert r.exit_code == 2 and "steps[0]" in r.output and "s5" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "plan.ldif").exists()
    assert [e for e in application.state.emulator.log if e["method"] != "GET"] == [] and emu.writes() == []


def test_class9_the_planners_own_steps_pass_the_table():
    from reconciler.fixes.steps import SHAPES, Executor, Step, StepKind, check_step

    for (kind, ex), shape in SHAPES.items():
        change = {k: "v" for k in list(shape.change)[:1] if k not in ("params", "command")}
        if ex is Executor.POWERSHELL:
            change = {"params": {}}
        if kind is StepKind.REMOVE_PROXY_ADDRESS and ex is Executor.LDAP:
            change = {"proxyAddresses": {"remove": ["smtp:a@x"]}}
        if kind is StepKind.WAIT:
            change = {"minutes": 90, "text": "wait"}
        step = Step(id="s1", kind=kind, executor=ex, target={"type": "user", "id": "x"}, change=change)
        assert check_step(step) is None, (kind, ex, check_step(step))
