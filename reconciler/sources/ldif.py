"""RFC 2849 LDIF reader for ``ldifde`` and ``ldapsearch`` exports (streaming).

Handles ``version:``, comments, folded continuation lines, ``attr:: base64``,
attribute options (``proxyAddresses;range=0-1499``), CRLF line ends, a UTF-8
BOM and ``ldifde -u`` UTF-16 files. Every failure is a ``BadInput`` naming the
file and line.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from pathlib import Path
from typing import IO, Iterator

from ..core.errors import BadInput
from ..core.model import OnPremObject
from .inputs import open_input
from .onprem import EntryError, decode_entry

__all__ = ["iter_ldif_records", "iter_ldif_objects", "parse_ldif_bytes"]

_ATTR = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9=.-]+)*$|^[0-9]+(\.[0-9]+)*$")
_NAMES: dict[bytes, str] = {}  # validated attribute name -> lower-case name without options


def _open(path: Path) -> IO[bytes]:
    f = open_input(path)
    head = f.read(2)
    if head == b"\xff\xfe":  # ldifde -u writes UTF-16LE with a BOM
        try:
            text = f.read().decode("utf-16-le", errors="strict")
        except UnicodeDecodeError as e:
            raise BadInput(path, f"not valid UTF-16 (ldifde -u) at byte {e.start + 2}") from None
        finally:
            f.close()
        return io.BytesIO(text.encode("utf-8"))
    f.seek(0)
    return f


def _logical_lines(f: IO[bytes], path: Path, offset: int = 0) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, logical line) with folding undone; ``None`` marks a record break."""
    cur: bytes | None = None
    start = 0
    comment = False
    for no, raw in enumerate(f, 1 + offset):
        line = raw.rstrip(b"\r\n")
        if line[:1] == b" ":
            if cur is None and not comment:
                raise BadInput(path, "continuation line with nothing to continue", line=no)
            if not comment:
                cur = cur + line[1:]  # type: ignore[operator]
            continue
        if cur is not None:
            yield start, cur
            cur = None
        comment = False
        if not line.strip():
            yield no, None
            continue
        if line[:1] == b"#":
            comment = True
            continue
        cur, start = line, no
    if cur is not None:
        yield start, cur
    yield 0, None


def _split(line: bytes, no: int, path: Path) -> tuple[str, bytes]:
    colon = line.find(b":")
    if colon <= 0:
        raise BadInput(path, "expected 'attribute: value'", line=no)
    name = line[:colon]
    attr = _NAMES.get(name)
    if attr is None:
        if not _ATTR.match(name):
            raise BadInput(path, f"invalid attribute name {name[:40]!r}", line=no)
        attr = name.split(b";", 1)[0].decode("ascii").lower()
        if len(_NAMES) < 4096:
            _NAMES[name] = attr
    rest = line[colon + 1:]
    if rest[:1] == b":":
        try:
            value = base64.b64decode(rest[1:].strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(path, f"invalid base64 value for {name.decode()}", line=no) from None
    elif rest[:1] == b"<":
        raise BadInput(path, f"URL values ('{name.decode()}:<') are not supported", line=no)
    else:
        value = rest.lstrip(b" ")
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(path, f"value of {name.decode()} is not UTF-8 (binary data must be base64)",
                           line=no) from None
    return attr, value


class _Slow(Exception):
    """The fast path met something unusual: re-read the block line by line for exact errors."""


_BOM = b"\xef\xbb\xbf"


def _blocks(f: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield (first line number, record block) split on empty lines, CRLF normalised."""
    line, rest, first = 1, b"", True
    while True:
        chunk = f.read(1 << 20)
        if first:
            chunk, first = (chunk[3:] if chunk.startswith(_BOM) else chunk), False
        if not chunk:
            break
        data = rest + chunk
        hold = b""
        if data.endswith(b"\r"):
            data, hold = data[:-1], b"\r"
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n")
        if end < 0:
            rest = data + hold
            continue
        body, rest = data[:end], data[end + 2:] + hold
        for rec in body.split(b"\n\n"):
            lead = len(rec) - len(rec.lstrip(b"\n"))
            if rec[lead:]:
                yield line + lead, rec[lead:]
            line += rec.count(b"\n") + 2
    rest = rest.replace(b"\r\n", b"\n")
    lead = len(rest) - len(rest.lstrip(b"\n"))
    if rest[lead:].strip(b"\n"):
        yield line + lead, rest[lead:]


def _fast_record(block: bytes) -> tuple[bool, str | None, dict[str, list[bytes]]]:
    """Parse one ordinary record; raise _Slow for anything the line-by-line path must judge."""
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        raise _Slow from None
    if block[:3] != b"dn:":  # comments or version first, a continuation, junk: judge line by line
        raise _Slow
    text = block.replace(b"\n ", b"") if b"\n " in block else block
    lines = text.split(b"\n")
    dn: str | None = None
    attrs: dict[str, list[bytes]] = {}
    names = _NAMES
    for ln in lines:
        name, colon, value = ln.partition(b":")
        attr = names.get(name)
        if attr is None:
            if not ln or ln[:1] == b"#":
                continue
            raise _Slow  # unknown name (first sight: validated line by line), junk, no colon
        c = value[:1]
        if c == b":" or c == b"<":
            if c == b"<":
                raise _Slow
            try:
                value = base64.b64decode(value[1:].strip(), validate=True)
            except (binascii.Error, ValueError):
                raise _Slow from None
        elif c == b" ":
            value = value.lstrip(b" ")
        lst = attrs.get(attr)
        if lst is None:
            attrs[attr] = [value]
        else:
            lst.append(value)
    dns = attrs.pop("dn")
    kinds = attrs.pop("changetype", None)
    if len(dns) != 1 or "version" in attrs or (kinds is not None and any(k.strip().lower() != b"add" for k in kinds)):
        raise _Slow
    try:
        dn = dns[0].decode("utf-8")
    except UnicodeDecodeError:
        raise _Slow from None
    return True, dn, attrs


def _slow_records(f: IO[bytes], path: Path, offset: int,
                  state: list[bool]) -> Iterator[tuple[int, str, dict[str, list[bytes]]]]:
    """Line-by-line parse of one block (exact line numbers in every error)."""
    dn: str | None = None
    attrs: dict[str, list[bytes]] = {}
    start = 0
    for no, line in _logical_lines(f, path, offset):
        if line is None:
            if dn is not None:
                yield start, dn, attrs
            dn, attrs = None, {}
            continue
        attr, value = _split(line, no, path)
        state[0] = True
        if dn is None:
            if attr == "version":
                continue
            if attr != "dn":
                raise BadInput(path, f"record must start with 'dn:', found {attr!r}", line=no)
            try:
                dn = value.decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(path, "dn is not UTF-8", line=no) from None
            start = no
            continue
        if attr == "changetype":
            kind = value.decode("utf-8", "replace").strip().lower()
            if kind != "add":
                raise BadInput(path, f"'changetype: {kind}' is a change record; expected an export "
                                     "(content or 'changetype: add' records)", line=no)
            continue
        attrs.setdefault(attr, []).append(value)


def iter_ldif_records(f: IO[bytes], path: Path) -> Iterator[tuple[int, str, dict[str, list[bytes]]]]:
    """Yield (first line, dn, attributes) for every content/add record.

    Ordinary records take a fast block path; anything unusual (folded first line,
    junk, bad base64, change records, unknown attribute names) is re-read line by
    line so the error names the exact line.
    """
    state = [False]
    for start, block in _blocks(f):
        try:
            seen, dn, attrs = _fast_record(block)
        except _Slow:
            yield from _slow_records(io.BytesIO(block), path, start - 1, state)
            continue
        state[0] = state[0] or seen
        if dn is not None:
            yield start, dn, attrs
    if not state[0]:
        raise BadInput(path, "empty file, expected LDIF records")


def _objects(f: IO[bytes], path: Path) -> Iterator[OnPremObject]:
    label = str(path)
    with f:
        for start, dn, attrs in iter_ldif_records(f, path):
            try:
                yield decode_entry(dn, attrs, label)
            except EntryError as e:
                raise BadInput(path, f"{dn}: {e}", line=start) from None


def iter_ldif_objects(path: Path | str) -> Iterator[OnPremObject]:
    p = Path(path)
    return _objects(_open(p), p)


def parse_ldif_bytes(data: bytes, label: str = "<ldif>") -> list[OnPremObject]:
    return list(_objects(io.BytesIO(data), Path(label)))
