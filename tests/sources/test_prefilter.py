"""The scan's filtered on-prem path gives byte-identical findings to reading every object.

Old path: ``read_onprem_file`` (every object decoded and kept). New path: ``index_ldif`` (one cheap
pass) + ``select(keys_for(snapshot))``. Compared on generated tenants (several seeds), in ldifde
and ldapsearch shape (comments, folded lines, CRLF), and on files the reader must refuse.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from zlib import crc32

import orjson
import pytest

from reconciler.core.anchors import common_dn_suffix
from reconciler.core.errors import BadInput
from reconciler.core.model import OnPremSource
from reconciler.emulator.generate import GenerateOptions, generate
from reconciler.sources.files import OnPremFileReader, TenantFileSource
from reconciler.sources.onprem import read_onprem_file
from reconciler.sources.prefilter import DnSuffix, NeededKeys, index_ldif, keys_for
from reconciler.sources.tenantfile import read_tenant_file
from reconciler.workflow import scan, scan_snapshot


def _doc(snapshot, sources):  # type: ignore[no-untyped-def]
    result, details = scan_snapshot(snapshot, sources)
    doc = result.data()
    doc.pop("generated", None)
    return orjson.dumps([doc, details], option=orjson.OPT_SORT_KEYS)


def _both(tenant: Path, ldif: Path) -> tuple[bytes, bytes, int]:
    snap = read_tenant_file(tenant)
    full = read_onprem_file(ldif)
    kept = index_ldif(ldif).select(keys_for(snap))
    assert kept.count == len(full.objects)
    assert kept.base_dn == full.base_dn
    return _doc(snap, [full]), _doc(snap, [kept]), len(kept.objects)


def _ldapsearch_shape(src: Path, dst: Path, crlf: bool = False, trailer: int | None = None, cut: int = 0) -> None:
    """What ``ldapsearch -o ldif-wrap=78`` writes: a header, a comment per entry, no changetype, folded lines."""
    out = ["# extended LDIF", "#", "# LDAPv3", "# base <DC=corp,DC=contoso,DC=com> with scope subtree", "#", ""]
    for rec in src.read_text(encoding="utf-8").split("\n\n"):
        lines = [ln for ln in rec.split("\n") if ln and ln != "changetype: add"]
        if not lines:
            continue
        out.append(f"# {lines[0][4:40]}, entry")
        for ln in lines + ["objectCategory: CN=Person,CN=Schema,CN=Configuration,DC=corp,DC=contoso,DC=com",
                           "memberOf: CN=All Staff With A Rather Long Group Name For Folding,OU=Groups,DC=corp,"
                           "DC=contoso,DC=com"]:
            while len(ln) > 78:
                out.append(ln[:78])
                ln = " " + ln[78:]
            out.append(ln)
        out.append("")
    if trailer is not None:
        out += ["# search result", "search: 2", "result: 0 Success", "", "# numResponses: 2",
                f"# numEntries: {trailer}", ""]
    data = ("\r\n" if crlf else "\n").join(out).encode("utf-8")
    dst.write_bytes(data[:len(data) - cut] if cut else data)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_findings_identical_on_generated_tenants(tmp_path: Path, seed: int) -> None:
    tenant, ldif = tmp_path / "t.json", tmp_path / "f.ldif"
    generate(GenerateOptions(users=1500, errors_per_1000=40, seed=seed), tenant, ldif)
    old, new, kept = _both(tenant, ldif)
    assert old == new
    assert 0 < kept < len(read_onprem_file(ldif).objects) / 2  # memory follows the errors


@pytest.mark.parametrize("crlf,trailer,cut", [(False, None, 0), (True, None, 0), (False, 0, 0), (True, 0, 0),
                                             (False, 7, 0), (False, None, 40), (True, None, 40)])
def test_findings_identical_in_ldapsearch_shape(tmp_path: Path, crlf: bool, trailer: int | None, cut: int) -> None:
    """Folded lines, comments, CRLF; the trailer (right and wrong numEntries); a file cut off mid-record."""
    tenant, ldif, shaped = tmp_path / "t.json", tmp_path / "f.ldif", tmp_path / "s.ldif"
    s = generate(GenerateOptions(users=1200, errors_per_1000=50, seed=11), tenant, ldif)
    _ldapsearch_shape(ldif, shaped, crlf=crlf, trailer=None if trailer is None else s.ldif_entries + trailer, cut=cut)
    old, new, _ = _both(tenant, shaped)
    assert old == new
    if trailer or cut:
        assert b"incomplete" in new


def test_scan_use_case_stores_the_same_findings_and_counts_every_object(tmp_path: Path) -> None:
    tenant, ldif = tmp_path / "t.json", tmp_path / "f.ldif"
    generate(GenerateOptions(users=800, errors_per_1000=50, seed=5), tenant, ldif)
    snap = read_tenant_file(tenant)
    full = read_onprem_file(ldif)
    out = asyncio.run(scan(TenantFileSource(tenant), [OnPremFileReader(ldif)], None))
    assert out.result.stats["onprem_objects"] == len(full.objects)
    expected, _ = scan_snapshot(snap, [full])
    assert [f.data() for f in out.result.findings] == [f.data() for f in expected.findings]
    assert len(out.onprem[0].objects) < len(full.objects)


# ------------------------------------------------------------------ unusual records: same objects, same refusals

_GUID = base64.b64encode(bytes(range(16))).decode()
_SID = base64.b64encode(bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + bytes(16)).decode()


def _rec(dn: str, *extra: str, guid: str = _GUID) -> str:
    return "\n".join([f"dn: {dn}", "objectClass: user", f"objectGUID:: {guid}", f"objectSid:: {_SID}", *extra]) + "\n\n"


UNUSUAL = {
    "non-UTF-8 base64 displayName": _rec("CN=a,DC=x", "displayName:: " + base64.b64encode(b"\xff\xfe").decode()),
    "bad base64 elsewhere": _rec("CN=a,DC=x", "userCertificate:: not*base64"),
    "userAccountControl not a number": _rec("CN=a,DC=x", "userAccountControl: abc"),
    "short GUID": _rec("CN=a,DC=x", guid=base64.b64encode(b"123").decode()),
    "change record": _rec("CN=a,DC=x", "changetype: modify"),
    "record without dn": "objectClass: user\ncn: x\n\n",
    "continuation after a blank line": _rec("CN=a,DC=x") + " folded\n\n",
    "URL value": _rec("CN=a,DC=x", "jpegPhoto:< file:///etc/passwd"),
    "invalid attribute name": _rec("CN=a,DC=x", "bad name: x"),
}


@pytest.mark.parametrize("name", sorted(UNUSUAL))
def test_a_record_the_reader_refuses_is_refused_the_same_way(tmp_path: Path, name: str) -> None:
    ldif = tmp_path / "f.ldif"
    ldif.write_text(_rec("CN=ok,DC=x", guid=base64.b64encode(bytes(16)).decode()) + UNUSUAL[name], encoding="utf-8")
    with pytest.raises(BadInput) as old:
        read_onprem_file(ldif)
    with pytest.raises(BadInput) as new:
        index_ldif(ldif)
    assert str(new.value) == str(old.value)


ODD_BUT_VALID = [
    "version: 1\n" + _rec("CN=first,DC=x"),
    _rec("CN=N\u00e9e,DC=x"),  # non-ASCII DN
    "dn:: " + base64.b64encode("CN=Zo\u00eb,DC=x".encode()).decode() + "\nobjectClass: user\nobjectGUID:: "
    + _GUID + "\n\n",
    _rec("CN=Smith\\, John,DC=x"),  # escaped comma
    _rec("CN=a,DC=x", "displayName:: " + base64.b64encode("Jos\u00e9".encode()).decode()),
    _rec("cn=a , dc=X", "objectClass: contact", "mail: a@x.com"),
    _rec("CN=a,DC=x", "proxyAddresses;range=0-1: smtp:a@x.com"),
    "# a comment\n#  with two lines\n" + _rec("CN=c,DC=x"),
    _rec("CN=a,DC=x", "\t"),  # a tab-only line
]


@pytest.mark.parametrize("i", range(len(ODD_BUT_VALID)))
def test_unusual_but_valid_records_are_read_in_full(tmp_path: Path, i: int) -> None:
    ldif = tmp_path / "f.ldif"
    ldif.write_text(_rec("CN=ok,DC=x", guid=base64.b64encode(bytes(16)).decode()) + ODD_BUT_VALID[i], encoding="utf-8")
    full = read_onprem_file(ldif)
    idx = index_ldif(ldif)
    assert idx.count == len(full.objects)
    assert idx.base.result() == full.base_dn
    # a key that names every object keeps every object, in order
    from reconciler.sources.prefilter import NeededKeys

    every = NeededKeys(anchors=frozenset(o.anchor for o in full.objects if o.anchor),
                       hashes=frozenset(crc32(base64.b64decode(o.anchor)) for o in full.objects if o.anchor))
    assert [o.dn for o in idx.select(every).objects] == [o.dn for o in full.objects if o.anchor]


def test_empty_and_recordless_files_are_refused_as_before(tmp_path: Path) -> None:
    for text in ("", "# only a comment\n", "version: 1\n"):
        ldif = tmp_path / "f.ldif"
        ldif.write_text(text, encoding="utf-8")
        with pytest.raises(BadInput) as old:
            read_onprem_file(ldif)
        with pytest.raises(BadInput) as new:
            index_ldif(ldif)
        assert str(new.value) == str(old.value)


def test_namesakes_are_kept_for_the_explain_view(tmp_path: Path) -> None:
    """Two objects with one DN: the explain details show the last one, so the filter keeps both."""
    ldif = tmp_path / "f.ldif"
    other = base64.b64encode(bytes([9] * 16)).decode()
    ldif.write_text(_rec("CN=a,DC=x") + _rec("CN=a,DC=x", guid=other), encoding="utf-8")
    from reconciler.sources.prefilter import NeededKeys

    keys = NeededKeys(anchors=frozenset({_GUID}), hashes=frozenset({crc32(bytes(range(16)))}))
    kept = index_ldif(ldif).select(keys)
    assert [o.object_guid for o in kept.objects] == [o.object_guid for o in read_onprem_file(ldif).objects]


@pytest.mark.parametrize("dns", [
    ["CN=a,OU=Staff,DC=corp,DC=contoso,DC=com", "CN=b,OU=Sales,DC=corp,DC=contoso,DC=com"],
    ["DC=corp,DC=contoso,DC=com", "CN=b,OU=Sales,DC=corp,DC=contoso,DC=com", "cn=c, dc=CORP,dc=contoso,dc=com"],
    ["CN=a,DC=x", "CN=b,DC=y"],
    ["CN=Smith\\, J,OU=A,DC=x", "CN=b,OU=A,DC=x", "OU=A,DC=x"],
])
def test_base_dn_is_computed_as_over_the_whole_list(dns: list[str]) -> None:
    s = DnSuffix()
    for d in dns:
        s.add(d, True)
    assert s.result() == common_dn_suffix(dns)


# ------------------------------------------------------------------ real exports: same objects, notes and refusals

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
REAL_LDIF = sorted(p for p in REAL.rglob("*") if p.suffix.casefold() in (".ldif", ".ldf"))


def _every(objects: list) -> "NeededKeys":  # type: ignore[type-arg]
    from reconciler.core.anchors import normalize_dn
    from reconciler.sources.prefilter import NeededKeys

    return NeededKeys.of((o.anchor for o in objects if o.anchor), (o.object_sid for o in objects if o.object_sid),
                         (normalize_dn(o.dn) for o in objects))


def _full_or_same_refusal(path: Path) -> OnPremSource | None:
    """The file read in full; None when the reader refuses it, after checking the index refuses it the same way."""
    try:
        return read_onprem_file(path)
    except BadInput as e:
        with pytest.raises(BadInput) as new:
            index_ldif(path)
        assert str(new.value) == str(e)
        return None


@pytest.mark.parametrize("path", REAL_LDIF, ids=[p.name for p in REAL_LDIF])
def test_real_exports_read_the_same_through_the_index(path: Path) -> None:
    full = _full_or_same_refusal(path)
    if full is None:
        return
    kept = index_ldif(path).select(_every(full.objects))
    assert kept.count == len(full.objects)
    assert (kept.base_dn, kept.notes, kept.complete, kept.incomplete, kept.skipped) == \
        (full.base_dn, full.notes, full.complete, full.incomplete, full.skipped)
    assert kept.unlinkable() == full.unlinkable()
    assert [o.anchored(k) for o in (kept,) for k in ("user", "group", "contact")] == \
        [full.anchored(k) for k in ("user", "group", "contact")]
    assert [o.dn for o in kept.objects] == [o.dn for o in full.objects]


@pytest.mark.parametrize("shape", ["ldifde", "ldapsearch", "ldapsearch-crlf-cut", "trailer-wrong-count"])
def test_a_large_export_is_split_across_processes_with_the_same_result(tmp_path: Path, monkeypatch, shape: str) -> None:
    from reconciler.sources import prefilter

    tenant, ldif, shaped = tmp_path / "t.json", tmp_path / "f.ldif", tmp_path / "s.ldif"
    s = generate(GenerateOptions(users=600, errors_per_1000=50, seed=3), tenant, ldif)
    if shape != "ldifde":
        _ldapsearch_shape(ldif, shaped, crlf="crlf" in shape, cut=40 if "cut" in shape else 0,
                          trailer=s.ldif_entries + (3 if "wrong" in shape else 0) if "trailer" in shape else None)
        ldif = shaped
    monkeypatch.setattr(prefilter, "CHILD_MIN", 0)
    monkeypatch.setattr(prefilter, "SPLIT_MIN", 1)
    monkeypatch.setattr(prefilter.os, "cpu_count", lambda: 5)  # five parts
    full = read_onprem_file(ldif)
    keys = _every(full.objects)
    there = prefilter.index_ldif_elsewhere(ldif)
    assert len(there.pieces) >= 5
    kept = there.select(keys)
    assert [o.dn for o in kept.objects] == [o.dn for o in full.objects]
    assert (kept.count, kept.base_dn, kept.notes, kept.complete, kept.incomplete, kept.skipped) == \
        (len(full.objects), full.base_dn, full.notes, full.complete, full.incomplete, full.skipped)
    snap = read_tenant_file(tenant)
    assert _doc(snap, [full]) == _doc(snap, [there.select(keys_for(snap))])


def test_a_refusal_in_a_later_part_names_its_line_in_the_file(tmp_path: Path, monkeypatch) -> None:
    from reconciler.sources import prefilter

    ldif = tmp_path / "f.ldif"
    ldif.write_text("".join(_rec(f"CN=u{i},DC=x", guid=base64.b64encode(i.to_bytes(16, "little")).decode())
                            for i in range(300)) + _rec("CN=bad,DC=x", "userAccountControl: abc"), encoding="utf-8")
    monkeypatch.setattr(prefilter, "CHILD_MIN", 0)
    monkeypatch.setattr(prefilter, "SPLIT_MIN", 1)
    monkeypatch.setattr(prefilter.os, "cpu_count", lambda: 3)
    with pytest.raises(BadInput) as old:
        read_onprem_file(ldif)
    with pytest.raises(BadInput) as new:
        prefilter.index_ldif_elsewhere(ldif)
    assert str(new.value) == str(old.value)


def test_failures_from_other_origins_find_the_same_onprem_objects(tmp_path: Path) -> None:
    """Cloud Sync failures name an objectGUID (and sometimes no value): the on-prem object they name, its
    values and their holders are kept, so the findings equal those over every object."""
    import json

    from tests.conftest import SAMPLE_LDIF
    from tests.origins.origins_helpers import ldif_user
    from tests.origins.test_origins_e2e import NORA_GUID, tenant

    doc_path = tmp_path / "t.json"
    doc_path.write_text(json.dumps(tenant()))
    nora = ldif_user(tmp_path / "nora.ldif", "Nora Quist", NORA_GUID, "nora.quist@contoso.com", "nora.quist@contoso.com")
    # an anchor other than the objectGUID: only the objectGUID the failure names finds her
    nora.write_text(nora.read_text().replace("userAccountControl: 512\n", "userAccountControl: 512\n"
                                             "mS-DS-ConsistencyGuid:: " + _GUID + "\n"), encoding="utf-8")
    snap = read_tenant_file(doc_path)
    assert snap.error_records
    full = [read_onprem_file(SAMPLE_LDIF), read_onprem_file(nora)]
    out = asyncio.run(scan(TenantFileSource(doc_path), [OnPremFileReader(SAMPLE_LDIF), OnPremFileReader(nora)], None))
    assert _doc(snap, full) == _doc(out.snapshot, out.onprem)
    assert any(o.object_guid == NORA_GUID for o in out.onprem[1].objects)


def test_a_class_that_only_casefolds_to_user_is_counted_as_the_reader_counts_it(tmp_path: Path) -> None:
    """'uſer' (long s) casefolds to 'user': such a record is read in full, so kinds and link gaps agree."""
    ldif = tmp_path / "f.ldif"
    ldif.write_text(_rec("CN=ok,DC=x") + "dn: CN=odd,DC=x\nobjectClass: u\u017fer\nsAMAccountName: odd\n\n",
                    encoding="utf-8")
    full = read_onprem_file(ldif)
    kept = index_ldif(ldif).select(_every(full.objects))
    assert kept.unlinkable() == full.unlinkable() and kept.notes == full.notes


# ------------------------------------------------------------------ the sweep over a piece: odd records among plain ones


def _plain_recs(n: int, tag: str) -> bytes:
    return "".join(_rec(f"CN={tag}{i},OU=Staff,DC=x", guid=base64.b64encode(f"{tag}{i}".encode().ljust(16, b"-")).decode())
                   for i in range(n)).encode()


AMONG_PLAIN = {
    "blank-line runs": b"\n\n\n".join([_plain_recs(3, "a"), _plain_recs(3, "b") + b"\n\n", _plain_recs(2, "c")]),
    "comment-only blocks": b"# a comment\n#  folded\n\n" + _plain_recs(3, "a") + b"# alone\n\n" + _plain_recs(3, "b"),
    "base64 DN": _plain_recs(3, "a") + b"dn:: " + base64.b64encode("CN=Zo\u00eb,DC=x".encode()) + b"\nobjectClass: user\n"
                 b"objectGUID:: " + _GUID.encode() + b"\n\n" + _plain_recs(3, "b"),
    "escaped DN": _plain_recs(3, "a") + _rec("CN=Smith\\, J,DC=x").encode() + _plain_recs(3, "b"),
    "a DN folded over three lines": _plain_recs(2, "a") + b"dn: CN=folded,OU=Sta\n ff,DC\n =x\nobjectClass: user\n"
                                    b"objectGUID:: " + _GUID.encode() + b"\n\n" + _plain_recs(2, "b"),
    "non-ASCII values": _plain_recs(3, "a") + _rec("CN=N\u00e9e,DC=x", "displayName: Ren\u00e9e").encode()
                        + _plain_recs(3, "b"),
    "a key spelled in capitals": _plain_recs(2, "a") + _rec("CN=caps,DC=x").replace("objectGUID", "OBJECTGUID").encode()
                                 + _plain_recs(2, "b"),
    "a whitespace-only continuation of a comment": _plain_recs(2, "a") + b"# c\n \n" + _rec("CN=w,DC=x").encode()
                                                  + _plain_recs(2, "b"),
}


@pytest.mark.parametrize("name", sorted(AMONG_PLAIN))
@pytest.mark.parametrize("chunk", [97, 1 << 20])
def test_odd_records_among_plain_ones_leave_the_plain_ones_alone(tmp_path: Path, monkeypatch, name: str,
                                                                  chunk: int) -> None:
    """Records the sweep does not vouch for are read in full, the ones after them still through the index; with
    tiny pieces too (a piece per record or two)."""
    from reconciler.sources import prefilter_index

    monkeypatch.setattr(prefilter_index, "CHUNK", chunk)
    ldif = tmp_path / "f.ldif"
    ldif.write_bytes(AMONG_PLAIN[name])
    full = _full_or_same_refusal(ldif)
    if full is None:
        return
    idx = index_ldif(ldif)
    assert sum(1 for o in idx.offsets if o >= 0) >= 4  # the plain records stayed plain
    kept = idx.select(_every(full.objects))
    assert (kept.count, kept.base_dn, kept.notes, kept.complete, kept.incomplete) == \
        (len(full.objects), full.base_dn, full.notes, full.complete, full.incomplete)
    assert [(o.dn, o.object_guid) for o in kept.objects] == [(o.dn, o.object_guid) for o in full.objects]


@pytest.mark.parametrize("chunk", [97, 1 << 20])
def test_bytes_that_are_not_utf8_are_refused_on_the_same_line(tmp_path: Path, monkeypatch, chunk: int) -> None:
    from reconciler.sources import prefilter_index

    monkeypatch.setattr(prefilter_index, "CHUNK", chunk)
    ldif = tmp_path / "f.ldif"
    ldif.write_bytes(_plain_recs(3, "a") + _rec("CN=bad,DC=x", "description: caf").encode().replace(b"caf", b"caf\xe9")
                     + _plain_recs(3, "b"))
    with pytest.raises(BadInput) as old:
        read_onprem_file(ldif)
    with pytest.raises(BadInput) as new:
        index_ldif(ldif)
    assert str(new.value) == str(old.value) and "f.ldif:20:" in str(new.value)


def test_the_pass_children_import_this_package_not_one_in_the_working_folder(tmp_path: Path, monkeypatch) -> None:
    """Started from a folder holding another ``reconciler`` (a source checkout), the children still run this one."""
    from reconciler.sources import prefilter

    decoy = tmp_path / "cwd" / "reconciler"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy in the working folder was imported')\n")
    ldif = tmp_path / "f.ldif"
    ldif.write_bytes(_plain_recs(40, "a"))
    monkeypatch.chdir(decoy.parent)
    monkeypatch.setattr(prefilter, "CHILD_MIN", 0)
    monkeypatch.setattr(prefilter, "SPLIT_MIN", 1)
    monkeypatch.setattr(prefilter.os, "cpu_count", lambda: 2)

    def no_fallback(path: object) -> None:
        raise AssertionError("a child failed: the pass fell back to this process")

    monkeypatch.setattr(prefilter, "index_ldif", no_fallback)
    assert prefilter.index_ldif_elsewhere(ldif).count == 40
