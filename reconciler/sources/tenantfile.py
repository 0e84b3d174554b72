"""Reader for ``reconciler.tenant/1`` files (docs/formats.md, "Tenant file").

Memory: the user, group and contact collections are parsed a slice of about a megabyte at a time
and each slice is converted before the next one is parsed, so the raw dicts of a 500k-user file never
exist together (docs/design.md, "Tenant files are read a slice at a time"). A file the sliced reader
does not take on (not JSON, a wrong shape, a duplicate key) is read whole, which is also where every
error message comes from, so both ways answer and fail alike.
"""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

import orjson

from ..core.errors import BadInput
from ..core.model import ORIGINS, CloudObject, CloudSnapshot, ErrorRecord, ObjectKind, Origin
from .graphmap import to_cloud_object, to_domains
from .inputs import open_input, read_input

__all__ = ["TENANT_SCHEMA", "read_tenant_file", "read_sliced", "parse_tenant_bytes", "load_json_document"]

TENANT_SCHEMA = "reconciler.tenant/1"

_COLLECTIONS = (
    ("users", ObjectKind.USER, False),
    ("groups", ObjectKind.GROUP, False),
    ("contacts", ObjectKind.CONTACT, False),
    ("deletedUsers", ObjectKind.USER, True),
    ("deletedGroups", ObjectKind.GROUP, True),
)
_KINDS = {key: (kind, deleted) for key, kind, deleted in _COLLECTIONS}


def _line_col(data: bytes, pos: int) -> tuple[int, int]:
    pos = max(0, min(pos, len(data)))
    line = data.count(b"\n", 0, pos) + 1
    col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
    return line, col


def load_json_document(path: Path | str, schema: str) -> dict[str, Any]:
    """Read a JSON file that must declare ``schema``; every failure is ``BadInput``."""
    p = Path(path)
    return parse_json_bytes(read_input(p), p, schema)


def parse_json_bytes(data: bytes, path: Path | str, schema: str) -> dict[str, Any]:
    if not data.strip():
        raise BadInput(path, "empty file, expected a JSON document")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        line, col = _line_col(data, e.pos)
        msg = str(e.msg) if hasattr(e, "msg") else str(e)
        raise BadInput(path, f"invalid JSON: {msg}", line=line, column=col) from None
    if not isinstance(doc, dict):
        raise BadInput(path, f"expected a JSON object with \"schema\": \"{schema}\"")
    found = doc.get("schema")
    if found != schema:
        what = "no \"schema\" key" if found is None else f"schema is {found!r}"
        raise BadInput(path, f"{what}; expected {schema!r}", place="schema")
    return doc


def read_tenant_file(path: Path | str, origins: Iterable[str] = ORIGINS, since: datetime | None = None) -> CloudSnapshot:
    p = Path(path)
    with gc_paused():
        with open_input(p) as f:
            if f.seekable():  # a pipe is read once, whole
                snap = read_sliced(f, path, origins, since)
                if snap is not None:
                    return snap
            try:
                if f.seekable():
                    f.seek(0)
                data = f.read()
            except OSError as e:
                raise BadInput(p, f"cannot read: {e.strerror}") from None
        return tenant_from_document(parse_json_bytes(data, p, TENANT_SCHEMA), path, origins, since)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: a read makes millions of objects and no cycles, and each
    collection would walk all of them again (orjson.loads of a 100k-user file: 0.38 s without, 1.2 s with)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse_tenant_bytes(data: bytes, path: str = "<tenant>") -> CloudSnapshot:
    return tenant_from_document(parse_json_bytes(data, path, TENANT_SCHEMA), path)


def _optional_list(doc: dict[str, Any], key: str, path: Any) -> tuple[Any, ...] | None:
    if key not in doc or doc[key] is None:
        return None
    v = doc[key]
    if not isinstance(v, list):
        raise BadInput(path, f"{key} must be a list", place=key)
    return tuple(v)


@dataclass(slots=True)
class _Part:
    """What one collection gives the snapshot (kept apart so a file's order of collections does not matter)."""

    objects: list[CloudObject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    records: list[ErrorRecord] = field(default_factory=list)
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _convert(raw: list[Any], base: int, key: str, part: _Part, wanted: set[str], path: Any) -> None:
    """``raw`` (items ``base``.. of collection ``key``) into ``part``; each raw dict is released once converted."""
    from .exchange import service_error_records

    kind, deleted = _KINDS[key]
    connect = Origin.CONNECT.value in wanted
    exchange = not deleted and Origin.EXCHANGE.value in wanted
    objects, warnings = part.objects, part.warnings
    for j in range(len(raw)):
        item = raw[j]
        i = base + j
        if key == "groups" and isinstance(item, dict) and isinstance(item.get("members"), list):
            part.members[str(item.get("id"))] = tuple(str(m) for m in item["members"])
        try:
            obj = to_cloud_object(item, kind, deleted=deleted, warnings=warnings)
        except ValueError as e:
            raise BadInput(path, f"{key}[{i}] {e}", place=f"{key}[{i}]") from None
        if not connect and obj.errors:
            from dataclasses import replace

            obj = replace(obj, errors=())
        objects.append(obj)
        if exchange and item.get("serviceProvisioningErrors"):
            if not isinstance(item["serviceProvisioningErrors"], list):
                raise BadInput(path, f"{key}[{i}] serviceProvisioningErrors must be a list", place=f"{key}[{i}]")
            part.records += service_error_records(item, kind, warnings)
        raw[j] = None  # release the raw dict as soon as it is converted


def tenant_from_document(doc: dict[str, Any], path: Any, origins: Iterable[str] = ORIGINS,
                         since: datetime | None = None) -> CloudSnapshot:
    """The snapshot a tenant file describes, with the errors of every origin in ``origins``.

    ``provisioningLogs``: Cloud Sync failures within ``since`` .. the newest log entry (a file is a
    snapshot: its window ends when it was taken; default 7 days). ``serviceProvisioningErrors`` on
    users, groups and contacts: Exchange. ``connectHealthErrors``: Connect Health's export errors.
    """
    wanted = set(origins)
    snap = _head(doc, path)
    parts: dict[str, _Part] = {}
    for key, _, _ in _COLLECTIONS:
        raw = doc.pop(key, None)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise BadInput(path, f"{key} must be a list", place=key)
        _convert(raw, 0, key, parts.setdefault(key, _Part()), wanted, path)
        del raw
    return _finish(snap, doc, parts, path, wanted, since)


def _head(doc: dict[str, Any], path: Any) -> CloudSnapshot:
    """The snapshot's tenant, domains and sync features (no objects yet)."""
    org = doc.get("organization") or {}
    if not isinstance(org, dict):
        raise BadInput(path, "organization must be an object", place="organization")
    try:
        domains = to_domains(org)
    except ValueError as e:
        raise BadInput(path, str(e), place="organization") from None
    sync = doc.get("onPremisesSynchronization")
    features = None
    if isinstance(sync, dict) and isinstance(sync.get("features"), dict):
        features = dict(sync["features"])
    return CloudSnapshot(
        tenant_id=str(org.get("id") or "unknown-tenant"),
        tenant_name=org.get("displayName"),
        domains=domains,
        features=features,
        source_label=str(path),
    )


def _finish(snap: CloudSnapshot, doc: dict[str, Any], parts: dict[str, _Part], path: Any, wanted: set[str],
            since: datetime | None) -> CloudSnapshot:
    """The collections in their fixed order (users, groups, contacts, deleted users, deleted groups), then
    roles and the error origins read from the rest of ``doc``."""
    group_members: dict[str, tuple[str, ...]] = {}
    for key, _, _ in _COLLECTIONS:
        part = parts.get(key)
        if part is None:
            continue
        if snap.objects:
            snap.objects += part.objects
        else:
            snap.objects = part.objects
        snap.warnings += part.warnings
        snap.error_records += part.records
        group_members.update(part.members)
    roles = doc.get("directoryRoles") or []
    members: dict[str, tuple[str, ...]] = {}
    if isinstance(roles, list):
        for r in roles:
            if isinstance(r, dict) and isinstance(r.get("members"), list):
                name = str(r.get("displayName") or r.get("id"))
                members[name] = tuple(str(m) for m in r["members"])
    snap.directory_role_members = members
    snap.group_members = group_members
    snap.role_assignments = _optional_list(doc, "roleAssignments", path)
    snap.roles_known = snap.role_assignments is not None or "directoryRoles" in doc
    snap.role_eligibility = _optional_list(doc, "roleEligibilitySchedules", path)
    read = [o for o in ORIGINS if o in wanted]  # a missing collection means none (the file format's rule)
    logs = _optional_list(doc, "provisioningLogs", path)
    if Origin.CLOUD_SYNC.value in wanted and logs is not None:
        from .cloudsync import DEFAULT_SINCE, failure_records
        from .timestamps import parse_time

        times = [t for t in (parse_time(str(d.get("activityDateTime") or "")) for d in logs if isinstance(d, dict)) if t]
        until = max(times) if times else None
        start = since or (until - DEFAULT_SINCE if until else None)
        recs, warns = failure_records(logs, start, until)
        snap.error_records += recs
        snap.warnings += warns
    health = _optional_list(doc, "connectHealthErrors", path)
    if Origin.HEALTH.value in wanted and health is not None:
        from .health import records_from_items

        snap.error_records += records_from_items(list(health))
    snap.origins_read = tuple(o for o in ORIGINS if o in read)
    return snap


# ---------------------------------------------------------------- the sliced reader
#
# orjson parses only whole documents, so the top level is walked here and each value is handed to it:
# a small value in a window that grows until orjson reports "content after the document" (the value
# ended inside the window: that error's position is where), a collection array in slices that end
# where an object closes before a comma ("}" "," is a candidate cut; "[" + slice + "]" parses only
# when the cut is between two of the array's own items: a cut inside a string leaves the string open,
# a cut inside an item leaves a bracket open). The file is read ahead a few megabytes at a time and
# what was parsed is dropped. Anything unexpected gives up (None): the whole-document reader then
# answers, with its error messages.

SLICE = 1 << 20  # bytes of a collection parsed at a time
READ = 4 << 20  # bytes read from the file at a time
_WS = re.compile(rb"[ \t\n\r]*")
_CUT = re.compile(rb"\}[ \t\n\r]*,")
_AFTER = ("unexpected content after document", "trailing characters")


class _GiveUp(Exception):
    """The sliced reader does not take this file on (the whole-document reader answers)."""


class _Ahead:
    """A file's bytes from ``base`` on, read as far ahead as asked; positions are the file's."""

    def __init__(self, f: IO[bytes], path: Any) -> None:
        self.f, self.path = f, path
        self.buf = bytearray()
        self.base = 0
        self.eof = False

    def fill(self, end: int) -> int:
        """Read up to ``end`` when the file goes that far; returns where what is held ends."""
        held = self.base + len(self.buf)
        while held < end and not self.eof:
            try:
                more = self.f.read(max(READ, end - held))
            except OSError as e:
                raise BadInput(self.path, f"cannot read: {e.strerror}") from None
            if not more:
                self.eof = True
            self.buf += more
            held += len(more)
        return held

    def drop(self, before: int) -> None:
        """Forget the bytes before ``before`` (parsed)."""
        del self.buf[:before - self.base]
        self.base = before

    def get(self, a: int, b: int) -> bytes:
        self.fill(b)
        return bytes(self.buf[a - self.base:b - self.base])

    def wrapped(self, a: int, b: int) -> bytearray:
        """"[" + the bytes ``a`` .. ``b`` + "]" (one copy)."""
        self.fill(b)
        out = bytearray(b"[")
        out += memoryview(self.buf)[a - self.base:b - self.base]
        out.append(0x5D)
        return out

    def byte(self, i: int) -> int:
        """The byte at ``i`` (-1 past the end)."""
        if self.fill(i + 1) <= i:
            return -1
        return self.buf[i - self.base]

    def skip(self, i: int) -> int:
        """The first position from ``i`` on that is not JSON white space."""
        while True:
            held = self.fill(i + 1)
            m = _WS.match(self.buf, i - self.base)
            assert m is not None  # "*" matches the empty string
            i = self.base + m.end()
            if i < held or self.eof:
                return i

    def cut(self, a: int, b: int) -> int | None:
        """The first candidate cut (a comma after "}") in ``a`` .. ``b``."""
        self.fill(b)
        m = _CUT.search(self.buf, a - self.base, b - self.base)
        return None if m is None else self.base + m.end() - 1


def _ended_at(buf: bytes | bytearray, e: orjson.JSONDecodeError) -> int | None:
    """Where in ``buf`` the content after a complete value starts (``e`` reports it), else None."""
    if not str(e.msg).startswith(_AFTER):
        return None
    chars = e.pos  # a position in characters, not bytes
    if buf[: chars + 1].isascii():
        return chars
    return len(buf[: 4 * chars + 4].decode("utf-8", "ignore")[:chars].encode("utf-8"))


def _value_at(src: _Ahead, at: int) -> tuple[Any, int]:
    """The JSON value starting at ``at`` and where the content after it starts."""
    size = 4096
    while True:
        window = src.get(at, at + size)
        try:
            orjson.loads(window)
        except orjson.JSONDecodeError as e:
            end = _ended_at(window, e)
            if end is not None:
                return orjson.loads(window[:end]), at + end
        if len(window) < size:  # a value that runs to the end of the file has no "}" after it
            raise _GiveUp
        size *= 2  # cut inside the value (or it parsed: a number or literal may go on past the window)


def _array_at(src: _Ahead, at: int, ends: list[int]) -> Iterator[list[Any]]:
    """The items of the array opening at ``at``, a slice at a time; ``ends[0]`` is then where the
    content after it starts."""
    pos = at + 1
    step = SLICE
    while True:
        cut = src.cut(pos + step, pos + 2 * step)
        buf = src.wrapped(pos, pos + 2 * step if cut is None else cut)
        try:
            items = orjson.loads(buf)
        except orjson.JSONDecodeError as e:
            end = _ended_at(buf, e)
            if end is not None:  # the array closed inside this slice
                items = orjson.loads(memoryview(buf)[:end])
                del buf
                ends.append(pos + end - 1)
                yield items
                return
            if len(buf) < 2 * step + 2 and cut is None:  # the file ended inside the array
                raise _GiveUp from None
            step *= 2  # the cut fell inside an item, or an item is larger than a slice
            continue
        del buf
        if cut is None:  # the window ended just after an item: not a cut known to be one
            if src.eof and src.base + len(src.buf) <= pos + 2 * step:
                raise _GiveUp
            step *= 2
            continue
        yield items
        pos, step = cut + 1, SLICE
        src.drop(pos)


def read_sliced(f: IO[bytes], path: Any, origins: Iterable[str] = ORIGINS,
                since: datetime | None = None) -> CloudSnapshot | None:
    """:func:`tenant_from_document` of the file ``f`` parsed a slice at a time, or None when the file is one
    for the whole-document reader (not a JSON object, a duplicate key, any error: its message comes from there)."""
    wanted = set(origins)
    doc: dict[str, Any] = {}
    parts: dict[str, _Part] = {}
    seen: set[str] = set()
    src = _Ahead(f, path)
    try:
        i = src.skip(0)
        if src.byte(i) != 0x7B:  # "{"
            return None
        i = src.skip(i + 1)
        if src.byte(i) == 0x7D:  # "}"
            i = src.skip(i + 1)
        else:
            while True:
                if src.byte(i) != 0x22:  # '"'
                    return None
                key, i = _value_at(src, i)
                if not isinstance(key, str) or key in seen:
                    return None
                seen.add(key)
                i = src.skip(i)
                if src.byte(i) != 0x3A:  # ":"
                    return None
                i = src.skip(i + 1)
                if key in _KINDS and src.byte(i) == 0x5B:  # "["
                    part = parts[key] = _Part()
                    ends: list[int] = []
                    base = 0
                    for items in _array_at(src, i, ends):
                        count = len(items)
                        _convert(items, base, key, part, wanted, path)
                        base += count
                    i = ends[0]
                else:
                    doc[key], i = _value_at(src, i)
                src.drop(i)
                i = src.skip(i)
                if src.byte(i) == 0x2C:  # ","
                    i = src.skip(i + 1)
                    continue
                if src.byte(i) == 0x7D:
                    i = src.skip(i + 1)
                    break
                return None
        if src.byte(i) != -1 or doc.get("schema") != TENANT_SCHEMA:
            return None
        for key, _, _ in _COLLECTIONS:
            if doc.get(key) is not None:  # not a list: the whole-document reader names it
                return None
        return _finish(_head(doc, path), doc, parts, path, wanted, since)
    except (_GiveUp, BadInput, orjson.JSONDecodeError):
        return None
