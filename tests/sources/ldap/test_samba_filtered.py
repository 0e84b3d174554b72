"""The scan's filtered LDAP path against the real Samba AD DC: same findings as the full read, only the
entries the errors need fetched (by objectGUID, in bounded OR filters), counts and coverage of every entry."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from reconciler.core.anchors import normalize_dn
from reconciler.core.model import fold
from reconciler.sources import ldap as ldap_module
from reconciler.sources.base import NullProgress
from reconciler.sources.ldap import DEFAULT_FILTER, FETCH_BATCH, LdapIndex, LdapReader, open_connection
from reconciler.sources.prefilter import NeededKeys, filtered_source, keys_for
from reconciler.sources.tenantfile import read_tenant_file

from . import forest
from .test_samba_scan import URL, admin_settings, scan

pytestmark = pytest.mark.ldap
OWN_OU = f"OU=i17c Filtered Fetch,{forest.BASE_DN}"
HOSTILE_CG = b"(*)\\\x00 \n\xff" + uuid.uuid4().bytes[:8]


class Counting:
    """Wraps the real connection: records every search filter (one per page)."""

    def __init__(self) -> None:
        self.filters: list[str] = []

    def __call__(self, settings):  # type: ignore[no-untyped-def]
        conn = open_connection(settings)
        search = conn.search

        def counted(base, flt, *a, **kw):  # type: ignore[no-untyped-def]
            self.filters.append(flt)
            return search(base, flt, *a, **kw)
        conn.search = counted
        return conn


def same(a, b) -> None:
    assert a.objects == b.objects
    assert (a.count, a.base_dn, a.notes, a.complete) == (b.count, b.base_dn, b.notes, b.complete)
    assert a.unlinkable() == b.unlinkable()
    for kind in ("user", "group", "contact"):
        assert a.anchored(kind) == b.anchored(kind), kind


@pytest.fixture
def own_objects(sample_forest):
    """A user with a ConsistencyGuid full of filter metacharacters and odd contacts, under our own OU."""
    with forest.admin_connection() as conn:
        forest.delete_tree(conn, OWN_OU)
        forest.ensure_ou(conn, OWN_OU)
        forest.add_object(conn, f"CN=Odd (a*b) user,{OWN_OU}", {
            "objectclass": [b"top", b"person", b"organizationalPerson", b"user"], "sAMAccountName": [b"i17c-odd"],
            "userPrincipalName": [b"odd(*)@contoso.com"], "mS-DS-ConsistencyGuid": [HOSTILE_CG]})
        forest.add_object(conn, f"CN=Odd contact,{OWN_OU}", {
            "objectclass": [b"top", b"person", b"organizationalPerson", b"contact"],
            "proxyAddresses": [b"SMTP:odd(*)\\x@partner.example"]})
        forest.add_object(conn, f"CN=Bare contact,{OWN_OU}", {
            "objectclass": [b"top", b"person", b"organizationalPerson", b"contact"]})
        yield
        forest.delete_tree(conn, OWN_OU)


def test_scan_filtered_and_full_read_give_the_same_document(rewritten_tenant, tmp_path):
    env = {"RECONCILER_LDAP_PASSWORD": forest.ADMIN_PASSWORD}
    args = ["--tenant", str(rewritten_tenant), "--ldap", URL, "--bind-dn", forest.ADMIN_DN,
            "--ldap-ca", str(forest.ca_file())]
    a, b = tmp_path / "filtered.json", tmp_path / "full.json"
    r = scan(*args, db=tmp_path / "a.db", out=a, env=env)
    assert r.exit_code == 0, r.output
    r = scan(*args, "--ldap-full-read", db=tmp_path / "b.db", out=b, env=env)
    assert r.exit_code == 0, r.output
    filtered, full = json.loads(a.read_text()), json.loads(b.read_text())
    assert filtered["findings"] and filtered["findings"] == full["findings"]
    assert filtered["stats"]["onprem_objects"] > 0
    assert {k: v for k, v in filtered.items() if k != "generated"} == {k: v for k, v in full.items() if k != "generated"}


def test_selection_for_the_sample_tenant_equals_cutting_down_the_full_read(rewritten_tenant, own_objects):
    snapshot = read_tenant_file(rewritten_tenant)
    full = LdapReader(admin_settings()).read(NullProgress())
    counting = Counting()
    idx = LdapReader(admin_settings(), connect=counting).prepare()
    assert isinstance(idx, LdapIndex) and idx.count == len(full.objects)
    cheap = [f for f in counting.filters if f == DEFAULT_FILTER]
    assert len(cheap) == -(-len(full.objects) // 1000)
    keys = keys_for(snapshot)
    got = idx.select(keys)
    same(got, filtered_source(full, keys))
    assert 0 < len(got.objects) < len(full.objects)
    fetched = [f for f in counting.filters if f.startswith(f"(&{DEFAULT_FILTER}(|")]
    assert fetched and all(f.count("(objectGUID=") <= FETCH_BATCH for f in fetched)
    # a bare contact is not linkable: the cheap pass counted it like the full read does
    assert got.unlinkable() and not got.anchored("contact")


def test_hostile_anchor_dn_and_contact_address_are_found_on_the_dc(own_objects):
    full = LdapReader(admin_settings()).read(NullProgress())
    odd_user = base64.b64encode(HOSTILE_CG).decode()
    keys = NeededKeys.of([odd_user], [], [normalize_dn(f"CN=Bare contact,{OWN_OU}")],
                         values={fold("odd(*)\\x@partner.example")})
    got = LdapReader(admin_settings()).prepare().select(keys)
    same(got, filtered_source(full, keys))
    assert sorted(o.cn for o in got.objects) == ["Bare contact", "Odd (a*b) user", "Odd contact"]


def test_every_entry_selected_through_batches_equals_the_full_read(sample_forest, own_objects, monkeypatch):
    monkeypatch.setattr(ldap_module, "FETCH_ALL_SHARE", 1.0)  # batches even for every entry
    full = LdapReader(admin_settings()).read(NullProgress())
    keys = NeededKeys.of([o.anchor for o in full.objects if o.anchor], [], [])
    counting = Counting()
    got = LdapReader(admin_settings(page_size=7), connect=counting).prepare().select(keys)
    same(got, filtered_source(full, keys))
    assert len(got.objects) == len(full.objects)
    assert sum(f.startswith(f"(&{DEFAULT_FILTER}(|") for f in counting.filters) >= -(-len(full.objects) // FETCH_BATCH)
    guid_bytes = {bytes.fromhex(f.replace("\\", "")) for f in
                  (t.split(")")[0] for flt in counting.filters for t in flt.split("(objectGUID=")[1:])}
    assert any(set(g) & set(b"()*\\\x00") for g in guid_bytes)  # metacharacter bytes were escaped and still hit


def test_full_read_option_reads_everything_in_full(sample_forest):
    from reconciler.sources.prefilter import Whole

    prepared = LdapReader(admin_settings(full_read=True)).prepare()
    assert isinstance(prepared, Whole) and prepared.count == len(prepared.src.objects) > 0
    assert Path(forest.ca_file()).is_file()
