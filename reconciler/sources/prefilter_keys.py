"""What a scan needs of the on-prem side, for any source: the keys the matcher may look up.

:func:`keys_for` gathers, from the cloud snapshot, the anchors, SIDs, DNs (and, when a contact is
involved, addresses) of the objects the matcher may look up on-prem; :class:`NeededKeys` holds them
with CRC-32 hashes of their raw forms, which the LDIF index (:mod:`.prefilter_index`) compares to
the hashes it keeps per record. :class:`Whole` and :func:`filtered_source` cut a source read in full
(LDAP, csvde, UTF-16 LDIF) down the same way.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence
from zlib import crc32

from ..core.anchors import guid_str_to_bytes, guid_to_immutable_id, normalize_dn, sid_str_to_bytes
from ..core.matcher import holds_any, onprem_values
from ..core.model import CloudObject, CloudSnapshot, ObjectKind, OnPremObject, OnPremSource, fold

__all__ = ["NeededKeys", "keys_for", "Selectable", "Whole", "filtered_source", "total_objects"]

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
        if id(obj) not in seen and holds_any(obj, wanted):
            out.append(obj)
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

