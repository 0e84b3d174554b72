"""The pass's fast path (one match per record) against its careful way, and both against the full reader.

The fast path (:data:`prefilter_scan._RECORD`) may pass a record on to the careful way (:data:`_ODD`, then
``_plain``) whenever it likes, but a record it reads must be one the careful way reads, with the same DN, keys and
classes. Records are drawn from lines that are plain, nearly plain and odd (bad base64, a key in plain text, a folded
class, a second objectGUID, a DN in the body, an option on a name, a whitespace-only continuation, ...).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.errors import BadInput
from reconciler.sources import prefilter_scan as ps
from reconciler.sources.onprem import read_onprem_file
from reconciler.sources.prefilter import NeededKeys, index_ldif


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


GUID, GUID2 = _b64(bytes(range(16))), _b64(bytes(range(1, 17)))
SID = _b64(bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + bytes(range(7, 23)))

HEADS = [
    "dn: CN=a,OU=Staff,DC=x", "dn:  CN=a,DC=x", "dn: CN=a\\, b,DC=x", "dn: CN=N\u00e9e,DC=x", "dn: CN=a,D\n C=x",
    "dn: CN=a,DC=x\n ", "dn: CN=a,DC=x\n  \t", "dn:: " + _b64(b"CN=b,DC=x"), "dn: ", "dn: CN=a,,DC=x", "dn:CN=a,DC=x",
    "# c\ndn: CN=a,DC=x", "# c\n more\ndn: CN=a,DC=x", "# c\n \ndn: CN=a,DC=x", "DN: CN=a,DC=x", "dn: ,DC=x",
    "dn: CN=\"q\",DC=x", "dn: CN=a;b,DC=x", "# only a comment",
]
LINES = [
    "cn: x", "description: hello world", "displayName: Ren\u00e9e", "cn:x", "cn:", "sAMAccountName: s", "mail: a@x.com",
    "sAMAccountName:", "proxyAddresses: SMTP:a@x.com", "userCertificate:: " + _b64(b"\x00\xffcert"),
    "userCertificate:: abc", "userCertificate:: ab=c", "userCertificate:: ****", "userCertificate:: YWJj\t",
    "userCertificate:: YWJjZA==", "userCertificate:: YWJjZA==YQ==", "userCertificate::", "displayName:: " + _b64(b"x"),
    "objectClass: user", "objectClass: group", "objectClass: contact", "objectClass: computer",
    "objectClass: inetOrgPerson", "objectClass: top", "objectClass: User", "objectClass: u\u017fer", "objectClass: user ",
    "objectClass: users", "objectClass:user", "objectClass:: dXNlcg==", "objectClass:< file:///x", "objectClass: us\n er",
    "objectGUID:: " + GUID, "objectGUID:: " + GUID2, "objectGUID:: " + _b64(bytes(15)), "objectGUID: plain",
    "objectGUID::", "OBJECTGUID:: " + GUID, "objectSid:: " + SID, "objectSid:: " + _b64(bytes(9)),
    "mS-DS-ConsistencyGuid:: " + GUID2, "ms-ds-consistencyguid:: " + GUID, "mS-DS-ConsistencyGuid:: ",
    "objectGUID:: AAAA=", "objectGUID:: " + GUID + "=", "objectSid:: ab=c", "mS-DS-ConsistencyGuid:: abc",
    "objectGUID::\t" + GUID + " ", "objectSid:: " + SID[:-2],
    "userAccountControl: 512", "userAccountControl: -1 ", "userAccountControl: abc", "userAccountControl:: NTEy",
    "userAccountControl: 5\n 12", "groupType: -2147483646", "changetype: add", "changetype: modify", "ref: ldap://x",
    "search: 2", "text: x", "result: 0 Success", "1.2.840.113556.1.4.1: x", "1.2.840::YWJj", "1.2.:x",
    "proxyAddresses;range=0-1: smtp:a@x", " continuation", "  ", " \tx", "# comment", "# comment\n more",
    "dn: CN=inner,DC=x", "dn;x: y", "bad name: x", "jpegPhoto:< file:///x", "\t", "a.b: x", "-x: y", "x\x01: y",
    "memberOf: CN=All Staff,OU=Groups,DC=x\n ,DC=y", "description: caf\u00e9\n  tail",
]


def _careful(piece: bytes, e: int) -> object:
    low = piece.lower()
    if ps._ODD.search(b"\n" + low[:e]) is not None:
        return "in full"
    try:
        return ps._plain(piece, 0, e)
    except ps._Unusual:
        return "in full"


def _fast(piece: bytes, e: int) -> object:
    m = ps._RECORD.match(piece.lower(), 0)
    if m is None or m.end() != e:
        return "passed on"
    try:
        *rec, key = ps._fast(piece, piece.lower(), m)
    except ps._Unusual:
        return "in full"
    assert key == rec[0].lower().replace(b" ", b"")  # the DN's key, as index_piece makes it from a careful read
    return tuple(rec)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(HEADS), st.lists(st.sampled_from(LINES), max_size=8), st.booleans())
def test_a_record_the_fast_path_reads_the_careful_way_reads_the_same(head: str, lines: list[str], upper: bool) -> None:
    text = "\n".join([head, *lines])
    if upper:  # attribute names in other spellings; values keep theirs
        text = "\n".join((ln.split(":", 1)[0].upper() + ":" + ln.split(":", 1)[1]) if ":" in ln and ln[:1] != " "
                         else ln for ln in text.split("\n"))
    rec = text.encode("utf-8")
    if b"\n\n" in rec or rec.endswith(b"\n"):
        return  # not one record
    piece = rec + b"\n\n"
    fast = _fast(piece, len(rec))
    if fast == "passed on":
        return
    assert fast == _careful(piece, len(rec)), rec


PLAIN = [
    # ldifde
    "dn: CN=Sven Dahl,OU=Sales,DC=corp,DC=contoso,DC=com\nchangetype: add\nobjectClass: top\nobjectClass: person\n"
    "objectClass: organizationalPerson\nobjectClass: user\ncn: Sven Dahl\nuserAccountControl: 512\n"
    f"objectGUID:: {GUID}\nobjectSid:: {SID}\nsAMAccountName: sdahl\nmS-DS-ConsistencyGuid:: {GUID}\n"
    "proxyAddresses: SMTP:sven@contoso.com\nproxyAddresses: smtp:sd@contoso.com\ndisplayName: Sven Dahl",
    # ldapsearch, folded at 78 columns, a comment per entry
    "# Sven Dahl, corp.contoso.com\ndn: CN=Sven Dahl,OU=Sales with a rather long name,DC=corp,DC=contoso,DC=co\n"
    f" m\nobjectClass: top\nobjectClass: group\ncn: Sales\ngroupType: -2147483646\nobjectSid:: {SID}\n"
    "member: CN=Sven Dahl,OU=Sales with a rather long name,DC=corp,DC=contoso,DC=com,CN=and some\n more\n"
    f"objectGUID:: {GUID}",
    # a contact, names in lower case
    "dn: CN=Ext,OU=Contacts,DC=x\nobjectclass: contact\nmail: ext@fabrikam.com\ntargetaddress: SMTP:ext@fabrikam.com",
]


@pytest.mark.parametrize("i", range(len(PLAIN)))
def test_plain_records_of_both_export_shapes_take_the_fast_path(i: int) -> None:
    """Otherwise the pass is correct but slow again: every record would go the careful way."""
    rec = PLAIN[i].encode()
    m = ps._RECORD.match(rec.lower(), 0)
    assert m is not None and m.end() == len(rec)
    assert ps._fast(rec + b"\n\n", rec.lower() + b"\n\n", m)[:5] == _careful(rec + b"\n\n", len(rec))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(HEADS[:4] + HEADS[11:13]), st.lists(st.sampled_from(LINES), max_size=5)),
                min_size=1, max_size=6), st.sampled_from([97, 1 << 20]), st.booleans())
def test_files_of_such_records_read_the_same_through_the_index(tmp_path: Path, monkeypatch, recs: list, chunk: int,
                                                                crlf: bool) -> None:
    from reconciler.sources import prefilter_index

    monkeypatch.setattr(prefilter_index, "CHUNK", chunk)
    plain = "".join(f"dn: CN=p{i},OU=Staff,DC=x\nobjectClass: user\nobjectGUID:: {_b64(i.to_bytes(16, 'big'))}\n\n"
                    for i in range(3))
    text = plain + "".join("\n".join([h, *ls, "objectGUID:: " + _b64((k + 100).to_bytes(16, "big"))]) + "\n\n"
                           for k, (h, ls) in enumerate(recs)) + plain.replace("CN=p", "CN=q")
    data = text.encode("utf-8")
    ldif = tmp_path / "f.ldif"
    ldif.write_bytes(data.replace(b"\n", b"\r\n") if crlf else data)
    try:
        full = read_onprem_file(ldif)
    except BadInput as e:
        with pytest.raises(BadInput) as new:
            index_ldif(ldif)
        assert str(new.value) == str(e)
        return
    every = NeededKeys.of((o.anchor for o in full.objects if o.anchor), (), ())
    kept = index_ldif(ldif).select(every)
    assert (kept.count, kept.base_dn, kept.notes, kept.unlinkable()) == \
        (len(full.objects), full.base_dn, full.notes, full.unlinkable())
    assert kept.objects == [o for o in full.objects if o.anchor]  # every attribute of every object
