"""The same history through the Graph emulator: three nights of `scan --graph-url`, then `scan --all`."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.history.helpers import VALUES, backdate, write_tenant

emulator = pytest.importorskip("reconciler.emulator", reason="the Graph emulator is not in this build")
runner = CliRunner()


def scan_graph(tenant: Path, db: Path) -> str:
    with emulator.serve_in_thread(emulator.create_app(str(tenant), emulator.EmulatorConfig())) as url:
        r = runner.invoke(app, ["scan", "--graph-url", url, "--auth", "none", "--db", str(db), "-q", "-f", "json"])
    assert r.exit_code == 0, r.output
    import sqlite3

    return sqlite3.connect(db).execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()[0]


def test_three_nights_on_emulator_tenants(tmp_path: Path):
    db = tmp_path / "r.db"
    for i, (days, keep) in enumerate([(2, ["lena", "sales", "priya", "tomasz", "grace"]),
                                      (1, ["lena", "sales", "priya", "diego"]),
                                      (0, ["lena", "sales", "tomasz", "hannah"])]):
        rid = scan_graph(write_tenant(tmp_path / f"night{i}.json", keep), db)
        if days:
            backdate(db, rid, days)
    r = runner.invoke(app, ["report", "--db", str(db), "-f", "json", "--check", "--new-only"])
    assert r.exit_code == 1  # hannah is new, tomasz reopened
    (t,) = json.loads(r.stdout)["tenants"]
    assert {k: t["counts"][k] for k in ("open", "new", "reopened", "resolved", "stuck")} == \
        {"open": 4, "new": 1, "reopened": 1, "resolved": 2, "stuck": 2}
    inv = {v.casefold(): k for k, v in VALUES.items()}
    assert {inv[f["value"].casefold()]: f["state"] for f in t["findings"]} == {
        "lena": "open", "sales": "open", "tomasz": "reopened", "hannah": "new", "priya": "resolved",
        "diego": "resolved"}


def test_scan_all_over_emulator_tenants(tmp_path: Path):
    with ExitStack() as stack:
        lines = []
        for i, keep in enumerate([["lena", "diego"], ["priya"], ["grace", "sales", "hannah"]]):
            f = write_tenant(tmp_path / f"t{i}.json", keep, org_id=f"00000000-0000-0000-0000-00000000000{i}",
                             name=f"Tenant {i}")
            url = stack.enter_context(emulator.serve_in_thread(emulator.create_app(str(f), emulator.EmulatorConfig(
                latency_ms=20))))
            lines.append(f'[tenants.t{i}]\ngraph_url = "{url}"\nauth = "none"\n')
        locked = stack.enter_context(emulator.serve_in_thread(emulator.create_app(  # every request answers 401
            str(tmp_path / "t0.json"), emulator.EmulatorConfig(permissions={}))))
        lines.append(f'[tenants.down]\ngraph_url = "{locked}"\nauth = "none"\n')
        cfg = tmp_path / "reconciler.toml"
        cfg.write_text("\n".join(lines))
        r = runner.invoke(app, ["scan", "--all", "--config", str(cfg), "--db", str(tmp_path / "r.db"), "-f", "json"])
    assert r.exit_code == 5, r.output  # "down" refuses us; the three others were stored
    rows = {t["name"]: t for t in json.loads(r.stdout)["tenants"]}
    assert [rows[f"t{i}"]["findings"] for i in range(3)] == [2, 1, 3]
    assert rows["down"]["error"] and rows["down"]["run"] is None
    assert "tenant down: error:" in r.stderr
    rep = json.loads(runner.invoke(app, ["report", "--db", str(tmp_path / "r.db"), "-f", "json"]).stdout)
    assert sorted(t["name"] for t in rep["tenants"]) == ["Tenant 0", "Tenant 1", "Tenant 2"]
