"""Decode a large csvde export on every core, and hand its objects on in file order (LDIF: ``ldif_parts``).

A CSV row may hold line breaks inside a quoted value, so a row boundary is a line break after an even
number of ``"`` from the start of the file (csvde and Export-Csv quote a value that holds a quote, a
comma or a line break, and double the quotes inside it). The cuts are chosen that way; each part is
decoded in a child process (``python -c``) by the one reader (``csvde._rows``) over the header row and
the part, and the objects come back in batches, part after part.

A cut that is not a row boundary cannot go unnoticed: parts are read in order, the first starts at
the header, and a part that ends inside a quoted value fails (csv's strict mode: "unexpected end of
data"), so every part that reads cleanly ended, and so the next one started, at a row boundary. When
anything fails — a child, a part, a cut — the rest is read by the single-process reader, from the top
of the file, skipping the objects already handed on: the objects, a refusal (same message, same line)
and the notes are those of one read, by construction. UTF-16 files (``csvde -u``), PowerShell
Export-Csv files and small files are read in one process.
"""

from __future__ import annotations

import csv
import io
import pickle
import sys
from pathlib import Path
from typing import IO, Any, Iterator

from ..core.errors import BadInput
from ..core.model import OnPremObject
from .inputs import open_input
from .onprem import ReadReport

__all__ = ["iter_csv_objects_parallel", "iter_csv_digests"]

_CHUNK = 8 << 20
_HEAD = 64 << 10  # the header row must end within this many bytes


class _Failed(Exception):
    """A part could not be read here: the single-process reader takes over."""


def _plan(p: Path, n: int, min_size: int) -> tuple[int, list[tuple[int, int]]] | None:
    """(end of the header row, the parts after it), or None when the file is read in one process."""
    from .ldif_parts import splittable
    from .psexport import looks_like_export_csv

    opened = splittable(p, n, min_size, _HEAD)
    if opened is None:
        return None
    size, head = opened
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the end of the head
            return None
        text = head[:e.start].decode("utf-8-sig")
    if looks_like_export_csv(text):
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        if next(reader, None) is None:
            return None
    except csv.Error:
        return None
    header_end = _nth_line_end(head, reader.line_num)
    if header_end is None or header_end >= size:
        return None
    with open_input(p) as f:
        cuts = _cuts(f, header_end, size, n)
    points = [header_end, *cuts, size]
    ranges = [(a, b) for a, b in zip(points, points[1:]) if b > a]
    return (header_end, ranges) if len(ranges) > 1 else None


def _nth_line_end(data: bytes, n: int) -> int | None:
    pos = -1
    for _ in range(n):
        pos = data.find(b"\n", pos + 1)
        if pos < 0:
            return None
    return pos + 1


def _cuts(f: IO[bytes], start: int, size: int, n: int) -> list[int]:
    """Offsets just after a line break with an even number of quotes before it, the first at or after each
    ``start + (size - start) * i / n``."""
    targets = [start + (size - start) * i // n for i in range(1, n)]
    cuts: list[int] = []
    f.seek(0)
    base = quotes = ti = 0  # quotes in [0, base)
    while ti < len(targets):
        block = f.read(_CHUNK)
        if not block:
            break
        end = base + len(block)
        at, q = 0, quotes  # q: quotes in [0, base + at)
        while ti < len(targets) and targets[ti] < end:
            i = max(max(targets[ti], cuts[-1] if cuts else 0) - base, at)
            q += block.count(b'"', at, i)
            at = i
            found = None
            while (nl := block.find(b"\n", at)) >= 0:
                q += block.count(b'"', at, nl)
                at = nl + 1
                if q % 2 == 0:
                    found = base + at
                    break
            if found is None:  # the next block
                break
            cuts.append(found)
            ti += 1
        quotes = q + block.count(b'"', at)
        base = end
    return cuts


def _decode_part(path: str, header_end: int, start: int, end: int, summary: dict[str, Any]) -> Iterator[OnPremObject]:
    """The objects of one part: the reader over the header row and the part. A part that is not exactly whole
    rows, or that the reader refuses, raises :class:`_Failed` (the parent then reads in one process)."""
    from .csvde import _rows

    p = Path(path)
    with open_input(p) as f:
        header = f.read(header_end)
        f.seek(start)
        data = f.read(end - start)
    try:
        text = (header + data).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _Failed from None
    if not text.endswith(("\n", "\r")) and end < p.stat().st_size:
        raise _Failed
    report = ReadReport()
    try:
        yield from _rows(text, p, report)
    except BadInput:
        raise _Failed from None
    summary.update(report=report)


def _child_main() -> None:
    """``python -c`` entry: argv = path, header_end, start, end, part number[, "module:factory" with its config on
    stdin]."""
    from .ldif_parts import _serve, _taker

    path, header_end, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    taker = _taker((sys.argv[6], pickle.load(sys.stdin.buffer)) if len(sys.argv) > 6 else None, int(sys.argv[5]))
    summary: dict[str, Any] = {}
    _serve(lambda: _decode_part(path, header_end, start, end, summary), summary, taker, (_Failed,),
           lambda e: ("failed",))


def iter_csv_objects_parallel(path: Path | str, report: ReadReport | None = None, *, processes: int | None = None,
                              min_size: int | None = None) -> Iterator[OnPremObject]:
    """:func:`csvde.iter_csv_objects`, decoded by child processes for a large csvde file."""
    from .csvde import iter_csv_objects
    from .ldif_parts import PARALLEL_MIN, decode_processes

    p = Path(path)
    plan = _plan(p, decode_processes() if processes is None else processes,
                 PARALLEL_MIN if min_size is None else min_size)
    if plan is None:
        yield from iter_csv_objects(p, report)
        return
    yield from _joined(p, plan, report, None, None)


def iter_csv_digests(path: Path | str, report: ReadReport | None, digest: tuple[str, Any], tally: dict[str, Any], *,
                     processes: int | None = None, min_size: int | None = None) -> Iterator[Any] | None:
    """As ``ldif_parts.iter_ldif_digests``, for a large csvde file; None when it is read in one process."""
    from .ldif_parts import PARALLEL_MIN, decode_processes

    p = Path(path)
    plan = _plan(p, decode_processes(True) if processes is None else processes,
                 PARALLEL_MIN if min_size is None else min_size)
    if plan is None:
        return None
    tally.update(total=0, ad=0, only_dn=True)
    return _joined(p, plan, report, digest, tally)


def _joined(p: Path, plan: tuple[int, list[tuple[int, int]]], report: ReadReport | None,
            digest: tuple[str, Any] | None, tally: dict[str, Any] | None) -> Iterator[Any]:
    from .csvde import iter_csv_objects
    from .ldif_parts import _delivered, _here, _reap, _start, _taker

    header_end, ranges = plan
    code = "from reconciler.sources.csv_parts import _child_main; _child_main()"
    children = [_start(code, [str(p), str(header_end), str(a), str(b), str(i)], digest)
                for i, (a, b) in enumerate(ranges)]
    done = 0  # objects handed on
    try:
        try:
            last: ReadReport | None = None
            for child in children:
                if child is None:
                    raise _Failed
                got = [0]
                end = yield from _delivered(child, tally, got)
                done += got[0]
                if end is None or end[0] != "end":  # it stopped short, failed or was refused
                    raise _Failed
                last = end[1]["report"]
            if report is not None and last is not None:
                report.incomplete += last.incomplete  # only the last part can end inside a row
                report.notes += last.notes
            return
        except _Failed:
            pass
        # the single-process reader, from the top; what was handed on already is skipped
        yield from _here(iter_csv_objects(p, report), done, None if digest is None else _taker(digest), tally,
                         len(ranges))  # numbered as a part of its own
    finally:
        _reap(children)
