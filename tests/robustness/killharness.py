"""Kill/resume harness: `reconciler apply --doit` in a subprocess, SIGKILLed at seeded random points.

Used by ``tests/robustness/test_kill_resume.py`` (CI size) and ``bench/bench_kill_resume.py`` (full size).
The emulator runs in this process on a real loopback socket (``serve_in_thread``) so its request log
and state can be inspected; the apply process is killed while it is talking to it, then the same
command is run again until it finishes. ``check_round`` returns every broken invariant as a string.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.fixes.journal import Journal
from reconciler.fixes.planfile import write_plan
from reconciler.fixes.planner import Plan
from reconciler.fixes.steps import Executor, Step, StepKind
from reconciler.history.store import Store, utcnow

TENANT = "kill-tenant"
WRITES = ("PATCH", "DELETE", "POST")
KINDS = ("stamp", "rename", "delete", "restore", "purge")


class _DropClientDisconnect(logging.Filter):
    """A killed client leaves the emulator's read of a request body unfinished: expected here, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "ClientDisconnect"


logging.getLogger("uvicorn.error").addFilter(_DropClientDisconnect())


def tenant_doc(n: int) -> dict[str, Any]:
    """n cloud users c-i and n recycle-bin users d-i (each step touches one of them)."""
    users = [{"id": f"c-{i}", "userPrincipalName": f"u{i}@contoso.com", "displayName": f"User {i}",
              "givenName": "U", "surname": str(i), "userType": "Member", "onPremisesImmutableId": None,
              "onPremisesSyncEnabled": None, "mail": None, "proxyAddresses": [], "accountEnabled": True}
             for i in range(n)]
    deleted = [{"id": f"d-{i}", "userPrincipalName": f"gone{i}@contoso.com", "mail": f"old{i}@contoso.com",
                "proxyAddresses": [f"SMTP:old{i}@contoso.com"], "onPremisesImmutableId": f"DEL{i}==",
                "userType": "Member", "deletedDateTime": "2026-11-01T00:00:00Z"} for i in range(n)]
    return {"schema": "reconciler.tenant/1", "users": users, "deletedUsers": deleted,
            "organization": {"id": TENANT, "displayName": "Kill",
                             "verifiedDomains": [{"name": "contoso.com", "isDefault": True},
                                                 {"name": "contoso.onmicrosoft.com", "isInitial": True}]},
            "roleAssignments": [], "roleEligibilitySchedules": []}  # apply re-reads roles before every write


def step(i: int) -> Step:
    """Step i: kinds in rotation, each on its own object (reversible ones plus a purge)."""
    kind = KINDS[i % len(KINDS)]
    sid, user = f"s{i}-{kind}", {"type": "user", "id": f"c-{i}"}
    if kind == "stamp":
        return Step(id=sid, kind=StepKind.SET_IMMUTABLE_ID, executor=Executor.GRAPH, target=user,
                    expect={"onPremisesImmutableId": None, "userPrincipalName": f"u{i}@contoso.com",
                            "givenName": "U", "surname": str(i)},
                    change={"onPremisesImmutableId": f"NEW{i}=="}, undo={"onPremisesImmutableId": None})
    if kind == "rename":
        return Step(id=sid, kind=StepKind.SET_USER_PRINCIPAL_NAME, executor=Executor.GRAPH, target=user,
                    expect={"userPrincipalName": f"u{i}@contoso.com"},
                    change={"userPrincipalName": f"u{i}@contoso.onmicrosoft.com"},
                    undo={"userPrincipalName": f"u{i}@contoso.com"})
    if kind == "delete":
        return Step(id=sid, kind=StepKind.DELETE_OBJECT, executor=Executor.GRAPH, target=user,
                    expect={"userPrincipalName": f"u{i}@contoso.com"}, undo={"restore": True})
    deleted = {"type": "deleted", "id": f"d-{i}"}
    if kind == "restore":
        return Step(id=sid, kind=StepKind.RESTORE_DELETED, executor=Executor.GRAPH, target=deleted,
                    expect={"deleted": True}, undo={"delete": True})
    return Step(id=sid, kind=StepKind.PURGE_DELETED, executor=Executor.GRAPH, target=deleted,
                expect={"deleted": True, "mail": f"old{i}@contoso.com"}, why="IRREVERSIBLE")


def target_of(s: Step) -> str:
    return str((s.target or {})["id"])


def make_plan(tmp: Path, n: int) -> tuple[Path, Path, Plan]:
    """plan.json and the database that made it (fingerprint recorded, as `reconciler plan` does)."""
    plan = Plan(tenant=TENANT, created=utcnow(), scan_run=None, steps=tuple(step(i) for i in range(n)))
    path, db = tmp / "plan.json", tmp / "r.db"
    write_plan(path, plan)
    with Store(db) as store:
        Journal(store).record_plan(plan.fingerprint, TENANT, None, n)
    return path, db, plan


def snapshot(em: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """object id -> (collection, raw object) across users and the recycle bin."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in ("users", "deletedUsers"):
        for obj in em.state.collections[name]:
            out[obj["id"]] = (name, copy.deepcopy(obj))
    return out


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def apply_cmd(plan: Path, db: Path, url: str) -> list[str]:
    return cli("apply", str(plan), "--graph-url", url, "--auth", "none", "--doit", "--force", "--db", str(db),
               "--quiet", "--format", "json")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "RECONCILER_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class RoundResult:
    seed: int
    kills: int = 0
    runs: int = 0
    wall: float = 0.0
    resumed: int = 0  # steps whose intent was journaled by a killed run and closed by a later one
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _is_write(e: dict[str, Any]) -> bool:
    """A write request (apply's re-reads are GETs inside a POST /$batch: not writes)."""
    return e["method"] in WRITES and e.get("endpoint") != "$batch"


def _writes(em: Any) -> int:
    return sum(1 for e in list(em.log) if _is_write(e))


def run_killed(cmd: list[str], em: Any, rng: random.Random, n: int, max_kills: int,
               timeout: float = 600.0) -> tuple[int, int, list[str]]:
    """Run ``cmd`` again and again, SIGKILLing it at a random write count, until it exits by itself."""
    kills = runs = 0
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs += 1
        kill_at = _writes(em) + rng.randint(0, max(1, n - _writes(em))) if kills < max_kills else None
        delay = rng.random() * 0.004
        with tempfile.TemporaryFile() as err:  # a file, not a pipe: nobody reads while it runs
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=_env())
            while proc.poll() is None:
                if kill_at is not None and _writes(em) >= kill_at:
                    time.sleep(delay)
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.0005)
            proc.wait()
            err.seek(0)
            message = err.read().decode(errors="replace")[-400:]
        if proc.returncode == -signal.SIGKILL:
            continue
        if proc.returncode != 0:
            errors.append(f"apply exited {proc.returncode}: {message}")
        return kills, runs, errors
    return kills, runs, errors + ["timed out"]


def check_exactly_once(em: Any, plan: Plan) -> list[str]:
    per_target = Counter(e["path"].rsplit("/v1.0/", 1)[-1] for e in em.log if _is_write(e))
    by_obj: Counter[str] = Counter()
    for path, count in per_target.items():
        parts = path.split("/")
        oid = parts[2] if parts[0] == "directory" else parts[1]
        by_obj[oid] += count
    problems = [f"{target_of(s)} ({s.id}): {by_obj.get(target_of(s), 0)} write requests"
                for s in plan.steps if by_obj.get(target_of(s), 0) != 1]
    bad = [e for e in em.log if _is_write(e) and not 200 <= e["status"] < 300]
    problems += [f"write answered {e['status']}: {e['method']} {e['path']}" for e in bad[:5]]
    return problems


def check_journal(db: Path, plan: Plan) -> tuple[list[str], int]:
    """Per step: one 'do' intent, then one 'done' outcome, nothing left pending. Also: how many crossed runs."""
    problems: list[str] = []
    con = sqlite3.connect(str(db))
    try:
        rows = con.execute("SELECT step_id, phase, status, run_id FROM journal WHERE fingerprint = ? "
                           "AND action = 'do' ORDER BY seq", (plan.fingerprint,)).fetchall()
    finally:
        con.close()
    events: dict[str, list[tuple[str, str]]] = {}
    runs: dict[str, set[str]] = {}
    for sid, phase, status, run in rows:
        events.setdefault(sid, []).append((phase, status))
        runs.setdefault(sid, set()).add(run)
    for s in plan.steps:
        ev = events.get(s.id, [])
        if ev != [("intent", "pending"), ("outcome", "done")]:
            problems.append(f"{s.id}: journal events {ev}")
    crossed = sum(1 for r in runs.values() if len(r) > 1)
    return problems[:10] + ([f"... {len(problems) - 10} more"] if len(problems) > 10 else []), crossed


def check_undo(em: Any, before: dict[str, tuple[str, dict[str, Any]]], plan: Plan, db: Path, url: str) -> list[str]:
    proc = subprocess.run(cli("undo", "--graph-url", url, "--auth", "none", "--doit", "--db", str(db), "--quiet"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), timeout=600)
    if proc.returncode != 0:
        return [f"undo exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-400:]}"]
    after = snapshot(em)
    problems = []
    for s in plan.steps:
        oid = target_of(s)
        if s.kind is StepKind.PURGE_DELETED:
            if oid in after:
                problems.append(f"{oid}: purged object is back")
            continue
        was, now = before.get(oid), after.get(oid)
        if now is None or was is None or was[0] != now[0] or _strip(was[1]) != _strip(now[1]):
            problems.append(f"{oid} ({s.id}): before {was}, after undo {now}")
    return problems[:10] + ([f"... {len(problems) - 10} more"] if len(problems) > 10 else [])


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    """Graph stamps a fresh deletedDateTime when an object is deleted again: the only field undo cannot restore."""
    return {k: v for k, v in obj.items() if k != "deletedDateTime"}


def one_round(tmp: Path, n: int, seed: int, *, max_kills: int = 4, undo: bool = True,
              config: EmulatorConfig | None = None) -> RoundResult:
    tmp.mkdir(parents=True, exist_ok=True)
    path, db, plan = make_plan(tmp, n)
    app = create_app(tenant_doc(n), config or EmulatorConfig())
    em = app.state.emulator
    before = snapshot(em)
    result = RoundResult(seed)
    with serve_in_thread(app) as url:
        t0 = time.perf_counter()
        result.kills, result.runs, errors = run_killed(apply_cmd(path, db, url), em, random.Random(seed), n,
                                                       max_kills)
        result.wall = time.perf_counter() - t0
        journal_problems, result.resumed = check_journal(db, plan)
        result.problems += errors + check_exactly_once(em, plan) + journal_problems
        if undo and not result.problems:
            result.problems += check_undo(em, before, plan, db, url)
    return result
