"""Decode a large LDIF export on every core, and hand its objects on in file order.

check-onprem reads every record of an export (the scan's pre-filter needs only a few). For a large
file (:data:`PARALLEL_MIN`), the file is cut at record boundaries into one part per core
(``prefilter._split_points``, strict: a cut is only ever made before a ``dn:`` line); each part is
decoded in a child process (``python -c``, no fork) by the one decoding path
(``ldif.iter_ldif_records`` + ``onprem.decode_entry``) and its objects come back in batches. This
process yields them part after part, so the objects, their order and what the reader notices about
the file (trailer, counts, a cut-off last record) are those of the single-process read, and a refused
record is refused with the same message and the same line of the file. A part whose child fails
is decoded here instead. Small files and UTF-16 files stay in this process (csvde: ``csv_parts``).

With a *digest* (:func:`iter_ldif_digests`), the children also do the per-object work of a single-pass
consumer (check-onprem's ``PartChecker``) and send back its batches instead of the objects; the child loop,
starting children and reading their messages (:func:`_serve`, :func:`_start`, :func:`_messages`) serve
``csv_parts`` too.
"""

from __future__ import annotations

import io
import os
import pickle
import queue
import struct
import sys
import threading
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, Callable, Generator, Iterator

from ..core.errors import BadInput
from ..core.model import OnPremObject, new_onprem_object
from .inputs import open_input, utf16_codec
from .onprem import (
    UNIVERSAL_ATTRIBUTES,
    EntryError,
    ReadReport,
    RecordShapes,
    decode_entry,
    is_ad_object,
    is_dn_only,
)

__all__ = ["iter_ldif_objects_parallel", "iter_ldif_digests", "PARALLEL_MIN", "decode_processes"]

PARALLEL_MIN = 16 << 20  # smaller files are decoded in this process (starting a child costs ~0.2 s)
BATCH = 2_000  # objects per message from a child
_FIELDS = tuple(f.name for f in fields(OnPremObject))
_GET = attrgetter(*_FIELDS)
_HEAD = struct.Struct("<Q")


def decode_processes(whatever_the_load: bool = False) -> int:
    """Parts for a large file: one per usable core. When the objects themselves come back to this process
    (moving them costs about a quarter more CPU in all, which only pays when cores are free), only the cores
    the one-minute load average leaves idle, counting the core this process runs on; ``whatever_the_load``
    when the children do the per-object work too and send back little (about a tenth more CPU in all: on a busy
    machine the parts still get their share of it). ``RECONCILER_DECODE_PROCESSES=N`` sets it (1 = decode in
    this process)."""
    env = os.environ.get("RECONCILER_DECODE_PROCESSES", "").strip()
    if env.isdigit() and int(env) > 0:
        return min(int(env), 16)
    try:
        cores = len(os.sched_getaffinity(0))  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if whatever_the_load:
        return min(cores, 16)
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(cores, int(cores - busy + 1)))


class _Part:
    """A byte range [start, end) of a file read as a stream; counts the line breaks it hands out."""

    def __init__(self, f: IO[bytes], start: int, end: int) -> None:
        self.f, self.left, self.lines = f, end - start, 0
        f.seek(start)

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n) if n > 0 else b""
        self.left -= len(data)
        self.lines += data.count(b"\n")
        return data


def _decode_part(path: str, start: int, end: int, first: bool, summary: dict[str, Any]) -> Iterator[OnPremObject]:
    """The objects of one part, in order; ``summary`` gets what the joining needs (lines are counted from 1 at
    ``start``; a BadInput names a line of the part)."""
    from .ldif import iter_ldif_records

    p = Path(path)
    report = ReadReport()
    shapes = RecordShapes()
    tally: dict[str, Any] = {"first": first}
    with open_input(p) as f:
        part = _Part(f, start, end)  # type: ignore[arg-type]
        for line, dn, attrs in iter_ldif_records(part, p, report=report, part=tally):  # type: ignore[arg-type]
            shapes.add(dn, attrs)
            try:
                yield decode_entry(dn, attrs, path)
            except EntryError as e:
                raise BadInput(p, f"{dn}: {e}", line=line) from None
    summary.update(tally, lines=part.lines, report=report, count=shapes.count, common=shapes.common,
                   last=None if shapes.last is None else {a for a in UNIVERSAL_ATTRIBUTES if a in shapes.last},
                   last_dn=shapes.last_dn)


def _taker(digest: tuple[str, Any] | None, part: int = 0) -> Any:
    """The object that digests each decoded object (``digest`` = ("module:factory", config)), or None; it numbers
    what it takes as part ``part`` (its ``start``)."""
    if digest is None:
        return None
    import importlib

    module, _, name = digest[0].partition(":")
    taker = getattr(importlib.import_module(module), name)(digest[1])
    taker.start(part)
    return taker


def _child_main() -> None:
    """``python -c`` entry: argv = path, start, end, part number (0: the file's first part)[, "module:factory"
    with its pickled config on stdin]; length-prefixed pickled messages on stdout."""
    path, start, end, part = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    taker = _taker((sys.argv[5], pickle.load(sys.stdin.buffer)) if len(sys.argv) > 5 else None, part)
    summary: dict[str, Any] = {}
    _serve(lambda: _decode_part(path, start, end, part == 0, summary), summary, taker)


def _serve(objects: Callable[[], Iterator[OnPremObject]], summary: dict[str, Any], taker: Any,
           failures: tuple[type[Exception], ...] = (), failed: Callable[[Exception], tuple] | None = None) -> None:
    """A child's loop: the part's objects (or, with a taker, their digests every :data:`BATCH` objects) as
    length-prefixed pickled messages on stdout, then ("end", summary); a refusal ends with ("bad", ...), one of
    ``failures`` with ``failed(e)``."""
    out = sys.stdout.buffer

    def send(msg: tuple) -> None:
        buf = io.BytesIO()
        pk = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
        pk.fast = True  # no memo: flat tuples of str/int/bytes/None (half the pickling time)
        pk.dump(msg)
        data = buf.getvalue()
        out.write(_HEAD.pack(len(data)) + data)

    batch: list[Any] = []
    n = ad = 0
    only_dn = True

    def flush() -> None:
        nonlocal batch, n, ad, only_dn
        if taker is None:
            send(("objects", batch))
        else:
            # the batch's objects are checked after it is decoded, not each as it comes: the same work in the
            # same order, a sixth less CPU (decoding and checking in turn evict each other from the caches)
            take = taker.take
            for o in batch:
                ad += is_ad_object(o)
                only_dn = only_dn and is_dn_only(o)
                take(o)
            send(("digest", taker.drain(), n, ad, only_dn))
        batch, n, ad, only_dn = [], 0, 0, True

    try:
        for o in objects():
            batch.append(_GET(o) if taker is None else o)
            n += 1
            if n >= BATCH:
                flush()
        flush()
        send(("end", summary))
    except BadInput as e:
        flush()
        send(("bad", e.path, e.problem, e.line, e.column, e.place))
    except failures as e:
        flush()
        assert failed is not None
        send(failed(e))
    out.flush()


def _drain(stream: IO[bytes], q: "queue.Queue[bytes | None]") -> None:
    """Read a child's messages as they come (a child never waits on a full pipe); ``None`` at the end."""
    try:
        while True:
            head = stream.read(_HEAD.size)
            if len(head) < _HEAD.size:
                break
            data = stream.read(_HEAD.unpack(head)[0])
            if len(data) < _HEAD.unpack(head)[0]:
                break
            q.put(data)  # unpickled when its turn comes: bytes are the smallest form to hold meanwhile
    except (OSError, ValueError):
        pass
    finally:
        q.put(None)


def iter_ldif_objects_parallel(path: Path | str, report: ReadReport | None = None, *,
                               min_size: int | None = None, processes: int | None = None) -> Iterator[OnPremObject]:
    """:func:`ldif.iter_ldif_objects`, decoded by child processes for a large file (see the module docstring)."""
    from .ldif import iter_ldif_objects

    p = Path(path)
    ranges = _ranges(p, decode_processes() if processes is None else processes, min_size)
    if ranges is None:
        yield from iter_ldif_objects(p, report)  # also the reader's own refusal (no such file, unreadable)
        return
    yield from _joined(p, ranges, report, _start_children(p, ranges, None), None, None)


def iter_ldif_digests(path: Path | str, report: ReadReport | None, digest: tuple[str, Any], tally: dict[str, Any], *,
                      min_size: int | None = None, processes: int | None = None) -> Iterator[Any] | None:
    """For a file large enough to split: the objects digested in the child processes, so the work on each
    object runs on every core too; None for a file read in one process. ``digest`` = ("module:factory", config):
    each child makes ``factory(config)`` (config pickled), calls its ``take(object)`` on every object of its part
    and sends its ``drain()`` after every :data:`BATCH` objects; this yields those, in file order. ``tally`` gets
    ``total``, ``ad`` (objects :func:`onprem.is_ad_object` counts) and ``only_dn`` (:func:`onprem.is_dn_only`
    for all), which the caller cannot count from digests."""
    p = Path(path)
    ranges = _ranges(p, decode_processes(True) if processes is None else processes, min_size)
    if ranges is None:
        return None
    tally.update(total=0, ad=0, only_dn=True)
    return _joined(p, ranges, report, _start_children(p, ranges, digest), digest, tally)


def splittable(p: Path, n: int, min_size: int, head: int) -> tuple[int, bytes] | None:
    """(size, the first ``head`` bytes) of a file worth splitting across ``n`` processes; None when it is read in
    this process: one process, smaller than ``min_size``, UTF-16, or unreadable (the reader then says why)."""
    try:
        size = p.stat().st_size
        with open_input(p) as f:
            data = f.read(head)
    except (OSError, BadInput):
        return None
    if n < 2 or size < max(min_size, 1) or utf16_codec(data[:4]) is not None:
        return None
    return size, data


def _ranges(p: Path, n: int, min_size: int | None) -> list[tuple[int, int]] | None:
    """The parts of a file split across ``n`` processes, or None when it is read in this process (too small,
    one process, UTF-16, unreadable)."""
    from .prefilter import _split_points

    min_size = PARALLEL_MIN if min_size is None else min_size
    opened = splittable(p, n, min_size, 4)
    if opened is None:
        return None
    size, head = opened
    start = 3 if head[:3] == b"\xef\xbb\xbf" else 0
    points = _split_points(p, start, size, min(n, max(1, size // max(min_size // 2, 1))), strict=True)
    return list(zip(points, points[1:]))


def _start_children(p: Path, ranges: list[tuple[int, int]], digest: tuple[str, Any] | None) -> list[Any]:
    code = "from reconciler.sources.ldif_parts import _child_main; _child_main()"
    return [_start(code, [str(p), str(a), str(b), str(i)], digest) for i, (a, b) in enumerate(ranges)]


def _start(code: str, args: list[str], digest: tuple[str, Any] | None) -> Any:
    """A child process running ``code`` (argv ``args`` [+ the digest's factory]; its config on stdin) and the
    queue its messages arrive on; None when it cannot start (its part is then done in this process)."""
    import subprocess

    from .prefilter import _child_env

    extra = [] if digest is None else [digest[0]]
    try:
        proc = subprocess.Popen([sys.executable, "-c", code, *args, *extra],
                                stdin=subprocess.PIPE if digest else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_child_env())
    except OSError:
        return None
    if digest is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(pickle.dumps(digest[1], protocol=pickle.HIGHEST_PROTOCOL))
            proc.stdin.close()
        except OSError:  # it died at once
            proc.kill()
            proc.wait()
            return None
    q: queue.Queue[bytes | None] = queue.Queue()
    threading.Thread(target=_drain, args=(proc.stdout, q), daemon=True).start()
    return proc, q


def _messages(child: Any) -> Iterator[tuple[str, tuple]]:
    """A child's messages in order, as (kind, message); they stop at its "end" or refusal, or where the stream
    stops or cannot be read (the child is then killed)."""
    proc, q = child
    while (raw := q.get()) is not None:
        try:
            msg = pickle.loads(raw)
        except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError):
            break
        if msg[0] not in ("objects", "digest"):
            proc.wait()
            yield msg[0], msg
            return
        yield msg[0], msg
    proc.kill()
    proc.wait()


def _delivered(child: Any, tally: dict[str, Any] | None, got: list[int]) -> Generator[Any, None, tuple | None]:
    """A child's objects (or digests) as they come, counted into ``got[0]`` (and ``tally``); returns its last
    message ("end", a refusal, a failure), or None when its stream stopped short."""
    for kind, msg in _messages(child):
        if kind == "objects":
            for t in msg[1]:
                yield new_onprem_object(*t)
            got[0] += len(msg[1])
        elif kind == "digest":
            yield msg[1]
            assert tally is not None
            got[0] += msg[2]
            _count(tally, msg[2], msg[3], msg[4])
        else:
            return msg
    return None


def _from_child(child: Any, p: Path, a: int, b: int, part: tuple[int, int], summary: dict[str, Any],
                local: Callable[[], Any] | None, tally: dict[str, Any] | None) -> Iterator[Any]:
    """One part's objects from its child, or their digests (``local`` gives this process's taker for what the
    child could not deliver); what the child could not deliver is done here. ``part``: (its number, of how
    many)."""
    got = [0]
    if child is not None:
        last = yield from _delivered(child, tally, got)
        if last is not None and last[0] == "end":
            summary.update(last[1])
            return
        if last is not None:
            raise BadInput(last[1], last[2], line=last[3], column=last[4], place=last[5])
        # it stopped short or sent what cannot be read: the rest is done here
    # no child, or it stopped short
    i, n = part  # done here, it is numbered as a part of its own (n + i: no child's number)
    yield from _here(_decode_part(str(p), a, b, i == 0, summary), got[0], None if local is None else local(), tally,
                     n + i)


def _here(objects: Iterator[OnPremObject], skip: int, taker: Any, tally: dict[str, Any] | None,
          part: int) -> Iterator[Any]:
    """What a child would have sent, made in this process from ``objects`` past the first ``skip``: the objects,
    or (with a taker) the digests of every :data:`BATCH` of them, counted into ``tally``; the taker numbers them
    as part ``part``."""
    if taker is not None:
        taker.start(part)
    n = 0
    for k, o in enumerate(objects):
        if k < skip:
            continue
        if taker is None:
            yield o
            continue
        assert tally is not None
        _count(tally, 1, is_ad_object(o), is_dn_only(o))
        taker.take(o)
        n += 1
        if n >= BATCH:
            yield taker.drain()
            n = 0
    if taker is not None and n:
        yield taker.drain()


def _count(tally: dict[str, Any], n: int, ad: int, only_dn: bool) -> None:
    """Add ``n`` objects (``ad`` of them AD objects; all DN-only or not) to what the caller cannot count."""
    tally["total"] += n
    tally["ad"] += ad
    tally["only_dn"] = tally["only_dn"] and only_dn


def _reap(children: list[Any]) -> None:
    """Stop the children still running (an early stop, a refusal) and collect them all."""
    for child in children:
        if child is not None and child[0].poll() is None:
            child[0].kill()
            child[0].wait()


def _joined(p: Path, ranges: list[tuple[int, int]], report: ReadReport | None, children: list[Any],
            digest: tuple[str, Any] | None, tally: dict[str, Any] | None) -> Iterator[Any]:
    from .ldif import finish_records

    base, seen, entries, claimed, trailer = 1, False, 0, None, False
    shapes = RecordShapes()
    takers: list[Any] = []

    def local() -> Any:  # made once, and only when a part is done here
        if not takers:
            takers.append(_taker(digest))
        return takers[0]

    try:
        for i, ((a, b), child) in enumerate(zip(ranges, children)):
            s: dict[str, Any] = {}
            try:
                yield from _from_child(child, p, a, b, (i, len(ranges)), s, None if digest is None else local, tally)
            except BadInput as e:
                raise BadInput(e.path, e.problem, line=None if e.line is None else e.line + base - 1,
                               column=e.column, place=e.place) from None
            base += s["lines"]
            seen = seen or s["seen"]
            entries += s["entries"]
            if claimed is None and trailer:
                claimed = s.get("num")
            if claimed is None:
                claimed = s["claimed"]
            r: ReadReport = s["report"]
            trailer = trailer or r.trailer
            _join_shapes(shapes, s)
            if report is not None:
                if i == 0:
                    report.ldapsearch, report.requested = r.ldapsearch, r.requested
                report.trailer = report.trailer or r.trailer
                report.notes += r.notes
                report.incomplete += r.incomplete
                for kind, k in r.skipped.items():
                    report.skipped[kind] = report.skipped.get(kind, 0) + k
        finish_records(p, seen, report, entries, claimed)
        if report is not None:
            shapes.finish(report)
    finally:
        _reap(children)


def _join_shapes(acc: RecordShapes, s: dict[str, Any]) -> None:
    """``acc`` as if it had seen the part's records too (see ``RecordShapes``: the universal attributes every
    record but the last has, and the last record's)."""
    if not s["count"]:
        return
    common = acc.common
    if acc.last is not None:
        held = {a for a in UNIVERSAL_ATTRIBUTES if a in acc.last}
        common = held if common is None else common & held
    if s["common"] is not None:
        common = s["common"] if common is None else common & s["common"]
    acc.common = common
    acc.last = dict.fromkeys(s["last"] or ())
    acc.last_dn = s["last_dn"]
    acc.count += s["count"]
