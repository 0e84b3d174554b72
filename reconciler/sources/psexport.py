"""Reader for PowerShell ``Get-ADUser/Get-ADGroup/Get-ADObject ... | Export-Csv`` files.

What Export-Csv writes (docs/inputs.md has the sources): Windows PowerShell 5.1
starts with a ``#TYPE <type name>`` line unless ``-NoTypeInformation``;
PowerShell 7 leaves it out. Header names are the object's property names
(``DistinguishedName``, ``ObjectGUID``, ``SID``, ``UserPrincipalName``, ...).
Every value is written with ``ToString()``: a GUID as ``xxxxxxxx-...``, a SID as
``S-1-5-21-...``, a date in the session's culture, and a collection or byte array
as its .NET *type name* (``Microsoft.ActiveDirectory.Management.ADPropertyValueCollection``,
``System.Byte[]``) — the values are lost unless the export joined them with a
calculated property. Delimiter ``,`` by default, ``;`` or tab with
``-Delimiter``/``-UseCulture``.

Rows are handed to the shared decoder as raw attribute values, so linking,
checks and the model are the same as for LDIF and csvde.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
import struct
import uuid
from pathlib import Path
from typing import Iterator

from ..core.anchors import sid_str_to_bytes
from ..core.errors import BadInput
from ..core.model import OnPremObject
from ..core.timestamps import is_iso, normalize_time
from .onprem import EntryError, ReadReport, decode_entry

__all__ = ["looks_like_export_csv", "ps_rows", "parse_export_csv_text", "TYPE_NAMES"]

# ToString() of values Export-Csv cannot write: the data is not in the file.
TYPE_NAMES = re.compile(r"^(Microsoft\.ActiveDirectory\.Management\.\w+|System\.[\w.]+\[\]|"
                        r"System\.DirectoryServices\.\w+|System\.Collections\.[\w.`]+)$")

# Export-Csv / Get-ADUser property name (case-folded) -> the LDAP attribute the decoder reads
_COLUMNS = {
    "distinguishedname": "dn", "objectguid": "objectguid", "sid": "objectsid", "objectsid": "objectsid",
    "ms-ds-consistencyguid": "ms-ds-consistencyguid", "userprincipalname": "userprincipalname",
    "mail": "mail", "emailaddress": "mail", "proxyaddresses": "proxyaddresses", "mailnickname": "mailnickname",
    "samaccountname": "samaccountname", "displayname": "displayname", "givenname": "givenname",
    "surname": "sn", "sn": "sn", "cn": "cn", "name": "name", "targetaddress": "targetaddress",
    "homemdb": "homemdb", "msexchrecipienttypedetails": "msexchrecipienttypedetails",
    "useraccountcontrol": "useraccountcontrol", "enabled": "enabled", "objectclass": "objectclass",
    "whencreated": "whencreated", "created": "whencreated", "whenchanged": "whenchanged", "modified": "whenchanged",
    "iscriticalsystemobject": "iscriticalsystemobject", "grouptype": "grouptype",
    "msexchhidefromaddresslists": "msexchhidefromaddresslists",
}
_PREFIX = re.compile(r"[A-Za-z0-9-]{1,12}:")
_SPLIT = re.compile(r"\s*[;,|]\s*|\s+")


def looks_like_export_csv(text: str) -> bool:
    """A ``#TYPE`` first line, or a header with a ``DistinguishedName`` column and no csvde ``DN`` first."""
    head = text.lstrip("\ufeff")[:4096]
    if head.startswith("#TYPE"):
        return True
    first = head.split("\n", 1)[0].strip().strip('"').casefold()
    if first.startswith("dn") and first[2:3] in (",", ";", "\t", '"', ""):
        return False
    return "distinguishedname" in head.split("\n", 1)[0].casefold()


def _split_multi(cell: str) -> list[str]:
    """A joined proxyAddresses cell: ';', ',', '|' or space between values, each starting with a prefix.

    X500 addresses hold spaces; a separator counts only where the next value starts
    with ``type:`` (``SMTP:``, ``smtp:``, ``X500:``, ``SIP:``, ...).
    """
    out: list[str] = []
    pos = 0
    cuts = [m for m in _SPLIT.finditer(cell) if _PREFIX.match(cell, m.end())]
    for m in cuts:
        out.append(cell[pos:m.start()])
        pos = m.end()
    out.append(cell[pos:])
    return [v.strip() for v in out if v.strip()]


def _guid_bytes(text: str) -> bytes | None:
    """A GUID written by ``ToString()`` (``{...}`` or bare), base64, hex, or space-joined decimal bytes."""
    t = text.strip()
    try:
        return uuid.UUID(t.strip("{}")).bytes_le
    except ValueError:
        pass
    if re.fullmatch(r"(\d{1,3}[ ,;]){15}\d{1,3}", t):  # "$($_.'mS-DS-ConsistencyGuid')" joins the bytes with spaces
        raw = bytes(int(x) for x in re.split(r"[ ,;]", t) if int(x) < 256)
        return raw if len(raw) == 16 else None
    try:
        raw = base64.b64decode(t, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 16 else None


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def ps_rows(text: str, path: Path, report: ReadReport | None = None) -> Iterator[OnPremObject]:
    text = text.lstrip("\ufeff")
    first_line = 1
    if text.startswith("#TYPE"):
        type_line, _, text = text.partition("\n")
        first_line = 2
        type_name = type_line[5:].strip()
        if not type_name.startswith("Microsoft.ActiveDirectory.Management.AD"):
            raise BadInput(path, f"an Export-Csv of {type_name[:80]!r}, not of Active Directory objects "
                                 "(expected Get-ADUser, Get-ADGroup or Get-ADObject output)", line=1)
    header_line = text.split("\n", 1)[0]
    delim = _delimiter(header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise BadInput(path, "no header row", line=first_line)
        names = [h.strip() for h in header]
        low = [_COLUMNS.get(n.casefold(), n.casefold()) for n in names]
        if "dn" not in low:
            raise BadInput(path, "no DistinguishedName column (Export-Csv of Get-ADUser/Get-ADObject output "
                                 "is read by its DistinguishedName column)", line=first_line)
        lost: dict[str, str] = {}
        for row in reader:
            line = reader.line_num + first_line - 1
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(names):
                if report is not None and len(row) < len(names) and not text.endswith(("\n", "\r")) \
                        and next(reader, None) is None:
                    report.incomplete.append(f"the last row has {len(row)} of {len(names)} columns and no line "
                                             "end: the file was cut off inside it")
                    break
                raise BadInput(path, f"{len(row)} columns, header has {len(names)}", line=line)
            yield _object(dict(zip(low, row)), names, low, row, path, line, lost)
        if lost and report is not None:
            for col, type_name in sorted(lost.items()):
                if type_name.startswith("ambiguous date"):
                    report.notes.append(f"column {col} left out: {type_name} cannot be read without knowing "
                                        "the culture that wrote it (day and month are ambiguous)")
                    continue
                report.notes.append(
                    f"column {col} holds the .NET type name {type_name!r} instead of values (Export-Csv writes "
                    f"collections and byte arrays that way): export it with @{{n='{col}';e={{$_.{col} -join ';'}}}}"
                    if "Collection" in type_name or type_name.endswith("String[]") else
                    f"column {col} holds the .NET type name {type_name!r} instead of values: export it with "
                    f"@{{n='{col}';e={{[guid]$_.'{col}'}}}}")
    except csv.Error as e:
        raise BadInput(path, f"invalid CSV: {e}", line=reader.line_num + first_line - 1) from None


def _object(cells: dict[str, str], names: list[str], low: list[str], row: list[str], path: Path, line: int,
            lost: dict[str, str]) -> OnPremObject:
    attrs: dict[str, list[bytes]] = {}
    for name, key, cell in zip(names, low, row):
        if not cell.isascii() and not _unicode(cell):  # a lone surrogate (a broken UTF-16 file)
            raise BadInput(path, f"{name} is not valid Unicode text (a broken UTF-16 surrogate)", line=line)
        v = cell.strip()
        if not v or key == "dn":
            continue
        if TYPE_NAMES.match(v):
            lost.setdefault(name, v)
            continue
        if key in ("objectguid", "ms-ds-consistencyguid"):
            raw = _guid_bytes(v)
            if raw is None:
                raise BadInput(path, f"{name} is not a GUID: {v[:60]!r}", line=line)
            attrs[key] = [raw]
        elif key == "objectsid":
            try:
                attrs[key] = [sid_str_to_bytes(v)]
            except (ValueError, OverflowError, struct.error):
                raise BadInput(path, f"{name} is not a SID (S-1-5-...): {v[:60]!r}", line=line) from None
        elif key == "proxyaddresses":
            attrs[key] = [p.encode("utf-8") for p in _split_multi(v)]
        elif key in ("whencreated", "whenchanged"):
            iso = normalize_time(v)
            if iso is None or not is_iso(iso):  # 11/07/2024: never compared as if it were a date
                lost.setdefault(name, f"ambiguous date {v[:40]!r}")
                continue
            attrs[key] = [iso.encode("utf-8")]
        elif key == "objectclass":
            attrs[key] = [c.encode("utf-8") for c in re.split(r"[;,\s]+", v) if c]
        else:
            attrs[key] = [v.encode("utf-8")]
    if "cn" not in attrs and "name" in attrs:
        attrs["cn"] = attrs["name"]
    enabled = attrs.pop("enabled", None)
    if enabled and "useraccountcontrol" not in attrs:
        flag = enabled[0].strip().upper()
        if flag in (b"TRUE", b"FALSE"):
            attrs["useraccountcontrol"] = [b"512" if flag == b"TRUE" else b"514"]
    dn = cells.get("dn", "").strip()
    if not dn:
        raise BadInput(path, "empty DistinguishedName", line=line)
    try:
        return decode_entry(dn, attrs, str(path))
    except EntryError as e:
        raise BadInput(path, f"{dn}: {e}", line=line) from None


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_export_csv_text(text: str, label: str = "<csv>", report: ReadReport | None = None) -> list[OnPremObject]:
    return list(ps_rows(text, Path(label), report))
