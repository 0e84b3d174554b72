"""check-onprem reads a large csvde export on every core: the output is byte for byte the single-process one.

Cuts fall only on line breaks outside quoted values; values with line breaks and quotes, a stray quote that
makes the quote count lie, a refused row in a later part and a cut-off last row all give what one process
gives (the last three by falling back to the single-process reader, skipping what was handed on).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.emulator.generate import GenerateOptions, generate
from reconciler.sources import ldif_parts
from reconciler.sources.ldif import iter_ldif_records
from tests.checks.test_parallel_decode import _check

runner = CliRunner()
BINARY = {"objectguid", "objectsid", "ms-ds-consistencyguid"}


def _csvde(ldif: Path, out: Path, odd_names: bool = True) -> int:
    """The forest as csvde writes it: DN first, binary as X'hex', multi-values joined with ';'."""
    records = []
    names: dict[str, str] = {}
    with ldif.open("rb") as f:
        for _, dn, attrs in iter_ldif_records(f, ldif):
            records.append((dn, attrs))
            for a in attrs:
                names.setdefault(a.casefold(), a)
    cols = [c for c in names if c != "dn"]
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["DN", *(names[c] for c in cols)])
    for i, (dn, attrs) in enumerate(records):
        low = {k.casefold(): v for k, v in attrs.items()}
        row = [dn]
        for c in cols:
            vals = low.get(c, [])
            if c in BINARY:
                row.append(";".join("X'" + v.hex() + "'" for v in vals))
            else:
                row.append(";".join(v.decode("utf-8") for v in vals))
        if odd_names and "displayname" in cols and i % 3 == 0:  # quoted line breaks and quotes in many rows
            row[1 + cols.index("displayname")] = f'Name "{i}"\r\nsecond line, with a comma\n"third"'
        w.writerow(row)
    out.write_text(buf.getvalue(), encoding="utf-8")
    return len(records)


def _stray(row: bytes) -> bytes:
    """A quote inside the first unquoted cn value after the object class (``Sofia`` becomes ``S"ofia``)."""
    at = row.index(b";user,") + len(b";user,") + 1
    assert row[at - 1:at] != b'"'
    return row[:at] + b'"' + row[at:]


def _both(monkeypatch: pytest.MonkeyPatch, *args: str | Path, processes: int = 3) -> tuple[tuple[int, str, str], int]:
    monkeypatch.setattr(ldif_parts, "PARALLEL_MIN", 0)
    one = _check(monkeypatch, 1, *args)
    started: list[str] = []
    start = ldif_parts._start
    monkeypatch.setattr(ldif_parts, "_start", lambda code, a, digest: started.append(code) or start(code, a, digest))
    many = _check(monkeypatch, processes, *args)
    assert many == one
    return one, len(started)


@pytest.fixture
def forest(tmp_path: Path) -> tuple[Path, Path]:
    tenant, ldif = tmp_path / "t.json", tmp_path / "f.ldif"
    generate(GenerateOptions(users=600, errors_per_1000=60, seed=3), tenant, ldif)
    return tenant, ldif


@pytest.mark.parametrize("processes", [2, 5])
@pytest.mark.parametrize("cloud", [True, False], ids=["with-tenant", "checked-in-children"])
def test_a_csvde_export_in_parts_equals_one_process(tmp_path, monkeypatch, forest, cloud, processes) -> None:
    tenant, ldif = forest
    out = tmp_path / "f.csv"
    n = _csvde(ldif, out)
    (code, text, _), parts = _both(monkeypatch, "--onprem", out, *(("--tenant", tenant) if cloud else ()),
                                   processes=processes)
    assert parts == processes and code in (0, 1)
    doc = json.loads(text)
    assert doc["scanned"] == n and doc["problems"]


def test_cuts_fall_only_outside_quoted_values(tmp_path, forest) -> None:
    from reconciler.sources.csv_parts import _plan

    out = tmp_path / "f.csv"
    _csvde(forest[1], out)
    data = out.read_bytes()
    header_end, ranges = _plan(out, 7, 0)  # type: ignore[misc]
    assert len(ranges) == 7 and ranges[0][0] == header_end and ranges[-1][1] == len(data)
    for a, _ in ranges[1:]:
        assert data[a - 1:a] == b"\n" and data[:a].count(b'"') % 2 == 0 and data[a:].startswith(b'"CN=')


@pytest.mark.parametrize("where", ["stray quote", "refused row", "cut off"])
def test_what_one_process_would_refuse_or_note_comes_out_the_same(tmp_path, monkeypatch, forest, where) -> None:
    out = tmp_path / "f.csv"
    _csvde(forest[1], out, odd_names=where != "stray quote")
    lines = out.read_bytes().split(b"\r\n")
    mid = len(lines) * 2 // 3
    cols = lines[0].count(b",") + 1
    if where == "stray quote":  # a quote inside an unquoted value: literal to the reader, but it flips the count
        lines[mid // 2] = _stray(lines[mid // 2])
    elif where == "refused row":
        lines.insert(mid, b"CN=Broken" + b"," * (cols - 3))  # too few columns
    data = b"\r\n".join(lines)
    if where == "cut off":
        data = data.rstrip(b"\r\n")[:-5]
    out.write_bytes(data)
    (code, text, err), _ = _both(monkeypatch, "--onprem", out, processes=4)
    if where == "refused row":
        line = data[:data.index(b"CN=Broken")].count(b"\n") + 1
        assert code == 2 and "columns, header has" in err and f"f.csv:{line}:" in err and line > len(lines) // 2
    elif where == "cut off":
        assert "cut off" in " ".join(json.loads(text)["notes"])
    else:
        assert code in (0, 1)


def test_a_cut_inside_a_quoted_value_is_noticed_and_the_file_read_in_one_process(tmp_path, monkeypatch, forest) -> None:
    """A stray quote in an unquoted value (literal to the reader) flips the quote count, so a later cut lands on a
    line break inside a quoted value: the part before it ends inside the value and fails, and the rest comes
    from the single-process reader, skipping what was handed on."""
    from reconciler.sources import csv_parts, csvde

    out = tmp_path / "f.csv"
    _csvde(forest[1], out)
    data = out.read_bytes()
    first_row = data.index(b"\r\n") + 2
    out.write_bytes(data[:first_row] + _stray(data[first_row:]))
    whole = list(csvde.iter_csv_objects(out))
    header_end, ranges = csv_parts._plan(out, 4, 0)  # type: ignore[misc]
    text = out.read_bytes()
    # every row starts with its quoted DN: a cut elsewhere is inside a quoted value
    assert any(not text[a:].startswith(b'"CN=') for a, _ in ranges[1:])
    calls: list[int] = []
    real = csvde.iter_csv_objects
    monkeypatch.setattr(csvde, "iter_csv_objects", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert list(csv_parts.iter_csv_objects_parallel(out, processes=4, min_size=0)) == whole
    assert calls == [1]  # the fallback ran


def test_scan_reads_a_large_csvde_export_in_parts_with_the_same_findings(tmp_path, monkeypatch, forest) -> None:
    tenant, ldif = forest
    out = tmp_path / "f.csv"
    _csvde(ldif, out)
    monkeypatch.setattr(ldif_parts, "PARALLEL_MIN", 0)
    docs = []
    started: list[str] = []
    start = ldif_parts._start
    monkeypatch.setattr(ldif_parts, "_start", lambda code, a, d: started.append(code) or start(code, a, d))
    for processes in (1, 3):
        monkeypatch.setenv("RECONCILER_DECODE_PROCESSES", str(processes))
        started.clear()
        r = runner.invoke(app, ["scan", "--tenant", str(tenant), "--onprem", str(out), "--format", "json",
                                "--db", str(tmp_path / f"r{processes}.db")])
        assert r.exit_code == 0, r.output
        assert len(started) == (0 if processes == 1 else 3)
        doc = json.loads(r.stdout)
        for k in ("generated", "run_id"):
            doc.pop(k, None)
        docs.append(doc)
    assert docs[0] == docs[1] and docs[0]["findings"]


def test_a_later_child_that_stops_short_is_noticed(tmp_path, monkeypatch, forest) -> None:
    """The last part's child dies after its first batch: the rest comes from the single-process reader."""
    from reconciler.sources import csv_parts, csvde

    out = tmp_path / "f.csv"
    _csvde(forest[1], out)
    whole = list(csvde.iter_csv_objects(out))
    messages = ldif_parts._messages
    seen: list[int] = []

    def short(child):  # type: ignore[no-untyped-def]
        seen.append(1)
        for i, (kind, msg) in enumerate(messages(child)):
            if len(seen) == 2 and i == 1:  # the second child: one batch, then nothing
                return
            yield kind, msg

    monkeypatch.setattr(ldif_parts, "BATCH", 50)
    monkeypatch.setattr(ldif_parts, "_messages", short)
    calls: list[int] = []
    real = csvde.iter_csv_objects
    monkeypatch.setattr(csvde, "iter_csv_objects", lambda *a, **k: calls.append(1) or real(*a, **k))
    got = list(csv_parts.iter_csv_objects_parallel(out, processes=2, min_size=0))
    assert got == whole and calls == [1] and len(seen) == 2
