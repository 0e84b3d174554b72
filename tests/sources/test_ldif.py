import base64
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.errors import BadInput
from reconciler.sources.ldif import iter_ldif_objects, parse_ldif_bytes
from reconciler.sources.onprem import read_onprem_file
from tests.conftest import SAMPLE_LDIF

GUID = "f7cc07d7-7c15-447d-876d-c01b0e5a9e38"
GUID_B64 = base64.b64encode(uuid.UUID(GUID).bytes_le).decode()


def test_sample_ldif_reads_every_object():
    src = read_onprem_file(SAMPLE_LDIF)
    assert len(src.objects) == 20
    assert src.base_dn == "DC=corp,DC=contoso,DC=com"
    kinds = {o.object_class for o in src.objects}
    assert kinds == {"user", "group", "contact"}
    priya = next(o for o in src.objects if o.cn == "Priya Natarajan")
    assert priya.proxy_addresses == ("SMTP:priya.natarajan@contoso.com", "smtp:priya@contoso.com")
    assert priya.object_sid.startswith("S-1-5-21-")


def test_folding_comments_version_and_multivalues():
    data = (
        b"version: 1\n"
        b"# a comment that is\n"
        b"  folded too\n"
        b"dn: CN=Smith\\, John,OU=Sta\n"
        b" ff,DC=corp,DC=com\n"
        b"objectClass: top\n"
        b"objectClass: user\n"
        b"objectGUID:: " + GUID_B64.encode() + b"\n"
        b"proxyAddresses: SMTP:john@corp.com\n"
        b"proxyAddresses;range=1-1: smtp:js@corp.com\n"
        b"displayName:: " + base64.b64encode("Jöhn Smïth".encode()) + b"\n"
        b"userPrincipalName: jo\n"
        b" hn@corp.com\n"
        b"\n"
    )
    [o] = parse_ldif_bytes(data)
    assert o.dn == "CN=Smith\\, John,OU=Staff,DC=corp,DC=com"
    assert o.object_class == "user"
    assert o.proxy_addresses == ("SMTP:john@corp.com", "smtp:js@corp.com")
    assert o.display_name == "Jöhn Smïth"
    assert o.user_principal_name == "john@corp.com"
    assert o.object_guid == GUID
    assert o.anchor == GUID_B64


def test_utf8_dn_in_base64_and_crlf():
    dn = "CN=Jörg Müller,OU=Staff,DC=corp,DC=com"
    data = b"dn:: " + base64.b64encode(dn.encode()) + b"\r\nobjectClass: contact\r\nmail: j@x.com\r\n\r\n"
    [o] = parse_ldif_bytes(data)
    assert o.dn == dn and o.object_class == "contact" and o.mail == "j@x.com"


def test_consistency_guid_takes_precedence_over_object_guid():
    other = uuid.uuid4()
    data = (b"dn: CN=a,DC=x\nobjectClass: user\nobjectGUID:: " + GUID_B64.encode() +
            b"\nmS-DS-ConsistencyGuid:: " + base64.b64encode(other.bytes_le) + b"\n")
    [o] = parse_ldif_bytes(data)
    assert o.anchor == guid_to_immutable_id(str(other))
    assert o.anchor != GUID_B64


def test_utf16_ldifde_export(tmp_path: Path):
    p = tmp_path / "u.ldf"
    p.write_bytes(b"\xff\xfe" + "dn: CN=Zoë,DC=x\nobjectClass: user\nsAMAccountName: zoe\n".encode("utf-16-le"))
    [o] = list(iter_ldif_objects(p))
    assert o.dn == "CN=Zoë,DC=x" and o.sam_account_name == "zoe"


def test_bom_and_computers_are_classified():
    [o] = parse_ldif_bytes(b"\xef\xbb\xbfdn: CN=PC1,DC=x\nobjectClass: user\nobjectClass: computer\n")
    assert o.object_class == "computer"


def test_user_account_control_and_when_created():
    [o] = parse_ldif_bytes(b"dn: CN=a,DC=x\nobjectClass: user\nuserAccountControl: 514\n"
                           b"whenCreated: 20200102030405.0Z\n")
    assert o.disabled is True
    assert o.when_created == "2020-01-02T03:04:05Z"


@pytest.mark.parametrize(("data", "line", "fragment"), [
    (b"dn: CN=a,DC=x\nobjectGUID:: !!notbase64\n", 2, "invalid base64"),
    (b"\x00\x01\x02\xff\xfe junk\x00\n", 1, ""),
    (b"dn: CN=a,DC=x\nthis line has no colon\n", 2, "expected 'attribute: value'"),
    (b"cn: first\n", 1, "must start with 'dn:'"),
    (b"dn: CN=a,DC=x\nchangetype: modify\n", 2, "change record"),
    (b"dn: CN=a,DC=x\nobjectGUID:: AAAA\n", 1, "GUID has 16 bytes"),
    (b"dn: CN=a,DC=x\nuserAccountControl: lots\n", 1, "not a number"),
    (b" continuation first\n", 1, "continuation"),
    (b"dn: CN=a,DC=x\nmail: \xff\xfe\n", 2, "not UTF-8"),
    (b"dn: CN=a,DC=x\nphoto:< file:///etc/passwd\n", 2, "URL values"),
])
def test_bad_ldif_names_the_line(tmp_path: Path, data, line, fragment):
    p = tmp_path / "bad.ldif"
    p.write_bytes(data)
    with pytest.raises(BadInput) as e:
        read_onprem_file(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:{line}")
    assert fragment in msg
    assert "\n" not in msg


def test_empty_and_missing_files(tmp_path: Path):
    empty = tmp_path / "empty.ldif"
    empty.write_bytes(b"")
    with pytest.raises(BadInput, match="empty file"):
        read_onprem_file(empty)
    with pytest.raises(BadInput, match="no such file"):
        read_onprem_file(tmp_path / "missing.ldif")
    comments = tmp_path / "c.ldif"
    comments.write_bytes(b"version: 1\n# nothing\n")
    with pytest.raises(BadInput, match="no directory objects"):
        read_onprem_file(comments)


def test_unknown_extension(tmp_path: Path):
    p = tmp_path / "x.txt"
    p.write_text("dn: x")
    with pytest.raises(BadInput, match="unknown on-prem file type"):
        read_onprem_file(p)


# ------------------------------------------------------------------ the block fast path against the line-by-line one

_BLOCK_HEADS = ["", "# Sven Dahl, corp.contoso.com\n", "# a comment\n folded on\n", "#\n#  two\n", "# c\n \n",
                "# c\n\t\n", "version: 1\n", " continuation\n", "# only\n"]
_BLOCK_LINES = ["objectClass: user", "cn: Sven", "displayName:: " + base64.b64encode(b"Sv\xc3\xa9n").decode(),
                "# inner comment", "description: folded\n  on", "changetype: add", "changetype: modify",
                "objectGUID:: AAECAwQFBgcICQoLDA0ODw==", "mail:", "dn: CN=inner,DC=x", "bad name: x", "jpegPhoto:< x",
                "cn", "sn:x", "objectClass:: dXNlcg==", "cn:  two spaces", "sn: a:  b", "sn:x: y", "mail: ",
                "objectGUID::  AAECAwQFBgcICQoLDA0ODw==", "objectGUID:: AAECAwQFBgcICQoLDA0ODw==\t", "mail::",
                "mail:: ", "displayName: trailing ", "objectClass:: dXNlcg", "cn::x: y", "sn:\tx", "mail:  "]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(_BLOCK_HEADS), st.sampled_from(["dn: CN=Sven,OU=Staff,DC=x", "dn:: Q049eCxEQz15", "cn: x"]),
       st.lists(st.sampled_from(_BLOCK_LINES), max_size=5))
def test_a_record_the_block_path_reads_is_read_the_same_line_by_line(head: str, dn: str, lines: list[str]) -> None:
    """Same DN, attributes and first line (the dn's, after ldapsearch's comment) as the line-by-line path."""
    import io

    from reconciler.sources.ldif import _fast_record, _Slow, _slow_records

    block = (head + "\n".join([dn, *lines])).encode("utf-8")
    try:  # first: the line-by-line path validates the names, which the block path then knows
        recs: list | None = list(_slow_records(io.BytesIO(block), Path("f.ldif"), 9, [False]))
    except BadInput:
        recs = None
    try:
        _, fdn, fattrs, skipped = _fast_record(block)
    except _Slow:
        return
    assert recs == [(10 + skipped, fdn, fattrs)]  # never a record the line-by-line path refuses
