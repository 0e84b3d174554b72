"""The LDAP adapters at their boundary (no server): URLs, paging, Windows-AD behaviours Samba lacks,
result-code mapping, the wiring's password handling. The connection is injected, never patched."""

from __future__ import annotations

import base64
import socket
import threading
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.errors import DirectoryError, DriftDetected, PermissionDenied, UsageError
from reconciler.fixes.writers.ldapconn import ConstraintViolation, LdapWriter
from reconciler.sources.base import NullProgress
from reconciler.sources.ldap import (
    DEFAULT_FILTER,
    LdapReader,
    LdapSettings,
    escape_filter_bytes,
    escape_filter_value,
)
from reconciler.wiring import SourceOptions, build_ldap_readers
from tests.conftest import SAMPLE_TENANT

from .fakes import BASE, FakeAD, fail

runner = CliRunner()


def user(i: int, **extra: list[bytes]) -> tuple[str, dict[str, list[bytes]]]:
    guid = uuid.UUID(int=i + 1)
    dn = f"CN=User {i},OU=Staff,{BASE}"
    attrs = {"objectClass": [b"top", b"person", b"organizationalPerson", b"user"],
             "objectGUID": [guid.bytes_le], "userPrincipalName": [f"u{i}@contoso.com".encode()],
             "proxyAddresses": [f"SMTP:u{i}@contoso.com".encode()], **extra}
    return dn, attrs


def fake(n: int = 3, **kw) -> FakeAD:
    return FakeAD(entries=dict(user(i) for i in range(n)), **kw)


def reader(ad: FakeAD, url: str = "ldaps://dc1.corp.contoso.com", **kw) -> LdapReader:
    return LdapReader(LdapSettings.from_url(url, bind_dn="reader@corp", password="pw", **kw),
                      connect=lambda s: ad)


class Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.advanced = 0

    def note(self, message: str) -> None:
        self.notes.append(message)

    def advance(self, n: int = 1, **counters: int) -> None:
        self.advanced += n


# ------------------------------------------------------------------ URLs and settings


@pytest.mark.parametrize("url,insecure,host,port,tls,verify,gc", [
    ("ldaps://dc1.corp.example", False, "dc1.corp.example", 636, "ldaps", True, False),
    ("ldap://dc1.corp.example", False, "dc1.corp.example", 389, "starttls", True, False),
    ("ldap://dc1.corp.example", True, "dc1.corp.example", 389, "plain", False, False),
    ("ldaps://dc1.corp.example", True, "dc1.corp.example", 636, "ldaps", False, False),
    ("ldap://gc.corp.example:3268", False, "gc.corp.example", 3268, "starttls", True, True),
    ("LDAPS://gc.corp.example:3269", False, "gc.corp.example", 3269, "ldaps", True, True),
])
def test_url_decides_tls_port_and_global_catalog(url, insecure, host, port, tls, verify, gc):
    s = LdapSettings.from_url(url, insecure=insecure, password="secret")
    assert (s.host, s.port, s.tls, s.verify, s.global_catalog) == (host, port, tls, verify, gc)
    assert "secret" not in repr(s)


@pytest.mark.parametrize("url", ["http://dc1", "dc1.corp.example", "ldaps://", "ldap://dc1:notaport"])
def test_bad_url_is_usage_error(url):
    with pytest.raises(UsageError, match="--ldap"):
        LdapSettings.from_url(url)


def test_url_path_is_the_base_dn():
    s = LdapSettings.from_url("ldaps://dc1/OU=Staff,DC=corp,DC=example")
    assert s.base_dn == "OU=Staff,DC=corp,DC=example"


def test_filter_escaping_rfc4515():
    assert escape_filter_value("a*b(c)\\d\x00") == "a\\2ab\\28c\\29\\5cd\\00"
    assert escape_filter_value("Nadia Petrova") == "Nadia Petrova"
    assert escape_filter_bytes(b"\x01\xff") == "\\01\\ff"


# ------------------------------------------------------------------ reading


def test_paged_read_gets_every_entry_across_pages_and_skips_referrals():
    ad = fake(2500)
    progress = Notes()
    src = reader(ad).read(progress)
    assert len(src.objects) == 2500 and progress.advanced == 2500
    searches = [c[1] for c in ad.calls if c[0] == "search" and c[1][2] == "SUBTREE"]
    assert [s[3] for s in searches] == [1000, 1000, 1000]
    assert [s[4] for s in searches] == [None, b"1000", b"2000"]
    assert searches[0][0] == BASE and searches[0][1] == DEFAULT_FILTER
    assert src.base_dn == BASE and ad.unbound


def test_objects_are_decoded_by_the_shared_decoder():
    ad = fake(1)
    obj = reader(ad).read(NullProgress()).objects[0]
    assert obj.object_guid == str(uuid.UUID(int=1))
    assert obj.anchor == guid_to_immutable_id(str(uuid.UUID(int=1)))
    assert obj.proxy_addresses == ("SMTP:u0@contoso.com",)
    assert obj.source == "ldaps://dc1.corp.contoso.com:636"


def test_ranged_attribute_names_are_folded():
    dn, attrs = user(0)
    attrs["proxyAddresses;range=0-*"] = attrs.pop("proxyAddresses")
    src = reader(FakeAD(entries={dn: attrs})).read(NullProgress())
    assert src.objects[0].proxy_addresses == ("SMTP:u0@contoso.com",)


def test_server_ignoring_paging_stops_at_1000_and_is_a_clear_error():
    ad = fake(1500, honour_paging=False)
    with pytest.raises(DirectoryError, match="stopped after 1000 entries.*not honoured") as e:
        reader(ad).read(NullProgress())
    assert e.value.exit_code == 5 and ad.unbound


def test_server_without_paging_control_is_a_clear_error():
    with pytest.raises(DirectoryError, match="does not support the paged-results control"):
        reader(fake(5, paging_supported=False)).read(NullProgress())


def test_referral_for_the_base_is_a_clear_error():
    ad = fake(1, search_result=fail(10, "referral", referrals=["ldap://dc2.child.corp.contoso.com/DC=child"]))
    with pytest.raises(DirectoryError, match="referred to ldap://dc2.child.*Global Catalog"):
        reader(ad, base_dn="DC=child,DC=corp,DC=contoso,DC=com").read(NullProgress())


def test_unauthenticated_search_asks_for_bind_dn():
    ad = fake(1, search_result=fail(1, "operationsError", message="a successful bind must be completed"))
    with pytest.raises(DirectoryError, match="give --bind-dn"):
        reader(ad).read(NullProgress())


def test_global_catalog_without_consistency_guid_falls_back_to_object_guid_and_says_so():
    guid = uuid.UUID(int=99)
    cg = uuid.UUID(int=7).bytes_le  # a migrated user: ConsistencyGuid != objectGUID
    dn, attrs = user(0, **{"mS-DS-ConsistencyGuid": [cg]})
    attrs["objectGUID"] = [guid.bytes_le]
    progress = Notes()
    src = reader(FakeAD(entries={dn: attrs}, gc=True, pas=False), "ldaps://gc.corp.contoso.com:3269").read(progress)
    obj = src.objects[0]
    assert obj.consistency_guid is None and obj.anchor == guid_to_immutable_id(str(guid))
    assert len(src.notes) == 1 and "fall back to objectGUID" in src.notes[0]
    assert progress.notes == [f"warning: {src.notes[0]}"]


def test_global_catalog_with_consistency_guid_in_pas_keeps_it_without_a_note():
    cg = uuid.UUID(int=7).bytes_le
    dn, attrs = user(0, **{"mS-DS-ConsistencyGuid": [cg]})
    src = reader(FakeAD(entries={dn: attrs}, gc=True, pas=True), "ldap://gc.corp.contoso.com:3268").read(NullProgress())
    assert src.objects[0].consistency_guid == base64.b64encode(cg).decode()
    assert src.notes == ()


def test_undecodable_value_names_the_dn():
    dn, attrs = user(0)
    attrs["objectGUID"] = [b"short"]
    with pytest.raises(DirectoryError, match="CN=User 0"):
        reader(FakeAD(entries={dn: attrs})).read(NullProgress())


# ------------------------------------------------------------------ writer (Windows semantics)


def windows_user() -> FakeAD:
    dn, attrs = user(0)
    attrs["proxyAddresses"] = [b"SMTP:Priya@Contoso.com", b"smtp:p.alias@contoso.com"]
    return FakeAD(entries={dn: attrs})


DN = f"CN=User 0,OU=Staff,{BASE}"


def test_remove_proxy_uses_the_stored_form_of_a_case_insensitive_match():
    ad = windows_user()
    assert LdapWriter(ad).remove_proxy_address(DN, "smtp:priya@contoso.com") == "SMTP:Priya@Contoso.com"
    assert ad.entries[DN]["proxyAddresses"] == [b"smtp:p.alias@contoso.com"]
    assert ad.calls[-1] == ("modify", (DN, {"proxyAddresses": [("MODIFY_DELETE", ["SMTP:Priya@Contoso.com"])]}))


def test_add_case_variant_is_refused_before_the_server_would():
    ad = windows_user()
    with pytest.raises(DriftDetected, match="already contains 'smtp:p.alias@contoso.com'"):
        LdapWriter(ad).add_proxy_address(DN, "SMTP:P.Alias@Contoso.com")
    assert not [c for c in ad.calls if c[0] == "modify"]


def test_value_removed_between_guard_and_write_is_drift():
    ad = windows_user()
    ad.modify_result = fail(16, "noSuchAttribute")
    with pytest.raises(DriftDetected, match="changed while writing") as e:
        LdapWriter(ad).remove_proxy_address(DN, "smtp:p.alias@contoso.com")
    assert e.value.exit_code == 4


def test_upn_swap_is_one_atomic_modify_and_maps_constraint_violation():
    ad = windows_user()
    ad.modify_result = fail(19, "constraintViolation")
    with pytest.raises(ConstraintViolation, match="already used by another object"):
        LdapWriter(ad).replace_upn(DN, "u0@contoso.com", "taken@contoso.com")
    assert ad.calls[-1] == ("modify", (DN, {"userPrincipalName": [("MODIFY_DELETE", ["u0@contoso.com"]),
                                                                   ("MODIFY_ADD", ["taken@contoso.com"])]}))


def test_insufficient_access_is_permission_denied():
    ad = windows_user()
    ad.deny_writes = True
    with pytest.raises(PermissionDenied, match="insufficientAccessRights"):
        LdapWriter(ad).add_proxy_address(DN, "smtp:new@contoso.com")


def test_bad_consistency_guid_is_usage_error():
    with pytest.raises(UsageError, match="16 bytes"):
        LdapWriter(windows_user()).set_consistency_guid(DN, None, base64.b64encode(b"abc").decode())


# ------------------------------------------------------------------ wiring and CLI


def test_wiring_takes_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("RECONCILER_LDAP_PASSWORD", "from-env")
    [r] = build_ldap_readers(SourceOptions(ldap=["ldaps://dc1"], bind_dn="CN=r"), prompt=lambda _: "nope")
    assert r.settings.password == "from-env" and "from-env" not in repr(r.settings)


def test_wiring_prompts_through_the_callback_when_no_environment():
    asked: list[str] = []
    [r] = build_ldap_readers(SourceOptions(ldap=["ldap://dc1"], bind_dn="CN=r", ldap_ca=Path("ca.pem")),
                             prompt=lambda q: asked.append(q) or "typed")
    assert r.settings.password == "typed" and asked == ["LDAP password for CN=r"]
    assert r.settings.tls == "starttls" and r.settings.ca_file == Path("ca.pem")


def test_wiring_without_password_or_prompt_is_usage_error():
    with pytest.raises(UsageError, match="RECONCILER_LDAP_PASSWORD"):
        build_ldap_readers(SourceOptions(ldap=["ldaps://dc1"], bind_dn="CN=r"))


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_cli_unreachable_server_is_exit_5_one_line(tmp_path):
    r = runner.invoke(app, ["scan", "--tenant", str(SAMPLE_TENANT), "--ldap", f"ldaps://127.0.0.1:{_closed_port()}",
                            "--bind-dn", "CN=x", "--db", str(tmp_path / "r.db")],
                      env={"RECONCILER_LDAP_PASSWORD": "pw-not-shown"})
    assert r.exit_code == 5, r.output
    assert r.output.count("\n") == 1 and "cannot connect" in r.output and "pw-not-shown" not in r.output


def test_cli_tls_handshake_failure_is_exit_5_one_line(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def not_tls() -> None:
        conn, _ = srv.accept()
        conn.recv(1024)
        conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nthis is not TLS\r\n")
        conn.close()

    t = threading.Thread(target=not_tls, daemon=True)
    t.start()
    port = srv.getsockname()[1]
    r = runner.invoke(app, ["scan", "--tenant", str(SAMPLE_TENANT), "--ldap", f"ldaps://127.0.0.1:{port}",
                            "--bind-dn", "CN=x", "--db", str(tmp_path / "r.db")],
                      env={"RECONCILER_LDAP_PASSWORD": "pw"})
    t.join(5)
    srv.close()
    assert r.exit_code == 5, r.output
    assert r.output.count("\n") == 1 and "TLS failed" in r.output


def test_connection_is_closed_when_the_rootdse_read_fails():
    ad = fake(1)
    ad.search = lambda *a, **k: ad._answer([], fail(52, "unavailable"))  # type: ignore[method-assign]
    with pytest.raises(DirectoryError, match="busy or unavailable"):
        reader(ad).read(NullProgress())
    assert ad.unbound


@pytest.mark.parametrize("scheme", ["ldaps", "ldap"])
def test_silent_server_is_a_timeout_not_a_hang(scheme):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    url = f"{scheme}://127.0.0.1:{srv.getsockname()[1]}"
    try:
        settings = LdapSettings.from_url(url, bind_dn="CN=x", password="pw", receive_timeout=1)
        with pytest.raises(DirectoryError, match="no answer within 1 s"):
            LdapReader(settings).read(NullProgress())
    finally:
        srv.close()


def test_ldif_export_round_trips_through_the_ldif_reader():
    import io

    from reconciler.sources.ldap import write_ldif
    from reconciler.sources.ldif import parse_ldif_bytes

    dn, attrs = user(5, displayName=[" Zoë Müller".encode()], cn=[b"Zo\xc3\xab"],
                     **{"mS-DS-ConsistencyGuid": [uuid.UUID(int=9).bytes_le]})
    dn = "CN=Zoë Müller,OU=Staff," + BASE
    buf = io.StringIO()
    assert write_ldif([(dn, {k.lower(): v for k, v in attrs.items()})], buf) == 1
    [back] = parse_ldif_bytes(buf.getvalue().encode("utf-8"))
    [direct] = reader(FakeAD(entries={dn: attrs})).read(NullProgress()).objects
    assert back.dn == dn and back.display_name == " Zoë Müller"
    assert dataclasses_replace(back) == dataclasses_replace(direct)


def dataclasses_replace(o):
    import dataclasses

    return dataclasses.replace(o, source="")
