"""Two scans (different tenants) and an apply share ONE fresh database at the same time, as processes.

No process may crash with "database is locked", and no row may be lost: every scan run is complete with
the findings its own output listed, and the apply journal has one intent and one outcome per step.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson

from reconciler.emulator import create_app, serve_in_thread
from reconciler.emulator.generate import DEFAULT_MIX, GenerateOptions, generate

from .killharness import _env, check_exactly_once, make_plan, tenant_doc

SCANS_PER_PROCESS = 4
STEPS = 300


def _scan_loop(tenant: Path, ldif: Path, db: Path, out: Path) -> list[str]:
    """One process that scans ``tenant`` several times, each output kept (the findings it reported)."""
    code = (
        "import subprocess, sys\n"
        f"for i in range({SCANS_PER_PROCESS}):\n"
        f"    r = subprocess.run([sys.executable, '-m', 'reconciler', 'scan', '--tenant', {str(tenant)!r},\n"
        f"                        '--onprem', {str(ldif)!r}, '--db', {str(db)!r}, '-f', 'json', '--quiet',\n"
        f"                        '-o', {str(out)!r} + f'.{{i}}.json'])\n"
        "    if r.returncode: sys.exit(r.returncode)\n")
    return [sys.executable, "-c", code]


def test_two_scans_and_an_apply_on_one_fresh_database(tmp_path: Path) -> None:
    tenants = []
    for seed in (1, 2):
        t, ld = tmp_path / f"t{seed}.json", tmp_path / f"f{seed}.ldif"
        generate(GenerateOptions(users=2000, errors_per_1000=10.0, seed=seed, mix=dict(DEFAULT_MIX)), t, ld, None)
        tenants.append((t, ld))
    plan_path, made_db, plan = make_plan(tmp_path, STEPS)
    made_db.unlink()  # a fresh database for everyone: the apply uses --checksum (a plan made elsewhere)
    db = tmp_path / "shared.db"
    app = create_app(tenant_doc(STEPS))
    with serve_in_thread(app) as url:
        apply = [sys.executable, "-m", "reconciler", "apply", str(plan_path), "--graph-url", url, "--auth", "none",
                 "--doit", "--force", "--db", str(db), "--checksum", plan.fingerprint, "--quiet", "--format", "json"]
        cmds = [_scan_loop(t, ld, db, tmp_path / f"scan{i}") for i, (t, ld) in enumerate(tenants)] + [apply]
        logs = [tmp_path / f"stderr{i}" for i in range(len(cmds))]  # files, not pipes: nobody reads meanwhile
        procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=_env())
                 for c, log in zip(cmds, logs, strict=True)]
        results = [(p.wait(timeout=300), log.read_bytes()) for p, log in zip(procs, logs, strict=True)]
    for code, err in results:
        assert b"locked" not in err and b"Traceback" not in err, err.decode(errors="replace")
        assert code == 0, err.decode(errors="replace")
    assert check_exactly_once(app.state.emulator, plan) == []
    _assert_no_lost_rows(db, tmp_path, plan)


def _assert_no_lost_rows(db: Path, tmp: Path, plan) -> None:
    con = sqlite3.connect(str(db))
    try:
        runs = con.execute("SELECT id, tenant_id, complete FROM runs WHERE command = 'scan'").fetchall()
        scan_window = con.execute("SELECT MIN(started), MAX(finished) FROM runs").fetchone()
        apply_window = con.execute("SELECT started, finished FROM journal_runs WHERE action = 'apply'").fetchone()
        stored = {r[0]: {f for (f,) in con.execute("SELECT id FROM findings WHERE run_id = ?", (r[0],))}
                  for r in runs}
        journal = con.execute("SELECT step_id, phase, status FROM journal WHERE fingerprint = ? ORDER BY seq",
                              (plan.fingerprint,)).fetchall()
    finally:
        con.close()
    assert apply_window[0] <= scan_window[1] and scan_window[0] <= apply_window[1]  # they did overlap
    assert len(runs) == 2 * SCANS_PER_PROCESS and all(r[2] == 1 for r in runs)
    assert len({r[1] for r in runs}) == 2  # two tenants
    reported = []
    for i in range(2):
        for k in range(SCANS_PER_PROCESS):
            doc = orjson.loads((tmp / f"scan{i}.{k}.json").read_bytes())
            reported.append(frozenset(f["id"] for f in doc["findings"]))
    assert all(reported) and sorted(map(sorted, reported)) == sorted(map(sorted, stored.values()))
    per_step: dict[str, list[tuple[str, str]]] = {}
    for sid, phase, status in journal:
        per_step.setdefault(sid, []).append((phase, status))
    assert per_step == {s.id: [("intent", "pending"), ("outcome", "done")] for s in plan.steps}
