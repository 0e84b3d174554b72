"""The guards module on its own: every write kind, every match guard, names, purge consent."""

from __future__ import annotations

import pytest

from reconciler.fixes.guards import (
    CLOUD_WRITES,
    Flags,
    SourceFacts,
    TargetState,
    display_names_agree,
    match_failures,
    match_mode,
    may_match,
    may_purge,
    may_write,
    names_agree,
)
from reconciler.fixes.steps import StepKind

FEATURES = {"blockCloudObjectTakeoverThroughHardMatchEnabled": False, "blockSoftMatchEnabled": False,
            "softMatchOnUpnEnabled": True}
LENA = SourceFacts(given_name="Lena", surname="Fischer", display_name="Lena Fischer", enabled=True,
                   dn="CN=Lena Fischer,OU=Staff,DC=corp,DC=contoso,DC=com")


def user(**kw) -> TargetState:
    base = {"id": "u1", "userPrincipalName": "lena.fischer@contoso.com", "displayName": "Lena Fischer",
            "givenName": "Lena", "surname": "Fischer", "userType": "Member", "accountEnabled": True,
            "onPremisesImmutableId": None, "onPremisesSyncEnabled": None, "createdDateTime": "2026-10-02T07:45:00Z",
            "assignedLicenses": []}
    roles = kw.pop("roles", ())
    eligible = kw.pop("eligible", ())
    deleted = kw.pop("deleted", None)
    base.update(kw)
    return TargetState.from_graph(base, roles=roles, eligible_roles=eligible, deleted=deleted)


def guards(verdicts) -> set[str]:
    return {v.guard for v in verdicts}


# ------------------------------------------------------------------------- may_write: every kind


WRITE_KINDS = sorted(CLOUD_WRITES, key=lambda k: k.value)


def _state_for(kind: StepKind, **kw) -> TargetState:
    return user(deleted=kind in (StepKind.PURGE_DELETED, StepKind.RESTORE_DELETED), **kw)


@pytest.mark.parametrize("kind", WRITE_KINDS, ids=lambda k: k.value)
def test_every_write_kind_refuses_a_role_holder(kind):
    v = may_write(kind, _state_for(kind, roles=("Global Administrator",)))
    assert not v.ok and v.guard == "holder_has_role" and "Global Administrator" in v.reason
    assert may_write(kind, _state_for(kind)).ok


@pytest.mark.parametrize("kind", WRITE_KINDS, ids=lambda k: k.value)
def test_every_write_kind_refuses_unreadable_roles_and_eligibility(kind):
    v = may_write(kind, _state_for(kind, roles=None))
    assert v.guard == "roles_unknown" and "RoleManagement.Read.Directory" in v.reason
    assert may_write(kind, _state_for(kind, eligible=None)).guard == "eligibility_unknown"
    assert may_write(kind, _state_for(kind, eligible=("Privileged Role Administrator",))).guard == \
        "holder_eligible_for_role"


@pytest.mark.parametrize("kind", WRITE_KINDS, ids=lambda k: k.value)
@pytest.mark.parametrize("ext", [{"userType": "Guest"}, {"creationType": "Invitation"},
                                 {"userPrincipalName": "lena_fabrikam.com#EXT#@contoso.onmicrosoft.com"},
                                 {"externalUserState": "Accepted"}], ids=["guest", "invitation", "ext-upn", "state"])
def test_every_write_kind_refuses_an_external_account(kind, ext):
    assert may_write(kind, _state_for(kind, **ext)).guard == "external_account"


def test_scheduler_and_manual_kinds_touch_no_cloud_object():
    admin = user(roles=("Global Administrator",))
    for kind in (StepKind.PAUSE_SYNC_SCHEDULER, StepKind.RESUME_SYNC_SCHEDULER, StepKind.RUN_DELTA_SYNC,
                 StepKind.WAIT, StepKind.RUNBOOK):
        assert may_write(kind, admin).ok
    assert set(StepKind) - CLOUD_WRITES == {StepKind.PAUSE_SYNC_SCHEDULER, StepKind.RESUME_SYNC_SCHEDULER,
                                            StepKind.RUN_DELTA_SYNC, StepKind.WAIT, StepKind.RUNBOOK}


def test_recycle_bin_kinds_need_a_deleted_target_and_the_others_an_active_one():
    assert may_write(StepKind.PURGE_DELETED, user()).guard == "target_state"
    assert may_write(StepKind.RESTORE_DELETED, user()).guard == "target_state"
    assert may_write(StepKind.SET_USER_PRINCIPAL_NAME, user(deleted=True)).guard == "target_state"
    assert may_write(StepKind.PURGE_DELETED, user(deletedDateTime="2026-11-01T00:00:00Z")).ok


def test_a_user_without_user_type_is_not_assumed_internal():
    assert may_write(StepKind.SET_USER_PRINCIPAL_NAME, user(userType=None)).guard == "user_type_unknown"


def test_role_assignable_group_is_guarded_like_a_user():
    grp = TargetState.from_graph({"id": "g1", "@odata.type": "#microsoft.graph.group", "displayName": "Admins",
                                  "mail": "admins@contoso.com", "proxyAddresses": ["SMTP:admins@contoso.com"]},
                                 roles=("Exchange Administrator",), eligible_roles=())
    assert grp.type == "group"
    assert may_write(StepKind.REMOVE_PROXY_ADDRESS, grp).guard == "holder_has_role"


def test_from_graph_reads_stored_columns_and_graph_json_alike():
    stored = TargetState.from_graph({"id": "u", "type": "user", "state": "deleted", "licences": 2,
                                     "createdDateTime": None, "mail": "a@b.c"}, roles=[], eligible_roles=[])
    graph = TargetState.from_graph({"id": "u", "assignedLicenses": [{}, {}], "deletedDateTime": "2026-01-01Z",
                                    "mail": "a@b.c"}, roles=[], eligible_roles=[])
    assert stored.deleted and graph.deleted and stored.licences == graph.licences == 2
    assert stored.created is None and stored.licensed and stored.may_hold_mailbox


# ------------------------------------------------------------------------- may_purge


def test_purge_of_licensed_mailbox_or_possible_original_needs_allow_purge():
    plain = user(deleted=True, mail=None, proxyAddresses=[])
    assert may_purge(plain, allow_purge=False).ok
    for t, kw in ((user(deleted=True, assignedLicenses=[{"skuId": "x"}]), {}),
                  (user(deleted=True, mail="lena@contoso.com"), {}),
                  (user(deleted=True, proxyAddresses=["SMTP:lena@contoso.com"]), {}),
                  (plain, {"possibly_original": True})):
        v = may_purge(t, allow_purge=False, **kw)
        assert v.guard == "purge_needs_allow_purge" and "--allow-purge" in v.reason and "recycle bin" in v.reason
        assert may_purge(t, allow_purge=True, **kw).ok
    unknown = TargetState.from_graph({"id": "u", "userType": "Member"}, roles=(), eligible_roles=(), deleted=True)
    assert "licences are unknown" in may_purge(unknown, allow_purge=False).reason


# ------------------------------------------------------------------------- names


@pytest.mark.parametrize("cloud,onprem,agree", [
    ({}, {}, True),
    ({"givenName": "LENA", "surname": "Fischer"}, {}, True),
    ({"givenName": "Léna", "surname": "Fischer"}, {"given_name": "Lena"}, True),  # diacritics
    ({"surname": None, "displayName": "Lena Schwarz"}, {"surname": "Fischer", "display_name": "Lena Fischer"},
     False),  # class 6: surname missing on one side, display names differ
    ({"surname": None, "displayName": "Lena Fischer"}, {"surname": "Fischer"}, True),  # display names equal
    ({"displayName": "Fischer, Lena"}, {}, True),  # word order and punctuation
    ({"displayName": "Lena Fischer (Sales)"}, {}, False),  # class 6: disagreeing displayName is considered
    ({"givenName": None, "surname": None, "displayName": None}, {}, False),  # nothing to compare
    ({"employeeId": "1001"}, {"employee_id": "1001"}, True),
    ({"employeeId": "1001"}, {"employee_id": "2002"}, False),  # class 6: employeeId
    ({"employeeId": "1001"}, {}, True),  # only one side has one
])
def test_names_agree_strictly(cloud, onprem, agree):
    src = SourceFacts(**{**{"given_name": "Lena", "surname": "Fischer", "display_name": "Lena Fischer"}, **onprem})
    ok, why = names_agree(src, user(**cloud))
    assert ok is agree, why
    assert agree or why


def test_display_names_must_both_be_known():
    assert not display_names_agree(None, None) and not display_names_agree("", "x")
    assert display_names_agree("Müller  Jörg", "jorg muller")


# ------------------------------------------------------------------------- may_match


def test_a_clean_internal_twin_may_be_matched():
    assert may_match(LENA, user(), Flags(FEATURES)).ok


@pytest.mark.parametrize("target,src,flags,guard", [
    ({"roles": ("Global Administrator",)}, {}, {}, "holder_has_role"),
    ({"roles": None}, {}, {}, "roles_unknown"),
    ({"eligible": ("Global Administrator",)}, {}, {}, "holder_eligible_for_role"),
    ({"creationType": "Invitation", "userPrincipalName": "lena_x.com#EXT#@contoso.onmicrosoft.com"}, {}, {},
     "external_account"),  # class 5: userType Member, but invited
    ({"userType": "Guest"}, {}, {}, "external_account"),
    ({"onPremisesImmutableId": "OLD=="}, {}, {}, "holder_has_immutable_id"),
    ({"onPremisesObjectIdentifier": "S-1-5-21-9"}, {}, {}, "holder_has_object_identifier"),
    ({"surname": None, "displayName": "Lena Schwarz"}, {}, {}, "names_disagree"),
    ({"accountEnabled": False}, {}, {}, "target_disabled"),
    ({}, {"enabled": False}, {}, "source_disabled"),
    ({}, {}, {"features": None}, "flags_unknown"),
    ({}, {}, {"features": {"blockCloudObjectTakeoverThroughHardMatchEnabled": True, "blockSoftMatchEnabled": True}},
     "tenant_blocks_match"),
])
def test_match_guards(target, src, flags, guard):
    f = Flags(**{"features": FEATURES, **flags})
    s = SourceFacts(**{**{"given_name": "Lena", "surname": "Fischer", "display_name": "Lena Fischer"}, **src})
    v = may_match(s, user(**target), f)
    assert not v.ok and guard in guards(match_failures(s, user(**target), f)), v
    assert v.reason


def test_allow_reanchor_only_for_a_cloud_mastered_user_in_a_federated_domain():
    class Opts:
        allow_reanchor = True
        assume_flags = False

    anchored = user(onPremisesImmutableId="FED==")
    assert may_match(LENA, anchored, Flags(FEATURES, federated=True), Opts()).ok
    assert may_match(LENA, anchored, Flags(FEATURES, federated=False), Opts()).guard == "holder_has_immutable_id"
    assert "--allow-reanchor" in may_match(LENA, anchored, Flags(FEATURES, federated=True)).reason
    synced = user(onPremisesImmutableId="FED==", onPremisesSyncEnabled=True)
    assert may_match(LENA, synced, Flags(FEATURES, federated=True), Opts()).guard == "holder_has_immutable_id"


def test_reanchor_expects_the_anchor_but_keeps_every_other_guard():
    orphan = user(onPremisesImmutableId="ORPHAN==", onPremisesSyncEnabled=True)
    assert may_match(LENA, orphan, Flags(None), reanchor=True).ok  # flags do not apply: no cloud-side match
    assert may_match(LENA, user(onPremisesImmutableId="X==", roles=("Global Administrator",)), Flags(None),
                     reanchor=True).guard == "holder_has_role"


def test_match_mode_from_flags():
    assert match_mode(Flags(FEATURES), user=True, assume_flags=False)[0] == "hard"
    soft = {**FEATURES, "blockCloudObjectTakeoverThroughHardMatchEnabled": True}
    assert match_mode(Flags(soft), user=True, assume_flags=False)[0] == "soft"
    no_upn = {**soft, "softMatchOnUpnEnabled": False}
    assert match_mode(Flags(no_upn), user=True, assume_flags=False)[1].guard == "tenant_blocks_match"
    assert match_mode(Flags(no_upn, property="ProxyAddress"), user=True, assume_flags=False)[0] == "soft"
    assert match_mode(Flags(None), user=True, assume_flags=True)[0] == "hard"


def test_source_facts_from_expect_round_trip_the_names_a_match_relied_on():
    expect = {"givenName": "Lena", "surname": "Fischer", "displayName": "Lena Fischer", "userType": "Member"}
    assert may_match(SourceFacts.from_expect(expect), user(), Flags(FEATURES)).ok
    assert may_match(SourceFacts.from_expect(expect), user(givenName="Leonie"), Flags(FEATURES)).guard == \
        "names_disagree"


def test_who_names_a_deleted_user_by_its_real_upn_not_graphs_mangled_one():
    oid = "9d9b0718-c51b-4d01-82a6-27f5b10463f4"
    t = TargetState.from_graph({"id": oid, "userPrincipalName": oid.replace("-", "") + "grace@contoso.com",
                                "deletedDateTime": "2026-11-01T00:00:00Z"}, roles=(), eligible_roles=())
    assert t.who == f"deleted user grace@contoso.com ({oid})"
