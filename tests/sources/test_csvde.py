import uuid
from pathlib import Path

import pytest

from reconciler.core.anchors import guid_to_immutable_id, sid_str_to_bytes
from reconciler.core.errors import BadInput
from reconciler.sources.csvde import parse_csvde_text
from reconciler.sources.ldif import parse_ldif_bytes
from reconciler.sources.onprem import read_onprem_file

G = "f7cc07d7-7c15-447d-876d-c01b0e5a9e38"


def _hex(b: bytes) -> str:
    return "X'" + b.hex() + "'"


def test_csvde_binary_and_multivalues():
    sid = "S-1-5-21-1-2-3-1105"
    text = ("DN,objectClass,objectGUID,objectSid,proxyAddresses,displayName,userPrincipalName\n"
            f"\"CN=Smith\\, John,OU=Staff,DC=corp,DC=com\",top;person;organizationalPerson;user,"
            f"{_hex(uuid.UUID(G).bytes_le)},{_hex(sid_str_to_bytes(sid))},"
            "SMTP:john@corp.com;smtp:js@corp.com,\"Smith; John (HQ)\",john@corp.com\n")
    [o] = parse_csvde_text(text)
    assert o.dn == "CN=Smith\\, John,OU=Staff,DC=corp,DC=com"
    assert o.object_class == "user"
    assert o.object_guid == G and o.anchor == guid_to_immutable_id(G)
    assert o.object_sid == sid
    assert o.proxy_addresses == ("SMTP:john@corp.com", "smtp:js@corp.com")
    assert o.display_name == "Smith; John (HQ)"  # single-valued: never split on ';'


def test_csvde_and_ldif_decode_the_same_object():
    sid = "S-1-5-21-1-2-3-1105"
    csv_obj = parse_csvde_text(
        "DN,objectClass,objectGUID,objectSid,mail\n"
        f"\"CN=a,DC=x\",top;user,{_hex(uuid.UUID(G).bytes_le)},{_hex(sid_str_to_bytes(sid))},a@x.com\n")[0]
    import base64

    ldif_obj = parse_ldif_bytes(
        b"dn: CN=a,DC=x\nobjectClass: top\nobjectClass: user\nobjectGUID:: "
        + base64.b64encode(uuid.UUID(G).bytes_le) + b"\nobjectSid:: "
        + base64.b64encode(sid_str_to_bytes(sid)) + b"\nmail: a@x.com\n")[0]
    from dataclasses import replace

    assert replace(csv_obj, source="") == replace(ldif_obj, source="")


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("cn,mail\nx,y\n", 1, "first column must be DN"),
    ("DN,mail\n\"CN=a,DC=x\",a@x.com,extra\n", 2, "3 columns, header has 2"),
    ("DN,objectGUID\n\"CN=a,DC=x\",X'zz'\n", 2, "invalid X'hex'"),
    ("DN,mail\n\"CN=a,DC=x\n", 2, "invalid CSV"),
])
def test_bad_csv(tmp_path: Path, text, line, fragment):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(BadInput) as e:
        read_onprem_file(p)
    assert str(e.value).startswith(f"{p}:{line}")
    assert fragment in str(e.value)


def test_csv_binary_junk_and_empty(tmp_path: Path):
    p = tmp_path / "junk.csv"
    p.write_bytes(b"DN,mail\n\x80\x81\x82\n")
    with pytest.raises(BadInput, match=r"junk.csv:2: not UTF-8"):
        read_onprem_file(p)
    e = tmp_path / "empty.csv"
    e.write_text("")
    with pytest.raises(BadInput, match="empty file"):
        read_onprem_file(e)


def test_an_x400_address_is_one_value_though_it_holds_semicolons():
    """csvde joins proxyAddresses with ';' and an X400 address holds ';' itself: split only before a type prefix
    (splitting at every ';' made 'A= ' and 'O=Exchange' values held by every mailbox: false duplicates)."""
    x400 = "X400:C=US;A= ;P=Contoso;O=Exchange;S=Smith;G=John;"
    [o] = parse_csvde_text("DN,objectClass,proxyAddresses\n"
                           f"\"CN=a,DC=x\",top;user,SMTP:john@corp.com;{x400};smtp:js@corp.com;x500:/o=C/cn=a\n")
    assert o.proxy_addresses == ("SMTP:john@corp.com", x400, "smtp:js@corp.com", "x500:/o=C/cn=a")
