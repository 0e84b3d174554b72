"""csvde and PowerShell Export-Csv readers on real, public files and on files derived here from real values
(tests/data/real/README.md names the sources; the facts about Export-Csv are in docs/inputs.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.errors import BadInput
from reconciler.sources.onprem import read_onprem_file

REAL = Path(__file__).resolve().parent.parent / "data" / "real"

# Real values from the Monteverde ldapsearch export (objectGUID / objectSid decoded to the strings
# Get-ADUser shows), arranged as Get-ADUser's default property set plus -Properties.
RAY = ("CN=Ray O'Leary,OU=Toronto,OU=MegaBank Users,DC=MEGABANK,DC=LOCAL", "e25b31dc-ea24-4a0e-8b21-21bdd9536b1f",
       "S-1-5-21-391775091-850290835-3566037492-2614", "roleary", "Ray", "O'Leary")
SALLY = ("CN=Sally Morgan,OU=New York,OU=MegaBank Users,DC=MEGABANK,DC=LOCAL",
         "d521ad17-c350-4592-a5fc-2f1ef1b397b9", "S-1-5-21-391775091-850290835-3566037492-2615", "smorgan",
         "Sally", "Morgan")
HEADER = ["DistinguishedName", "Enabled", "GivenName", "mail", "mS-DS-ConsistencyGuid", "Name", "ObjectClass",
          "ObjectGUID", "proxyAddresses", "SamAccountName", "SID", "Surname", "UserPrincipalName", "whenCreated"]


def _ps51(rows: list[list[str]], sep: str = ",") -> str:
    """Windows PowerShell 5.1 Export-Csv: #TYPE line, every field quoted, CRLF."""
    lines = ["#TYPE Microsoft.ActiveDirectory.Management.ADUser", sep.join(f'"{h}"' for h in HEADER)]
    lines += [sep.join(f'"{c}"' if c else "" for c in r) for r in rows]
    return "\r\n".join(lines) + "\r\n"


def _row(u: tuple[str, ...], mail: str, cg: str, proxies: str, created: str) -> list[str]:
    dn, guid, sid, sam, given, sn = u
    return [dn, "True", given, mail, cg, f"{given} {sn}", "user", guid, proxies, sam, sid, sn,
            f"{sam}@MEGABANK.LOCAL", created]


COLL = "Microsoft.ActiveDirectory.Management.ADPropertyValueCollection"


def test_ps51_export_with_type_names_reads_and_says_what_was_lost(tmp_path: Path):
    p = tmp_path / "users.csv"
    p.write_text(_ps51([_row(RAY, "ray@megabank.com", "System.Byte[]", COLL, "1/3/2020 1:08:05 PM"),
                        _row(SALLY, "", "System.Byte[]", COLL, "1/3/2020 1:09:21 PM")]), newline="")
    src = read_onprem_file(p)
    ray, sally = src.objects
    assert ray.dn == RAY[0] and ray.object_guid == RAY[1] and ray.object_sid == RAY[2]
    assert ray.proxy_addresses == () and ray.consistency_guid is None and ray.mail == "ray@megabank.com"
    assert ray.user_account_control == 512 and ray.cn == "Ray O'Leary" and sally.mail is None
    assert src.anchored("user")  # ObjectGUID is the anchor when mS-DS-ConsistencyGuid was not readable
    notes = " | ".join(src.notes)
    assert f"column proxyAddresses holds the .NET type name '{COLL}'" in notes
    assert "$_.proxyAddresses -join ';'" in notes
    assert "column mS-DS-ConsistencyGuid holds the .NET type name 'System.Byte[]'" in notes
    assert "column whenCreated left out" in notes  # 1/3/2020: 1 March or 3 January?


def test_ps7_export_with_joined_values(tmp_path: Path):
    """No #TYPE, UTF-8, calculated properties: proxies joined with ';' or spaces, the GUID cast with [guid]."""
    rows = [_row(RAY, "ray@megabank.com", RAY[1], "SMTP:ray@megabank.com;smtp:roleary@megabank.com", ""),
            _row(SALLY, "", "", "SMTP:sally@megabank.com X500:/o=MegaBank/ou=Exchange Administrative Group "
                                "(FYDIBOHF23SPDLT)/cn=Recipients/cn=smorgan smtp:sm@megabank.com", "")]
    text = ",".join(f'"{h}"' for h in HEADER) + "\n" + "\n".join(",".join(f'"{c}"' for c in r) for r in rows) + "\n"
    p = tmp_path / "users.csv"
    p.write_text(text)
    ray, sally = read_onprem_file(p).objects
    assert ray.proxy_addresses == ("SMTP:ray@megabank.com", "smtp:roleary@megabank.com")
    assert ray.anchor == "3DFb4iTqDkqLISG92VNrHw=="  # the mS-DS-ConsistencyGuid bytes from the LDIF export
    assert sally.proxy_addresses[1].startswith("X500:/o=MegaBank/ou=Exchange Administrative Group (FYDI")
    assert sally.smtp_addresses() == ("sally@megabank.com", "sm@megabank.com")


def test_use_culture_semicolon_and_culture_dates(tmp_path: Path):
    rows = [_row(RAY, "", "", "", "03.01.2020 13:08:05"), _row(SALLY, "", "", "", "03.01.2020 13:09:21")]
    p = tmp_path / "de.csv"
    p.write_text(_ps51(rows, sep=";"), newline="")
    ray, _ = read_onprem_file(p).objects
    assert ray.when_created == "2020-01-03T13:08:05"


@pytest.mark.parametrize("codec,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-le", b""), ("utf-8", b"\xef\xbb\xbf")])
def test_export_csv_encodings(tmp_path: Path, codec: str, bom: bytes):
    p = tmp_path / "u.csv"
    p.write_bytes(bom + _ps51([_row(RAY, "", "", "", "")]).encode(codec))
    [ray] = read_onprem_file(p).objects
    assert ray.sam_account_name == "roleary"


def test_cut_off_last_row_is_dropped_and_marks_the_source_incomplete(tmp_path: Path):
    text = _ps51([_row(RAY, "", "", "", ""), _row(SALLY, "", "", "", "")])
    p = tmp_path / "cut.csv"
    p.write_text(text[:text.index('"smorgan"')], newline="")
    src = read_onprem_file(p)
    assert [o.sam_account_name for o in src.objects] == ["roleary"]
    assert not src.complete and "cut off" in src.incomplete[0]


def test_real_post_processed_export_without_quotes():
    """narendrans/ad ADUsers.csv: unquoted, no #TYPE, GUID and SID strings, DNs cut to 'CN=Name'."""
    src = read_onprem_file(REAL / "export-csv" / "unquoted-noTYPE-guid-sid-dremio.csv")
    assert len(src.objects) == 5
    dan = src.objects[0]
    assert dan.object_guid == "b7de08a6-8417-491b-be62-85945a538f46"
    assert dan.object_sid == "S-1-5-21-331390976-2650875657-2422772959-1705"
    assert src.base_dn is None and any("covers no location" in n for n in src.notes)


@pytest.mark.parametrize(("name", "fragment"), [
    ("ps51-eventlog-TYPE-ascii-qmarks-ja.csv", "not of Active Directory objects"),
    ("ps51-eventlog-TYPE-tab-delimited-ja.tsv", "not of Active Directory objects"),
    ("ps-adpropertyvaluecollection-diecknet.csv", "or a DistinguishedName column"),
])
def test_other_export_csv_files_are_refused(name: str, fragment: str):
    with pytest.raises(BadInput) as e:
        read_onprem_file(REAL / "export-csv" / name)
    assert fragment in str(e.value) and str(e.value).count("\n") == 0


def test_csvde_real_row_values(tmp_path: Path):
    """The e8sec csvde row: quoted DN, X'hex' objectGUID/objectSid, ';'-joined multi-values, CRLF."""
    row = (REAL / "csvde" / "e8sec-computer-row-noheader.csv").read_text()
    cells = next(__import__("csv").reader([row.splitlines()[0]]))
    dn, oc, guid, sid = cells[0], cells[1], cells[10], cells[23]
    p = tmp_path / "dc.csv"
    p.write_bytes(f'DN,objectClass,objectGUID,objectSid\r\n"{dn}",{oc},{guid},{sid}\r\n'.encode())
    [o] = read_onprem_file(p).objects
    assert o.object_class == "computer"
    assert o.object_guid == "d08f810b-a35c-49a8-a4cd-c6923dfc031e"
    assert o.object_sid == "S-1-5-21-1908711140-209524994-2501478566-1001"


def test_csvde_sam_only_export_links_nothing():
    src = read_onprem_file(REAL / "csvde" / "nopreauth-dn-quoted-only-when-needed.csv")
    assert len(src.objects) == 2 and not src.anchored("user")
    assert any("cannot link 2 of 2" in n for n in src.notes)


def test_csvde_header_only_and_console_transcript(tmp_path: Path):
    with pytest.raises(BadInput, match="no directory objects"):
        read_onprem_file(REAL / "csvde" / "exchange-org-header-only.csv")
    log = tmp_path / "log.csv"
    log.write_bytes((REAL / "csvde" / "nopreauth-csvde-console-transcript.txt").read_bytes())
    with pytest.raises(BadInput, match="first column must be DN"):
        read_onprem_file(log)


def test_csvde_cut_off_last_row(tmp_path: Path):
    p = tmp_path / "cut.csv"
    p.write_text('DN,objectClass,objectGUID\n"CN=a,DC=x",user,X\'0b818fd05ca3a849a4cdc6923dfc031e\'\n"CN=b,DC=x",us')
    src = read_onprem_file(p)
    assert len(src.objects) == 1 and not src.complete


def test_export_csv_text_with_a_lone_surrogate_is_refused_naming_column_and_line():
    """Text handed over already decoded (parse_export_csv_text) can hold what no file decodes to: one line, the
    column and the line, never a UnicodeEncodeError."""
    from reconciler.sources.psexport import parse_export_csv_text

    bad = _row(RAY, "ray@megabank.com", "", "SMTP:ray@megabank.com;smtp:\ud800@megabank.com", "1/3/2020 1:08:05 PM")
    with pytest.raises(BadInput) as e:
        parse_export_csv_text(_ps51([_row(SALLY, "", "", "", "1/3/2020 1:09:21 PM"), bad]), "users.csv")
    msg = str(e.value)
    assert msg.startswith("users.csv:4") and "proxyAddresses is not valid Unicode text" in msg and "\n" not in msg
