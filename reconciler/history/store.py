"""SQLite store: numbered migrations, runs and their findings.

History is never dropped on a re-scan: every scan is a run with its findings.
WAL mode and a busy timeout let several processes share one database.
Later features add migrations at the end of ``MIGRATIONS`` (never edit one that shipped).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import orjson

from ..core.errors import BadInput, UsageError

__all__ = ["Store", "RunInfo", "default_db_path", "MIGRATIONS", "utcnow"]


def utcnow() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "runs and findings", """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            tenant_name TEXT,
            command TEXT NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            complete INTEGER NOT NULL DEFAULT 0,
            sources TEXT NOT NULL DEFAULT '[]',
            stats TEXT NOT NULL DEFAULT '{}',
            warnings TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX runs_tenant ON runs(tenant_id, started);
        CREATE TABLE findings (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            scenario TEXT NOT NULL,
            property TEXT NOT NULL,
            value TEXT NOT NULL,
            object_id TEXT NOT NULL,
            object_name TEXT,
            data TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (run_id, id)
        );
        CREATE INDEX findings_id ON findings(id);
        CREATE INDEX findings_object ON findings(object_id);
    """),
    (2, "plans, apply journal, tenant context", """
        CREATE TABLE plans (
            fingerprint TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            scan_run TEXT,
            created TEXT NOT NULL,
            steps INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE journal_runs (
            id TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            action TEXT NOT NULL,
            dry_run INTEGER NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            summary TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE journal (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES journal_runs(id),
            fingerprint TEXT NOT NULL,
            step_id TEXT NOT NULL,
            action TEXT NOT NULL,
            phase TEXT NOT NULL,
            status TEXT NOT NULL,
            executor TEXT NOT NULL,
            step TEXT NOT NULL DEFAULT 'null',
            before TEXT NOT NULL DEFAULT 'null',
            after TEXT NOT NULL DEFAULT 'null',
            detail TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL
        );
        CREATE INDEX journal_step ON journal(fingerprint, step_id, seq);
        CREATE INDEX journal_run ON journal(run_id, seq);
        CREATE TABLE run_context (
            run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            data TEXT NOT NULL
        );
    """),
]


def default_db_path() -> Path:
    env = os.environ.get("RECONCILER_DB")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "reconciler" / "reconciler.db"


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    tenant_id: str
    tenant_name: str | None
    command: str
    started: str
    finished: str | None
    complete: bool
    stats: dict[str, Any]


class Store:
    """One SQLite database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        if str(self.path) != ":memory:":
            # Only the default state folder is created; a --db or $RECONCILER_DB path names a file in a
            # folder that must exist (a typo must not create folders, e.g. at the filesystem root).
            if path is None and not os.environ.get("RECONCILER_DB"):
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise UsageError(f"{self.path}: cannot create the database folder: {e.strerror}") from None
            elif not self.path.parent.is_dir():
                raise BadInput(self.path, f"the folder {self.path.parent} does not exist (create it first, "
                                          "or leave out --db to use the default state folder)")
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.row_factory = sqlite3.Row
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise BadInput(self.path, f"not a usable reconciler database ({e})") from None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE so concurrent writers queue, not fail)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def _migrate(self) -> None:
        self.conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                          "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)")
        done = {r[0] for r in self.conn.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            with self.atomic() as c:
                if c.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                    continue  # another process migrated meanwhile
                for stmt in sql.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, utcnow()))

    @property
    def schema_version(self) -> int:
        row = self.conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    # ------------------------------------------------------------------ runs

    def start_run(self, tenant_id: str, tenant_name: str | None, command: str,
                  sources: Sequence[str] = ()) -> str:
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
        with self.atomic() as c:
            c.execute("INSERT INTO runs (id, tenant_id, tenant_name, command, started, sources) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (run_id, tenant_id, tenant_name, command, utcnow(), orjson.dumps(list(sources)).decode()))
        return run_id

    def save_findings(self, run_id: str, rows: Sequence[tuple[dict[str, Any], dict[str, Any]]],
                      *, complete: bool, stats: dict[str, Any] | None = None,
                      warnings: Sequence[str] = ()) -> None:
        """Store ``(finding data, detail)`` pairs and close the run, in one transaction."""
        with self.atomic() as c:
            c.executemany(
                "INSERT OR REPLACE INTO findings (run_id, id, scenario, property, value, object_id, "
                "object_name, data, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, d["id"], d["scenario"], d["conflict"]["property"], d["conflict"]["value"],
                  _object_key(d), (d["object"] or {}).get("display_name"),
                  orjson.dumps(d).decode(), orjson.dumps(detail).decode()) for d, detail in rows])
            c.execute("UPDATE runs SET finished = ?, complete = ?, stats = ?, warnings = ? WHERE id = ?",
                      (utcnow(), int(complete), orjson.dumps(stats or {}).decode(),
                       orjson.dumps(list(warnings)).decode(), run_id))

    def _run(self, row: sqlite3.Row) -> RunInfo:
        return RunInfo(id=row["id"], tenant_id=row["tenant_id"], tenant_name=row["tenant_name"],
                       command=row["command"], started=row["started"], finished=row["finished"],
                       complete=bool(row["complete"]), stats=orjson.loads(row["stats"]))

    def latest_run(self, *, tenant: str | None = None, command: str = "scan") -> RunInfo | None:
        sql = "SELECT * FROM runs WHERE command = ? AND finished IS NOT NULL"
        args: list[Any] = [command]
        if tenant:
            sql += " AND (tenant_id = ? OR tenant_name = ? COLLATE NOCASE)"
            args += [tenant, tenant]
        row = self.conn.execute(sql + " ORDER BY started DESC, rowid DESC LIMIT 1", args).fetchone()
        return self._run(row) if row else None

    def get_run(self, run_id: str) -> RunInfo | None:
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._run(row) if row else None

    def runs(self, tenant: str | None = None) -> list[RunInfo]:
        sql, args = "SELECT * FROM runs", []
        if tenant:
            sql += " WHERE tenant_id = ? OR tenant_name = ? COLLATE NOCASE"
            args = [tenant, tenant]
        return [self._run(r) for r in self.conn.execute(sql + " ORDER BY started, rowid", args)]

    def findings(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT data FROM findings WHERE run_id = ? ORDER BY object_id, property, value",
                                 (run_id,))
        return [orjson.loads(r[0]) for r in rows]

    def finding_detail(self, run_id: str, finding_id: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT detail FROM findings WHERE run_id = ? AND id = ?",
                                (run_id, finding_id)).fetchone()
        return orjson.loads(row[0]) if row else {}

    # ------------------------------------------------------------------ plan context (issue 7)

    def save_run_context(self, run_id: str, context: dict[str, Any]) -> None:
        """Tenant context the planner's guards need (roles, flags, domains, object extras).

        ``context`` is ``reconciler.fixes.planner.context_from_snapshot(snapshot).data()``.
        """
        with self.atomic() as c:
            c.execute("INSERT OR REPLACE INTO run_context (run_id, data) VALUES (?, ?)",
                      (run_id, orjson.dumps(context).decode()))

    def run_context(self, run_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT data FROM run_context WHERE run_id = ?", (run_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    # ------------------------------------------------------------------ history and retention (issue 8)

    def history_runs(self, tenants: Sequence[str] = ()) -> list[RunInfo]:
        """Every scan run (complete or not) of the tenants named by id or name (all when empty)."""
        sql, args = "SELECT * FROM runs WHERE command = 'scan'", []
        if tenants:
            folded = [t.casefold() for t in tenants]
            marks = ", ".join("?" * len(folded))
            sql += (f" AND tenant_id IN (SELECT tenant_id FROM runs WHERE lower(tenant_id) IN ({marks})"
                    f" OR lower(tenant_name) IN ({marks}))")
            args = folded + folded
        return [self._run(r) for r in self.conn.execute(sql + " ORDER BY started, rowid", args)]

    def history_sightings(self, run_ids: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
        """run id -> [(finding id, scenario, property, value, object id, object name)] (light columns)."""
        out: dict[str, list[tuple[Any, ...]]] = {r: [] for r in run_ids}
        ids = list(run_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = self.conn.execute(
                "SELECT run_id, id, scenario, property, value, object_id, object_name FROM findings "
                f"WHERE run_id IN ({', '.join('?' * len(chunk))})", chunk)
            for r in rows:
                out[r[0]].append(tuple(r[1:]))
        return out

    def finding_data_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """(run id, finding id) -> the stored finding JSON, for the pairs that exist."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for run_id, fid in keys:
            row = self.conn.execute("SELECT data FROM findings WHERE run_id = ? AND id = ?",
                                    (run_id, fid)).fetchone()
            if row:
                out[(run_id, fid)] = orjson.loads(row[0])
        return out

    def prune_runs(self, keep_days: float, *, now: datetime | None = None) -> int:
        """Delete scan runs (and their findings) started more than ``keep_days`` ago.

        Each tenant's latest complete run and any run a recorded plan was made from are
        kept, so the report and ``apply`` keep working. Returns how many runs were deleted.
        """
        now = now or datetime.now(timezone.utc)
        cutoff = datetime.fromtimestamp(now.timestamp() - keep_days * 86400, timezone.utc)
        cutoff_text = cutoff.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        with self.atomic() as c:
            cur = c.execute(
                "DELETE FROM runs WHERE command = 'scan' AND started < ? "
                "AND id NOT IN (SELECT scan_run FROM plans WHERE scan_run IS NOT NULL) "
                "AND id NOT IN (SELECT r1.id FROM runs r1 WHERE r1.complete = 1 AND r1.command = 'scan' "
                "AND NOT EXISTS (SELECT 1 FROM runs r2 WHERE r2.tenant_id = r1.tenant_id AND r2.complete = 1 "
                "AND r2.command = 'scan' AND (r2.started > r1.started "
                "OR (r2.started = r1.started AND r2.rowid > r1.rowid))))", (cutoff_text,))
            return cur.rowcount


def _object_key(d: dict[str, Any]) -> str:
    """The error object's id, or ``onprem:<immutable id>`` when the cloud has none yet (a failed Cloud Sync create)."""
    if d.get("object"):
        return str(d["object"]["id"])
    return "onprem:" + str((d.get("source") or {}).get("immutable_id") or "")
