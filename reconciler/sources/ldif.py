"""RFC 2849 LDIF reader for ``ldifde`` and ``ldapsearch`` exports (streaming).

Handles ``version:``, comments, folded continuation lines, ``attr:: base64``,
attribute options (``proxyAddresses;range=0-1499``), CRLF line ends, a UTF-8
BOM, ``ldifde -u`` UTF-16 files (with or without a byte-order mark) and the
records ``ldapsearch`` adds around the entries (``ref:`` search references, the
``search:``/``result:`` trailer). Every failure is a ``BadInput`` naming the file
and line; what a file says about its own completeness goes to a
:class:`~reconciler.sources.onprem.ReadReport`.

Record boundaries (:func:`ldif_record_blocks`): a line that is empty or holds
only spaces/tabs ends a record; a ``dn:`` line inside a record is an error
naming that line (two records glued together would otherwise read as one).
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
from .inputs import decode_utf16, open_input, utf16_codec
from .onprem import EntryError, ReadReport, RecordShapes, decode_entry

__all__ = ["iter_ldif_records", "iter_ldif_objects", "parse_ldif_bytes", "ldif_record_blocks",
           "decode_utf16", "CONTROL_ATTRIBUTES"]

# ldapsearch's non-entry records: a search reference (ref:) and the result trailer
# (search:, result:, text:, matchedDN:). They carry no dn: and are skipped.
CONTROL_ATTRIBUTES = frozenset({"ref", "search", "result", "text", "matcheddn"})

_ATTR = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9=.-]+)*$|^[0-9]+(\.[0-9]+)*$")
_NAMES: dict[bytes, str] = {}  # validated attribute name -> lower-case name without options
_B64_NAMES: dict[bytes, str] = {}  # the same with a colon appended ('name:' as 'name:: base64' reads before ': ')


def _open(path: Path) -> IO[bytes]:
    f = open_input(path)
    head = f.read(4)
    if utf16_codec(head) is not None:
        try:
            data = decode_utf16(head + f.read(), path)
        finally:
            f.close()
        return io.BytesIO(data or b"")
    f.seek(0)
    return f


def _logical_lines(f: IO[bytes], path: Path, offset: int = 0) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, logical line) with folding undone; ``None`` marks a record break."""
    cur: bytes | None = None
    start = 0
    comment = False
    for no, raw in enumerate(f, 1 + offset):
        line = raw.rstrip(b"\r\n")
        if not line.strip(b" \t") and line[:1] != b" ":  # empty or tabs only: a record break
            if cur is not None:
                yield start, cur
                cur = None
            comment = False
            yield no, None
            continue
        if line[:1] == b" ":
            if cur is None and not comment:
                hint = (" (the lines look indented, as copied from a web page: remove the leading spaces)"
                        if _LOOKS_LIKE_LINE.match(line.lstrip(b" \t")) else "")
                raise BadInput(path, "continuation line with nothing to continue" + hint, line=no)
            if not comment:
                cur = cur + line[1:]  # type: ignore[operator]
            continue
        if cur is not None:
            yield start, cur
            cur = None
        comment = False
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
            _NAMES[name] = _B64_NAMES[name + b":"] = attr
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
_LOOKS_LIKE_LINE = re.compile(rb"#|[A-Za-z][A-Za-z0-9;-]*::?(\s|$)")  # an indented comment or attribute line
# A whitespace-only line before the start of a record (dn:, a comment, an ldapsearch trailer or reference) is a
# separator: its spaces are dropped. Elsewhere it stays what RFC 2849 makes it, a continuation line (a folded
# value full of spaces).
_NEXT_RECORD = rb"(?:[dD][nN]::?|#|version:|search:|result:|ref:)"
_BLANKISH = re.compile(rb"\n[ \t]+(?=\n(?:[ \t]*\n)*" + _NEXT_RECORD + rb")")
_TRAILING_BLANK = re.compile(rb"(?:\A|(?<=\n))(?:[ \t]*\n)+\Z")
_LEADING_BLANK = re.compile(rb"\A(?:[ \t]*\r?\n)+")


def ldif_record_blocks(f: IO[bytes], report: ReadReport | None = None, *,
                       start: bool = True) -> Iterator[tuple[int, bytes]]:
    """Yield (first line number, record block): the one record-boundary rule of the LDIF readers.

    Records are separated by empty lines, and by lines holding only spaces and
    tabs (editors and copy/paste leave such lines) where the next line starts a
    record (``dn:``, a comment, an ldapsearch reference or trailer) or the file
    ends; CRLF is normalised and a UTF-8 BOM
    dropped. A block may still hold comments, ``version:`` or a glued second
    ``dn:`` line, which the record decoder judges line by line. With ``report``,
    a file that does not end with a line break is recorded as cut off. ``start`` False: ``f`` begins at a
    record boundary inside a file (a part of a split read), so no BOM or leading blank lines are looked for.
    """
    line, rest, first, last = 1, b"", start, b""
    while True:
        chunk = f.read(1 << 20)
        if first:
            chunk, first = (chunk[3:] if chunk.startswith(_BOM) else chunk), False
            # whitespace-only lines before the first record (line numbers kept)
            chunk = _LEADING_BLANK.sub(lambda m: b"\n" * m.group().count(b"\n"), chunk)
        if not chunk:
            break
        last = chunk[-1:]
        data = rest + chunk
        hold = b""
        if data.endswith(b"\r"):
            data, hold = data[:-1], b"\r"
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        if b"\n " in data or b"\n\t" in data:
            data = _BLANKISH.sub(b"\n", data)
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
    rest = _BLANKISH.sub(b"\n", rest.replace(b"\r\n", b"\n"))
    head, sep, tail = rest.rpartition(b"\n")
    cut = bool(tail.strip(b" \t"))  # the file's last line has text but no line break
    if not cut or (sep and b":" not in tail and not tail.startswith((b" ", b"#"))):
        rest = head + sep  # whitespace only, or a half line that no reading can make sense of
    rest = _TRAILING_BLANK.sub(b"", rest)
    lead = len(rest) - len(rest.lstrip(b"\n"))
    if rest[lead:].strip(b"\n"):
        yield line + lead, rest[lead:]
    if report is not None and cut and last not in (b"\n", b"\r"):
        report.incomplete.append("the file ends in the middle of a line: it was probably cut off")


_blocks = ldif_record_blocks  # the name the fast paths used before


def leading_comments(block: bytes) -> tuple[int, int]:
    """(where the line after a block's leading comments starts, how many lines they take): comment lines with
    their continuation lines, as :func:`_logical_lines` skips them; the place is -1 when the block ends inside
    them (no line break after the last)."""
    pos = lines = 0
    while block[pos:pos + 1] == b"#" or (lines and block[pos:pos + 1] == b" "):
        end = block.find(b"\n", pos)
        if end < 0:
            return -1, lines
        pos, lines = end + 1, lines + 1
    return pos, lines


def _fast_record(block: bytes) -> tuple[bool, str | None, dict[str, list[bytes]], int]:
    """Parse one ordinary record; raise _Slow for anything the line-by-line path must judge.

    The last item: how many lines come before the ``dn:`` line (comments, as ldapsearch writes one before each
    entry, with their continuation lines), so that the record's line is the dn's, as the line-by-line path says."""
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        raise _Slow from None
    skipped = 0
    if block[:1] == b"#":
        pos, skipped = leading_comments(block)
        if pos < 0:
            raise _Slow  # comments only
        block = block[pos:]
    if block[:3] != b"dn:":  # version first, a continuation, junk: judge line by line
        raise _Slow
    text = block.replace(b"\n ", b"") if b"\n " in block else block
    attrs: dict[str, list[bytes]] = {}
    if b":  " in text:  # a value after more than one space (or holding ':  '): each line the careful way
        for ln in text.split(b"\n"):
            attr, value = _line(ln)
            if attr is not None:
                attrs.setdefault(attr, []).append(value)
    else:
        plain, coded = _NAMES, _B64_NAMES
        for ln in text.split(b"\n"):
            # 'name: value' (the value as is: no second space, see above) or 'name:: base64' (the name is then
            # 'name:'): one dict lookup tells them apart; anything else the careful way
            name, sep, value = ln.partition(b": ")
            attr = plain.get(name)
            if attr is None or not sep:  # not 'name: value' ('cn' alone is no empty cn: the careful way refuses it)
                attr = coded.get(name)
                if attr is None:
                    attr, value = _line(ln)
                    if attr is None:
                        continue
                else:
                    try:
                        value = binascii.a2b_base64(value.strip(), strict_mode=True)
                    except (binascii.Error, ValueError):
                        raise _Slow from None
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
    return True, dn, attrs, skipped


def _line(ln: bytes) -> tuple[str | None, bytes]:
    """One line of a record read by the block path, the careful way: (attribute, value); (None, b"") for an empty
    or comment line; raise _Slow for anything the line-by-line path must judge."""
    name, colon, value = ln.partition(b":")
    attr = _NAMES.get(name)
    if attr is None or not colon:
        if not ln or ln[:1] == b"#":
            return None, b""
        raise _Slow  # unknown name (first sight: validated line by line), junk, no colon (a known name alone)
    c = value[:1]
    if c == b":":
        try:
            return attr, base64.b64decode(value[1:].strip(), validate=True)
        except (binascii.Error, ValueError):
            raise _Slow from None
    if c == b"<":
        raise _Slow
    return attr, value.lstrip(b" ") if c == b" " else value


def _control(attr: str, value: bytes, report: ReadReport | None) -> None:
    """An ldapsearch search reference or result trailer line: skipped, recorded in ``report``."""
    if report is None:
        return
    if attr == "ref":
        report.skip("search reference (ref:)")
    elif attr == "result":
        report.trailer = True
        text = value.decode("utf-8", "replace").strip()
        if text.split(" ", 1)[0] != "0":
            report.incomplete.append(f"ldapsearch reported 'result: {text[:80]}': the search stopped early "
                                     "and the export holds only part of the directory")


def _slow_records(f: IO[bytes], path: Path, offset: int, state: list[bool],
                  report: ReadReport | None = None) -> Iterator[tuple[int, str, dict[str, list[bytes]]]]:
    """Line-by-line parse of one block (exact line numbers in every error)."""
    dn: str | None = None
    attrs: dict[str, list[bytes]] = {}
    start = 0
    control = False  # inside an ldapsearch reference/trailer record
    for no, line in _logical_lines(f, path, offset):
        if line is None:
            if dn is not None:
                yield start, dn, attrs
            dn, attrs, control = None, {}, False
            continue
        attr, value = _split(line, no, path)
        state[0] = True
        if control:
            _control(attr, value, report)
            continue
        if dn is None:
            if attr == "version":
                continue
            if attr in CONTROL_ATTRIBUTES:
                control = True
                _control(attr, value, report)
                continue
            if attr != "dn":
                raise BadInput(path, f"record must start with 'dn:', found {attr!r}", line=no)
            try:
                dn = value.decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(path, "dn is not UTF-8", line=no) from None
            start = no
            continue
        if attr == "dn":
            raise BadInput(path, "'dn:' inside a record (records must be separated by an empty line; "
                                 "was a separator line lost?)", line=no)
        if attr == "changetype":
            kind = value.decode("utf-8", "replace").strip().lower()
            if kind != "add":
                raise BadInput(path, f"'changetype: {kind}' is a change record; expected an export "
                                     "(content or 'changetype: add' records)", line=no)
            continue
        attrs.setdefault(attr, []).append(value)


_LDAPSEARCH_HEADER = b"# extended LDIF"


def _header(block: bytes, report: ReadReport) -> None:
    """ldapsearch's comment header: remember that a trailer is due, and what was requested."""
    if not block.startswith(_LDAPSEARCH_HEADER):
        return
    report.ldapsearch = True
    for ln in block.split(b"\n"):
        if ln.startswith(b"# requesting:"):
            names = ln[len(b"# requesting:"):].decode("utf-8", "replace").split()
            if names and names != ["ALL"] and "*" not in names:
                report.requested = tuple(names)


def iter_ldif_records(f: IO[bytes], path: Path, *, report: ReadReport | None = None,
                      part: dict | None = None) -> Iterator[tuple[int, str, dict[str, list[bytes]]]]:
    """Yield (first line, dn, attributes) for every content/add record.

    Ordinary records take a fast block path; anything unusual (folded first line,
    junk, bad base64, change records, unknown attribute names, ldapsearch
    references and trailers) is re-read line by line so the error names the exact
    line. With ``report``, what the file says about its own completeness (a
    ``result:`` other than ``0 Success``, a missing trailer, a cut-off last line)
    is recorded there.

    ``part`` (a split read, :mod:`reconciler.sources.ldif_parts`): ``f`` is one part of a file, cut at a
    record boundary (``part["first"]``: it is the file's first part); the whole-file judgements (empty file,
    trailer count) are left to the caller, which finds in ``part`` what they need: ``seen``, ``entries``,
    ``claimed`` and ``num`` (the first ``# numEntries`` of the part, for a trailer in an earlier part).
    """
    state = [False]
    at_start = part is None or bool(part["first"])
    first = True
    entries = 0
    claimed: int | None = None
    for start, block in ldif_record_blocks(f, report, start=at_start):
        if report is not None:
            if first and at_start:
                _header(block, report)
            elif report.trailer and claimed is None:
                claimed = _num_entries(block)
            if part is not None and part.get("num") is None and not (first and at_start) \
                    and b"# numEntries:" in block:
                part["num"] = _num_entries(block)
        first = False
        try:
            seen, dn, attrs, skipped = _fast_record(block)
        except _Slow:
            for rec in _slow_records(io.BytesIO(block), path, start - 1, state, report):
                entries += 1
                yield rec
            continue
        state[0] = state[0] or seen
        if dn is not None:
            entries += 1
            yield start + skipped, dn, attrs
    if part is not None:
        part.update(seen=state[0], entries=entries, claimed=claimed)
        return
    finish_records(path, state[0], report, entries, claimed)


def finish_records(path: Path, seen: bool, report: ReadReport | None, entries: int, claimed: int | None) -> None:
    """What a whole file's records say once all are read: nothing at all, no trailer, a trailer that miscounts."""
    if not seen:
        raise BadInput(path, "empty file, expected LDIF records")
    if report is not None and report.ldapsearch and not report.trailer:
        report.incomplete.append("ldapsearch output without its '# search result' trailer: "
                                 "the file was probably cut off")
    if report is not None and claimed is not None and claimed != entries:
        report.incomplete.append(f"the ldapsearch trailer counts {claimed} entries ('# numEntries: {claimed}') but "
                                 f"the file holds {entries}: entries were cut out of it")


_NUM_ENTRIES = re.compile(rb"^# numEntries: (\d+)\s*$", re.M)


def _num_entries(block: bytes) -> int | None:
    m = _NUM_ENTRIES.search(block)
    return int(m.group(1)) if m else None


def _objects(f: IO[bytes], path: Path, report: ReadReport | None = None) -> Iterator[OnPremObject]:
    label = str(path)
    shapes = RecordShapes() if report is not None else None
    with f:
        for start, dn, attrs in iter_ldif_records(f, path, report=report):
            if shapes is not None:
                shapes.add(dn, attrs)
            try:
                yield decode_entry(dn, attrs, label)
            except EntryError as e:
                raise BadInput(path, f"{dn}: {e}", line=start) from None
    if shapes is not None and report is not None:
        shapes.finish(report)


def iter_ldif_objects(path: Path | str, report: ReadReport | None = None) -> Iterator[OnPremObject]:
    """Stream the objects of an LDIF file; with ``report``, also what the file says about its completeness."""
    p = Path(path)
    return _objects(_open(p), p, report)


def parse_ldif_bytes(data: bytes, label: str = "<ldif>", report: ReadReport | None = None) -> list[OnPremObject]:
    if utf16_codec(data[:4]) is not None:
        data = decode_utf16(data, Path(label)) or b""
    return list(_objects(io.BytesIO(data), Path(label), report))
