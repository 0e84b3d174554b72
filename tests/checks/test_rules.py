"""Every rule fires on a bad value and leaves a valid one alone; IdFix's false positives stay fixed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.checks.rules import RULES, check_proxy, check_upn
from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.model import Domain, OnPremObject

from .checks_helpers import TLDS, anchor, certs, cloud_user, obj, rules, run, snapshot

L = "a" * 65

# rule id -> builder of (objects, cloud or None) on which the rule must fire for the first object
Case = Callable[[], tuple[list[OnPremObject], Any]]


def one(**kw: Any) -> Case:
    return lambda: ([obj("Alice Moreau", **kw)], None)


def two(kw_a: dict[str, Any], kw_b: dict[str, Any], cls_b: str = "user") -> Case:
    return lambda: ([obj("Alice Moreau", **kw_a), obj("Bob Stone", cls_b, **kw_b)], None)


def _cloud_conflict() -> tuple[list[OnPremObject], Any]:
    a = obj("Alice Moreau", user_principal_name="alice@contoso.com")
    return [a], snapshot(cloud_user("c1", "alice@contoso.com", sync_enabled=True, immutable_id="other=="))


def _cloud_own() -> tuple[list[OnPremObject], Any]:
    a = obj("Alice Moreau", user_principal_name="alice@contoso.com")
    return [a], snapshot(cloud_user("c1", "alice@contoso.com", sync_enabled=True, immutable_id=anchor(a)))


def _soft_match() -> tuple[list[OnPremObject], Any]:
    a = obj("Alice Moreau", user_principal_name="alice@contoso.com")
    return [a], snapshot(cloud_user("c1", "alice@contoso.com"), features={"softMatchOnUpnEnabled": True})


def _soft_already_synced() -> tuple[list[OnPremObject], Any]:
    a = obj("Alice Moreau", user_principal_name="alice@contoso.com")
    own = cloud_user("own", "alice.old@contoso.com", sync_enabled=True, immutable_id=anchor(a))
    return [a], snapshot(own, features={"softMatchOnUpnEnabled": True})


def _verified(*objs: OnPremObject) -> tuple[list[OnPremObject], Any]:
    return list(objs), snapshot(domains=(Domain("contoso.com", is_default=True),
                                         Domain("contoso.onmicrosoft.com", is_initial=True)))


def _moved(same: bool) -> Case:
    def case() -> tuple[list[OnPremObject], Any]:
        a = obj("Alice Moreau", user_principal_name="alice@contoso.com")
        old = anchor(a) if same else guid_to_immutable_id("0badc0de-0000-4000-8000-000000000001")
        return [a], snapshot(cloud_user("c1", "alice@contoso.com", sync_enabled=True, immutable_id=old))
    return case


FIRES: dict[str, Case] = {
    "displayname-length": one(display_name="a" * 256),
    "displayname-blank": one(display_name=None),
    "givenname-length": one(given_name="a" * 64),
    "mail-length": one(mail="a" * 250 + "@contoso.com"),
    "mailnickname-length": one(mail_nickname=L),
    "mailnickname-period": one(mail_nickname=".alice"),
    "proxy-length": one(proxy_addresses=("smtp:" + "a" * 250 + "@contoso.com",)),
    "proxy-extra-colon": one(proxy_addresses=("smtp::alice@contoso.com",)),
    "proxy-no-prefix": one(proxy_addresses=("alice@contoso.com",)),
    "smtp-chars": one(proxy_addresses=("smtp:alice moreau@contoso.com",)),
    "smtp-format": one(proxy_addresses=("smtp:alice..moreau@contoso.com",)),
    "smtp-idn": one(proxy_addresses=("smtp:anna@bücher.de",)),
    "smtp-tld": one(proxy_addresses=("smtp:alice@contoso.local",)),
    "smtp-primary-count": one(proxy_addresses=("SMTP:a@contoso.com", "SMTP:b@contoso.com")),
    "x400-chars": one(proxy_addresses=("X400:C=US;A= ;P=Contoso;O=Exchange;S=[Smith];",)),
    "x500-chars": one(proxy_addresses=('X500:/o=Contoso/cn="alice"',)),
    "proxy-chars": one(proxy_addresses=("SIP:alice moreau@contoso.com",)),
    "targetaddress-length": one(target_address="SMTP:" + "a" * 250 + "@fabrikam.com"),
    "targetaddress-extra-colon": one(target_address="SMTP::alice@fabrikam.com"),
    "targetaddress-chars": one(target_address="SMTP:alice moreau@fabrikam.com"),
    "targetaddress-format": one(target_address="SMTP:alice@@fabrikam.com"),
    "samaccountname-length": one(sam_account_name="a" * 21),
    "samaccountname-chars": one(sam_account_name="a|moreau"),
    "upn-length": one(user_principal_name=L + "@contoso.com"),
    "upn-chars": one(user_principal_name="alice moreau@contoso.com"),
    "upn-format": one(user_principal_name="alice.@contoso.com"),
    "upn-idn": one(user_principal_name="anna@bücher.de"),
    "upn-tld": one(user_principal_name="alice@corp.local"),
    "upn-duplicate": two({"user_principal_name": "alice@contoso.com"}, {"user_principal_name": "Alice@Contoso.com"}),
    "smtp-duplicate": two({"proxy_addresses": ("smtp:sales@contoso.com",)},
                          {"proxy_addresses": ("SMTP:sales@contoso.com",)}, "group"),
    "mail-duplicate": two({"mail": "bob@fabrikam.com"}, {"mail": "BOB@fabrikam.com"}, "contact"),
    "cross-duplicate": two({"user_principal_name": "alice@contoso.com"},
                           {"proxy_addresses": ("smtp:alice@contoso.com",)}),
    "proxy-duplicate": two({"proxy_addresses": ("X500:/o=Contoso/cn=Recipients/cn=alice",)},
                           {"proxy_addresses": ("x500:/o=contoso/cn=recipients/cn=ALICE",)}),
    "mailnickname-duplicate": two({"mail_nickname": "sales"}, {"mail_nickname": "Sales"}, "group"),
    "targetaddress-duplicate": two({"target_address": "SMTP:bob@fabrikam.com"},
                                   {"target_address": "smtp:bob@fabrikam.com"}, "contact"),
    "samaccountname-duplicate": two({"sam_account_name": "jdoe"}, {"sam_account_name": "JDoe"}),
    "cloud-conflict": _cloud_conflict,
    "soft-match": _soft_match,
    "mailnickname-chars": one(mail_nickname="alice moreau"),
    "mail-chars": one(mail="alice moreau@contoso.com"),
    "mail-format": one(mail="alice..moreau@contoso.com"),
    "mail-idn": one(mail="anna@bücher.de"),
    "mail-tld": one(mail="alice@contoso.local"),
    "sn-length": one(sn="a" * 65),
    "name-chars": one(display_name="Alice\tMoreau"),
    "upn-unverified-suffix": lambda: _verified(obj("Alice Moreau", user_principal_name="alice@fabrikam.com")),
    "usercertificate-count": one(user_certificates=certs(16)),
    "usersmimecertificate-count": one(smime_certificates=certs(16)),
    "certificate-expired": one(user_certificates=certs(14, expired=2)),
    "thumbnailphoto-size": one(thumbnail_photo_size=150 * 1024),
    "proxy-count": one(proxy_addresses=tuple(f"smtp:a{i}@contoso.com" for i in range(301))),
    "anchor-duplicate": two({"consistency_guid": "1wfM9xV8fUSHbcAbDlqeOA=="}, {"consistency_guid": "1wfM9xV8fUSHbcAbDlqeOA=="}),
    "anchor-cloud-mismatch": _moved(same=False),
}

# rule id -> objects holding valid values the rule must not flag (several are IdFix false positives)
VALID: dict[str, Case] = {
    "displayname-length": one(display_name="a" * 255),
    "displayname-blank": one(display_name="Alice Moreau"),
    "givenname-length": one(given_name="a" * 63),
    "mail-length": one(mail="alice@contoso.com"),
    "mailnickname-length": one(mail_nickname="a" * 64),
    "mailnickname-period": one(mail_nickname="alice.moreau"),
    "proxy-length": one(proxy_addresses=("smtp:alice@contoso.com",)),
    "proxy-extra-colon": one(proxy_addresses=("X500:/o=Contoso/ou=Exchange/cn=Recipients/cn=alice",
                                              "EUM:1234;phone-context=dialplan.contoso.com")),
    "proxy-no-prefix": one(proxy_addresses=("smtp:alice@contoso.com",)),
    "smtp-chars": one(proxy_addresses=("smtp:o'brien@contoso.com",)),  # IdFix #46
    "smtp-format": one(proxy_addresses=("smtp:alice.moreau+news@contoso.com",)),
    "smtp-idn": one(proxy_addresses=("smtp:anna@xn--bcher-kva.de", "smtp:info@example.xn--p1ai")),
    "smtp-tld": one(proxy_addresses=("smtp:a@contoso.cloud", "smtp:b@contoso.swiss", "smtp:c@contoso.africa",
                                     "smtp:d@contoso.app", "smtp:e@contoso.dev", "smtp:f@uni.edu.au")),
    "smtp-primary-count": one(proxy_addresses=("SMTP:a@contoso.com", "smtp:b@contoso.com")),
    "x400-chars": one(proxy_addresses=("X400:C=US;A= ;P=Contoso;O=Exchange;S=O'Brien;G=Sean (Jr);",)),  # #12
    "x500-chars": one(proxy_addresses=(  # IdFix #16: spaces and parentheses in X500
        "X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=o'brien",)),
    "proxy-chars": one(proxy_addresses=("NOTES:Alice Moreau/Contoso@Contoso", "SIP:alice@contoso.com",
                                        "CCMAIL:Moreau, Alice at Contoso")),
    "targetaddress-length": one(target_address="SMTP:alice@contoso.mail.onmicrosoft.com"),
    "targetaddress-extra-colon": one(target_address="SMTP:alice@fabrikam.com"),
    "targetaddress-chars": one(target_address="SMTP:o'brien@fabrikam.com"),
    "targetaddress-format": one(target_address="SMTP:alice@fabrikam.com"),
    "samaccountname-length": lambda: ([obj("Big Group", "group", sam_account_name="a" * 40)], None),
    "samaccountname-chars": one(sam_account_name="a.moreau"),
    "upn-length": one(user_principal_name="a" * 64 + "@contoso.com"),
    "upn-chars": one(user_principal_name="o'brien_#^~!-x@contoso.com"),  # IdFix #46/#79: apostrophe
    "upn-format": one(user_principal_name="alice.moreau@contoso.com"),
    "upn-idn": one(user_principal_name="anna@xn--bcher-kva.de"),
    "upn-tld": one(user_principal_name="alice@contoso.swiss"),
    "upn-duplicate": one(user_principal_name="alice@contoso.com"),
    "smtp-duplicate": one(proxy_addresses=("SMTP:sales@contoso.com", "smtp:sales@contoso.com.au")),
    "mail-duplicate": two({"mail": "bob@fabrikam.com"}, {"mail": "bob@fabrikam.net"}, "contact"),
    "cross-duplicate": one(user_principal_name="alice@contoso.com", mail="alice@contoso.com",
                           proxy_addresses=("SMTP:alice@contoso.com",)),
    "proxy-duplicate": two({"proxy_addresses": ("X500:/o=Contoso/cn=alice",)},
                           {"proxy_addresses": ("X500:/o=Contoso/cn=bob",)}),
    "mailnickname-duplicate": two({"mail_nickname": "sales"}, {"mail_nickname": "sales2"}, "group"),
    "targetaddress-duplicate": two({"target_address": "SMTP:bob@fabrikam.com"},
                                   {"target_address": "SMTP:rob@fabrikam.com"}, "contact"),
    "samaccountname-duplicate": two({"sam_account_name": "jdoe", "user_principal_name": "jdoe@contoso.com"},
                                    {"sam_account_name": "jdoe", "user_principal_name": "jdoe@fabrikam.com"}),
    "cloud-conflict": _cloud_own,
    "soft-match": _soft_already_synced,
    "mailnickname-chars": one(mail_nickname="müller.o'brien+news"),  # umlauts (U+00A1-U+00FF) and ' are valid
    "mail-chars": one(mail="o'brien@contoso.com"),
    "mail-format": one(mail="alice.moreau+news@contoso.com"),
    "mail-idn": one(mail="anna@xn--bcher-kva.de"),
    "mail-tld": one(mail="alice@contoso.cloud"),
    "sn-length": one(sn="a" * 64),
    "name-chars": one(display_name="Zoë O'Brien-Müller", given_name="Zoë", sn="O'Brien-Müller"),
    "upn-unverified-suffix": lambda: _verified(obj("Alice Moreau", user_principal_name="alice@Contoso.com")),
    "usercertificate-count": one(user_certificates=certs(15)),
    "usersmimecertificate-count": one(smime_certificates=certs(15)),
    "certificate-expired": one(user_certificates=certs(10, expired=5)),  # at the limit: nothing to propose
    "thumbnailphoto-size": one(thumbnail_photo_size=100 * 1024),
    "proxy-count": one(proxy_addresses=("SMTP:a@contoso.com",) + tuple(f"smtp:a{i}@contoso.com" for i in range(299))),
    "anchor-duplicate": two({"consistency_guid": "1wfM9xV8fUSHbcAbDlqeOA=="}, {}),
    "anchor-cloud-mismatch": _moved(same=True),
}


def test_every_rule_has_a_fire_case_and_a_valid_case():
    assert set(FIRES) == set(RULES)
    assert set(VALID) == set(RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_fires(rule: str):
    objs, cloud = FIRES[rule]()
    res = run(*objs, cloud=cloud)
    hits = [p for p in res.problems if p.rule == rule]
    assert hits, f"{rule} did not fire; got {rules(res)}"
    assert hits[0].dn == objs[0].dn or rule.endswith("duplicate")
    assert all(p.severity == RULES[rule].severity or rule == "cloud-conflict" for p in hits)
    assert all(p.kind == RULES[rule].kind for p in hits)
    assert all(p.message for p in hits)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_leaves_valid_values_alone(rule: str):
    objs, cloud = VALID[rule]()
    res = run(*objs, cloud=cloud)
    assert rule not in rules(res), [p.message for p in res.problems if p.rule == rule]


def test_clean_object_has_no_problems():
    a = obj("Alice Moreau", user_principal_name="alice.moreau@contoso.com", mail="alice.moreau@contoso.com",
            mail_nickname="alice.moreau", given_name="Alice",
            proxy_addresses=("SMTP:alice.moreau@contoso.com", "smtp:alice@contoso.mail.onmicrosoft.com",
                             "X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=am",
                             "SIP:alice.moreau@contoso.com"))
    assert run(a).problems == []


def _first(res: Any, rule: str) -> Any:
    return next(p for p in res.problems if p.rule == rule)


def test_proposals_strip_what_is_wrong():
    res = run(obj("A", user_principal_name="älice moreau@contoso.com",
                  proxy_addresses=("smtp::alice (x)@contoso.com", "X500::/o=Contoso/cn=a")))
    assert _first(res, "upn-chars").proposed == "alicemoreau@contoso.com"
    chain = [p for p in res.problems if p.value == "smtp::alice (x)@contoso.com"]
    assert [p.rule for p in chain] == ["proxy-extra-colon", "smtp-chars"]
    assert chain[-1].proposed == "smtp:alicex@contoso.com"
    assert _first(res, "proxy-extra-colon").action == "edit"
    x500 = [p for p in res.problems if p.value.startswith("X500")]
    assert x500[0].proposed == "X500:/o=Contoso/cn=a"


def test_idn_domains_get_their_a_label_proposed():
    res = run(obj("A", user_principal_name="anna@bücher.de", proxy_addresses=("smtp:anna@bücher.de",)))
    assert _first(res, "upn-idn").proposed == "anna@xn--bcher-kva.de"
    assert _first(res, "smtp-idn").proposed == "smtp:anna@xn--bcher-kva.de"
    assert "smtp-tld" not in rules(res) and "smtp-format" not in rules(res)


def test_upn_limits_are_entras_64_48_113():
    assert "upn-length" in rules(run(obj("A", user_principal_name="a@" + "b" * 45 + ".com")))
    assert "upn-length" not in rules(run(obj("A", user_principal_name="a@" + "b" * 44 + ".com")))
    assert "upn-length" not in rules(run(obj("A", user_principal_name="a" * 64 + "@" + "b" * 44 + ".com")))


def test_upn_local_part_may_not_end_with_a_period_or_hold_accents():
    assert "upn-format" in rules(run(obj("A", user_principal_name=".alice@contoso.com")))
    r = run(obj("A", user_principal_name="renée@contoso.com"))
    assert _first(r, "upn-chars").proposed == "renee@contoso.com"


def test_long_tlds_and_brand_tlds_are_valid():
    # IdFix's pattern allowed 2-17 letters; real TLDs are longer
    res = run(obj("A", proxy_addresses=("smtp:a@contoso.travelersinsurance", "smtp:b@contoso.xn--vermgensberatung-pwb",
                                        "smtp:c@contoso.microsoft")))
    assert res.problems == []


def test_tld_list_is_replaceable():
    a = obj("A", user_principal_name="alice@contoso.com")
    assert "upn-tld" in rules(run(a, tlds=frozenset({"org"})))
    assert "upn-tld" not in rules(run(a, tlds=frozenset({"com"})))


def test_mailnickname_chain_keeps_the_original_value():
    res = run(obj("A", mail_nickname="." + "a" * 70))
    ps = [p for p in res.problems if p.attribute == "mailNickname"]
    assert {p.value for p in ps} == {"." + "a" * 70}
    assert ps[-1].proposed == "a" * 63


def test_blank_display_name_proposes_the_cn():
    res = run(obj("Alice Moreau", display_name=""))
    assert _first(res, "displayname-blank").proposed == "Alice Moreau"


def test_every_rule_is_documented_with_its_source():
    from .checks_helpers import ROOT

    doc = (ROOT / "docs" / "check-onprem.md").read_text("utf-8")
    for rule in RULES.values():
        row = next((ln for ln in doc.splitlines() if ln.startswith(f"| `{rule.id}` |")), None)
        assert row is not None, f"{rule.id} missing from docs/check-onprem.md"
        assert rule.source in row and rule.severity in row


_ADDRISH = st.text(alphabet=st.sampled_from("ab.@ -'(é)[]:;\"xn-ü,<>\t"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(local=_ADDRISH, domain=st.sampled_from(["contoso.com", "bücher.de", "corp.local", "x", ""]))
def test_upn_proposals_pass_the_rules_they_fix(local: str, domain: str):
    hits = check_upn(f"{local}@{domain}", TLDS)
    final = next((h.proposed for h in reversed(hits) if h.proposed), None)
    if final is not None:
        again = {h.rule for h in check_upn(final, TLDS)}
        assert not again & {"upn-chars", "upn-idn"}, (local, domain, final, again)


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(["smtp:", "SMTP:", "X500:", "x400:", "SIP:", "NOTES:", ""]), rest=_ADDRISH)
def test_proxy_proposals_pass_the_rules_they_fix(prefix: str, rest: str):
    hits = check_proxy(prefix + rest + "@contoso.com", TLDS)
    final = next((h.proposed for h in reversed(hits) if h.proposed), None)
    if final is not None:
        fixed_rules = {h.rule for h in hits if h.proposed}
        assert not fixed_rules & {h.rule for h in check_proxy(final, TLDS)}, (prefix + rest, final)



_ADDR_CHARS = st.text(alphabet="aZ09.-@_'+!#~ü\t \"[]()\x00", max_size=24)


@settings(max_examples=1500, deadline=None)
@given(local=_ADDR_CHARS, domain=st.one_of(_ADDR_CHARS, st.sampled_from(["contoso.com", "mail.contoso.com",
                                                                         "corp.local", "a-b.c-d.org", "x.-y.com"])),
       at=st.sampled_from(["@", "", "@@"]), pad=st.sampled_from([0, 40, 90]))
def test_the_quick_address_checks_say_what_the_address_grammar_says(local: str, domain: str, at: str,
                                                                     pad: int) -> None:
    """The fast paths of the address rules (a domain's verdict remembered, the local part alone by regex, a
    quicker first look for X.500 values) pass exactly the values the whole-address patterns pass, so no bad value
    skips the rule chains."""
    from reconciler.checks.rules import _ADDRESS, _UPN_OK, _X_BAD, _good_address, _good_upn, _plain_x

    v = "a" * pad + local + at + domain
    loc, _, dom = v.rpartition("@")
    address = bool(_ADDRESS.fullmatch(v)) and v.rpartition(".")[2].lower() in TLDS
    upn = (bool(_UPN_OK.fullmatch(v)) and len(v) <= 113 and len(loc) <= 64 and len(dom) <= 48
           and dom.rpartition(".")[2].casefold() in TLDS)
    for _ in range(2):  # the second time from the remembered verdict
        assert _good_address(v, TLDS) is address
        assert _good_upn(v, TLDS) is upn
    assert _plain_x("X500:" + v) is not bool(_X_BAD.search("X500:" + v, 5))
    if address:
        assert check_proxy("SMTP:" + v, TLDS) == [] or len(v) > 251
    if upn:
        assert check_upn(v, TLDS) == []


def test_each_tld_list_keeps_its_own_domain_verdicts() -> None:
    """The remembered domain verdicts belong to one TLD list: a custom list that knows .local passes what the
    default list refuses, in either order and again."""
    from reconciler.checks.rules import _good_address

    with_local = frozenset(TLDS | {"local"})
    for _ in range(2):
        assert _good_address("ann@corp.local", with_local)
        assert not _good_address("ann@corp.local", TLDS)
        assert check_proxy("smtp:ann@corp.local", with_local) == []
        assert check_proxy("smtp:ann@corp.local", TLDS) != []
