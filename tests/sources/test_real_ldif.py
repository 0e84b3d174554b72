"""LDIF readers on real, public exports (tests/data/real/README.md names each source) and variants derived
from them here: whitespace-only separators, CRLF, UTF-16 without a BOM, cut-off copies."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler.core.errors import BadInput
from reconciler.sources.ldif import iter_ldif_records, ldif_record_blocks
from reconciler.sources.onprem import ReadReport, read_onprem_file

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
LDAPSEARCH = REAL / "ldapsearch"


def _monteverde_as_found() -> bytes:
    """The Monteverde write-up's ldapsearch output; its author cut the header to a literal '[...]' line
    and kept 2 of the 267 entries the trailer counts."""
    data = (LDAPSEARCH / "ad-monteverde-users-consistencyguid-truncated-head.ldif").read_bytes()
    assert data.startswith(b"[...]\n")
    return data[len(b"[...]\n"):]


def _monteverde() -> bytes:
    """The excerpt made whole: its trailer counts the 2 entries it holds."""
    return _monteverde_as_found().replace(b"# numEntries: 267", b"# numEntries: 2").replace(
        b"# numResponses: 271", b"# numResponses: 6")


def test_the_excerpt_as_published_is_seen_to_be_incomplete(tmp_path: Path):
    src = read_onprem_file(_write(tmp_path, "excerpt.ldif", _monteverde_as_found()))
    assert len(src.objects) == 2 and not src.complete
    assert src.incomplete == ("the ldapsearch trailer counts 267 entries ('# numEntries: 267') but the file holds 2: "
                              "entries were cut out of it",)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_ldapsearch_references_and_trailer_are_read(tmp_path: Path):
    src = read_onprem_file(_write(tmp_path, "monteverde.ldif", _monteverde()))
    assert [o.sam_account_name for o in src.objects] == ["roleary", "smorgan"]
    assert src.complete and src.incomplete == ()
    assert src.skipped == 3  # the three "# search reference" records
    ray = src.objects[0]
    # mS-DS-ConsistencyGuid equals objectGUID there (Entra Connect copied it): the anchor is the same either way
    assert ray.object_guid == "e25b31dc-ea24-4a0e-8b21-21bdd9536b1f"
    assert ray.object_sid == "S-1-5-21-391775091-850290835-3566037492-2614"
    assert ray.dn == "CN=Ray O'Leary,OU=Toronto,OU=MegaBank Users,DC=MEGABANK,DC=LOCAL"
    assert src.anchored("user") and src.unlinkable() == {}
    assert src.base_dn == "OU=MegaBank Users,DC=MEGABANK,DC=LOCAL"


def test_size_limit_exceeded_reads_but_marks_the_source_incomplete():
    src = read_onprem_file(LDAPSEARCH / "ad-groups-sizelimit-knox.ldif")
    assert [o.object_class for o in src.objects] == ["other", "group"]  # the OU, then the group
    assert not src.complete
    assert any("result: 4 Size limit exceeded" in why for why in src.incomplete)
    assert any(n.startswith("incomplete export:") and "no orphan verdicts" in n for n in src.notes)


def test_export_without_anchor_attributes_links_nothing():
    src = read_onprem_file(LDAPSEARCH / "ad-users-samaccountname-sizelimit-knox.ldif")
    assert len(src.objects) == 5 and not src.complete
    assert not src.anchored("user") and not src.anchored("group")
    [(why, n)] = src.unlinkable().items()
    assert n == 5 and "without objectGUID" in why
    assert any("cannot link 5 of 5" in note for note in src.notes)


@pytest.mark.parametrize("name", ["ad-lowercase-base-grantlab-unix-attrs.ldif",
                                  "ad-multi-referral-folded-ref-inlanefreight.ldif",
                                  "ad-rootdse-namingcontexts-empty-dn.ldif"])
def test_ad_searches_with_nothing_usable_are_refused(name: str):
    """Only unix attributes / memberOf / namingContexts: no identifier to link, exit 2 with the reason."""
    with pytest.raises(BadInput, match="holds no Active Directory objects"):
        read_onprem_file(LDAPSEARCH / name)


def test_ldifde_export_with_dn_binary_values():
    src = read_onprem_file(REAL / "ldifde" / "user-will-keycredentiallink-cssWiki.ldf")
    [will] = src.objects
    assert will.object_guid == "14c8d2a9-90b7-4d7a-b264-1cc77901069a"
    assert will.user_principal_name == "will@johnbay999.onmicrosoft.com"
    assert src.complete and src.anchored("user")


@pytest.mark.parametrize(("name", "fragment"), [
    ("openldap-posixaccount-ldapsearch-godap.ldif", "OpenLDAP"),
    ("openldap-ldapsearch-dn-only-planetexpress.ldif", "only DNs"),
    ("custom-ldap-sizelimit-with-text-line-vutbr.ldif", "no Active Directory objects"),
    ("smartdc-ufds-changetype-add-version1.ldif", "invalid attribute name b'approved_for_provisioning'"),
])
def test_non_ad_directories_are_refused(name: str, fragment: str):
    with pytest.raises(BadInput) as e:
        read_onprem_file(REAL / "not-ad" / name)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_part_non_ad_entries_are_ignored_with_a_warning(tmp_path: Path):
    posix = (REAL / "not-ad" / "openldap-posixaccount-ldapsearch-godap.ldif").read_bytes()
    entry = posix[posix.index(b"dn: cn=carl"):posix.index(b"\n# search result")]
    data = _monteverde().replace(b"# search reference", entry + b"\n\n# search reference", 1)
    src = read_onprem_file(_write(tmp_path, "mixed.ldif", data))
    assert len(src.objects) == 2
    assert any("1 of 3 entries are not Active Directory objects" in n for n in src.notes)


@pytest.mark.parametrize("sep", [b" ", b"\t", b"   \t"])
def test_whitespace_only_separator_lines(tmp_path: Path, sep: bytes):
    data = _monteverde().replace(b"\n\n", b"\n" + sep + b"\n")
    src = read_onprem_file(_write(tmp_path, "ws.ldif", data))
    assert [o.sam_account_name for o in src.objects] == ["roleary", "smorgan"]
    assert src.complete


def test_whitespace_separator_in_a_large_file_crosses_chunk_boundaries(tmp_path: Path):
    body = _monteverde()
    rec = body[:body.index(b"# search reference")]
    data = (rec.replace(b"\n\n", b"\n \n") * 400)  # > 1 MiB: boundaries fall inside separator lines
    n = sum(1 for _ in iter_ldif_records(io.BytesIO(data), Path("x.ldif")))
    assert n == 800


def test_glued_records_name_the_second_dn_line(tmp_path: Path):
    body = _monteverde()
    glued = body.replace(b"mS-DS-ConsistencyGuid:: 3DFb4iTqDkqLISG92VNrHw==\n\n",
                         b"mS-DS-ConsistencyGuid:: 3DFb4iTqDkqLISG92VNrHw==\n", 1)
    p = _write(tmp_path, "glued.ldif", glued)
    line = glued[:glued.index(b"dn: CN=Sally")].count(b"\n") + 1
    with pytest.raises(BadInput) as e:
        read_onprem_file(p)
    assert str(e.value).startswith(f"{p}:{line}:") and "'dn:' inside a record" in str(e.value)


def test_record_blocks_rule_is_shared():
    blocks = list(ldif_record_blocks(io.BytesIO(b"dn: a\nx: 1\n  \t\ndn: b\n \n\ndn: c\n")))
    assert [(n, b.split(b"\n")[0]) for n, b in blocks] == [(1, b"dn: a"), (4, b"dn: b"), (7, b"dn: c")]


def test_crlf_copy(tmp_path: Path):
    data = (LDAPSEARCH / "ad-groups-sizelimit-knox.ldif").read_bytes().replace(b"\n", b"\r\n")
    src = read_onprem_file(_write(tmp_path, "crlf.ldif", data))
    assert len(src.objects) == 2 and src.objects[1].object_sid.startswith("S-1-5-21-")


@pytest.mark.parametrize("codec,bom", [("utf-16-le", b""), ("utf-16-be", b""), ("utf-16-le", b"\xff\xfe")])
def test_utf16_with_and_without_bom(tmp_path: Path, codec: str, bom: bytes):
    data = bom + _monteverde().decode("utf-8").encode(codec)
    src = read_onprem_file(_write(tmp_path, "u16.ldf", data))
    assert [o.sam_account_name for o in src.objects] == ["roleary", "smorgan"]


def test_cut_off_mid_line_is_incomplete(tmp_path: Path):
    body = _monteverde()
    cut = body[:body.index(b"sAMAccountName: smorgan") + len(b"sAMAccountNa")]
    src = read_onprem_file(_write(tmp_path, "cut.ldif", cut))
    assert not src.complete
    assert any("ends in the middle of a line" in why for why in src.incomplete)
    assert src.objects[-1].sam_account_name is None  # the half line is dropped, not read as a value


def test_cut_off_at_a_line_boundary_is_caught_by_the_missing_attributes(tmp_path: Path):
    body = _monteverde()
    cut = body[:body.index(b"uSNCreated: 41178\n") + len(b"uSNCreated: 41178\n")]
    src = read_onprem_file(_write(tmp_path, "cut.ldif", cut))
    assert not src.complete
    [why] = src.incomplete
    assert "CN=Sally Morgan" in why and "objectguid" in why


def test_ldapsearch_header_without_trailer_is_incomplete(tmp_path: Path):
    data = (LDAPSEARCH / "ad-groups-sizelimit-knox.ldif").read_bytes()
    cut = data[:data.index(b"# search result")]
    src = read_onprem_file(_write(tmp_path, "cut.ldif", cut))
    assert any("without its '# search result' trailer" in why for why in src.incomplete)


def test_report_is_optional_for_record_readers():
    report = ReadReport()
    data = (LDAPSEARCH / "ad-groups-sizelimit-knox.ldif").read_bytes()
    assert len(list(iter_ldif_records(io.BytesIO(data), Path("k.ldif")))) == 2
    assert len(list(iter_ldif_records(io.BytesIO(data), Path("k.ldif"), report=report))) == 2
    assert report.ldapsearch and report.trailer and report.requested is None


def test_whitespace_lines_before_the_first_and_after_the_last_record(tmp_path: Path):
    data = b"  \n\t\n" + _monteverde() + b"\n \n  \n"
    src = read_onprem_file(_write(tmp_path, "edges.ldif", data))
    assert len(src.objects) == 2 and src.complete


def test_a_folded_value_of_spaces_is_a_continuation_not_a_separator():
    """RFC 2849 folding of a value full of spaces gives lines holding only spaces: they are continuations."""
    data = b"dn: CN=a,DC=x\nobjectClass: user\ndescription: a" + b"\n " + b" " * 75 + b"\n  b\ndn: CN=b,DC=x\n"
    with pytest.raises(BadInput, match="'dn:' inside a record"):  # no separator before the second dn:
        list(iter_ldif_records(io.BytesIO(data), Path("x.ldif")))
    [(_, _, attrs)] = list(iter_ldif_records(io.BytesIO(data.replace(b"\ndn: CN=b,DC=x\n", b"\n")), Path("x.ldif")))
    assert attrs["description"] == [b"a" + b" " * 75 + b" b"]


def test_crlf_with_whitespace_separators(tmp_path: Path):
    data = _monteverde().replace(b"\n\n", b"\n \n").replace(b"\n", b"\r\n")
    src = read_onprem_file(_write(tmp_path, "both.ldif", data))
    assert [o.sam_account_name for o in src.objects] == ["roleary", "smorgan"] and src.complete


def test_indented_copy_from_a_web_page_says_so(tmp_path: Path):
    """Write-ups show exports indented inside markdown lists: every line starts with two spaces."""
    data = b"".join(b"  " + ln for ln in (LDAPSEARCH / "ad-groups-sizelimit-knox.ldif").read_bytes()
                    .splitlines(keepends=True)[8:])
    with pytest.raises(BadInput, match="look indented"):
        read_onprem_file(_write(tmp_path, "indented.ldif", data))


@pytest.mark.parametrize("name", ["nis-ypcat-passwd-no-hashes.txt", "nis-ypwhich-x-map-nicknames.txt",
                                  "ad-but-not-ldif-repadmin-showattr-cssWiki.txt"])
def test_text_that_is_not_ldif_is_refused_on_line_1(tmp_path: Path, name: str):
    """NIS maps and repadmin /showattr output, saved as .ldif by mistake (and as .txt: not an export type)."""
    with pytest.raises(BadInput, match="unknown on-prem file type"):
        read_onprem_file(REAL / "not-ad" / name)
    p = _write(tmp_path, "x.ldif", (REAL / "not-ad" / name).read_bytes())
    with pytest.raises(BadInput) as e:
        read_onprem_file(p)
    assert str(e.value).startswith(f"{p}:1: ")
