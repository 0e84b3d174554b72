"""Step kinds are closed and every one has an executor path; step JSON round-trips; plan files are checked."""

from __future__ import annotations

import orjson
import pytest

from reconciler.core.errors import BadInput
from reconciler.fixes.apply import already_applied, inverse
from reconciler.fixes.emit import PS_KINDS
from reconciler.fixes.journal import JournalEntry
from reconciler.fixes.planfile import parse_plan_bytes
from reconciler.fixes.steps import DELETES, IRREVERSIBLE, Executor, Step, StepKind, expect_holds

GRAPH_KINDS = {StepKind.SET_IMMUTABLE_ID, StepKind.SET_USER_PRINCIPAL_NAME, StepKind.DELETE_OBJECT,
               StepKind.PURGE_DELETED, StepKind.RESTORE_DELETED, StepKind.SET_CLOUD_MANAGED}
LDAP_KINDS = {StepKind.SET_USER_PRINCIPAL_NAME, StepKind.REMOVE_PROXY_ADDRESS, StepKind.SET_CONSISTENCY_GUID,
              StepKind.REMOVE_ATTRIBUTE_VALUE}
MANUAL_KINDS = {StepKind.WAIT, StepKind.RUN_DELTA_SYNC, StepKind.RUNBOOK}


@pytest.mark.parametrize("kind", list(StepKind))
def test_every_kind_has_an_executor_path(kind):
    assert kind in GRAPH_KINDS | LDAP_KINDS | PS_KINDS | MANUAL_KINDS


def test_spec_kinds_are_all_there():
    spec = {"delete_object", "purge_deleted", "restore_deleted", "set_immutable_id", "set_user_principal_name",
            "remove_proxy_address", "set_primary_smtp", "set_consistency_guid", "remove_synced_object",
            "pause_sync_scheduler", "resume_sync_scheduler", "run_delta_sync", "wait"}
    assert spec <= {k.value for k in StepKind}
    assert IRREVERSIBLE <= DELETES


def test_step_json_round_trips():
    s = Step(id="s1", kind=StepKind.SET_IMMUTABLE_ID, executor=Executor.GRAPH, target={"type": "user", "id": "u"},
             expect={"onPremisesImmutableId": None}, change={"onPremisesImmutableId": "A=="},
             undo={"onPremisesImmutableId": None}, why="w", finding="f", after=("s0",))
    assert Step.from_data(s.data) == s


def test_expect_multivalued_means_contains():
    assert expect_holds({"proxyAddresses": ["smtp:a@x"]}, {"proxyAddresses": ["SMTP:b@x", "smtp:a@x"]}) == []
    assert expect_holds({"proxyAddresses": ["smtp:a@x"]}, {"proxyAddresses": ["SMTP:a@x"]})
    assert expect_holds({"onPremisesImmutableId": None}, {"onPremisesImmutableId": "X"})
    assert expect_holds({}, None) == ["the target no longer exists"]


def test_already_applied_by_kind():
    stamp = Step(id="s", kind=StepKind.SET_IMMUTABLE_ID, executor=Executor.GRAPH, target={},
                 change={"onPremisesImmutableId": "A=="})
    assert already_applied(stamp, {"onPremisesImmutableId": "A=="})
    assert not already_applied(stamp, {"onPremisesImmutableId": None})
    purge = Step(id="p", kind=StepKind.PURGE_DELETED, executor=Executor.GRAPH, target={})
    assert already_applied(purge, None) and not already_applied(purge, {"deleted": True})
    rm = Step(id="r", kind=StepKind.REMOVE_PROXY_ADDRESS, executor=Executor.LDAP, target={},
              change={"proxyAddresses": {"remove": ["smtp:a@x"]}})
    assert already_applied(rm, {"proxyAddresses": ["SMTP:b@x"]})
    assert not already_applied(rm, {"proxyAddresses": ["smtp:a@x"]})


def test_inverse_uses_recorded_before_values():
    s = Step(id="s", kind=StepKind.SET_USER_PRINCIPAL_NAME, executor=Executor.GRAPH, target={"type": "user", "id": "u"},
             change={"userPrincipalName": "new@x"})
    inv = inverse(JournalEntry(1, "r", "fp", s, {"userPrincipalName": "old@x"}, None))
    assert inv is not None and inv.change == {"userPrincipalName": "old@x"} and inv.expect == {"userPrincipalName": "new@x"}
    purge = Step(id="p", kind=StepKind.PURGE_DELETED, executor=Executor.GRAPH, target={})
    assert inverse(JournalEntry(2, "r", "fp", purge, {"deleted": True}, None)) is None
    delete = Step(id="d", kind=StepKind.DELETE_OBJECT, executor=Executor.GRAPH, target={"type": "group", "id": "g"})
    back = inverse(JournalEntry(3, "r", "fp", delete, {"deleted": False}, None))
    assert back is not None and back.kind is StepKind.RESTORE_DELETED
    assert back.target == {"type": "deleted", "id": "g", "object": "group"}


def _doc(**kw):
    base = {"schema": "reconciler.plan/1", "tenant": "t", "fingerprint": "sha256:x", "steps": [], "refusals": []}
    base.update(kw)
    return orjson.dumps(base)


@pytest.mark.parametrize("doc,place", [
    (_doc(steps=[{"id": "s1", "kind": "wait", "executor": "manual", "after": ["s9"]}]), "steps[0].after"),
    (_doc(steps=[{"id": "s1", "kind": "wait", "executor": "manual"}] * 2), "steps[1].id"),
    (_doc(steps=[{"id": "s1", "kind": "wait", "executor": "telnet"}]), "steps[0]"),
    (_doc(steps="nope"), "steps"),
    (_doc(refusals=[{"finding": 1}]), "refusals[0]"),
    (orjson.dumps({"schema": "reconciler.tenant/1"}), "schema"),
])
def test_bad_plan_files_name_the_place(doc, place):
    with pytest.raises(BadInput) as e:
        parse_plan_bytes(doc, "plan.json")
    assert e.value.exit_code == 2 and f"({place})" in str(e.value) and str(e.value).startswith("plan.json")
