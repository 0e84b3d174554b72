"""Scans of different tenants writing to one database at the same time lose nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from reconciler.config import parse_config
from reconciler.history.report import build_report
from reconciler.history.store import Store
from reconciler.multiscan import scan_all
from tests.history.helpers import write_tenant

ROOT = Path(__file__).resolve().parents[2]

LOOP = """
import sys
from typer.testing import CliRunner
from reconciler.cli import app
tenant, db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(n):
    r = CliRunner().invoke(app, ["scan", "--tenant", tenant, "--db", db, "-q", "--format", "json"])
    assert r.exit_code == 0, r.output
"""


def test_two_processes_scanning_different_tenants_lose_nothing(tmp_path: Path):
    db = tmp_path / "shared.db"
    a = write_tenant(tmp_path / "a.json", ["lena", "sales", "priya"], org_id="aaaaaaaa-0000-0000-0000-000000000001",
                     name="Alpha")
    b = write_tenant(tmp_path / "b.json", ["tomasz", "grace", "diego", "hannah"],
                     org_id="bbbbbbbb-0000-0000-0000-000000000002", name="Beta")
    Store(db).close()  # both start on a migrated database, as after the first ever scan
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    procs = [subprocess.Popen([sys.executable, "-c", LOOP, str(t), str(db), "6"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for t in (a, b)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT tenant_name, COUNT(*), SUM(complete) FROM runs GROUP BY tenant_name").fetchall()
        assert sorted(rows) == [("Alpha", 6, 6), ("Beta", 6, 6)]
        per_run = c.execute("SELECT r.tenant_name, COUNT(f.id) FROM runs r LEFT JOIN findings f ON f.run_id = r.id "
                            "GROUP BY r.id").fetchall()
    assert sorted({x for x in per_run}) == [("Alpha", 3), ("Beta", 4)]


def test_scan_all_threads_share_one_database(tmp_path: Path):
    names = []
    lines = []
    for i in range(6):
        name = f"tenant{i}"
        write_tenant(tmp_path / f"{name}.json", ["lena", "diego"][: 1 + i % 2],
                     org_id=f"00000000-0000-0000-0000-{i:012d}", name=name)
        lines.append(f'[tenants.{name}]\ntenant_file = "{name}.json"\n')
        names.append(name)
    cfg = parse_config("parallel = 6\n" + "\n".join(lines), tmp_path / "reconciler.toml")
    db = tmp_path / "r.db"
    for _ in range(2):
        outcomes = scan_all(cfg, db)
        assert [o.name for o in outcomes] == names and all(o.ok and o.complete for o in outcomes), \
            [o.error for o in outcomes]
    with Store(db) as store:
        rep = build_report(store)
    assert len(rep.tenants) == 6
    assert [t["counts"]["open"] for t in rep.tenants] == [1 + i % 2 for i in range(6)]
    assert all(len(t["trend"]) == 2 for t in rep.tenants)
    assert json.dumps(rep.doc)  # serialisable
