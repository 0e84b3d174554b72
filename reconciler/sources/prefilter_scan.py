"""The cheap pass over one piece of an LDIF export: which records it vouches for, and their keys.

A piece is a run of whole records (blocks between empty lines). Per record, one match of
:data:`_RECORD` over the lower-cased piece checks every line against the shapes the pass vouches
for (attribute names, base64 values, numbers, ``changetype: add``, the object classes the decoder
tells apart), finds where the record ends and captures its DN, classes and keys; the keys are then
decoded (:func:`_fast`). A record it does not match whole goes the careful way: :data:`_ODD`
finds a line the pass does not vouch for, :data:`_HEAD` and :data:`_TOKENS` read the rest. A UTF-8
check runs only when the piece is not ASCII. Any record holding a line the pass does not vouch for
is decoded in full by the real reader (``_Pass.full``), so a file it refuses is refused the same way.
"""

from __future__ import annotations

import binascii
import re
from typing import TYPE_CHECKING
from zlib import crc32

from ..core.anchors import normalize_dn

if TYPE_CHECKING:
    from .prefilter_index import LdifIndex, _Pass

__all__ = ["DnSuffix", "index_piece"]

# --------------------------------------------------------------------------- base DN, incrementally


class DnSuffix:
    """``common_dn_suffix`` over a stream of DNs without keeping them (same result, same spelling).

    ``parents`` holds parent DNs (raw bytes) known to share the current suffix: a DN below one of
    them cannot shorten it, so callers may skip :meth:`add` for it.
    """

    def __init__(self) -> None:
        self.first: str | None = None
        self.common: tuple[str, ...] = ()
        self.keep = 0
        self.zero = False
        self._parents: dict[str, tuple[str, ...]] = {}
        self.parents: set[bytes] = set()

    def add(self, dn: str, remember: bool = False) -> None:
        if self.first is None:
            self.first = dn
            self.common = normalize_dn(dn)
            self.keep = len(self.common)
            return
        if self.zero:
            return
        keep = self.keep
        i = dn.find(",")
        if i >= 0 and "\\" not in dn and '"' not in dn and ";" not in dn:
            parent = dn[i + 1:]
            pt = self._parents.get(parent)
            if pt is None:
                if len(self._parents) > 4096:
                    self._parents.clear()
                pt = self._parents[parent] = normalize_dn(parent)
            if len(pt) >= keep:
                if not (keep and pt[len(pt) - keep:] == self.common[len(self.common) - keep:]):
                    self._shrink(pt)
                if remember:
                    if len(self.parents) > 65536:
                        self.parents.clear()
                    self.parents.add(parent.encode("utf-8"))
                return
        self._shrink(normalize_dn(dn))

    def join(self, other: "DnSuffix") -> None:
        """Fold in the DNs ``other`` saw (they come after this one's)."""
        if other.first is None:
            return
        if other.zero:
            if self.first is None:
                self.first = other.first
            self.zero = True
            return
        tail = other.result()
        if tail is not None:
            self.add(tail)

    def _shrink(self, other: tuple[str, ...]) -> None:
        common, k = self.common, 0
        while k < self.keep and k < len(other) and common[-1 - k] == other[-1 - k]:
            k += 1
        self.keep = k
        if k == 0:
            self.zero = True

    def result(self) -> str | None:
        if self.first is None or self.zero:
            return None
        from ..core.anchors import split_dn

        first = split_dn(self.first)
        return ",".join(first[len(first) - self.keep:])


# --------------------------------------------------------------------------- what the pass vouches for

# On the lower-cased piece, with a line break put in front: a match starts at the line break before a line the
# cheap pass does not vouch for (its record is then decoded in full). One expression, so the piece is swept once.
_INT_END = rb"[ ]*-?[0-9]+[ ]*(?:\n(?![ ])|\Z)"
_PLAIN_LINE = rb"[a-z][a-z0-9-]*:(?!<)|[0-9]+(?:\.[0-9]+)*:(?!<)|\n|\Z|\#|[ ]+[^ \t\n]"
_ODD = re.compile(
    rb"\n(?:(?!" + _PLAIN_LINE + rb")"  # not an attribute line, a comment, an empty or a continuation line
    rb"|(?:useraccountcontrol|grouptype):(?!" + _INT_END + rb")"  # not a number
    rb"|(?:objectguid|objectsid|ms-ds-consistencyguid):(?!:)"  # a key attribute not in base64
    rb"|changetype:(?![ ]*add[ ]*(?:\n(?![ ])|\Z))"  # a change record
    rb"|(?:ref|search|result|text|matcheddn):"  # ldapsearch references and trailer
    rb"|objectclass:(?:[^\n]*\n[ ]"  # a folded objectClass value
    rb"|[^\n]*[\x80-\xff]))")  # a non-ASCII class may casefold to one that counts
# attributes decode_entry reads as text: a base64 value there may not be UTF-8
_TEXT = ("dn", "version", "cn", "sn", "mail", "mailnickname", "samaccountname", "displayname", "givenname",
         "targetaddress", "homemdb", "msexchrecipienttypedetails", "userprincipalname", "objectclass",
         "proxyaddresses", "whencreated", "whenchanged", "changetype", "useraccountcontrol", "grouptype")
_TEXT_SET = frozenset(n.encode() for n in _TEXT)
_KEY_NAMES = {b"objectguid": 0, b"ms-ds-consistencyguid": 1, b"objectsid": 2,
              b"objectGUID": 0, b"mS-DS-ConsistencyGuid": 1, b"objectSid": 2}  # lower-case, and as AD spells them


def _ci(name: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)


# comments, then a plain DN: ASCII without control characters, backslash, quote or semicolon (folded lines joined)
_DN_CHAR = rb"[ !#-:<-\[\]-\x7f]"
_HEAD = re.compile(rb"(?:\#[^\n]*\n(?:[ ][^\n]*\n)*)*dn: (" + _DN_CHAR + rb"*(?:\n " + _DN_CHAR + rb"*)*)(?=\n(?![ ])|\Z)")
_CLASSES = ("user", "group", "contact", "computer", "inetorgperson")  # the classes decode_entry tells apart
# per record: every base64 value (checked, keys kept), the object classes that matter, a dn: inside the record
_TOKENS = re.compile(
    rb"\n(?:([A-Za-z0-9;.-]++)::[ ]*([^\n]*(?:\n [^\n]*)*)|" + _ci("objectClass").encode() + rb":[ ]*("
    + "|".join(_ci(c) for c in _CLASSES).encode() + rb")(?=\n|\Z)|([dD][nN])[:;])")
_ANY_CLASS = re.compile(rb"\n" + _ci("objectClass").encode() + rb":")
_FIRST_SAM = re.compile(rb"\n" + _ci("sAMAccountName").encode() + rb":[ ]*([^\n]*(?:\n [^\n]*)*)")
_FIRST_MAIL = re.compile(rb"\n" + _ci("mail").encode() + rb":[ ]*([^\n]*(?:\n [^\n]*)*)")
_ANY_PROXY = re.compile(rb"\n" + _ci("proxyAddresses").encode() + rb":")
_CTRL = bytes(range(32))
# the object classes a record holds, as bits; the class decode_entry picks for each combination
_CLASS_BIT = {b"user": 1, b"group": 2, b"contact": 4, b"computer": 8, b"inetorgperson": 16, b"inetOrgPerson": 16}
_AD_BITS = 1 | 2 | 4 | 8
_CLASS_OF = tuple("computer" if m & 8 else "contact" if m & 4 else "group" if m & 2 else "user" if m & 17 else "other"
                  for m in range(32))
_LINKED = ("user", "group", "contact")

# The fast path, over the lower-cased piece from a record's first line: comments, the plain DN, then only lines that
# neither _ODD nor _TOKENS would stop at; it stops at the line break before the record's separator when the record is
# plain. Sound, not complete: a record it does not match whole goes the careful way (_ODD, then _plain), which decides.
# Base64 values are checked against the strict grammar (a value it accepts, binascii's strict mode accepts too), but for
# the keys, which :func:`_fast` decodes in strict mode. Groups: 1 the DN; 2-6 the classes the decoder tells apart
# (captured once confirmed); 7-9 objectGUID, mS-DS-ConsistencyGuid and objectSid (a second value of one is left to the
# careful way, which keeps the first).
_B64_CHAR = rb"[a-z0-9+/]"  # lower-cased: the same shape as the value
_WS = rb"[ \t\x0b\x0c]*+"  # what bytes.strip() takes off a value (a line holds no \r or \n here)
_B64_CORE = rb"(?:" + _B64_CHAR + rb"{4})*+(?:" + _B64_CHAR + rb"{2}==|" + _B64_CHAR + rb"{3}=|)"
_B64 = _WS + _B64_CORE + _WS
# names whose lines are read only in the shapes below (a trie: one branch per first letter)
_SPECIAL = (rb"(?:u(?:seraccountcontrol)|g(?:rouptype)|o(?:bject(?:guid|sid|class))|m(?:s-ds-consistencyguid|atcheddn)"
            rb"|c(?:hangetype)|r(?:ef|esult)|s(?:earch)|t(?:ext)|d(?:n)):")
_NAME = rb"(?:[a-z][a-z0-9-]*+|[0-9]++(?:\.[0-9]++)*+)"
_CONT = rb"(?:\n[ ]++[^ \t\n][^\n]*+)*+"  # continuation lines (one with text after the spaces)
_CLASS_NAMES = rb"(?:user|group|contact|computer|inetorgperson)(?=\n|\Z)"
_RECORD = re.compile(
    rb"(?:\#[^\n]*+" + _CONT + rb"\n)*+"
    rb"dn: (" + _DN_CHAR + rb"*+(?:\n[ ](?=[ ]*+[^ \t\n])" + _DN_CHAR + rb"*+)*+)"
    rb"(?:\n(?:"
    rb"(?!" + _SPECIAL + rb")(?:" + _NAME + rb":(?![:<])[^\n]*+" + _CONT
    + rb"|(?!(?:" + b"|".join(re.escape(n.encode()) for n in _TEXT) + rb")::)" + _NAME + rb"::" + _B64 + rb")"
    rb"|objectclass:(?![:<])(?:(?=[ ]*+" + _CLASS_NAMES + rb")[ ]*+(?:(user)|(group)|(contact)|(computer)"
    rb"|(inetorgperson))|[^\n\x80-\xff]*+)"
    rb"|objectguid::(?(7)(?!))" + _WS + rb"([a-z0-9+/=]*+)" + _WS
    + rb"|ms-ds-consistencyguid::(?(8)(?!))" + _WS + rb"([a-z0-9+/=]*+)" + _WS
    + rb"|objectsid::(?(9)(?!))" + _WS + rb"([a-z0-9+/=]*+)" + _WS
    + rb"|(?:useraccountcontrol|grouptype):[ ]*+-?[0-9]++[ ]*+"
    rb"|changetype:[ ]*+add[ ]*+"
    rb"|\#[^\n]*+" + _CONT + rb"))*")


class _Unusual(Exception):
    pass


def _odd_places(piece: bytes) -> list[int]:
    """Sorted places, one at least in each record whose bytes are not UTF-8 (or a continuation line opening the
    piece): those records are decoded in full whatever their lines. Lines are judged per record (:func:`_fast`,
    :data:`_ODD`)."""
    out: list[int] = []
    n, find = len(piece), piece.find
    if not piece.isascii():
        mv = memoryview(piece)
        pos = 0
        while pos < n:
            try:
                str(mv[pos:], "utf-8")
                break
            except UnicodeDecodeError as e:
                at = pos + e.start  # a byte of text, never a line break: its record ends at the next separator
                out.append(at)
                end = find(b"\n\n", at)
                pos = end + 2 if end >= 0 else n
    if piece[:1] == b" ":
        out.insert(0, 0)
    return out


def _head_slow(blk: bytes) -> tuple[bytes, int] | None:
    """:data:`_HEAD` spelled out, for the blocks it does not match: (DN, where its line ends), None for comments
    only; _Unusual for anything else."""
    from .ldif import leading_comments  # here: few blocks come this way

    n = len(blk)
    p, _ = leading_comments(blk)  # comments (with their continuation lines) before the dn
    if p < 0 or p >= n:
        return None
    if blk[p:p + 4] != b"dn: ":
        raise _Unusual
    e = blk.find(b"\n", p)
    if e < 0:
        e = n
    dn = blk[p + 4:e].lstrip(b" ")
    while e < n and blk[e + 1:e + 2] == b" ":  # folded dn
        e2 = blk.find(b"\n", e + 1)
        if e2 < 0:
            e2 = n
        dn += blk[e + 2:e2]
        e = e2
    if not dn.isascii() or len(dn.translate(None, _CTRL)) != len(dn) or b"\\" in dn or b'"' in dn or b";" in dn:
        raise _Unusual
    return dn, e


def _plain(piece: bytes, s: int, e: int) -> tuple[bytes, bytes | None, bytes | None, bytes | None, int] | None:
    """(DN, objectGUID, mS-DS-ConsistencyGuid, objectSid, class bits) of the plain record piece[s:e]; None: comments
    only; _Unusual: decode it in full."""
    m = _HEAD.match(piece, s, e)
    if m is not None:
        dn, at = m.group(1).lstrip(b" ").replace(b"\n ", b""), m.end()
    else:
        head = _head_slow(piece[s:e])
        if head is None:
            return None
        dn, at = head[0], s + head[1]
    _check_dn(dn, dn.replace(b" ", b""))
    guid = cguid = sid = None
    bits = 0
    for name, value, cls, inner in _TOKENS.findall(piece, at, e):
        if cls:
            bits |= _CLASS_BIT.get(cls) or _CLASS_BIT[cls.lower()]
            continue
        if inner or b"\n" in value:
            raise _Unusual  # a dn: inside the record, a folded base64 value
        slot = _KEY_NAMES.get(name)
        if slot is None:
            low = name.lower()
            slot = _KEY_NAMES.get(low)
            if slot is None and (low in _TEXT_SET or b";" in name):
                raise _Unusual
        try:
            raw = binascii.a2b_base64(value.strip(), strict_mode=True)
        except (binascii.Error, ValueError):
            raise _Unusual from None
        if slot == 0:
            if guid is None:
                guid = raw
        elif slot == 1:
            if cguid is None:
                cguid = raw
        elif slot == 2:
            if sid is None:
                sid = raw
    _check_keys(guid, sid)
    return dn, guid, cguid, sid, bits


def _check_dn(dn: bytes, key: bytes) -> None:
    """_Unusual unless the DN is plainly one the decoder reads as written: not empty, no empty RDN (``key``: the DN
    without spaces)."""
    if not dn or b",," in key or key[:1] == b"," or key[-1:] == b",":
        raise _Unusual


def _check_keys(guid: bytes | None, sid: bytes | None) -> None:
    """_Unusual unless the (first) objectGUID and objectSid have the shapes the decoder accepts."""
    if guid is not None and len(guid) != 16:
        raise _Unusual
    if sid is not None and (len(sid) < 8 or len(sid) != 8 + 4 * sid[1]):
        raise _Unusual


def _fast(piece: bytes, low: bytes, m: re.Match[bytes]) -> tuple[bytes, bytes | None, bytes | None, bytes | None, int,
                                                                   bytes]:
    """What :func:`_plain` returns for a record :data:`_RECORD` matched whole in ``low`` (the piece lower-cased; the
    values come from ``piece``), and the DN's key (lower-cased, without spaces). _Unusual: decode it in full."""
    r = m.regs  # every group's span at once
    a, at = r[1]
    if piece[a - 4:a] != b"dn: ":  # matched lower-cased; _HEAD reads only this spelling
        raise _Unusual
    dn, k = piece[a:at], low[a:at]
    if dn[:1] == b" ":
        dn = dn.lstrip(b" ")
    if b"\n" in dn:
        dn, k = dn.replace(b"\n ", b""), k.replace(b"\n ", b"")
    k = k.replace(b" ", b"")  # the DN lower-cased without spaces: its key (dn.lower().replace(b" ", b""))
    _check_dn(dn, k)
    try:
        a, at = r[7]
        guid = binascii.a2b_base64(piece[a:at], strict_mode=True) if a >= 0 else None
        a, at = r[8]
        cguid = binascii.a2b_base64(piece[a:at], strict_mode=True) if a >= 0 else None
        a, at = r[9]
        sid = binascii.a2b_base64(piece[a:at], strict_mode=True) if a >= 0 else None
    except (binascii.Error, ValueError):
        raise _Unusual from None
    _check_keys(guid, sid)
    bits = (r[2][0] >= 0) | (r[3][0] >= 0) << 1 | (r[4][0] >= 0) << 2 | (r[5][0] >= 0) << 3 | (r[6][0] >= 0) << 4
    return dn, guid, cguid, sid, bits, k


def _first_value(pattern: re.Pattern[bytes], piece: bytes, s: int, e: int) -> bool:
    """Whether the attribute's first value is non-empty (decode_entry keeps the first, '' is false)."""
    m = pattern.search(piece, s, e)
    return m is not None and bool(m.group(1).replace(b"\n ", b""))


def index_piece(run: _Pass, off: int, piece: bytes, line: int, last: bool) -> int:
    """Index one piece starting at file offset ``off`` and line ``line``; return the next piece's line."""
    idx = run.idx
    crlf = 0
    if b"\r" in piece:
        n = piece.count(b"\r\n")
        crlf = 1
        piece = piece.replace(b"\r\n", b"\n")
        if n != piece.count(b"\n") or b"\r" in piece:  # mixed line ends: decode this piece in full
            run.full(piece, line, last=last)
            return line + piece.count(b"\n")
    # the full reader's own boundary rules where they differ from "an empty line": whitespace-only separator
    # lines, the very first piece's leading blank lines, a file that does not end with a line break
    if (last and not piece.endswith(b"\n")) or (
            run.first_range and off == run.range_start and piece[:1] in (b" ", b"\t", b"\n")):
        run.full(piece, line, last=last)
        return line + piece.count(b"\n")
    low = piece.lower()
    odd = _odd_places(piece)
    odd.append(len(piece) + 1)  # past every record
    u = 0  # odd[u]: the next odd place
    pi = len(idx.pieces)
    idx.pieces.append((off, line, crlf))
    first = len(idx.offsets)
    offs: list[int] = []
    lens: list[int] = []
    gs: list[bytes] = []
    cgs: list[bytes] = []
    sids: list[bytes] = []
    dnk: list[int] = []
    dns: list[bytes] = []
    nl, nl_at = 0, 0  # newlines before nl_at, counted only when needed
    verified, base = idx.base.parents, idx.base
    count = entries = non_ad = 0
    kinds, gaps = run.kinds, run.gaps
    last_slot, last_dn = -1, b""  # the last plain record so far (run.last once the piece is done)
    find, size, match = piece.find, len(piece), _RECORD.match
    watch = run.first or run.report.trailer  # the header, or a trailer's count, may be in a block before a record
    end = -2
    while end < size:
        s = end + 2  # a record's block: piece[s:end], as piece.split(b"\n\n") cuts it
        if s >= size:
            break
        m = None
        if piece[s] == 10:  # a run of blank lines: the block (if any) starts after one of them
            end = find(b"\n\n", s)
            if end < 0:
                end = size
            if s == end:
                continue
            start = s + 1
        else:
            start = s
            m = match(low, s)  # a plain record: it stops at the line break before the separator
            stop = m.end() if m is not None else s
            if stop == size or low.startswith(b"\n\n", stop):
                end = stop
            elif stop == size - 1 and low[stop] == 10:
                end = size  # the last block keeps the piece's last line break
            else:
                m = None
                end = find(b"\n\n", stop)
                if end < 0:
                    end = size
        if start == end:
            continue
        while odd[u] < s:
            u += 1
        rec = None
        dn_key = None
        if odd[u] >= end:
            try:
                if m is not None:
                    dn, guid, cguid, sid, bits, dn_key = _fast(piece, low, m)
                    rec = dn, guid, cguid, sid, bits
                elif _ODD.search(b"\n" + low[start:end]) is not None:  # the careful way
                    odd.insert(u, start)
                else:
                    rec = _plain(piece, start, end)
            except _Unusual:
                odd.insert(u, start)
        if odd[u] < end:
            nl += piece.count(b"\n", nl_at, start)
            nl_at = start
            if offs:  # slots stay in file order
                _flush(idx, pi, first, offs, lens, gs, cgs, sids, dnk, dns)
                offs, lens, gs, cgs, sids, dnk, dns = [], [], [], [], [], [], []
            if last_slot >= 0:
                run.last, run.last_dn, last_slot = (last_slot, None), last_dn, -1
            if entries:
                run.state[0] = True
                run.entries += entries
                entries = 0
            run.full(piece[start:end], line + nl)
            first = len(idx.offsets)
            watch = run.first or run.report.trailer
            continue
        if watch:
            run.before(piece[start:end])
            watch = run.first or run.report.trailer
        if rec is None:
            continue
        dn, guid, cguid, sid, bits = rec
        entries += 1
        last_slot, last_dn = first + len(offs), dn
        if crlf:
            nl += piece.count(b"\n", nl_at, start)
            nl_at = start
            offs.append(off + start + nl)
            lens.append(end - start + piece.count(b"\n", start, end))
        else:
            offs.append(off + start)
            lens.append(end - start)
        dns.append(dn)
        if not (guid is not None or sid is not None or cguid or bits & _AD_BITS
                or _first_value(_FIRST_SAM, piece, s, end)):
            non_ad += 1  # kept out of the source, as the full reader does; a slot all the same
            gs.append(b"")
            cgs.append(b"")
            sids.append(b"")
            dnk.append(0)
            continue
        kind: str | None = _CLASS_OF[bits]
        if kind not in _LINKED:
            kind = "unknown" if not cguid and guid is None and _ANY_CLASS.search(piece, s, end) is None else None
        if kind is not None:
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind == "user":
                linkable = bool(cguid) or guid is not None
            elif kind == "group":
                linkable = sid is not None
            elif kind == "contact":
                linkable = _first_value(_FIRST_MAIL, piece, s, end) or _ANY_PROXY.search(piece, s, end) is not None
                idx.contacts.append(last_slot)
            else:
                linkable = False
            if not linkable:
                gaps[kind] = gaps.get(kind, 0) + 1
        c = dn.find(b",")
        if c < 0 or dn[c + 1:] not in verified:
            base.add(dn.decode("utf-8"), c >= 0)
        gs.append(guid or b"")  # crc32(b"") is 0: no key
        cgs.append(cguid or b"")
        sids.append(sid or b"")
        dnk.append(crc32(dn.lower().replace(b" ", b"") if dn_key is None else dn_key))
        count += 1
    if entries:
        run.state[0] = True
    run.entries += entries
    run.non_ad += non_ad
    if last_slot >= 0:
        run.last, run.last_dn = (last_slot, None), last_dn
    idx.count += count
    _flush(idx, pi, first, offs, lens, gs, cgs, sids, dnk, dns)
    return line + piece.count(b"\n")


def _flush(idx: LdifIndex, pi: int, first: int, offs: list[int], lens: list[int], gs: list[bytes],
           cgs: list[bytes], sids: list[bytes], dnk: list[int], dns: list[bytes]) -> None:
    assert first == len(idx.offsets)
    idx.offsets.extend(offs)
    idx.lengths.extend(lens)
    idx.piece.extend([pi] * len(offs))
    hg, hcg, hsid, hdn = idx.by_key
    hg.extend(map(crc32, gs))
    hcg.extend(map(crc32, cgs))
    hsid.extend(map(crc32, sids))
    hdn.extend(dnk)
    idx.exact_dn.extend(map(crc32, dns))
