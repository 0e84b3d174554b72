"""Keep only the on-prem objects a scan needs, decided in one cheap pass over the export.

The matcher looks on-prem objects up by anchor (objectGUID or mS-DS-ConsistencyGuid),
by objectSid, by DN and, for contacts, by address: a few thousand objects out of
hundreds of thousands. :func:`index_ldif` passes once over an LDIF export (it can
run while the cloud is still being read) and keeps, per record, only its offset and
CRC-32 hashes of those keys; :meth:`LdifIndex.select` then decodes, with the one
decoding path (``ldif.iter_ldif_records`` + ``onprem.decode_entry``), only the
records whose hashes meet a key of the cloud side, and keeps those that really
match (:meth:`NeededKeys.needs`).

Strictness is unchanged: a record is read by the cheap pass only when its shape
is plainly one the decoder accepts (attribute names, base64 values, numbers,
``changetype: add``, UTF-8); any other record is decoded in full during the pass,
so a file the full reader refuses is refused with the same line. Every object is
still counted and still shapes the source's base DN (what "covers" means).
"""

from __future__ import annotations

import binascii
import io
import os
import re
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence
from zlib import crc32

from ..core.anchors import guid_str_to_bytes, guid_to_immutable_id, normalize_dn, sid_str_to_bytes
from ..core.errors import BadInput
from ..core.matcher import cloud_values, onprem_values
from ..core.model import CloudObject, CloudSnapshot, ObjectKind, OnPremObject, OnPremSource, fold
from .inputs import open_input

__all__ = ["NeededKeys", "keys_for", "LdifIndex", "index_ldif", "filtered_source", "DnSuffix", "Selectable", "Whole",
           "total_objects"]

CHUNK = 8 << 20
CHILD_MIN = 16 << 20  # files this large are indexed in a child process (starting one costs ~0.2 s)

# --------------------------------------------------------------------------- keys


def _dn_key(parts: Sequence[str]) -> bytes:
    """Cheap comparable DN form shared by both sides: folded RDNs, no spaces, comma-joined."""
    return ",".join(p.replace(" ", "") for p in parts).encode("utf-8")


@dataclass(slots=True)
class NeededKeys:
    """What the matcher may look up on-prem for one cloud snapshot."""

    anchors: frozenset[str] = frozenset()  # onPremisesImmutableId of the objects involved
    sids: frozenset[str] = frozenset()  # upper-case SID strings
    dns: frozenset[tuple[str, ...]] = frozenset()  # normalised DNs
    values: frozenset[str] = frozenset()  # folded addresses, for contact links (empty: no contact involved)
    hashes: frozenset[int] = field(default_factory=frozenset)  # of raw anchors, raw SIDs and DN keys
    guids: frozenset[str] = frozenset()  # casefolded objectGUIDs that other origins name

    @classmethod
    def of(cls, anchors: Iterable[str], sids: Iterable[str], dns: Iterable[tuple[str, ...]],
           values: Iterable[str] = (), guids: Iterable[str] = ()) -> "NeededKeys":
        anchors, sids, dns, guids = set(anchors), {s.upper() for s in sids}, set(dns), {g.casefold() for g in guids}
        hashes: set[int] = set()
        for g in guids:
            try:
                hashes.add(crc32(guid_str_to_bytes(g)))
            except ValueError:
                pass
        for a in anchors:
            try:
                raw = binascii.a2b_base64(a, strict_mode=True)
            except (binascii.Error, ValueError):
                continue
            if binascii.b2a_base64(raw, newline=False).decode("ascii") == a:  # only a canonical form can equal one
                hashes.add(crc32(raw))
        for s in sids:
            try:
                hashes.add(crc32(sid_str_to_bytes(s)))
            except (ValueError, OverflowError):
                pass
        hashes.update(crc32(_dn_key(t)) for t in dns)
        return cls(frozenset(anchors), frozenset(sids), frozenset(dns), frozenset(values), frozenset(hashes),
                   frozenset(guids))

    def needs(self, o: OnPremObject) -> bool:
        """Exact: the matcher could look ``o`` up (anchor, SID, DN, or a contact's address)."""
        a = o.anchor
        if a is not None and a in self.anchors:
            return True
        if self.guids and o.object_guid and o.object_guid.casefold() in self.guids:
            return True
        if o.object_sid and o.object_sid.upper() in self.sids:
            return True
        if self.values and o.object_class == "contact" and not self.values.isdisjoint(onprem_values(o)):
            return True
        return normalize_dn(o.dn) in self.dns


def _record_anchors(rec: object, src: OnPremObject | None) -> list[str]:
    out = []
    anchor = getattr(rec, "onprem_anchor", None)
    guid = getattr(rec, "onprem_guid", None)
    if anchor:
        out.append(anchor)
    elif guid:
        try:
            out.append(guid_to_immutable_id(guid))
        except ValueError:
            pass
    if src is not None and src.anchor:
        out.append(src.anchor)
    return out


def _record_source(rec: object, by_guid: dict[str, OnPremObject], by_anchor: dict[str, OnPremObject]) -> OnPremObject | None:
    """The on-prem object the matcher resolves for an error record (objectGUID first, then the anchor)."""
    guid = getattr(rec, "onprem_guid", None)
    src = by_guid.get(guid.casefold()) if guid else None
    if src is None:
        for a in _record_anchors(rec, None):
            src = by_anchor.get(a)
            break
    return src


def _involved(snapshot: CloudSnapshot, sources: Sequence[OnPremSource] = ()) -> tuple[list[CloudObject], set[str],
                                                                                     set[str], set[str]]:
    """(cloud objects, anchors, objectGUIDs, folded values) the matcher may look up on-prem for.

    Error objects and every object holding one of their values; for errors read from other origins
    also the objects they name (by id or anchor), their candidates and, once ``sources`` hold the
    on-prem object a failure names, that object's anchor and values.
    """
    errs = [o for o in snapshot.objects if o.errors and not o.deleted]
    wanted = {fold(e.value) for o in errs for e in o.errors if e.value}
    seen = {id(o) for o in errs}
    out = list(errs)
    anchors: set[str] = set()
    guids: set[str] = set()
    records = getattr(snapshot, "error_records", None) or ()
    if records:
        by_guid: dict[str, OnPremObject] = {}
        by_anchor: dict[str, OnPremObject] = {}
        for s in sources:
            for o in s.objects:
                if o.object_guid:
                    by_guid.setdefault(o.object_guid.casefold(), o)
                if o.anchor:
                    by_anchor.setdefault(o.anchor, o)
        by_id = {o.id: o for o in snapshot.objects if not o.deleted}
        by_imm = {o.immutable_id: o for o in snapshot.objects
                  if o.immutable_id and not o.deleted and o.kind is ObjectKind.USER}
        for rec in records:
            err = rec.error
            if err.value:
                wanted.add(fold(err.value))
            wanted.update(fold(v) for _, v in rec.candidates if v)
            if rec.onprem_guid:
                guids.add(rec.onprem_guid.casefold())
            src = _record_source(rec, by_guid, by_anchor)
            if src is not None:
                wanted.update(fold(v) for v in (src.user_principal_name, src.mail, *src.smtp_addresses()) if v)
            mine = _record_anchors(rec, src)
            anchors.update(mine)
            named = [by_id.get(rec.object_id) if rec.object_id else None, *(by_imm.get(a) for a in mine)]
            for obj in named:
                if obj is not None and id(obj) not in seen:
                    seen.add(id(obj))
                    out.append(obj)
    wanted.discard("")
    for obj in snapshot.objects:
        if id(obj) in seen:
            continue
        for _, val in cloud_values(obj):
            if val in wanted:
                out.append(obj)
                break
    return out, anchors, guids, wanted


def keys_for(snapshot: CloudSnapshot, sources: Sequence[OnPremSource] = ()) -> NeededKeys:
    """What to keep on-prem for ``snapshot``; ``sources``: what a first selection found (see ``_involved``)."""
    involved, anchors, guids, wanted = _involved(snapshot, sources)
    anchors.update(o.immutable_id for o in involved if o.immutable_id)
    sids = {o.sid.upper() for o in involved if o.sid}
    dns = {normalize_dn(o.dn) for o in involved if o.dn}
    values: set[str] = set()
    if any(o.kind is ObjectKind.CONTACT for o in involved):
        values = set(wanted)
        for o in involved:
            if o.kind is ObjectKind.CONTACT:
                values.update(fold(a) for a in o.smtp_addresses())
                if o.mail:
                    values.add(fold(o.mail))
    return NeededKeys.of(anchors, sids, dns, values, guids)


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


# --------------------------------------------------------------------------- the cheap pass over LDIF

# Checks on the lower-cased bytes; each finds a line the cheap pass does not vouch for (its record is then
# decoded in full). Only the first is tried at every line; the others start with a literal and are quick.
_B64 = rb"[ ]*(?:[a-z0-9+/]{4})*(?:[a-z0-9+/]{2}==|[a-z0-9+/]{3}=)?[ ]*(?:\n(?![ ])|\Z)"
_INT_END = rb"[ ]*-?[0-9]+[ ]*(?:\n(?![ ])|\Z)"
# attributes decode_entry reads as text: a base64 value there may not be UTF-8
_TEXT = ("dn", "version", "cn", "sn", "mail", "mailnickname", "samaccountname", "displayname", "givenname",
         "targetaddress", "homemdb", "msexchrecipienttypedetails", "userprincipalname", "objectclass",
         "proxyaddresses", "whencreated", "whenchanged", "changetype", "useraccountcontrol", "grouptype")
_LINES = re.compile(rb"\n(?![a-z][a-z0-9-]*:(?!<)|[0-9]+(?:\.[0-9]+)*:(?!<)|\n|\Z|\#|[ ]+[^ \t\n])")
_CHECKS = (
    re.compile(rb"\nuseraccountcontrol:(?!" + _INT_END + rb")"),
    re.compile(rb"\ngrouptype:(?!" + _INT_END + rb")"),
    re.compile(rb"\n(?:objectguid|objectsid|ms-ds-consistencyguid):(?!:)"),  # a key attribute not in base64
    re.compile(rb"\nchangetype:(?![ ]*add[ ]*(?:\n(?![ ])|\Z))"),
    re.compile(rb"\n(?:ref|search|result|text|matcheddn):"),  # ldapsearch references and trailer
    re.compile(rb"\nobjectclass:[^\n]*\n[ ]"),  # a folded objectClass value
    re.compile(rb"\nobjectclass:[^\n]*[\x80-\xff]"),  # a non-ASCII class may casefold to one that counts
)
_TEXT_SET = frozenset(n.encode() for n in _TEXT)
_KEY_NAMES = {b"objectguid": 0, b"ms-ds-consistencyguid": 1, b"objectsid": 2}


def _ci(name: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)


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
_CLASS_ORDER = ((b"computer", "computer"), (b"contact", "contact"), (b"group", "group"), (b"user", "user"),
                (b"inetorgperson", "user"))
_AD_CLASSES = (b"user", b"group", b"contact", b"computer")
_SPAN = 4  # hashes per record: guid, consistency guid, sid, dn key


class _Unusual(Exception):
    pass


def _q() -> array:
    return array("q")


def _h() -> array:
    return array("I")  # CRC-32 of a key: the same in every process (hash() is salted per process)


@dataclass(slots=True)
class _Plain:
    """What the cheap pass reads of a plain record (the rest is looked up in ``blk`` only when it matters)."""

    dn: bytes
    blk: bytes
    guid: bytes | None = None
    cguid: bytes | None = None
    sid: bytes | None = None
    classes: list[bytes] = field(default_factory=list)  # lower-cased, only those in _CLASSES

    def kind(self) -> str | None:
        """The model's link kind (user/group/contact/unknown) or None, as decode_entry's object would give it."""
        low = self.classes
        cls = next((k for name, k in _CLASS_ORDER if name in low), "other")
        if cls in ("user", "group", "contact"):
            return cls
        if not self.cguid and self.guid is None and _ANY_CLASS.search(self.blk) is None:
            return "unknown"
        return None

    def linkable(self, kind: str) -> bool:
        if kind == "user":
            return bool(self.cguid) or self.guid is not None
        if kind == "group":
            return self.sid is not None
        if kind == "contact":
            return _first_value(_FIRST_MAIL, self.blk) or _ANY_PROXY.search(self.blk) is not None
        return False

    def is_ad(self) -> bool:
        if self.guid is not None or self.sid is not None or self.cguid:
            return True
        if any(c in _AD_CLASSES for c in self.classes):
            return True
        return _first_value(_FIRST_SAM, self.blk)


def _first_value(pattern: re.Pattern[bytes], blk: bytes) -> bool:
    """Whether the attribute's first value is non-empty (decode_entry keeps the first, '' is false)."""
    m = pattern.search(blk)
    return m is not None and bool(m.group(1).replace(b"\n ", b""))


class _Pass:
    """State of one pass: mirrors ``ldif.iter_ldif_records`` + ``onprem.read_onprem_file`` record by record."""

    def __init__(self, idx: "LdifIndex") -> None:
        from .onprem import ReadReport

        self.idx = idx
        self.report = ReadReport()
        self.state = [False]  # an attribute line was seen (else: "empty file")
        self.first = True  # the next block is the file's first
        self.first_range = True  # this pass starts at the file's start
        self.range_start = 0
        self.claimed: int | None = None  # the trailer's numEntries
        self.entries = 0  # records, AD or not
        self.non_ad = 0
        self.gaps: dict[str, int] = {}
        self.kinds: dict[str, int] = {}
        self.universal: dict[int, list[frozenset[str]]] = {}  # slot -> universal attributes of its records
        self.last: tuple[int, dict[str, list[bytes]] | None] | None = None  # (slot, attrs if decoded) of the last
        self.last_dn: bytes | str = ""

    def before(self, block: bytes) -> None:
        """What iter_ldif_records looks at before a block's records: the header, the trailer's count."""
        if self.first:
            from .ldif import _header

            _header(block, self.report)
            self.first = False
        elif self.report.trailer and self.claimed is None:
            from .ldif import _num_entries

            self.claimed = _num_entries(block)

    def count_kind(self, kind: str | None, linkable: bool) -> None:
        if kind is None:
            return
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if not linkable:
            self.gaps[kind] = self.gaps.get(kind, 0) + 1

    def full(self, text: bytes, line: int, *, last: bool = False) -> None:
        """Decode ``text`` (one block or a whole piece) with the full reader; its objects take one slot."""
        from .ldif import _fast_record, _Slow, _slow_records, ldif_record_blocks
        from .onprem import UNIVERSAL_ATTRIBUTES, EntryError, decode_entry, is_ad_object

        idx, path = self.idx, self.idx.path
        objs: list[OnPremObject] = []
        shapes: list[frozenset[str]] = []
        last_attrs: dict[str, list[bytes]] | None = None
        try:
            for start, block in ldif_record_blocks(io.BytesIO(text), self.report if last else None):
                self.before(block)
                try:
                    seen, dn, attrs = _fast_record(block)
                    recs = [(start, dn, attrs)] if dn is not None else []
                    self.state[0] = self.state[0] or seen
                except _Slow:
                    recs = list(_slow_records(io.BytesIO(block), path, start - 1, self.state, self.report))
                for rstart, rdn, rattrs in recs:
                    self.entries += 1
                    try:
                        o = decode_entry(rdn, rattrs, idx.label)  # type: ignore[arg-type]
                    except EntryError as e:
                        raise BadInput(path, f"{rdn}: {e}", line=rstart) from None
                    shapes.append(frozenset(a for a in UNIVERSAL_ATTRIBUTES if a in rattrs))
                    last_attrs = rattrs
                    self.last_dn = rdn  # type: ignore[assignment]
                    if is_ad_object(o):
                        objs.append(o)
                        kind = _model_kind(o)
                        self.count_kind(kind, kind is not None and _model_linkable(o, kind))
                    else:
                        self.non_ad += 1
        except BadInput as e:
            raise BadInput(e.path, e.problem, line=None if e.line is None else e.line + line - 1, column=e.column,
                           place=e.place) from None
        if not shapes:
            return
        slot = len(idx.offsets)
        idx.offsets.append(-1)
        idx.lengths.append(0)
        idx.piece.append(0)
        for arr in idx.by_key:
            arr.append(0)
        idx.exact_dn.append(0)
        self.universal[slot] = shapes
        self.last = (slot, last_attrs)
        if objs:
            idx.decoded[slot] = objs
            idx.count += len(objs)
            for o in objs:
                idx.base.add(o.dn)

    def finish(self) -> None:
        """What iter_ldif_records and read_onprem_file conclude at the end of the file."""
        from .onprem import source_notes

        idx, report = self.idx, self.report
        if not self.state[0] or idx.count == 0:
            from .onprem import read_onprem_file

            read_onprem_file(idx.path)  # the exact refusal: empty, no records, no Active Directory objects
        if report.ldapsearch and not report.trailer:
            report.incomplete.append("ldapsearch output without its '# search result' trailer: "
                                     "the file was probably cut off")
        if self.claimed is not None and self.claimed != self.entries:
            report.incomplete.append(f"the ldapsearch trailer counts {self.claimed} entries ('# numEntries: "
                                     f"{self.claimed}') but the file holds {self.entries}: entries were cut out of it")
        self._shapes()
        if self.non_ad:
            total = idx.count + self.non_ad
            report.notes.append(f"{self.non_ad} of {total} entries are not Active Directory objects "
                                "(no objectGUID, objectSid or sAMAccountName, no user/group/contact class) and "
                                "were ignored")
        idx.complete = not report.incomplete
        idx.incomplete = tuple(report.incomplete)
        idx.skipped = sum(report.skipped.values())
        idx.gaps, idx.kinds = self.gaps, self.kinds
        idx.notes = tuple(source_notes(idx.stand_in(), report))

    def _shapes(self) -> None:
        """``RecordShapes``: a last record lacking a universal attribute that every earlier record has."""
        from .onprem import UNIVERSAL_ATTRIBUTES

        if self.entries < 2 or self.last is None:
            return
        slot, last_attrs = self.last
        if last_attrs is None:
            last_attrs = self._attrs(slot)[-1]
        last_dn = self.last_dn.decode("utf-8") if isinstance(self.last_dn, bytes) else self.last_dn
        missing = {a for a in UNIVERSAL_ATTRIBUTES if a not in last_attrs}
        for i in range(slot + 1):
            if not missing:
                return
            shapes = self.universal.get(i)
            if shapes is None:
                shapes = [frozenset(a for a in UNIVERSAL_ATTRIBUTES if a in at) for at in self._attrs(i)]
            if i == slot:
                shapes = shapes[:-1]
            for sh in shapes:
                missing &= sh
        if missing:
            self.report.incomplete.append(
                f"the last record ({last_dn}) lacks {', '.join(sorted(missing))}, which every other record has: "
                "the file was probably cut off inside it")

    def _attrs(self, slot: int) -> list[dict[str, list[bytes]]]:
        from .ldif import iter_ldif_records

        with open_input(self.idx.path) as f:
            block = self.idx.block(f.fileno(), slot)
        return [attrs for _, _, attrs in iter_ldif_records(io.BytesIO(block), self.idx.path)]


def _model_kind(o: OnPremObject) -> str | None:
    from ..core.model import _kind

    return _kind(o)


def _model_linkable(o: OnPremObject, kind: str) -> bool:
    from ..core.model import _linkable

    return _linkable(o, kind)


@dataclass(slots=True)
class LdifIndex:
    """Result of the cheap pass: where every record is and hashes of its keys (one slot per block)."""

    path: Path
    label: str
    count: int = 0  # Active Directory objects (what the full reader would keep)
    offsets: array = field(default_factory=_q)  # file offset of each plain record; -1: a block read in full
    lengths: array = field(default_factory=_q)
    piece: array = field(default_factory=lambda: array("i"))  # which piece a slot is in (line numbers, CRLF)
    pieces: list[tuple[int, int, int]] = field(default_factory=list)  # (file offset, first line, CRLF)
    by_key: tuple[array, ...] = field(default_factory=lambda: (_h(), _h(), _h(), _h()))  # guid, cguid, sid, dn key
    exact_dn: array = field(default_factory=_h)
    contacts: list[int] = field(default_factory=list)  # plain slots holding a contact
    decoded: dict[int, list[OnPremObject]] = field(default_factory=dict)  # slot -> objects of a block read in full
    base: DnSuffix = field(default_factory=lambda: DnSuffix())
    complete: bool = True
    incomplete: tuple[str, ...] = ()
    skipped: int = 0
    notes: tuple[str, ...] = ()
    gaps: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    whole: OnPremSource | None = None  # a file read in full (UTF-16): already the full reader's result

    def stand_in(self, objects: list[OnPremObject] | None = None) -> OnPremSource:
        src = OnPremSource(label=self.label, base_dn=self.base.result(), objects=objects or [], skipped=self.skipped,
                           notes=self.notes, complete=self.complete, incomplete=self.incomplete,
                           _gaps=dict(self.gaps), _kinds=dict(self.kinds), count=self.count)
        if objects is None and self.count:
            src.objects = [_PLACEHOLDER]  # source_notes asks whether the source holds objects at all
        return src

    def select(self, keys: NeededKeys) -> OnPremSource:
        """The source with only the objects ``keys`` needs; counts, base DN and notes of the whole file."""
        from .onprem import is_ad_object

        if self.whole is not None:
            return filtered_source(self.whole, keys)
        wanted, offsets = keys.hashes, self.offsets
        hit: set[int] = set()
        for arr in self.by_key:
            hit.update(i for i, h in enumerate(arr) if h in wanted)
        if keys.values:
            hit.update(self.contacts)
        chosen: dict[int, list[OnPremObject]] = {}
        with open_input(self.path) as f:
            fd = f.fileno()
            for i in sorted(hit):
                if offsets[i] >= 0:
                    objs = [o for o in self._decode(fd, i) if keys.needs(o) and is_ad_object(o)]
                    if objs:
                        chosen[i] = objs
            for slot, objs in self.decoded.items():
                keep = [o for o in objs if keys.needs(o)]
                if keep:
                    chosen[slot] = keep
            # the explain details look objects up by exact DN, the last one wins: keep namesakes too
            names = {o.dn for objs in chosen.values() for o in objs}
            if names:
                exact = {crc32(n.encode("utf-8")) for n in names}
                for i, h in enumerate(self.exact_dn):
                    if h in exact and i not in chosen and offsets[i] >= 0:
                        objs = [o for o in self._decode(fd, i) if o.dn in names and is_ad_object(o)]
                        if objs:
                            chosen[i] = objs
                for slot, objs in self.decoded.items():
                    if slot not in chosen:
                        same = [o for o in objs if o.dn in names]
                        if same:
                            chosen[slot] = same
        return self.stand_in([o for i in sorted(chosen) for o in chosen[i]])

    def by_guid(self, guid: str) -> OnPremObject | None:
        """The first object with this objectGUID (what the full source would give), decoded on demand."""
        from .onprem import is_ad_object

        if self.whole is not None:
            return Whole(self.whole).by_guid(guid)
        try:
            key = crc32(guid_str_to_bytes(guid))
        except ValueError:
            return None
        g = guid.casefold()
        slots = sorted({i for i, h in enumerate(self.by_key[0]) if h == key and self.offsets[i] >= 0} |
                       set(self.decoded))
        with open_input(self.path) as f:
            for i in slots:
                objs = self.decoded.get(i) if self.offsets[i] < 0 else self._decode(f.fileno(), i)
                for o in objs or ():
                    if o.object_guid and o.object_guid.casefold() == g and is_ad_object(o):
                        return o
        return None

    def block(self, fd: int, i: int) -> bytes:
        raw = os.pread(fd, self.lengths[i], self.offsets[i])
        return raw.replace(b"\r\n", b"\n") if self.pieces[self.piece[i]][2] else raw

    def _decode(self, fd: int, i: int) -> list[OnPremObject]:
        raw = self.block(fd, i)
        try:
            return _decode_block(raw, self.path, self.label, 1)
        except BadInput:  # not expected for a plain record; name the right line all the same
            off, first_line, _ = self.pieces[self.piece[i]]
            line = first_line + os.pread(fd, self.offsets[i] - off, off).count(b"\n")
            return _decode_block(raw, self.path, self.label, line)


_PLACEHOLDER = OnPremObject(dn="", object_class="other")


def _decode_block(block: bytes, path: Path, label: str, line: int) -> list[OnPremObject]:
    """The full decoder on one plain block (line ``line`` of the file); errors name the line in the file."""
    from .ldif import iter_ldif_records
    from .onprem import EntryError, decode_entry

    out = []
    try:
        for start, dn, attrs in iter_ldif_records(io.BytesIO(block), path):
            try:
                out.append(decode_entry(dn, attrs, label))
            except EntryError as e:
                raise BadInput(path, f"{dn}: {e}", line=start) from None
    except BadInput as e:
        raise BadInput(e.path, e.problem, line=None if e.line is None else e.line + line - 1, column=e.column,
                       place=e.place) from None
    return out


def _cuts(f: io.BufferedReader, start: int, end: int | None = None) -> Iterator[tuple[int, bytes, bool]]:
    """(file offset, bytes, last) pieces of [start, end) that end after a blank line (never inside a record)."""
    f.seek(start)
    pos, rest, at = start, b"", start
    while True:
        data = f.read(CHUNK if end is None else max(0, min(CHUNK, end - at)))
        at += len(data)
        if not data:
            if rest:
                yield pos, rest, True
            return
        buf = rest + data
        a, b = buf.rfind(b"\n\n"), buf.rfind(b"\n\r\n")
        cut = max(a + 2 if a >= 0 else -1, b + 3 if b >= 0 else -1)
        if cut <= 0:
            rest = buf
            continue
        yield pos, buf[:cut], False
        pos += cut
        rest = buf[cut:]


def index_ldif(path: Path | str) -> LdifIndex:
    """One pass over an LDIF export (see the module docstring)."""
    from .inputs import utf16_codec

    p = Path(path)
    with open_input(p) as f:
        head = f.read(4)
    if utf16_codec(head) is not None:  # ldifde -u (UTF-16): read in full, as before
        from .onprem import read_onprem_file

        idx = LdifIndex(p, str(p))
        idx.whole = read_onprem_file(p)
        idx.count = len(idx.whole.objects)
        return idx
    run, _ = _index_range(p, 3 if head[:3] == b"\xef\xbb\xbf" else 0, None, True, True)
    run.finish()
    return run.idx


def _index_range(p: Path, start: int, end: int | None, first: bool, last: bool) -> tuple["_Pass", int]:
    """The pass over [start, end) of the file; lines counted from 1 at ``start``. (state, newlines read)"""
    run = _Pass(LdifIndex(p, str(p)))
    run.first = run.first_range = first
    run.range_start = start
    line = 1
    with open_input(p) as f:
        try:
            for off, piece, final in _cuts(f, start, end):  # type: ignore[arg-type]
                line = _index_piece(run, off, piece, line, final and last)
        except OSError as e:
            raise BadInput(p, f"cannot read: {e.strerror}") from None
    return run, line - 1


def _index_piece(run: _Pass, off: int, piece: bytes, line: int, last: bool) -> int:
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
    blocks = piece.split(b"\n\n")
    starts: list[int] = []
    pos = 0
    for blk in blocks:
        starts.append(pos)
        pos += len(blk) + 2
    low = piece.lower()
    unusual = _unusual_blocks(piece, low, starts)
    del low
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
    count = 0
    kinds, gaps = run.kinds, run.gaps
    for k, blk in enumerate(blocks):
        if not blk:
            continue
        lead = len(blk) - len(blk.lstrip(b"\n")) if blk[0] == 10 else 0
        if lead == len(blk):
            continue
        start = starts[k] + lead
        rec = None
        if k not in unusual:
            try:
                rec = _plain_record(blk, lead)
            except _Unusual:
                unusual.add(k)
        if k in unusual:
            nl += piece.count(b"\n", nl_at, start)
            nl_at = start
            if offs:  # slots stay in file order
                _flush(idx, pi, first, offs, lens, gs, cgs, sids, dnk, dns)
                offs, lens, gs, cgs, sids, dnk, dns = [], [], [], [], [], [], []
            run.full(blk[lead:], line + nl)
            first = len(idx.offsets)
            continue
        if run.first or run.report.trailer:
            run.before(blk[lead:])
        if rec is None:
            continue
        run.entries += 1
        run.state[0] = True
        dn = rec.dn
        slot = first + len(offs)
        run.last = (slot, None)
        run.last_dn = dn
        if crlf:
            nl += piece.count(b"\n", nl_at, start)
            nl_at = start
            offs.append(off + start + nl)
            lens.append(len(blk) - lead + blk.count(b"\n", lead))
        else:
            offs.append(off + start)
            lens.append(len(blk) - lead)
        dns.append(dn)
        if not rec.is_ad():  # kept out of the source, as the full reader does; a slot all the same
            run.non_ad += 1
            gs.append(b"")
            cgs.append(b"")
            sids.append(b"")
            dnk.append(0)
            continue
        kind = rec.kind()
        if kind is not None:
            kinds[kind] = kinds.get(kind, 0) + 1
            if not rec.linkable(kind):
                gaps[kind] = gaps.get(kind, 0) + 1
            if kind == "contact":
                idx.contacts.append(slot)
        c = dn.find(b",")
        if c < 0 or dn[c + 1:] not in verified:
            base.add(dn.decode("utf-8"), c >= 0)
        gs.append(rec.guid or b"")  # crc32(b"") is 0: no key
        cgs.append(rec.cguid or b"")
        sids.append(rec.sid or b"")
        dnk.append(crc32(dn.lower().replace(b" ", b"")))
        count += 1
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


def _unusual_blocks(piece: bytes, low: bytes, starts: list[int]) -> set[int]:
    """Blocks holding a line the cheap pass does not vouch for, or bytes that are not UTF-8."""
    out: set[int] = set()
    text = b"\n" + low  # positions in text are one past those in piece: m.start() is the line's own offset
    end = len(starts)
    for check in (_LINES, *_CHECKS):
        pos = 0
        while True:
            m = check.search(text, pos)
            if m is None:
                break
            k = bisect_right(starts, m.start()) - 1
            out.add(k)
            pos = starts[k + 1] if k + 1 < end else len(text)
    mv = memoryview(piece)
    pos = 0
    while pos < len(piece):
        try:
            str(mv[pos:], "utf-8")
            break
        except UnicodeDecodeError as e:
            k = bisect_right(starts, pos + e.start) - 1
            out.add(k)
            pos = starts[k + 1] if k + 1 < end else len(piece)
    if piece[:1] == b" ":
        out.add(0)
    return out


def _plain_record(blk: bytes, p: int) -> _Plain | None:
    """What the cheap pass needs of a plain record; None: comments only; _Unusual: decode it in full."""
    n = len(blk)
    while p < n and blk[p] == 35:  # '#': comments (with their continuation lines) before the dn
        e = blk.find(b"\n", p)
        if e < 0:
            return None
        p = e + 1
        while p < n and blk[p] == 32:
            e = blk.find(b"\n", p)
            if e < 0:
                return None
            p = e + 1
    if p >= n:
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
    if not dn or not dn.isascii() or len(dn.translate(None, _CTRL)) != len(dn) or b"\\" in dn or b'"' in dn \
            or b";" in dn:
        raise _Unusual
    k = dn.replace(b" ", b"")
    if b",," in k or k[:1] == b"," or k[-1:] == b",":
        raise _Unusual
    rec = _Plain(dn, blk)
    keys: list[bytes | None] = [None, None, None]
    for name, value, cls, inner in _TOKENS.findall(blk, e):
        if cls:
            rec.classes.append(cls.lower())
            continue
        if inner:
            raise _Unusual  # a dn: inside the record
        if b"\n" in value:
            raise _Unusual
        name = name.lower()
        slot = _KEY_NAMES.get(name)
        if slot is None and (name in _TEXT_SET or b";" in name):
            raise _Unusual
        try:
            raw = binascii.a2b_base64(value.strip(), strict_mode=True)
        except (binascii.Error, ValueError):
            raise _Unusual from None
        if slot is None or keys[slot] is not None:
            continue
        if slot == 0 and len(raw) != 16:
            raise _Unusual
        if slot == 2 and (len(raw) < 8 or len(raw) != 8 + 4 * raw[1]):
            raise _Unusual
        keys[slot] = raw
    rec.guid, rec.cguid, rec.sid = keys
    return rec


# --------------------------------------------------------------------------- any source, after a full read


class Selectable(Protocol):
    count: int

    def select(self, keys: NeededKeys) -> OnPremSource: ...

    def by_guid(self, guid: str) -> OnPremObject | None: ...


class Whole:
    """A source read in full (LDAP, csvde); :meth:`select` cuts it down like an index would."""

    def __init__(self, src: OnPremSource) -> None:
        self.src = src
        self.count = len(src.objects) if src.count is None else src.count

    def select(self, keys: NeededKeys) -> OnPremSource:
        return filtered_source(self.src, keys)

    def by_guid(self, guid: str) -> OnPremObject | None:
        g = guid.casefold()
        return next((o for o in self.src.objects if o.object_guid and o.object_guid.casefold() == g), None)


def filtered_source(src: OnPremSource, keys: NeededKeys) -> OnPremSource:
    """A fully read source cut down to what ``keys`` needs (LDAP, csvde, UTF-16 LDIF); its counts stay whole."""
    keep = [o for o in src.objects if keys.needs(o)]
    if keep:
        names = {o.dn for o in keep}
        keep = [o for o in src.objects if keys.needs(o) or o.dn in names]
    src.unlinkable()  # counted over every object, before the cut
    return OnPremSource(label=src.label, base_dn=src.base_dn, objects=keep, skipped=src.skipped, notes=src.notes,
                        complete=src.complete, incomplete=src.incomplete, _gaps=src._gaps, _kinds=src._kinds,
                        count=len(src.objects) if src.count is None else src.count)


def total_objects(sources: Iterable[OnPremSource]) -> int:
    return sum(len(s.objects) if s.count is None else s.count for s in sources)


# --------------------------------------------------------------------------- the pass in its own process


SPLIT_MIN = 24 << 20  # a part of a split pass is at least this large


def _child_main() -> None:
    """``python -c`` entry: argv = path, start, end, first, last; the pickled pass goes to stdout."""
    import pickle
    import sys

    path, start, end, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", \
        sys.argv[5] == "1"
    try:
        run, lines = _index_range(Path(path), start, end, first, last)
        run.idx.base.parents = set()
        run.idx.base._parents = {}
        out: tuple = ("ok", run, lines, _first_block_entries(Path(path), start))
    except BadInput as e:
        out = ("bad", e.path, e.problem, e.line, e.column, e.place)
    sys.stdout.buffer.write(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))


def _first_block_entries(p: Path, start: int) -> int | None:
    """``# numEntries`` of the block a part starts with (the trailer's count may open the next part)."""
    from .ldif import _num_entries

    with open_input(p) as f:
        f.seek(start)
        head = f.read(4096).replace(b"\r\n", b"\n")
    return _num_entries(head.split(b"\n\n", 1)[0])


def _split_points(p: Path, start: int, size: int, parts: int, strict: bool = False) -> list[int]:
    """Offsets after a blank line near each 1/parts of the file (a record never straddles two parts).

    ``strict``: only where the next line opens a record (``dn:`` or a comment) and the line before the blank one holds
    text, so that no whitespace-only line (which the full reader judges by what follows it) meets a cut.
    """
    points = [start]
    with open_input(p) as f:
        for k in range(1, parts):
            target = max(points[-1] + 1, size * k // parts)
            f.seek(target)
            buf = f.read(1 << 20)
            at = _boundary(buf, strict)
            if at is None:
                break
            points.append(target + at)
    return points + [size]


def _boundary(buf: bytes, strict: bool) -> int | None:
    """Offset just after the first blank line in ``buf`` (see :func:`_split_points`)."""
    pos = 0
    while True:
        a, b = buf.find(b"\n\n", pos), buf.find(b"\n\r\n", pos)
        cands = [x for x in (a + 2 if a >= 0 else -1, b + 3 if b >= 0 else -1) if x > 0]
        if not cands:
            return None
        cut = min(cands)
        if not strict:
            return cut
        blank = cut - (3 if buf[cut - 2:cut - 1] == b"\r" else 2)  # the line break before the blank line
        before = buf.rfind(b"\n", 0, blank)
        prev = buf[before + 1:blank].rstrip(b"\r")
        opens = buf[cut:cut + 3].lower() == b"dn:" or buf[cut:cut + 1] == b"#"
        if opens and before >= 0 and prev.strip(b" \t"):
            return cut
        pos = cut - 1


def index_ldif_elsewhere(path: Path | str) -> LdifIndex:
    """:func:`index_ldif` in child processes: one per core for a large file, each over a part that starts
    and ends at a record boundary; the parts are joined in file order (same result as one pass).

    Falls back to this process when no child can be started or one does not answer.
    """
    import pickle
    import subprocess
    import sys

    from .inputs import utf16_codec

    p = Path(path)
    try:
        size = p.stat().st_size
        with open_input(p) as f:
            head = f.read(4)
    except (OSError, BadInput):
        return index_ldif(p)  # the reader's own refusal (no such file, a folder, unreadable)
    if size < CHILD_MIN or utf16_codec(head) is not None:
        return index_ldif(p)
    start = 3 if head[:3] == b"\xef\xbb\xbf" else 0
    parts = max(1, min(os.cpu_count() or 1, 8, size // SPLIT_MIN))
    points = _split_points(p, start, size, parts, strict=True)  # no whitespace-only line meets a cut
    code = "from reconciler.sources.prefilter import _child_main; _child_main()"
    try:
        procs = [subprocess.Popen([sys.executable, "-c", code, str(p), str(a), str(b), "1" if i == 0 else "0",
                                   "1" if i == len(points) - 2 else "0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=_child_env())
                 for i, (a, b) in enumerate(zip(points, points[1:]))]
    except OSError:
        return index_ldif(p)
    results: list[Any] = []
    for proc in procs:
        out, _ = proc.communicate()
        try:
            results.append(pickle.loads(out) if proc.returncode == 0 else None)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
            results.append(None)
    if any(r is None for r in results):
        return index_ldif(p)
    base = 1
    for r in results:  # the first refusal in file order, with its line in the file
        if r[0] == "bad":
            raise BadInput(r[1], r[2], line=None if r[3] is None else r[3] + base - 1, column=r[4], place=r[5])
        base += r[2]
    run = _join([(r[1], r[2], r[3]) for r in results])
    run.finish()
    return run.idx


def _join(parts: list[tuple["_Pass", int, int | None]]) -> "_Pass":
    """One pass's state from the passes over consecutive parts."""
    first = parts[0][0]
    idx, report = first.idx, first.report
    base = 1 + parts[0][1]
    for k, (run, lines, _) in enumerate(parts[1:], 1):
        other, slots, npieces = run.idx, len(idx.offsets), len(idx.pieces)
        idx.offsets.extend(other.offsets)
        idx.lengths.extend(other.lengths)
        idx.piece.extend(i + npieces for i in other.piece)
        idx.pieces.extend((off, line + base - 1, crlf) for off, line, crlf in other.pieces)
        for mine, theirs in zip(idx.by_key, other.by_key):
            mine.extend(theirs)
        idx.exact_dn.extend(other.exact_dn)
        idx.contacts.extend(i + slots for i in other.contacts)
        idx.decoded.update({i + slots: objs for i, objs in other.decoded.items()})
        idx.count += other.count
        idx.base.join(other.base)
        first.universal.update({i + slots: sh for i, sh in run.universal.items()})
        if run.last is not None:
            first.last = (run.last[0] + slots, run.last[1])
            first.last_dn = run.last_dn
        first.state[0] = first.state[0] or run.state[0]
        if report.trailer and first.claimed is None and k > 0:
            first.claimed = parts[k][2]  # the trailer closed the previous part; its count opens this one
        r2 = run.report
        report.trailer = report.trailer or r2.trailer
        report.incomplete += r2.incomplete
        report.notes += r2.notes
        for kind, n in r2.skipped.items():
            report.skipped[kind] = report.skipped.get(kind, 0) + n
        if first.claimed is None:
            first.claimed = run.claimed
        first.entries += run.entries
        first.non_ad += run.non_ad
        for mine_d, theirs_d in ((first.gaps, run.gaps), (first.kinds, run.kinds)):
            for kind, n in theirs_d.items():
                mine_d[kind] = mine_d.get(kind, 0) + n
        base += lines
    return first


def _child_env() -> dict[str, str]:
    """The child imports this same package: put its folder first on PYTHONPATH."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
