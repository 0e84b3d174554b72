"""Reader for ``csvde`` exports: header row of attribute names, ``DN`` first,
binary values as ``X'hex'``, multi-valued attributes joined with ``;``."""

from __future__ import annotations

import binascii
import csv
import io
import re
from pathlib import Path
from typing import Iterator

from ..core.errors import BadInput
from ..core.model import OnPremObject
from .inputs import read_text
from .onprem import EntryError, ReadReport, decode_entry

__all__ = ["iter_csvde_objects", "iter_csv_objects", "parse_csvde_text"]

# csvde joins every value of a multi-valued attribute with ';'. Only these are
# split: a single-valued attribute (displayName, ...) may itself contain ';'.
MULTI_VALUED = {"objectclass", "proxyaddresses", "member", "memberof", "othermailbox",
                "othertelephone", "url", "serviceprincipalname", "showinaddressbook", "usercertificate",
                "usersmimecertificate"}


# proxyAddresses: an X400 address holds ';' itself (X400:C=US;A= ;P=Contoso;O=Exchange;S=Smith;), so a ';' only
# separates two values where the next one starts with its type (SMTP:, smtp:, X500:, X400:, SIP:, ...)
_PROXY_SEP = re.compile(r";(?=[A-Za-z0-9-]{1,12}:)")


def _value(text: str, attr: str, line: int, path: Path) -> bytes:
    if len(text) >= 3 and text[:2] in ("X'", "x'") and text.endswith("'"):
        try:
            return binascii.unhexlify(text[2:-1])
        except (binascii.Error, ValueError):
            raise BadInput(path, f"invalid X'hex' value for {attr}", line=line) from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a broken UTF-16 file): not text any reader can keep
        raise BadInput(path, f"{attr} is not valid Unicode text (a broken UTF-16 surrogate)", line=line) from None


def _rows(text: str, path: Path, report: ReadReport | None = None) -> Iterator[OnPremObject]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    cut = bool(text) and not text.endswith(("\n", "\r"))
    try:
        header = next(reader, None)
        if header is None:
            raise BadInput(path, "empty file, expected a csvde header row")
        names = [h.strip().lstrip("\ufeff") for h in header]
        if not names or names[0].casefold() != "dn":
            raise BadInput(path, "first column must be DN (a csvde export), or a DistinguishedName column "
                                 "(a PowerShell Export-Csv)", line=1)
        low = [n.lower() for n in names]
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(names):
                if report is not None and cut and len(row) < len(names) and _at_end(reader):
                    report.incomplete.append(f"the last row ({row[0][:80]}) has {len(row)} of {len(names)} "
                                             "columns and no line end: the file was cut off inside it")
                    break
                raise BadInput(path, f"{len(row)} columns, header has {len(names)}", line=line)
            attrs: dict[str, list[bytes]] = {}
            for name, cell in zip(low[1:], row[1:]):
                if cell == "":
                    continue
                parts = (_PROXY_SEP.split(cell) if name == "proxyaddresses" else
                         cell.split(";") if name in MULTI_VALUED else [cell])
                attrs[name] = [_value(p, name, line, path) for p in parts if p != ""]
            try:
                yield decode_entry(row[0], attrs, str(path))
            except EntryError as e:
                raise BadInput(path, f"{row[0]}: {e}", line=line) from None
    except csv.Error as e:
        raise BadInput(path, f"invalid CSV: {e}", line=reader.line_num) from None


def _at_end(reader: Iterator[list[str]]) -> bool:
    return next(reader, None) is None


def _read_text(path: Path) -> str:
    return read_text(path, "csvde -u writes UTF-16; both are read")


def iter_csvde_objects(path: Path | str, report: ReadReport | None = None) -> Iterator[OnPremObject]:
    p = Path(path)
    return _rows(_read_text(p), p, report)


def iter_csv_objects(path: Path | str, report: ReadReport | None = None) -> Iterator[OnPremObject]:
    """A ``.csv`` export: csvde (first column ``DN``) or PowerShell ``Export-Csv`` (a ``DistinguishedName`` column)."""
    p = Path(path)
    text = _read_text(p)
    from .psexport import looks_like_export_csv, ps_rows

    if looks_like_export_csv(text):
        return ps_rows(text, p, report)
    return _rows(text, p, report)


def parse_csvde_text(text: str, label: str = "<csv>") -> list[OnPremObject]:
    return list(_rows(text, Path(label)))
