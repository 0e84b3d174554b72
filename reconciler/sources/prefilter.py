"""Keep only the on-prem objects a scan needs, decided in one cheap pass over the export.

The matcher looks on-prem objects up by anchor (objectGUID or mS-DS-ConsistencyGuid),
by objectSid, by DN and, for contacts, by address: a few thousand objects out of
hundreds of thousands. The work is split in four modules:

* :mod:`.prefilter_keys`: what the cloud side needs (:func:`keys_for`, :class:`NeededKeys`), and
  the cut of a source read in full (:class:`Whole`, :func:`filtered_source`);
* :mod:`.prefilter_index`: :func:`index_ldif` passes once over an LDIF export (it can run while the
  cloud is still being read) and keeps, per record, only its offset and CRC-32 hashes of those
  keys; :meth:`LdifIndex.select` then decodes, with the one decoding path
  (``ldif.iter_ldif_records`` + ``onprem.decode_entry``), only the records whose hashes meet a key
  of the cloud side, and keeps those that really match (:meth:`NeededKeys.needs`);
* :mod:`.prefilter_scan`: the cheap pass over one piece of the file (what it vouches for, the keys);
* this module: the pass over a large file in child processes, one part each
  (:func:`index_ldif_elsewhere`), and the names the rest of the package imports.

Strictness is unchanged: a record is read by the cheap pass only when its shape
is plainly one the decoder accepts (attribute names, base64 values, numbers,
``changetype: add``, UTF-8); any other record is decoded in full during the pass,
so a file the full reader refuses is refused with the same line. Every object is
still counted and still shapes the source's base DN (what "covers" means).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.errors import BadInput
from .inputs import open_input
from .prefilter_index import LdifIndex, _Pass, index_ldif
from .prefilter_keys import NeededKeys, Selectable, Whole, filtered_source, keys_for, total_objects
from .prefilter_scan import DnSuffix

__all__ = ["NeededKeys", "keys_for", "LdifIndex", "index_ldif", "index_ldif_elsewhere", "filtered_source", "DnSuffix",
           "Selectable", "Whole", "total_objects"]

CHILD_MIN = 16 << 20  # files this large are indexed in a child process (starting one costs ~0.2 s)
SPLIT_MIN = 24 << 20  # a part of a split pass is at least this large


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
    code = "from reconciler.sources.prefilter_index import _child_main; _child_main()"
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


def _join(parts: list[tuple[_Pass, int, int | None]]) -> _Pass:
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
    """The child imports this same package: put its folder first on PYTHONPATH, and keep ``python -c`` from putting
    the working folder before it (PYTHONSAFEPATH): a ``reconciler`` folder there, another version's source
    checkout, would be imported instead."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONSAFEPATH"] = "1"
    return env
