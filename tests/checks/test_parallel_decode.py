"""check-onprem decodes a large LDIF in child processes: the output is byte for byte the single-process one.

The parallel path is forced on small generated files (``PARALLEL_MIN`` lowered, three or five processes) and
compared, as the JSON an admin gets, with ``RECONCILER_DECODE_PROCESSES=1`` (one process): several seeds,
ldapsearch shape with CRLF, a trailer (right and wrong count), a file cut off in its last record, a refused
record in a later part (same one-line error, same line of the file).
"""

from __future__ import annotations

import json
import queue
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.emulator.generate import GenerateOptions, generate
from reconciler.sources import ldif_parts
from tests.checks.test_cli import FOREST, OTHER_FOREST
from tests.sources.test_prefilter import _ldapsearch_shape

runner = CliRunner()


def _check(monkeypatch: pytest.MonkeyPatch, processes: int, *args: str | Path) -> tuple[int, str, str]:
    monkeypatch.setenv("RECONCILER_DECODE_PROCESSES", str(processes))
    r = runner.invoke(app, ["check-onprem", "--format", "json", *map(str, args)])
    out = r.stdout
    if r.exit_code in (0, 1):
        doc = json.loads(out)
        doc.pop("generated")
        out = json.dumps(doc, indent=1)
    return r.exit_code, out, r.stderr


def _both(monkeypatch: pytest.MonkeyPatch, *args: str | Path, processes: int = 3) -> tuple[str, str]:
    monkeypatch.setattr(ldif_parts, "PARALLEL_MIN", 0)
    one = _check(monkeypatch, 1, *args)
    parts: list[int] = []
    checked: list[bool] = []
    start = ldif_parts._start_children
    monkeypatch.setattr(ldif_parts, "_start_children", lambda p, ranges, digest: parts.append(len(ranges))
                        or checked.append(digest is not None) or start(p, ranges, digest))
    many = _check(monkeypatch, processes, *args)
    assert parts == [processes]  # the file was decoded in that many parts
    # without a cloud snapshot the children check the objects too (with one, the cloud rules need them here)
    assert checked == ["--tenant" not in args]
    assert many == one
    return one[1], one[2]


def _forest(tmp_path: Path, seed: int, users: int = 400) -> tuple[Path, Path, int]:
    """A generated forest with planted check-onprem problems in its first, middle and last records."""
    tenant, ldif = tmp_path / "t.json", tmp_path / "gen.ldif"
    s = generate(GenerateOptions(users=users, errors_per_1000=60, seed=seed), tenant, ldif)
    recs = ldif.read_text(encoding="utf-8").split("\n\n")
    half = len(recs) // 2
    text = FOREST + "\n\n".join(recs[:half]).strip("\n") + "\n\n" + OTHER_FOREST + "\n\n".join(recs[half:])
    out = tmp_path / "f.ldif"
    out.write_text(text.rstrip("\n") + "\n\n" + FOREST.replace("CN=", "CN=Again "), encoding="utf-8")
    return tenant, out, s.ldif_entries


@pytest.mark.parametrize("cloud", [True, False], ids=["with-tenant", "checked-in-children"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_parallel_json_equals_single_process_on_generated_forests(tmp_path: Path, monkeypatch, seed: int,
                                                                  cloud: bool) -> None:
    tenant, ldif, _ = _forest(tmp_path, seed)
    out, _ = _both(monkeypatch, "--onprem", ldif, *(("--tenant", tenant) if cloud else ()), processes=2 + seed % 3)
    doc = json.loads(out)
    assert doc["problems"] and doc["scanned"] > 300
    # the forest's first objects come again at its end: duplicates across the first and the last part
    again = [p for p in doc["problems"] if p["rule"] == "upn-duplicate" and p["dn"].startswith("CN=Again ")]
    assert again and all(any(not r["dn"].startswith("CN=Again ") for r in p["related"]) for p in again)


@pytest.mark.parametrize("shape", ["crlf", "trailer", "trailer-wrong-count-crlf", "cut"])
def test_parallel_json_equals_single_process_in_ldapsearch_shape(tmp_path: Path, monkeypatch, shape: str) -> None:
    _, ldif, _ = _forest(tmp_path, 7)
    shaped = tmp_path / "s.ldif"
    entries = ("\n" + ldif.read_text(encoding="utf-8")).count("\ndn: ")
    trailer = None if "trailer" not in shape else entries + (3 if "wrong" in shape else 0)
    _ldapsearch_shape(ldif, shaped, crlf="crlf" in shape, trailer=trailer, cut=40 if shape == "cut" else 0)
    out, _ = _both(monkeypatch, "--onprem", shaped, processes=5)
    notes = " ".join(json.loads(out).get("notes", []))
    assert ("entries were cut out" in notes) == ("wrong" in shape)
    assert ("cut off" in notes) == (shape in ("cut", "crlf"))  # no trailer: ldapsearch output was cut off


def test_a_refused_record_in_a_later_part_gives_the_same_line(tmp_path: Path, monkeypatch) -> None:
    _, ldif, _ = _forest(tmp_path, 5)
    text = ldif.read_text(encoding="utf-8")
    ldif.write_text(text + "dn: CN=Broken,DC=corp,DC=contoso,DC=com\nuserAccountControl: 512\nno colon here\n\n"
                    + FOREST.replace("CN=", "CN=After "), encoding="utf-8")
    line = text.count("\n") + 3
    code, out, err = _check(monkeypatch, 1, "--onprem", ldif)
    assert code == 2 and f"f.ldif:{line}" in err and len(err.strip().splitlines()) == 1
    assert _both(monkeypatch, "--onprem", ldif, processes=4) == (out, err)


def test_a_value_the_decoder_refuses_in_a_later_part_gives_the_same_line(tmp_path: Path, monkeypatch) -> None:
    _, ldif, _ = _forest(tmp_path, 6)
    text = ldif.read_text(encoding="utf-8")
    ldif.write_text(text + "dn: CN=Odd,DC=corp,DC=contoso,DC=com\nobjectClass: user\nuserAccountControl: abc\n\n",
                    encoding="utf-8")
    code, out, err = _check(monkeypatch, 1, "--onprem", ldif)
    assert code == 2 and f"f.ldif:{text.count(chr(10)) + 1}" in err
    assert _both(monkeypatch, "--onprem", ldif, processes=3) == (out, err)


@pytest.mark.parametrize("cloud", [True, False], ids=["with-tenant", "checked-in-children"])
def test_a_part_whose_process_cannot_start_is_decoded_here(tmp_path: Path, monkeypatch, cloud: bool) -> None:
    import subprocess

    tenant, ldif, _ = _forest(tmp_path, 8)
    real = subprocess.Popen
    calls: list[int] = []

    def flaky(args, **kw):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise OSError("no more processes")
        return real(args, **kw)

    monkeypatch.setattr(subprocess, "Popen", flaky)
    _both(monkeypatch, "--onprem", ldif, *(("--tenant", tenant) if cloud else ()), processes=3)
    assert len(calls) == 3


def test_split_points_fall_only_before_a_record_after_a_line_of_text(tmp_path: Path) -> None:
    from reconciler.sources.prefilter import _split_points

    _, ldif, _ = _forest(tmp_path, 9)
    data = ldif.read_bytes()
    pts = _split_points(ldif, 0, len(data), 6, strict=True)
    assert len(pts) == 7
    for p in pts[1:-1]:
        assert data[p - 2:p] == b"\n\n" and data[p:p + 3] == b"dn:" and data[:p].rstrip(b"\n")[-1:] not in b" \t"


@pytest.mark.parametrize("cloud", [True, False], ids=["with-tenant", "checked-in-children"])
def test_a_part_whose_process_fails_is_decoded_here(tmp_path: Path, monkeypatch, cloud: bool) -> None:
    """The children cannot import reconciler (no such path): every part is decoded here, same output."""
    import os

    from reconciler.sources import prefilter

    tenant, ldif, _ = _forest(tmp_path, 10)
    monkeypatch.setattr(prefilter, "_child_env", lambda: dict(os.environ, PYTHONPATH=str(tmp_path / "nowhere"),
                                                              PYTHONSAFEPATH="1"))
    _both(monkeypatch, "--onprem", ldif, *(("--tenant", tenant) if cloud else ()), processes=3)


@pytest.mark.parametrize("delivered", [0, 1])
@pytest.mark.parametrize("cloud", [True, False], ids=["with-tenant", "checked-in-children"])
def test_a_child_that_stops_short_is_finished_here(tmp_path: Path, monkeypatch, cloud: bool, delivered: int) -> None:
    """A child's stream ends after ``delivered`` messages (it died): the rest of its part is done here, once."""
    tenant, ldif, _ = _forest(tmp_path, 11, users=5000)  # more than one batch of objects in a part
    drain = ldif_parts._drain

    def short(stream, q):  # type: ignore[no-untyped-def]
        inner: queue.Queue[bytes | None] = queue.Queue()
        drain(stream, inner)
        for _ in range(delivered):
            raw = inner.get()
            if raw is not None:
                q.put(raw)
        q.put(None)

    monkeypatch.setattr(ldif_parts, "_drain", short)
    out, _ = _both(monkeypatch, "--onprem", ldif, *(("--tenant", tenant) if cloud else ()), processes=2)
    assert json.loads(out)["scanned"] > 2 * ldif_parts.BATCH


@pytest.mark.parametrize("env,cores,load,expected", [("", 2, 0.1, 2), ("", 2, 1.0, 2), ("", 2, 2.5, 1), ("", 8, 3.2, 5),
                                                     ("1", 8, 0.0, 1), ("3", 1, 9.0, 3)])
def test_parts_follow_the_idle_cores_unless_set(monkeypatch, env: str, cores: int, load: float, expected: int) -> None:
    import os

    monkeypatch.setenv("RECONCILER_DECODE_PROCESSES", env)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert ldif_parts.decode_processes() == expected
    # when the children check the objects too, every core is used whatever the load (unless set)
    assert ldif_parts.decode_processes(True) == (int(env) if env else cores)


def test_two_large_exports_checked_in_children_equal_one_process(tmp_path: Path, monkeypatch) -> None:
    """Two forests, each split and checked in children: duplicates across the two files, each file's label."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, first, _ = _forest(tmp_path / "a", 12)
    _, second, _ = _forest(tmp_path / "b", 12)  # the same seed: every value again in the other forest
    monkeypatch.setattr(ldif_parts, "PARALLEL_MIN", 0)
    one = _check(monkeypatch, 1, "--onprem", first, "--onprem", second)
    many = _check(monkeypatch, 3, "--onprem", first, "--onprem", second)
    assert many == one
    doc = json.loads(one[1])
    across = [p for p in doc["problems"] if p["rule"] == "upn-duplicate"
              and {r["source"] for r in p["related"]} - {p["source"]}]
    assert across and {p["source"] for p in across} == {str(first), str(second)}
