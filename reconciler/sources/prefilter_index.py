"""The LDIF index: where every record of an export is and CRC-32 hashes of its keys, from one cheap pass.

:func:`index_ldif` passes once over an LDIF export, piece by piece (:func:`_cuts`: runs of whole
records); :func:`.prefilter_scan.index_piece` reads each piece. :class:`_Pass` mirrors
``ldif.iter_ldif_records`` + ``onprem.read_onprem_file`` record by record (header, trailer, counts,
kinds, link gaps, the last record's shape) and decodes in full, with the real reader, every record
the cheap pass does not vouch for. :meth:`LdifIndex.select` then decodes only the records whose
hashes meet a key of the cloud side and keeps those that really match.
"""

from __future__ import annotations

import io
import os
from array import array
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator
from zlib import crc32

from ..core.anchors import guid_str_to_bytes
from ..core.errors import BadInput
from ..core.model import OnPremObject, OnPremSource
from .inputs import open_input
from .prefilter_scan import DnSuffix, index_piece

if TYPE_CHECKING:
    from .prefilter_keys import NeededKeys

__all__ = ["LdifIndex", "index_ldif"]

CHUNK = 8 << 20


def _q() -> array:
    return array("q")


def _h() -> array:
    return array("I")  # CRC-32 of a key: the same in every process (hash() is salted per process)



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
                recs: Iterable[tuple[int, str | None, dict[str, list[bytes]]]]
                try:
                    seen, dn, attrs, skipped = _fast_record(block)
                    recs = [(start + skipped, dn, attrs)] if dn is not None else []
                    self.state[0] = self.state[0] or seen
                except _Slow:  # one record decoded before the next is read, as the full reader does (which error first)
                    recs = _slow_records(io.BytesIO(block), path, start - 1, self.state, self.report)
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

    def select(self, keys: "NeededKeys") -> OnPremSource:
        """The source with only the objects ``keys`` needs; counts, base DN and notes of the whole file."""
        from .onprem import is_ad_object

        if self.whole is not None:
            from .prefilter_keys import filtered_source

            return filtered_source(self.whole, keys)
        wanted, offsets = keys.hashes, self.offsets
        hit: set[int] = set()
        for arr in self.by_key:  # the slots whose hash is wanted, at C speed
            hit.update(compress(range(len(arr)), map(wanted.__contains__, arr)))
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
            from .prefilter_keys import Whole

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
        a = buf.rfind(b"\n\n")
        b = buf.rfind(b"\n\r\n", max(a, 0))  # only one after a can cut later
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
                line = index_piece(run, off, piece, line, final and last)
        except OSError as e:
            raise BadInput(p, f"cannot read: {e.strerror}") from None
    return run, line - 1


def _child_main() -> None:
    """``python -c`` entry of :func:`.prefilter.index_ldif_elsewhere`'s children: argv = path, start, end, first,
    last; the pickled pass goes to stdout. (Here, not in :mod:`.prefilter`: a child does not import what only the
    cloud side's keys need, such as the matcher.)"""
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
