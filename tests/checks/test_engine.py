"""check-onprem engine: duplicate groups, cross-attribute and multi-forest duplicates, keep/lose,
skipped objects, and the cloud predictions (conflict, soft match, deleted holder)."""

from __future__ import annotations

from typing import Any

from reconciler.checks.engine import RELATED_CAP, Checker
from reconciler.core.model import CloudObject, ObjectKind, OnPremObject
from tests.checks.checks_helpers import TLDS, anchor, cloud_user, obj, rules, run, snapshot


def _by_dn(res, rule=None):
    return {p.dn: p for p in res.problems if rule is None or p.rule == rule}


# ---------------------------------------------------------------- duplicates


def test_every_member_of_a_duplicate_group_is_reported_naming_the_others():
    a = obj("A", proxy_addresses=("smtp:sales@contoso.com",))
    b = obj("B", "group", proxy_addresses=("SMTP:Sales@Contoso.com",))
    c = obj("C", "contact", proxy_addresses=("smtp:SALES@contoso.com",))
    res = run(a, b, c)
    got = _by_dn(res, "smtp-duplicate")
    assert set(got) == {a.dn, b.dn, c.dn}
    for me, p in got.items():
        assert {r["dn"] for r in p.related} == {a.dn, b.dn, c.dn} - {me}
        assert p.kind == "duplicate" and p.severity == "error"


def test_cross_attribute_duplicate_upn_vs_proxy_and_mail():
    a = obj("A", user_principal_name="alice@contoso.com")
    b = obj("B", proxy_addresses=("smtp:alice@contoso.com",))
    c = obj("C", "contact", mail="Alice@contoso.com")
    res = run(a, b, c)
    got = _by_dn(res, "cross-duplicate")
    assert set(got) == {a.dn, b.dn, c.dn}
    assert got[a.dn].attribute == "userPrincipalName" and got[a.dn].kind == "cross_duplicate"
    assert got[b.dn].attribute == "proxyAddresses" and got[b.dn].value == "smtp:alice@contoso.com"
    assert got[c.dn].attribute == "mail"
    assert {r["attribute"] for r in got[a.dn].related} == {"proxyAddresses", "mail"}


def test_same_attribute_wins_over_cross_when_both_apply():
    a = obj("A", user_principal_name="alice@contoso.com", proxy_addresses=("SMTP:alice@contoso.com",))
    b = obj("B", proxy_addresses=("smtp:alice@contoso.com",))
    res = run(a, b)
    assert {p.rule for p in res.problems} == {"smtp-duplicate"}
    assert _by_dn(res)[a.dn].related[0]["attribute"] == "proxyAddresses"


def test_an_object_holding_its_own_value_twice_is_no_duplicate():
    a = obj("A", user_principal_name="a@contoso.com", mail="a@contoso.com", proxy_addresses=("SMTP:a@contoso.com",))
    assert run(a).problems == []


def test_duplicates_across_forests():
    a = obj("A", user_principal_name="alice@contoso.com")
    b = obj("B", user_principal_name="alice@contoso.com", dn="CN=B,OU=Users,DC=fabrikam,DC=com")
    res = run(a, forests=([b],))
    got = _by_dn(res, "upn-duplicate")
    assert set(got) == {a.dn, b.dn}
    assert got[a.dn].related[0] == {"dn": b.dn, "attribute": "userPrincipalName", "source": "forest2.ldif"}
    assert got[b.dn].source == "forest2.ldif"


def test_keep_prefers_the_enabled_account_and_proposes_removing_the_losers_secondary_address():
    live = obj("Live", proxy_addresses=("SMTP:live@contoso.com", "smtp:shared@contoso.com"))
    off = obj("Off", user_account_control=514, proxy_addresses=("SMTP:off@contoso.com", "smtp:shared@contoso.com"))
    res = run(live, off)
    got = _by_dn(res, "smtp-duplicate")
    assert got[live.dn].keep == "yes" and got[live.dn].action is None
    assert got[off.dn].keep == "no" and got[off.dn].action == "remove"
    assert "enabled" in got[off.dn].message


def test_keep_in_a_group_of_three_picks_one_winner_pairwise():
    old = obj("Old", when_created="2015-01-01T00:00:00Z", proxy_addresses=("smtp:x@contoso.com",))
    mid = obj("Mid", when_created="2018-01-01T00:00:00Z", proxy_addresses=("smtp:x@contoso.com",))
    new = obj("New", when_created="2022-01-01T00:00:00Z", proxy_addresses=("smtp:x@contoso.com",))
    got = _by_dn(run(new, mid, old), "smtp-duplicate")
    assert [got[o.dn].keep for o in (old, mid, new)] == ["yes", "no", "no"]
    assert "pairwise" in got[old.dn].message


def test_keep_is_undecided_when_nothing_separates_them():
    a = obj("A", proxy_addresses=("smtp:x@contoso.com",))
    b = obj("B", proxy_addresses=("smtp:x@contoso.com",))
    assert {p.keep for p in run(a, b).problems} == {"undecided"}


def test_the_loser_keeping_a_primary_address_gets_advice_not_a_removal():
    a = obj("A", when_created="2015-01-01T00:00:00Z", proxy_addresses=("SMTP:x@contoso.com",))
    b = obj("B", when_created="2020-01-01T00:00:00Z", proxy_addresses=("SMTP:x@contoso.com",))
    loser = _by_dn(run(a, b))[b.dn]
    assert loser.keep == "no" and loser.action is None and "primary" in loser.message


def test_huge_duplicate_groups_cap_the_related_list():
    objs = [obj(f"C{i}", "contact", mail="noreply@contoso.com") for i in range(RELATED_CAP + 20)]
    res = run(*objs)
    assert len(res.problems) == len(objs)
    assert all(len(p.related) == RELATED_CAP for p in res.problems)
    assert "and 66 more" in res.problems[0].message
    last = next(p for p in res.problems if p.dn == objs[-1].dn)  # the last member names the first ones
    assert [r["dn"] for r in last.related] == [o.dn for o in objs[:RELATED_CAP]] and "and 66 more" in last.message
    first = next(p for p in res.problems if p.dn == objs[0].dn)
    assert [r["dn"] for r in first.related] == [o.dn for o in objs[1:RELATED_CAP + 1]]


def test_a_value_held_by_tens_of_thousands_stays_linear():
    """A csvde export splits X500 proxies at their ';' (csvde joins values with ';'), so fragments such as
    'O=Exchange' are held by every mailbox: each member's problem named the whole group (quadratic: 12,000
    holders took 15 s, 50,000 minutes)."""
    import time

    from reconciler.checks.engine import Checker
    from tests.checks.checks_helpers import NOW, TLDS

    c = Checker(TLDS, None, None, NOW)
    n = 40_000
    for i in range(n):
        c.add(OnPremObject(f"CN=M{i},OU=Staff,DC=corp,DC=contoso,DC=com", "contact",
                           object_guid=f"{i:08x}-3333-4000-8000-000000000000",
                           proxy_addresses=(f"SMTP:m{i}@contoso.com", "O=Exchange")), "f.csv")
    t = time.perf_counter()
    res = c.finish("x")
    assert time.perf_counter() - t < 30  # about 2 s; the quadratic version took over 100 s
    dups = [p for p in res.problems if p.rule == "proxy-duplicate"]
    assert len(dups) == n and all(len(p.related) == RELATED_CAP for p in dups)
    assert f"and {n - 4} more" in dups[-1].message


# ---------------------------------------------------------------- skipped objects


def test_objects_entra_connect_never_syncs_are_skipped_and_counted():
    skipped = [
        obj("krbtgt", user_principal_name="dup@contoso.com"),
        obj("WKS01$", user_principal_name="dup@contoso.com"),
        obj("SystemMailbox{1f05a927}", "user"),
        obj("Jane\\0ACNF:4d1c-9a", dn="CN=Jane\\0ACNF:4d1c-9a,OU=Staff,DC=corp,DC=contoso,DC=com",
            user_principal_name="dup@contoso.com"),
        obj("Sys", is_critical_system_object=True, user_principal_name="dup@contoso.com"),
        obj("PC1", "computer", user_principal_name="dup@contoso.com"),
        obj("Arb", recipient_type_details="8388608"),
    ]
    real = obj("Real", user_principal_name="dup@contoso.com")
    res = run(real, *skipped)
    assert res.scanned == 8 and res.skipped == 7
    assert res.problems == []  # skipped objects take part in no duplicate
    assert res.skipped_by_reason["replication conflict (CNF)"] == 1
    assert res.skipped_by_reason["computer"] == 1
    assert res.data()["skipped"] == 7


def test_ordinary_names_that_merely_contain_a_prefix_are_checked():
    res = run(obj("Maria Guest", user_principal_name="maria@contoso.local"))
    assert res.skipped == 0 and "upn-tld" in rules(res)


# ---------------------------------------------------------------- the cloud side


def not_moved(res: Any) -> list[Any]:
    """The problems besides anchor-cloud-mismatch (a user new to Entra whose value a cloud user with another
    immutable id holds also gets that one; tests/checks/test_beyond_idfix.py covers it)."""
    return [p for p in res.problems if p.rule != "anchor-cloud-mismatch"]


def test_value_held_by_a_synced_object_from_elsewhere_is_a_cloud_conflict():
    a = obj("A", user_principal_name="alice@contoso.com")
    other = cloud_user("c-other", "alice@contoso.com", sync_enabled=True, immutable_id="AAAA",
                       domain_name="fabrikam.com")
    (p,) = not_moved(run(a, cloud=snapshot(other)))
    assert (p.kind, p.rule, p.severity) == ("cloud_conflict", "cloud-conflict", "error")
    assert p.related == ({"cloud_id": "c-other", "type": "user", "state": "active", "synced": True,
                          "name": "alice@contoso.com"},)
    assert "quarantine" in p.message and "fabrikam.com" in p.message


def test_values_held_by_the_objects_own_cloud_twin_are_fine():
    a = obj("A", user_principal_name="alice@contoso.com", proxy_addresses=("SMTP:alice@contoso.com",))
    own = cloud_user("own", "alice@contoso.com", sync_enabled=True, immutable_id=anchor(a),
                     proxy_addresses=("SMTP:alice@contoso.com",))
    g = obj("G", "group", object_sid="S-1-5-21-1-2-3-1100", proxy_addresses=("SMTP:team@contoso.com",))
    cg = CloudObject(id="cg", kind=ObjectKind.GROUP, sync_enabled=True, sid="S-1-5-21-1-2-3-1100",
                     proxy_addresses=("SMTP:team@contoso.com",))
    k = obj("K", "contact", proxy_addresses=("SMTP:bob@fabrikam.com",))
    ck = CloudObject(id="ck", kind=ObjectKind.CONTACT, sync_enabled=True, proxy_addresses=("SMTP:bob@fabrikam.com",))
    assert run(a, g, k, cloud=snapshot(own, cg, ck)).problems == []


def test_new_object_soft_matches_a_cloud_only_user_by_upn():
    a = obj("A", user_principal_name="alice@contoso.com")
    cloud = snapshot(cloud_user("c1", "alice@contoso.com"), features={"softMatchOnUpnEnabled": True})
    (p,) = run(a, cloud=cloud).problems
    assert (p.kind, p.rule, p.severity) == ("soft_match", "soft-match", "warning")
    assert "userPrincipalName" in p.message and "softMatchOnUpnEnabled is on" in p.message


def test_soft_match_on_upn_with_unknown_flags_says_so():
    a = obj("A", user_principal_name="alice@contoso.com")
    res = run(a, cloud=snapshot(cloud_user("c1", "alice@contoso.com"), features=None))
    assert res.problems[0].kind == "soft_match"
    assert "unknown" in res.problems[0].message
    assert any("unknown" in n for n in res.notes)


def test_upn_soft_match_turned_off_means_quarantine_but_primary_smtp_still_matches():
    a = obj("A", user_principal_name="alice@contoso.com")
    off = {"softMatchOnUpnEnabled": False, "blockSoftMatchEnabled": False}
    (p,) = run(a, cloud=snapshot(cloud_user("c1", "alice@contoso.com"), features=off)).problems
    assert p.kind == "cloud_conflict" and "softMatchOnUpnEnabled is off" in p.message
    b = obj("B", proxy_addresses=("SMTP:bob@contoso.com",))
    cb = cloud_user("c2", "bob@contoso.onmicrosoft.com", proxy_addresses=("SMTP:bob@contoso.com",))
    (q,) = run(b, cloud=snapshot(cb, features=off)).problems
    assert q.kind == "soft_match" and "primary SMTP" in q.message


def test_secondary_address_of_a_cloud_only_user_is_a_conflict_not_a_match():
    a = obj("A", proxy_addresses=("SMTP:a@contoso.com", "smtp:info@contoso.com"))
    c = cloud_user("c1", "x@contoso.com", proxy_addresses=("SMTP:x@contoso.com", "smtp:info@contoso.com"))
    (p,) = run(a, cloud=snapshot(c, features={"softMatchOnUpnEnabled": True})).problems
    assert p.kind == "cloud_conflict" and "primary SMTP" in p.message


def test_soft_match_blockers():
    a = obj("A", user_principal_name="alice@contoso.com")
    flags = {"softMatchOnUpnEnabled": True, "blockSoftMatchEnabled": False}
    cases = {
        "immutable id": snapshot(cloud_user("c1", "alice@contoso.com", immutable_id="Zm9v"), features=flags),
        "blockSoftMatchEnabled": snapshot(cloud_user("c1", "alice@contoso.com"),
                                          features={**flags, "blockSoftMatchEnabled": True}),
        "directory role": snapshot(cloud_user("c1", "alice@contoso.com"), features=flags,
                                   directory_role_members={"Global Administrator": ("c1",)}),
    }
    for words, cloud in cases.items():
        (p,) = not_moved(run(a, cloud=cloud))
        assert p.kind == "cloud_conflict" and p.severity == "error", words
        assert words in p.message, (words, p.message)


def test_other_object_type_holding_the_address_cannot_be_merged():
    a = obj("A", proxy_addresses=("SMTP:sales@contoso.com",))
    grp = CloudObject(id="g1", kind=ObjectKind.GROUP, mail="sales@contoso.com",
                      proxy_addresses=("SMTP:sales@contoso.com",))
    (p,) = run(a, cloud=snapshot(grp)).problems
    assert p.kind == "cloud_conflict" and "ObjectTypeMismatch" in p.message


def test_deleted_holder_is_reported_as_such():
    a = obj("A", user_principal_name="grace@contoso.com")
    gone = cloud_user("d1", "grace@contoso.com", deleted=True, deleted_at="2026-11-01T00:00:00Z",
                      sync_enabled=True, immutable_id="b3RoZXI=")
    (p,) = run(a, cloud=snapshot(gone)).problems
    assert (p.kind, p.severity) == ("cloud_conflict", "warning")
    assert p.related[0]["state"] == "deleted" and "recycle bin" in p.message


def test_own_object_in_the_recycle_bin_is_restored_not_a_conflict():
    a = obj("A", user_principal_name="grace@contoso.com")
    gone = cloud_user("d1", "grace@contoso.com", deleted=True, sync_enabled=True, immutable_id=anchor(a))
    assert run(a, cloud=snapshot(gone)).problems == []


def test_already_synced_object_is_never_soft_matched():
    a = obj("A", user_principal_name="alice@contoso.com")
    own = cloud_user("own", "alice1234@contoso.onmicrosoft.com", sync_enabled=True, immutable_id=anchor(a))
    twin = cloud_user("twin", "alice@contoso.com")
    (p,) = run(a, cloud=snapshot(own, twin, features={"softMatchOnUpnEnabled": True})).problems
    assert p.kind == "cloud_conflict" and "already synced" in p.message


def test_keep_uses_the_cloud_licence():
    a = obj("A", proxy_addresses=("SMTP:a@contoso.com", "smtp:x@contoso.com"))
    b = obj("B", proxy_addresses=("SMTP:b@contoso.com", "smtp:x@contoso.com"))
    cb = cloud_user("cb", "b@contoso.com", sync_enabled=True, immutable_id=anchor(b), license_count=1,
                    proxy_addresses=("SMTP:b@contoso.com", "smtp:x@contoso.com"))
    got = _by_dn(run(a, b, cloud=snapshot(cb)), "smtp-duplicate")
    assert got[b.dn].keep == "yes" and got[a.dn].keep == "no"


def test_checker_streams_objects_one_at_a_time():
    c = Checker(TLDS)
    for i in range(3):
        c.add(obj(f"U{i}", user_principal_name="same@contoso.com"), "stream")
    res = c.finish("now")
    assert res.scanned == 3 and len(res.problems) == 3 and res.data()["schema"] == "reconciler.checks/1"


def test_galsync_contact_of_a_user_in_another_forest_is_a_warning_not_a_removal():
    user = obj("Alice", user_principal_name="alice@contoso.com", proxy_addresses=("SMTP:alice@contoso.com",))
    contact = obj("Alice (Contoso)", "contact", mail="alice@contoso.com", proxy_addresses=("SMTP:alice@contoso.com",),
                  dn="CN=Alice (Contoso),OU=GAL,DC=fabrikam,DC=com")
    res = run(user, forests=([contact],))
    assert {p.dn for p in res.problems} == {user.dn, contact.dn}
    assert {p.severity for p in res.problems} == {"warning"}
    assert all("GALSync" in p.message and p.action is None for p in res.problems)
    # the same pair inside one forest is a real duplicate
    same = run(user, obj("Alice (copy)", "contact", proxy_addresses=("smtp:alice@contoso.com",)))
    assert {p.severity for p in same.problems} == {"error"}


def test_one_cloud_problem_per_value_even_when_held_in_three_attributes():
    a = obj("A", mail="x@contoso.com", proxy_addresses=("SMTP:X@contoso.com",))
    held = cloud_user("c1", "x@contoso.com", sync_enabled=True, immutable_id="b3RoZXI=")
    (p,) = not_moved(run(a, cloud=snapshot(held)))
    assert (p.attribute, p.value) == ("proxyAddresses", "SMTP:X@contoso.com")
    b = obj("B", user_principal_name="y@contoso.com", mail="y@contoso.com", proxy_addresses=("SMTP:y@contoso.com",))
    (q,) = not_moved(run(b, cloud=snapshot(cloud_user("c2", "y@contoso.com", sync_enabled=True, immutable_id="eA=="))))
    assert (q.attribute, q.value) == ("userPrincipalName", "y@contoso.com")
