"""SQLite write-ahead journal of every directory write: intent before, outcome after.

Tables come from migration 2 in :mod:`reconciler.history.store` (``plans``,
``journal_runs``, ``journal``). Rows are append-only: the state of a step is
derived from its newest event, so history survives resumes and undos.

Events per step (``action``/``phase``/``status``):

* ``do``/``intent``/``pending`` -- committed *before* the write, with the
  target's before-values;
* ``do``/``outcome``/``done|failed|drift`` -- committed after;
* ``emit``/``outcome``/``emitted`` -- ``apply --doit`` wrote an ``ldap`` step to the LDIF file for the admin
  (only such a step may later be confirmed); it does not change the step's state;
* ``confirm``/``outcome``/``done`` -- the admin ran an external step;
* ``undo``/``intent``/``pending`` then ``undo``/``outcome``/``done|failed|drift``.

A step whose newest event is a ``do`` intent was interrupted (process killed
between intent and outcome): :mod:`reconciler.fixes.apply` re-reads its target.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ..history.store import Store, utcnow
from .steps import Step

__all__ = ["Journal", "JournalEntry", "StepState"]


@dataclass(frozen=True)
class StepState:
    """Newest known state of one step of one plan."""

    status: str  # pending (interrupted) | done | failed | drift | undone | none
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    run_id: str
    fingerprint: str
    step: Step
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    undone: bool = False  # an undo of this step finished after it
    action: str = "do"  # do (executed by the tool) | confirm (run by the admin, recorded with --confirm)
    pending: bool = False  # an intent with no outcome: the write may or may not have happened (undo re-reads)


def _dumps(v: Any) -> str:
    return orjson.dumps(v).decode()


class Journal:
    """The write-ahead log over a :class:`Store` connection."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---------------------------------------------------------------- plans

    def record_plan(self, fingerprint: str, tenant: str, scan_run: str | None, steps: int) -> None:
        with self.store.atomic() as c:
            c.execute("INSERT OR IGNORE INTO plans (fingerprint, tenant_id, scan_run, created, steps) "
                      "VALUES (?, ?, ?, ?, ?)", (fingerprint, tenant, scan_run, utcnow(), steps))

    def plan_created(self, fingerprint: str) -> str | None:
        """When this database recorded the plan (``reconciler plan``), or None when it never did."""
        row = self.store.conn.execute("SELECT created FROM plans WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return str(row[0]) if row else None

    def knows_plan(self, fingerprint: str) -> bool:
        row = self.store.conn.execute("SELECT 1 FROM plans WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return row is not None

    # ---------------------------------------------------------------- runs

    def start_run(self, fingerprint: str, tenant: str, action: str, *, dry_run: bool) -> str:
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + action + "-" + uuid.uuid4().hex[:6]
        with self.store.atomic() as c:
            c.execute("INSERT INTO journal_runs (id, fingerprint, tenant_id, action, dry_run, started) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (run_id, fingerprint, tenant, action, int(dry_run), utcnow()))
        return run_id

    def finish_run(self, run_id: str, summary: Mapping[str, Any]) -> None:
        with self.store.atomic() as c:
            c.execute("UPDATE journal_runs SET finished = ?, summary = ? WHERE id = ?",
                      (utcnow(), _dumps(dict(summary)), run_id))

    def latest_apply_run(self, fingerprint: str | None = None) -> str | None:
        sql = ("SELECT r.id FROM journal_runs r WHERE r.action = 'apply' AND EXISTS (SELECT 1 FROM journal j "
               "WHERE j.run_id = r.id AND j.action IN ('do', 'confirm') AND (j.status = 'done' OR j.phase = 'intent'))")
        args: list[Any] = []
        if fingerprint:
            sql += " AND r.fingerprint = ?"
            args.append(fingerprint)
        row = self.store.conn.execute(sql + " ORDER BY r.started DESC, r.rowid DESC LIMIT 1", args).fetchone()
        return row[0] if row else None

    def run_info(self, run_id: str) -> Mapping[str, Any] | None:
        row = self.store.conn.execute("SELECT * FROM journal_runs WHERE id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    # ---------------------------------------------------------------- events

    def _event(self, run_id: str, fingerprint: str, step: Step, action: str, phase: str, status: str,
               before: Any = None, after: Any = None, detail: str = "") -> None:
        with self.store.atomic() as c:
            c.execute("INSERT INTO journal (run_id, fingerprint, step_id, action, phase, status, executor, step, "
                      "before, after, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (run_id, fingerprint, step.id, action, phase, status, step.executor.value, _dumps(step.data),
                       _dumps(before), _dumps(after), detail, utcnow()))

    def intent(self, run_id: str, fingerprint: str, step: Step, before: Any, *, action: str = "do") -> None:
        self._event(run_id, fingerprint, step, action, "intent", "pending", before=before)

    def outcome(self, run_id: str, fingerprint: str, step: Step, status: str, *, before: Any = None,
                after: Any = None, detail: str = "", action: str = "do") -> None:
        self._event(run_id, fingerprint, step, action, "outcome", status, before=before, after=after, detail=detail)

    def confirm(self, run_id: str, fingerprint: str, steps: Iterable[Step], *, before: Any = None, after: Any = None,
                detail: str = "confirmed by the admin", action: str = "confirm") -> None:
        """Record external steps the admin ran (``before``: what they replaced, when read back; None: not undoable)."""
        for s in steps:
            self._event(run_id, fingerprint, s, action, "outcome", "done", before=before, after=after, detail=detail)

    def emitted(self, run_id: str, fingerprint: str, step: Step) -> None:
        """``apply --doit`` handed this ldap step to the admin in the LDIF file (what ``--confirm`` may record)."""
        self._event(run_id, fingerprint, step, "emit", "outcome", "emitted", detail="written to the LDIF file")

    def emitted_steps(self, fingerprint: str) -> set[str]:
        """Ids of the steps of a plan that an earlier ``apply --doit`` wrote to an LDIF file."""
        rows = self.store.conn.execute("SELECT DISTINCT step_id FROM journal WHERE fingerprint = ? AND action = 'emit'",
                                       (fingerprint,))
        return {r[0] for r in rows}

    # ---------------------------------------------------------------- one apply at a time per plan

    _LOCKS = ("CREATE TABLE IF NOT EXISTS apply_locks (fingerprint TEXT PRIMARY KEY, run_id TEXT NOT NULL, "
              "pid INTEGER NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL)")
    #: A lock held from another machine is taken over after this long (its process cannot be checked).
    FOREIGN_LOCK_HOURS = 12

    def acquire_lock(self, fingerprint: str, run_id: str) -> Mapping[str, Any] | None:
        """Take the plan's apply lock; returns the live holder's row instead when another apply runs it.

        A lock whose process is gone (killed: same host, pid not running) is stale and taken over, so a
        resume after a crash is never blocked by the crashed run.
        """
        host, pid = socket.gethostname(), os.getpid()
        with self.store.atomic() as c:
            c.execute(self._LOCKS)
            row = c.execute("SELECT * FROM apply_locks WHERE fingerprint = ?", (fingerprint,)).fetchone()
            if row is not None and not self._stale(dict(row), host):
                return dict(row)
            c.execute("INSERT OR REPLACE INTO apply_locks (fingerprint, run_id, pid, host, since) VALUES (?, ?, ?, ?, ?)",
                      (fingerprint, run_id, pid, host, utcnow()))
        return None

    def release_lock(self, fingerprint: str, run_id: str) -> None:
        with self.store.atomic() as c:
            c.execute(self._LOCKS)
            c.execute("DELETE FROM apply_locks WHERE fingerprint = ? AND run_id = ?", (fingerprint, run_id))

    def _stale(self, row: Mapping[str, Any], host: str) -> bool:
        if row["host"] != host:
            try:
                since = datetime.fromisoformat(str(row["since"]).replace("Z", "+00:00"))
            except ValueError:
                return True
            return (datetime.now(UTC) - since).total_seconds() > self.FOREIGN_LOCK_HOURS * 3600
        try:
            os.kill(int(row["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, OSError, ValueError):
            return False
        return False

    def states(self, fingerprint: str) -> dict[str, StepState]:
        """Newest state per step id of this plan."""
        out: dict[str, StepState] = {}
        rows = self.store.conn.execute(
            "SELECT step_id, action, phase, status, before, after FROM journal WHERE fingerprint = ? ORDER BY seq",
            (fingerprint,))
        for sid, action, phase, status, before, after in rows:
            if action == "emit":  # handed out, not run: the state is unchanged
                continue
            if action == "undo":
                if phase == "outcome" and status == "done":
                    out[sid] = StepState("undone")
                continue
            prev = out.get(sid)
            b = orjson.loads(before)
            if phase == "intent":
                out[sid] = StepState("pending", before=b)
            else:
                keep_before = b if b is not None else (prev.before if prev else None)
                out[sid] = StepState(status, before=keep_before, after=orjson.loads(after))
        return out

    def to_undo(self, fingerprint: str, run_id: str | None = None) -> list[JournalEntry]:
        """Executed or confirmed steps of a plan, newest first, each flagged if an undo came after it.

        Without ``run_id``: every apply run of the plan (a resumed apply is several runs; only the newest
        execution of each step counts); with it, that run's steps only. A step whose newest event is an
        intent with no outcome (the process died around the write) comes back with ``pending``: undo
        re-reads it as resume does.
        """
        sql = ("SELECT j.seq, j.run_id, j.fingerprint, j.step, j.before, j.after, EXISTS (SELECT 1 FROM journal u "
               "WHERE u.fingerprint = j.fingerprint AND u.step_id = j.step_id AND u.action = 'undo' "
               "AND u.phase = 'outcome' AND u.status = 'done' AND u.seq > j.seq), j.action, j.phase FROM journal j "
               "WHERE j.fingerprint = ? AND ((j.action IN ('do', 'confirm') AND j.phase = 'outcome' "
               "AND j.status = 'done') OR (j.action = 'do' AND j.phase = 'intent'))")
        args: list[Any] = [fingerprint]
        if run_id is not None:
            sql += " AND j.run_id = ?"
            args.append(run_id)
        sql += (" AND j.seq = (SELECT MAX(k.seq) FROM journal k WHERE k.fingerprint = j.fingerprint AND "
                "k.step_id = j.step_id AND k.action IN ('do', 'confirm'))")
        rows = self.store.conn.execute(sql + " ORDER BY j.seq DESC", args)
        return [JournalEntry(seq, rid, fp, Step.from_data(orjson.loads(step)), orjson.loads(before),
                             orjson.loads(after), bool(undone), action, phase == "intent")
                for seq, rid, fp, step, before, after, undone, action, phase in rows]

    def undone(self, fingerprint: str) -> set[str]:
        rows = self.store.conn.execute("SELECT step_id FROM journal WHERE fingerprint = ? AND action = 'undo' "
                                       "AND phase = 'outcome' AND status = 'done'", (fingerprint,))
        return {r[0] for r in rows}

    def count(self, fingerprint: str, *, action: str = "do", phase: str = "outcome",
              status: str = "done") -> dict[str, int]:
        """How many events of a kind each step has (the exactly-once check of the benchmark and tests)."""
        rows = self.store.conn.execute("SELECT step_id, COUNT(*) FROM journal WHERE fingerprint = ? AND action = ? "
                                       "AND phase = ? AND status = ? GROUP BY step_id",
                                       (fingerprint, action, phase, status))
        return {r[0]: r[1] for r in rows}
