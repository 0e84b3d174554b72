"""The scan's filtered LDAP path on the injected fake DC: one cheap paged pass (kinds, anchors, SIDs, DNs),
then only the entries a cloud key may hit, fetched by objectGUID in bounded OR filters; the result equals
cutting down a full read, counts and coverage included."""

from __future__ import annotations

import uuid

import pytest

from reconciler.core.anchors import guid_to_immutable_id, normalize_dn
from reconciler.core.errors import NetworkError
from reconciler.sources.base import NullProgress
from reconciler.sources.ldap import (
    DEFAULT_FILTER,
    FETCH_ALL_SHARE,
    FETCH_BATCH,
    SKELETON_ATTRIBUTES,
    LdapIndex,
    LdapReader,
    LdapSettings,
)
from reconciler.sources.prefilter import NeededKeys, Whole, filtered_source

from .fakes import BASE, FakeAD, parse_filter

HOSTILE = [b"(", b")", b"*", b"\\", b"\x00", b" ", b"\n", b"\xff"]


def guid(i: int) -> bytes:
    """objectGUID bytes; every fifth one full of filter metacharacters."""
    g = uuid.UUID(int=i + 1).bytes_le
    if i % 5 == 0:
        g = HOSTILE[i % len(HOSTILE)] * 8 + g[8:]  # the number lives in the last 8 bytes
    return g


def entry(i: int) -> tuple[str, dict[str, list[bytes]]]:
    kind = ("user", "user", "group", "contact", "contact-nomail", "user", "group", "user", "contact", "contact-bare")[i % 10]
    dn = f"CN=Obj (#{i}) \\, *x*,OU=Staff,{BASE}"
    attrs: dict[str, list[bytes]] = {"objectGUID": [guid(i)], "cn": [f"Obj {i}".encode()],
                                     "whenChanged": [b"20261120101500.0Z"]}
    if kind == "user":
        attrs |= {"objectClass": [b"top", b"person", b"organizationalPerson", b"user"],
                  "userPrincipalName": [f"u{i}@contoso.com".encode()], "mail": [f"u{i}@contoso.com".encode()],
                  "proxyAddresses": [f"SMTP:u{i}@contoso.com".encode(), f"smtp:u{i}(x)*@corp.contoso.com".encode()],
                  "objectSid": [b"\x01\x05\x00\x00\x00\x00\x00\x05\x15\x00\x00\x00" + b"\x11" * 12 + i.to_bytes(4, "little")]}
        if i % 4 == 0:
            attrs["mS-DS-ConsistencyGuid"] = [uuid.UUID(int=10_000 + i).bytes_le]
    elif kind == "group":
        attrs |= {"objectClass": [b"top", b"group"], "groupType": [b"-2147483646"],
                  "objectSid": [b"\x01\x05\x00\x00\x00\x00\x00\x05\x15\x00\x00\x00" + b"\x22" * 12 + i.to_bytes(4, "little")]}
    else:
        attrs["objectClass"] = [b"top", b"person", b"organizationalPerson", b"contact"]
        if kind == "contact":
            attrs |= {"mail": [f"c{i}@partner.example".encode()], "proxyAddresses": [f"SMTP:c{i}@partner.example".encode()]}
        elif kind == "contact-nomail":
            attrs["proxyAddresses"] = [f"SMTP:n{i}@partner.example".encode()]
    return dn, attrs


def fake_dc(n: int) -> FakeAD:
    return FakeAD(entries=dict(entry(i) for i in range(n)), evaluate=True)


def reader(ad: FakeAD, **kw) -> LdapReader:
    return LdapReader(LdapSettings.from_url("ldaps://dc1.corp.contoso.com", bind_dn="r@corp", password="pw", **kw),
                      connect=lambda s: ad)


def subtree_calls(ad: FakeAD) -> list[tuple]:
    return [c[1] for c in ad.calls if c[0] == "search" and c[1][2] == "SUBTREE" and c[1][0] == BASE]


def fetches(ad: FakeAD) -> list[str]:
    return [c[1] for c in subtree_calls(ad) if c[1] != DEFAULT_FILTER]


def full_cut(n: int, keys: NeededKeys):
    full = reader(fake_dc(n)).read(NullProgress())
    return full, filtered_source(full, keys)


def same(a, b) -> None:
    assert [o.dn for o in a.objects] == [o.dn for o in b.objects]
    assert a.objects == b.objects
    assert (a.count, a.base_dn, a.notes, a.complete) == (b.count, b.base_dn, b.notes, b.complete)
    assert a.unlinkable() == b.unlinkable() and a.linkable_count() == b.linkable_count()
    for kind in ("user", "group", "contact"):
        assert a.anchored(kind) == b.anchored(kind), kind


def keys_from(objs, *, values=()) -> NeededKeys:
    return NeededKeys.of([o.anchor for o in objs if o.object_class == "user"],
                         [o.object_sid for o in objs if o.object_class == "group"],
                         [normalize_dn(o.dn) for o in objs[::7]], values)


def test_cheap_pass_asks_only_for_the_skeleton_and_counts_like_a_full_read():
    ad = fake_dc(2500)
    idx = reader(ad).prepare()
    assert isinstance(idx, LdapIndex) and idx.count == 2500
    cheap = [c for c in ad.calls if c[0] == "search" and c[1][1] == DEFAULT_FILTER]
    assert [c[1][3] for c in cheap] == [1000, 1000, 1000]
    full, cut = full_cut(2500, NeededKeys())
    same(idx.select(NeededKeys()), cut)
    assert idx.select(NeededKeys()).objects == [] and sum(cut.unlinkable().values()) == 250  # the bare contacts
    # contacts without mail are fetched in full during the pass (their proxyAddresses decide linkability)
    mailless = sum(1 for i in range(2500) if i % 10 in (4, 9))
    assert len(fetches(ad)) == -(-mailless // FETCH_BATCH)


def test_cheap_pass_attributes_are_the_skeleton():
    seen: list = []

    class Recording(FakeAD):
        def search(self, search_base, search_filter, search_scope="SUBTREE", *, attributes=None, **kw):
            seen.append((search_filter, tuple(attributes or ())))
            return super().search(search_base, search_filter, search_scope, attributes=attributes, **kw)

    ad = Recording(entries=dict(entry(i) for i in range(12)), evaluate=True)
    reader(ad).prepare()
    assert (DEFAULT_FILTER, SKELETON_ATTRIBUTES) in seen
    assert all("proxyAddresses" not in attrs for flt, attrs in seen if flt == DEFAULT_FILTER)


@pytest.mark.parametrize("pick", [slice(0, 3), slice(0, 700, 3), slice(5, 1200, 2)])
def test_selection_equals_cutting_down_the_full_read(pick):
    full = reader(fake_dc(1200)).read(NullProgress())
    keys = keys_from(full.objects[pick])
    ad = fake_dc(1200)
    idx = reader(ad).prepare()
    before, before_all = len(fetches(ad)), len(subtree_calls(ad))
    got = idx.select(keys)
    same(got, filtered_source(full, keys))
    assert got.objects  # the keys hit something
    batches = fetches(ad)[before:]
    for flt in batches:
        assert flt.startswith(f"(&{DEFAULT_FILTER}(|") and flt.count("(objectGUID=") <= FETCH_BATCH
        parse_filter(flt)  # well-formed: every metacharacter of the hostile GUIDs is escaped
    wanted = len(idx.candidates(keys)) - sum(1 for i in idx.candidates(keys) if i in idx._mailless)
    if wanted > FETCH_ALL_SHARE * idx.count:  # a large share: one more full pass is cheaper than batches
        assert batches == [] and len(subtree_calls(ad)) - before_all == 2  # two pages of the base filter
    else:
        assert len(batches) == -(-wanted // FETCH_BATCH)


def test_contact_addresses_bring_every_contact_and_keep_only_the_matching_ones():
    full = reader(fake_dc(600)).read(NullProgress())
    keys = NeededKeys.of([], [], [], values={"C3@partner.example".casefold(), "n4@partner.example"})
    got = reader(fake_dc(600)).prepare().select(keys)
    same(got, filtered_source(full, keys))
    assert sorted(o.dn for o in got.objects) == sorted(
        o.dn for o in full.objects if o.cn in ("Obj 3", "Obj 4"))


def test_later_selections_fetch_only_what_is_new_and_by_guid_is_cached():
    ad = fake_dc(300)
    idx = reader(ad).prepare()
    full = reader(fake_dc(300)).read(NullProgress())
    k1 = keys_from(full.objects[:30])
    idx.select(k1)
    n = len(fetches(ad))
    same(idx.select(k1), filtered_source(full, k1))
    assert len(fetches(ad)) == n  # nothing asked twice
    target = full.objects[200]
    assert idx.by_guid(target.object_guid.upper()) == target
    assert idx.by_guid(target.object_guid) == target and len(fetches(ad)) == n + 1
    assert idx.by_guid(str(uuid.UUID(int=99_999))) is None


def test_a_large_share_is_fetched_by_one_more_full_pass():
    ad = fake_dc(300)
    idx = reader(ad).prepare()
    full = reader(fake_dc(300)).read(NullProgress())
    keys = keys_from(full.objects)
    assert len(idx.candidates(keys)) > FETCH_ALL_SHARE * idx.count
    before = len(subtree_calls(ad))
    same(idx.select(keys), filtered_source(full, keys))
    assert [c[1] for c in subtree_calls(ad)[before:]] == [DEFAULT_FILTER]


def test_fetch_pages_within_a_batch():
    ad = fake_dc(400)
    idx = reader(ad, page_size=7).prepare()
    full = reader(fake_dc(400)).read(NullProgress())
    keys = keys_from(full.objects[::6])
    same(idx.select(keys), filtered_source(full, keys))
    assert any(c[4] for c in subtree_calls(ad) if c[1] != DEFAULT_FILTER)  # a cookie: a second page was asked


def test_custom_filter_is_kept_in_every_fetch():
    flt = "(|(objectClass=user)(objectClass=group))"
    ad = fake_dc(120)
    idx = reader(ad, search_filter=flt).prepare()
    full = reader(fake_dc(120), search_filter=flt).read(NullProgress())
    keys = keys_from(full.objects)
    same(idx.select(keys), filtered_source(full, keys))
    assert all(c[1].startswith(f"(&{flt}(|") for c in subtree_calls(ad) if c[1] != flt)


def test_entry_gone_between_pass_and_fetch_is_left_out():
    ad = fake_dc(60)
    idx = reader(ad).prepare()
    full = reader(fake_dc(60)).read(NullProgress())
    keys = keys_from(full.objects)
    gone = full.objects[0].dn
    del ad.entries[gone]
    got = idx.select(keys)
    assert gone not in {o.dn for o in got.objects}
    assert [o for o in filtered_source(full, keys).objects if o.dn != gone] == got.objects
    assert got.count == 60  # what the pass counted


def test_full_read_is_forced_by_the_setting_or_an_entry_without_objectguid():
    assert isinstance(reader(fake_dc(10), full_read=True).prepare(), Whole)
    ad = fake_dc(10)
    del ad.entries[next(iter(ad.entries))]["objectGUID"]
    prepared = reader(ad).prepare()
    assert isinstance(prepared, Whole) and prepared.count == 10


def test_filter_evaluator_rejects_unescaped_metacharacters():
    with pytest.raises(ValueError):
        parse_filter("(objectGUID=a*b\x00)")
    with pytest.raises(ValueError):
        parse_filter("(cn=a\\zz)")
    assert parse_filter("(cn=obj \\28x\\29)")({"cn": [b"Obj (x)"]})
    assert guid_to_immutable_id(str(uuid.UUID(bytes_le=guid(5))))  # a hostile GUID is still a GUID


# ------------------------------------------------------------------ the scan use case on generated forests


def _dc_from_ldif(ldif) -> FakeAD:
    from reconciler.sources.ldif import iter_ldif_records

    with open(ldif, "rb") as f:
        return FakeAD(entries={dn: dict(attrs) for _line, dn, attrs in iter_ldif_records(f, ldif)}, evaluate=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scan_findings_identical_to_the_full_read_on_generated_forests(tmp_path, seed):
    import asyncio

    from reconciler.emulator.generate import GenerateOptions, generate
    from reconciler.sources.files import TenantFileSource
    from reconciler.workflow import scan

    tenant, ldif = tmp_path / "t.json", tmp_path / "f.ldif"
    generate(GenerateOptions(users=600, errors_per_1000=50, seed=seed), tenant, ldif)
    runs = {}
    for full_read in (False, True):
        ad = _dc_from_ldif(ldif)
        out = asyncio.run(scan(TenantFileSource(tenant), [reader(ad, full_read=full_read)], None))
        runs[full_read] = (out, ad)
    (filtered, ad), (full, _) = runs[False], runs[True]
    assert filtered.result.findings and [f.data() for f in filtered.result.findings] == \
        [f.data() for f in full.result.findings]
    assert filtered.result.stats == full.result.stats and filtered.result.warnings == full.result.warnings
    assert filtered.onprem[0].objects == full.onprem[0].objects
    assert filtered.result.stats["onprem_objects"] == len(ad.entries) > 4 * len(filtered.onprem[0].objects)
    assert any("(objectGUID=" in flt for flt in fetches(ad))  # fetched in batches, not by a second full pass


def test_one_fetch_connection_for_every_selection_closed_by_the_scan(tmp_path):
    import asyncio

    from reconciler.emulator.generate import GenerateOptions, generate
    from reconciler.sources.files import TenantFileSource
    from reconciler.workflow import scan

    tenant, ldif = tmp_path / "t.json", tmp_path / "f.ldif"
    generate(GenerateOptions(users=300, errors_per_1000=50, seed=4), tenant, ldif)
    ad = _dc_from_ldif(ldif)
    opened: list[int] = []

    def connect(s):  # type: ignore[no-untyped-def]
        opened.append(1)
        ad.unbound = False
        return ad

    r = LdapReader(LdapSettings.from_url("ldaps://dc1.corp.contoso.com", bind_dn="r@corp", password="pw"),
                   connect=connect)
    asyncio.run(scan(TenantFileSource(tenant), [r], None))
    assert len(opened) == 2 and ad.unbound  # the cheap pass, then one connection for every fetch, unbound


def test_a_fetch_connection_dropped_while_the_cloud_was_read_is_opened_again():
    import ldap3.core.exceptions as lx

    class Dropping(FakeAD):
        drop = 0

        def search(self, search_base, search_filter, *a, **kw):  # type: ignore[no-untyped-def]
            if self.drop and "(objectGUID=" in search_filter:
                self.drop -= 1
                raise lx.LDAPSessionTerminatedByServerError("session terminated by server")
            return super().search(search_base, search_filter, *a, **kw)

    ad = Dropping(entries=dict(entry(i) for i in range(200)), evaluate=True)
    idx = reader(ad).prepare()
    full = reader(fake_dc(200)).read(NullProgress())
    keys = keys_from(full.objects[:20])
    ad.drop = 1
    same(idx.select(keys), filtered_source(full, keys))
    ad.drop = 2  # dropped twice in a row: the error, not a loop
    with pytest.raises(NetworkError, match="stopped answering"):
        idx.select(keys_from(full.objects[100:140]))
    idx.close()
    assert ad.unbound


def test_global_catalog_without_consistency_guid_selects_by_objectguid_and_keeps_the_note():
    def gc_dc() -> FakeAD:
        return FakeAD(entries=dict(entry(i) for i in range(120)), evaluate=True, gc=True, pas=False)

    url = "ldaps://gc.corp.contoso.com:3269"
    full = LdapReader(LdapSettings.from_url(url, bind_dn="r@corp", password="pw"), connect=lambda s: gc_dc()).read(
        NullProgress())
    keys = keys_from(full.objects[::3])
    ad = gc_dc()
    got = LdapReader(LdapSettings.from_url(url, bind_dn="r@corp", password="pw"), connect=lambda s: ad).prepare(
        ).select(keys)
    same(got, filtered_source(full, keys))
    assert any("Global Catalog" in n for n in got.notes) and all(o.consistency_guid is None for o in got.objects)
