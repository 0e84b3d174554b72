"""The guarded LDAP writer against Samba: each operation, drift, duplicates, least privilege."""

from __future__ import annotations

import base64
import uuid

import pytest

from reconciler.core.errors import DriftDetected, PermissionDenied
from reconciler.fixes.writers.ldapconn import ConstraintViolation, LdapWriter
from reconciler.sources.ldap import LdapSettings

from . import forest
from .conftest import READER_DN, READER_PASSWORD, WRITER_OU

pytestmark = pytest.mark.ldap
ANNA = f"CN=Anna Writer,{WRITER_OU}"
BEA = f"CN=Bea Writer,{WRITER_OU}"


def writer(bind_dn: str = forest.ADMIN_DN, password: str = forest.ADMIN_PASSWORD) -> LdapWriter:
    return LdapWriter.connect(LdapSettings.from_url("ldaps://127.0.0.1", bind_dn=bind_dn, password=password,
                                                    ca_file=forest.ca_file()))


@pytest.fixture
def people(writer_ou):
    forest.add_user(writer_ou, ANNA, sam="awriter", upn="anna@writer.test",
                    proxies=["SMTP:anna@writer.test", "smtp:Anna.Old@writer.test"])
    forest.add_user(writer_ou, BEA, sam="bwriter", upn="bea@writer.test", proxies=["SMTP:bea@writer.test"])
    return writer_ou


def values(conn, dn: str, attr: str) -> list[bytes]:
    conn.search(dn, "(objectClass=*)", "BASE", attributes=[attr])
    return list(conn.response[0]["raw_attributes"].get(attr, []))


def test_replace_upn_when_current_value_matches(people):
    with writer() as w:
        w.replace_upn(ANNA, expected="ANNA@writer.test", new="anna.new@writer.test")
    assert values(people, ANNA, "userPrincipalName") == [b"anna.new@writer.test"]


def test_replace_upn_drift_writes_nothing(people):
    with writer() as w, pytest.raises(DriftDetected, match="userPrincipalName is 'anna@writer.test'"):
        w.replace_upn(ANNA, expected="someone.else@writer.test", new="x@writer.test")
    assert values(people, ANNA, "userPrincipalName") == [b"anna@writer.test"]


def test_replace_upn_with_a_value_another_object_holds_is_a_constraint_violation(people):
    with writer() as w, pytest.raises(ConstraintViolation, match="constraintViolation") as e:
        w.replace_upn(ANNA, expected="anna@writer.test", new="bea@writer.test")
    assert e.value.exit_code == 5
    assert values(people, ANNA, "userPrincipalName") == [b"anna@writer.test"]


def test_remove_proxy_address_matches_case_insensitively_and_keeps_the_others(people):
    with writer() as w:
        removed = w.remove_proxy_address(ANNA, "smtp:anna.old@WRITER.test")
    assert removed == "smtp:Anna.Old@writer.test"
    assert values(people, ANNA, "proxyAddresses") == [b"SMTP:anna@writer.test"]


def test_remove_missing_proxy_address_is_drift(people):
    with writer() as w, pytest.raises(DriftDetected, match="no longer contains"):
        w.remove_proxy_address(ANNA, "smtp:nobody@writer.test")


def test_add_proxy_address_and_refuse_a_case_variant(people):
    with writer() as w:
        w.add_proxy_address(BEA, "smtp:bea.alias@writer.test")
        with pytest.raises(DriftDetected, match="already contains"):
            w.add_proxy_address(BEA, "SMTP:BEA.ALIAS@writer.test")  # Samba would accept it; Windows would not
    assert sorted(values(people, BEA, "proxyAddresses")) == [b"SMTP:bea@writer.test", b"smtp:bea.alias@writer.test"]


def test_set_and_clear_consistency_guid_guarded_by_current_value(people):
    g1 = base64.b64encode(uuid.uuid4().bytes_le).decode()
    g2 = base64.b64encode(uuid.uuid4().bytes_le).decode()
    with writer() as w:
        w.set_consistency_guid(ANNA, expected=None, new=g1)
        assert values(people, ANNA, "mS-DS-ConsistencyGuid") == [base64.b64decode(g1)]
        with pytest.raises(DriftDetected):
            w.set_consistency_guid(ANNA, expected=None, new=g2)
        w.set_consistency_guid(ANNA, expected=g1, new=g2)
        assert values(people, ANNA, "mS-DS-ConsistencyGuid") == [base64.b64decode(g2)]
        with pytest.raises(DriftDetected):
            w.clear_consistency_guid(ANNA, expected=g1)
        w.clear_consistency_guid(ANNA, expected=g2)
    assert values(people, ANNA, "mS-DS-ConsistencyGuid") == []


def test_vanished_object_is_drift(people):
    with writer() as w, pytest.raises(DriftDetected, match="no longer exists"):
        w.replace_upn(f"CN=Gone,{WRITER_OU}", expected="x@writer.test", new="y@writer.test")


def test_least_privilege_account_reads_but_cannot_write(people, sample_forest):
    from reconciler.sources.base import NullProgress
    from reconciler.sources.ldap import LdapReader

    settings = LdapSettings.from_url("ldaps://127.0.0.1", bind_dn=READER_DN, password=READER_PASSWORD,
                                     ca_file=forest.ca_file())
    src = LdapReader(settings).read(NullProgress())
    assert any(o.dn == "CN=Lena Fischer,OU=Staff,DC=corp,DC=contoso,DC=com" for o in src.objects)
    with writer(READER_DN, READER_PASSWORD) as w:
        assert w.read(ANNA)["userprincipalname"] == [b"anna@writer.test"]
        with pytest.raises(PermissionDenied, match="insufficientAccessRights") as e:
            w.replace_upn(ANNA, expected="anna@writer.test", new="anna.hijack@writer.test")
        with pytest.raises(PermissionDenied):
            w.remove_proxy_address(ANNA, "SMTP:anna@writer.test")
    assert e.value.exit_code == 5
    assert values(people, ANNA, "userPrincipalName") == [b"anna@writer.test"]
