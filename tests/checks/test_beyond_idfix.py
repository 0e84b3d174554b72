"""check-onprem beyond IdFix: Microsoft's and Exchange Online's attribute rules, large attributes on real
X.509 certificates, source anchors across forests and against the cloud, UPN suffixes against the tenant."""

from __future__ import annotations

import base64
import subprocess
import sys
from dataclasses import replace

import pytest

from reconciler.checks.engine import Checker
from reconciler.checks.rules import RULE_GROUPS, RULES, select_rules
from reconciler.core.anchors import guid_to_immutable_id, immutable_id_to_guid
from reconciler.core.model import Domain
from reconciler.sources.ldif import parse_ldif_bytes

from .checks_helpers import NOW, ROOT, TLDS, anchor, certs, cloud_user, obj, rules, run, snapshot

DOMAINS = (Domain("contoso.com", is_default=True), Domain("contoso.onmicrosoft.com", is_initial=True))


def only(res, rule):
    return [p for p in res.problems if p.rule == rule]


# ---------------------------------------------------------------------------- attribute rules


def test_valid_international_values_are_never_flagged_by_any_rule():
    a = obj("Zoë O'Brien-Müller", given_name="Zoë", sn="O'Brien-Müller", mail_nickname="zoë.o'brien",
            user_principal_name="zoe.o'brien@contoso.com", mail="zoe.o'brien@xn--bcher-kva.de",
            proxy_addresses=("SMTP:zoe.o'brien@xn--bcher-kva.de", "smtp:zoe@contoso.cloud", "smtp:z@contoso.swiss",
                             "smtp:zoe@contoso.microsoft",
                             "X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=zoë",
                             "X400:C=US;A= ;P=Contoso;O=Exchange;S=O'Brien;G=Zoë (Jr);"))
    res = run(a)
    assert res.problems == [], [(p.rule, p.value) for p in res.problems]


def test_mail_gets_the_smtp_grammar_with_proposals():
    res = run(obj("A", mail="alice (sales)@contoso.com"), obj("B", mail="anna@bücher.de"),
              obj("C", mail="bob@contoso.local"), obj("D", mail="müller@contoso.com"))
    assert only(res, "mail-chars")[0].proposed == "alicesales@contoso.com"
    assert only(res, "mail-idn")[0].proposed == "anna@xn--bcher-kva.de"
    assert only(res, "mail-tld")[0].value == "bob@contoso.local"
    # diacritics in the name part are invalid in addresses (Microsoft: letters with diacritical marks)
    assert only(res, "mail-format")[0].value == "müller@contoso.com"


def test_alias_characters_follow_exchange_and_propose_them_removed():
    res = run(obj("A", mail_nickname="alice moreau(x)"), obj("B", mail_nickname="a..b"),
              obj("C", mail_nickname="łukasz"), obj("D", mail_nickname="françois_ß+news"))
    assert only(res, "mailnickname-chars")[0].proposed == "alicemoreaux"
    assert only(res, "mailnickname-period")[0].proposed == "a.b"
    assert {p.value for p in only(res, "mailnickname-chars")} == {"alice moreau(x)", "łukasz"}  # U+0142 is outside
    assert "'_'" in only(res, "mailnickname-chars")[0].message


def test_control_characters_in_names_are_replaced_by_a_space():
    res = run(obj("A", display_name="Alice\tMoreau\n", sn="Moreau\x0b"))
    got = {p.attribute: p.proposed for p in only(res, "name-chars")}
    assert got == {"displayName": "Alice Moreau", "sn": "Moreau"}


def test_sn_length_is_entras_64():
    assert only(run(obj("A", sn="b" * 65)), "sn-length")[0].proposed == "b" * 64
    assert not only(run(obj("A", sn="b" * 64)), "sn-length")


def test_upn_prefix_and_total_lengths_as_entra_enforces_them():
    ok = "a" * 64 + "@" + "b" * 44 + ".com"  # 64 + 1 + 48 = 113
    assert len(ok) == 113 and not only(run(obj("A", user_principal_name=ok)), "upn-length")
    for bad in ("a" * 65 + "@contoso.com", "a@" + "b" * 45 + ".com"):
        (p,) = only(run(obj("A", user_principal_name=bad)), "upn-length")
        assert "64 before the @" in p.message and p.severity == "error"


# ---------------------------------------------------------------------------- large attributes


def test_certificates_over_15_propose_the_expired_ones_parsed_from_real_x509():
    c = certs(13, expired=4)
    res = run(obj("A", user_certificates=c))
    (count,) = only(res, "usercertificate-count")
    assert count.severity == "error" and "17 certificates" in count.message
    assert "brings it to 13 (within the limit)" in count.message
    expired = only(res, "certificate-expired")
    assert len(expired) == 4 and all(p.action == "remove" for p in expired)
    assert {base64.b64decode(p.value) for p in expired} == set(c[:4])  # exactly the expired DER values
    assert all("expired on 2022-06-0" in p.message for p in expired)


def test_certificates_over_15_none_expired_says_so():
    (count,) = only(run(obj("A", smime_certificates=certs(16))), "usersmimecertificate-count")
    assert "None has expired" in count.message
    assert not only(run(obj("A", smime_certificates=certs(16))), "certificate-expired")


def test_too_many_certificates_even_without_the_expired_ones():
    (count,) = only(run(obj("A", user_certificates=certs(17, expired=1))), "usercertificate-count")
    assert "still over: remove 2 more" in count.message


def test_unreadable_certificate_values_are_counted_not_proposed():
    vals = certs(15) + (b"not a certificate",)
    res = run(obj("A", user_certificates=vals))
    assert "1 values are not readable" in only(res, "usercertificate-count")[0].message
    assert not only(res, "certificate-expired")


def test_certificates_and_photo_read_from_an_ldif_export(tmp_path):
    c = certs(14, expired=2)
    lines = ["dn: CN=Alice,OU=Staff,DC=corp,DC=contoso,DC=com", "objectClass: user", "cn: Alice",
             "displayName: Alice", "userPrincipalName: alice@contoso.com"]
    lines += [f"userCertificate:: {base64.b64encode(x).decode()}" for x in c]
    lines += [f"thumbnailPhoto:: {base64.b64encode(bytes(120 * 1024)).decode()}", "", ""]
    (o,) = parse_ldif_bytes("\n".join(lines).encode(), "corp.ldif")
    checker = Checker(TLDS, now=NOW)
    checker.add(o, "corp.ldif")
    res = checker.finish()
    assert {"usercertificate-count", "certificate-expired", "thumbnailphoto-size"} <= rules(res)
    from reconciler.cli.checks import ldif_changes

    out = ldif_changes(res)
    first = min((p for p in res.problems if p.rule == "certificate-expired"), key=lambda p: p.value)
    assert "delete: userCertificate" in out
    assert f"userCertificate:: {first.value[:60]}" in out.replace("\n ", "")  # binary: base64, not text


def test_photo_and_proxy_count_limits():
    assert only(run(obj("A", thumbnail_photo_size=100 * 1024 + 1)), "thumbnailphoto-size")
    assert not only(run(obj("A", thumbnail_photo_size=100 * 1024)), "thumbnailphoto-size")
    many = tuple(f"smtp:a{i}@contoso.com" for i in range(301))
    (p,) = only(run(obj("A", proxy_addresses=many)), "proxy-count")
    assert p.severity == "warning" and "300" in p.message


# ---------------------------------------------------------------------------- source anchors


def test_anchors_across_two_forests():
    a = obj("Alice Moreau", user_principal_name="alice@contoso.com")
    # forest 2: the migrated copy got forest 1's objectGUID as its mS-DS-ConsistencyGuid
    b = obj("Alice Moreau", user_principal_name="alice@fabrikam.com", consistency_guid=anchor(a),
            dn="CN=Alice Moreau,OU=Users,DC=fabrikam,DC=com")
    c = obj("Carol", user_principal_name="carol@fabrikam.com", dn="CN=Carol,OU=Users,DC=fabrikam,DC=com")
    res = run(a, forests=([b, c],))
    dup = only(res, "anchor-duplicate")
    assert {p.dn for p in dup} == {a.dn, b.dn}
    assert all(p.value == anchor(a) and p.keep == "undecided" and p.severity == "error" for p in dup)
    pa = next(p for p in dup if p.dn == a.dn)
    assert pa.related == ({"dn": b.dn, "attribute": "sourceAnchor", "source": "forest2.ldif"},)
    assert immutable_id_to_guid(anchor(a)) in pa.message


def test_contacts_and_distinct_anchors_are_not_anchor_duplicates():
    a = obj("A", "contact", mail="x@fabrikam.com", consistency_guid="1wfM9xV8fUSHbcAbDlqeOA==")
    b = obj("B", "contact", mail="y@fabrikam.com", consistency_guid="1wfM9xV8fUSHbcAbDlqeOA==")
    assert not only(run(a, b, obj("C"), obj("D")), "anchor-duplicate")


OLD_GUID = "0badc0de-0000-4000-8000-000000000001"


def _alice_cloud(**kw):
    """The cloud user as a full scan reads it: names, userType, and readable role data (none held)."""
    user = cloud_user("c1", "alice@contoso.com", sync_enabled=True, immutable_id=guid_to_immutable_id(OLD_GUID),
                      dn="CN=Alice,OU=Staff,DC=corp,DC=com", given_name="Alice", surname="Moreau",
                      user_type="Member", account_enabled=True, **kw)
    user = replace(user, display_name="Alice Moreau")
    return user


def _moved_alice():
    return obj("Alice Moreau", user_principal_name="alice@contoso.com", given_name="Alice", sn="Moreau",
               dn="CN=Alice Moreau,OU=Users,DC=fabrikam,DC=com")


def test_moved_user_gets_the_cloud_immutable_id_proposed():
    moved = _moved_alice()
    cloud = snapshot(_alice_cloud(), role_eligibility=())
    (p,) = only(run(moved, cloud=cloud), "anchor-cloud-mismatch")
    assert (p.attribute, p.kind, p.severity) == ("mS-DS-ConsistencyGuid", "cloud_conflict", "error")
    assert p.proposed == guid_to_immutable_id(OLD_GUID) and p.action is None  # review: planned, never blind
    assert p.value == "" and p.related[0]["cloud_id"] == "c1"
    assert "set_consistency_guid" in p.message and "UPN" in p.message


def test_moved_user_proposal_goes_through_the_fix_engines_guards():
    cases = {
        "holder_has_role": snapshot(_alice_cloud(), role_eligibility=(),
                                    directory_role_members={"Global Administrator": ("c1",)}),
        "eligibility_unknown": snapshot(_alice_cloud()),  # PIM eligibility not readable
        "target_disabled": snapshot(replace(_alice_cloud(), account_enabled=False), role_eligibility=()),
        "names_disagree": snapshot(replace(_alice_cloud(), given_name="Bob", surname="Stone",
                                           display_name="Bob Stone"), role_eligibility=()),
    }
    for guard, cloud in cases.items():
        (p,) = only(run(_moved_alice(), cloud=cloud), "anchor-cloud-mismatch")
        assert p.proposed is None and "guards refuse" in p.message and guard in p.message, (guard, p.message)


def test_moved_user_by_primary_smtp_and_its_current_guid_is_the_value():
    moved = obj("Alice Moreau", proxy_addresses=("SMTP:alice@contoso.com",), consistency_guid="AAECAwQFBgcICQoLDA0ODw==")
    cloud = snapshot(cloud_user("c1", "a@contoso.onmicrosoft.com", proxy_addresses=("SMTP:alice@contoso.com",),
                                sync_enabled=True, immutable_id=guid_to_immutable_id(OLD_GUID)))
    (p,) = only(run(moved, cloud=cloud), "anchor-cloud-mismatch")
    assert p.value == "AAECAwQFBgcICQoLDA0ODw==" and "primary SMTP" in p.message


def test_no_anchor_proposal_when_the_old_object_is_still_in_a_given_forest():
    old = obj("Alice Moreau", user_principal_name="alice.old@contoso.com", object_guid=OLD_GUID)
    new = obj("Alice Moreau", user_principal_name="alice@contoso.com", dn="CN=Alice,OU=Users,DC=fabrikam,DC=com")
    cloud = snapshot(cloud_user("c1", "alice@contoso.com", sync_enabled=True,
                                immutable_id=guid_to_immutable_id(OLD_GUID)))
    (p,) = only(run(new, forests=([old],), cloud=cloud), "anchor-cloud-mismatch")
    assert p.proposed is None and old.dn in p.message and "not a moved user" in p.message


def test_no_anchor_proposal_for_an_immutable_id_that_is_not_a_guid():
    a = obj("A", user_principal_name="alice@contoso.com")
    cloud = snapshot(cloud_user("c1", "alice@contoso.com", sync_enabled=True, immutable_id="alice@corp.local"))
    (p,) = only(run(a, cloud=cloud), "anchor-cloud-mismatch")
    assert p.proposed is None and "not a GUID" in p.message


def test_no_mismatch_for_own_object_cloud_only_twin_or_without_a_cloud_source():
    a = obj("A", user_principal_name="alice@contoso.com")
    own = snapshot(cloud_user("c1", "alice@contoso.com", sync_enabled=True, immutable_id=anchor(a)))
    twin = snapshot(cloud_user("c1", "alice@contoso.com"))  # no immutable id: an ordinary soft match
    for cloud in (own, twin, None):
        assert not only(run(a, cloud=cloud), "anchor-cloud-mismatch")


# ---------------------------------------------------------------------------- UPN suffix against the tenant


def test_unverified_upn_suffix_predicts_the_onmicrosoft_fallback():
    a = obj("A", user_principal_name="alice@fabrikam.com", mail_nickname="amoreau")
    b = obj("B", user_principal_name="bob@corp.local", proxy_addresses=("SMTP:bob.stone@contoso.com",))
    res = run(a, b, cloud=snapshot(domains=DOMAINS))
    got = {p.dn: p for p in only(res, "upn-unverified-suffix")}
    assert "amoreau@contoso.onmicrosoft.com" in got[a.dn].message
    assert "bob.stone@contoso.onmicrosoft.com" in got[b.dn].message  # primary SMTP prefix without a mailNickname
    assert all(p.severity == "warning" for p in got.values())


def test_verified_suffixes_groups_and_unknown_domains_are_not_flagged():
    a = obj("A", user_principal_name="alice@CONTOSO.com")
    g = obj("G", "group", user_principal_name="g@fabrikam.com")
    assert not only(run(a, g, cloud=snapshot(domains=DOMAINS)), "upn-unverified-suffix")
    res = run(obj("B", user_principal_name="bob@fabrikam.com"), cloud=snapshot())
    assert not only(res, "upn-unverified-suffix")
    assert any("no verified domains" in n for n in res.notes)


# ---------------------------------------------------------------------------- --rules


def test_idfix_selection_is_idfix_parity():
    ids = select_rules("idfix")
    assert ids == {r.id for r in RULES.values() if r.source.startswith("IdFix")}
    a = obj("A", user_principal_name="alice@contoso.com", mail="alice (x)@contoso.com", mail_nickname="a b",
            sam_account_name="a|moreau",
            proxy_addresses=tuple(f"smtp:a{i}@contoso.com" for i in range(301)))
    b = obj("B", proxy_addresses=("smtp:alice@contoso.com",), consistency_guid=anchor(a))
    full, idfix = run(a, b), run(a, b, rules=ids)
    assert {"mail-chars", "mailnickname-chars", "proxy-count", "anchor-duplicate", "cross-duplicate"} <= rules(full)
    assert rules(idfix) == {"samaccountname-chars"}


def test_rule_selection_syntax():
    assert select_rules(None) == select_rules("all") == frozenset(RULES)
    assert select_rules("all,-smtp-tld") == frozenset(RULES) - {"smtp-tld"}
    assert select_rules("-smtp-tld") == frozenset(RULES) - {"smtp-tld"}
    assert select_rules("large,anchor-duplicate") == RULE_GROUPS["large"] | {"anchor-duplicate"}
    assert select_rules("Exchange") == {r.id for r in RULES.values() if r.source == "Exchange Online"}
    with pytest.raises(ValueError, match="nosuch"):
        select_rules("idfix,nosuch")


def test_every_rule_is_in_a_source_group():
    grouped = RULE_GROUPS["idfix"] | RULE_GROUPS["microsoft"] | RULE_GROUPS["exchange"] | RULE_GROUPS["reconciler"]
    assert grouped == frozenset(RULES)


def test_cryptography_is_not_imported_by_the_cli_or_a_clean_check():
    code = ("import sys; from reconciler.cli import app; from reconciler.checks.engine import check;"
            "assert 'cryptography' not in sys.modules, 'imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
