"""Three nightly scans of a tenant whose errors change, through the real CLI and database."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.history.store import Store
from reconciler.sources.base import Progress
from reconciler.sources.files import TenantFileSource
from reconciler.workflow import scan
from tests.history.helpers import VALUES, backdate, write_tenant

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def scan_file(db: Path, tenant: Path) -> str:
    r = cli("scan", "--tenant", str(tenant), "--db", str(db), "-q", "--format", "json")
    assert r.exit_code == 0, r.output
    with sqlite3.connect(db) as c:
        return c.execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()[0]


def report_json(db: Path, *extra: str) -> dict:
    r = cli("report", "--db", str(db), "--format", "json", "-q", *extra)
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


def by_value(tenant: dict) -> dict[str, dict]:
    inv = {v.casefold(): k for k, v in VALUES.items()}
    return {inv[f["value"].casefold()]: f for f in tenant["findings"]}


@pytest.fixture
def nightly(tmp_path: Path) -> Path:
    """Run 1 two days ago, run 2 yesterday, run 3 now; errors change between runs."""
    db = tmp_path / "r.db"
    plan = [(2, ["lena", "sales", "priya", "tomasz", "grace"]),
            (1, ["lena", "sales", "priya", "diego"]),
            (0, ["lena", "sales", "tomasz", "hannah"])]
    for i, (days_ago, keep) in enumerate(plan):
        rid = scan_file(db, write_tenant(tmp_path / f"night{i}.json", keep))
        if days_ago:
            backdate(db, rid, days_ago)
    return db


def test_new_resolved_reopened_and_stuck_are_counted(nightly: Path):
    doc = report_json(nightly)
    assert doc["schema"] == "reconciler.report/1"
    (t,) = doc["tenants"]
    assert t["name"] == "Contoso" and t["last_run_complete"] is True
    assert {k: t["counts"][k] for k in ("open", "new", "reopened", "resolved", "stuck")} == \
        {"open": 4, "new": 1, "reopened": 1, "resolved": 2, "stuck": 2}
    f = by_value(t)
    assert {k: v["state"] for k, v in f.items()} == {
        "lena": "open", "sales": "open", "tomasz": "reopened", "hannah": "new",
        "priya": "resolved", "diego": "resolved"}
    assert f["lena"]["stuck"] and f["sales"]["stuck"]  # open since two days
    assert not f["tomasz"]["stuck"]  # reopened just now
    assert f["lena"]["first_seen"] < f["hannah"]["first_seen"]
    assert f["priya"]["resolved_at"] == f["lena"]["last_seen"]
    assert [p["open"] for p in t["trend"]] == [5, 4, 4]
    assert t["counts"]["by_property"] == {"ProxyAddress": 1, "UserPrincipalName": 3}
    assert sum(t["counts"]["by_scenario"].values()) == 4


def test_stuck_after_is_adjustable(nightly: Path):
    t = report_json(nightly, "--stuck-after", "72h")["tenants"][0]
    assert t["counts"]["stuck"] == 0
    t = report_json(nightly, "--stuck-after", "20h")["tenants"][0]
    assert t["counts"]["stuck"] == 2


def test_last_and_since_windows(nightly: Path):
    t = report_json(nightly, "--last", "2")["tenants"][0]
    states = {k: v["state"] for k, v in by_value(t).items()}
    assert states["grace"] == "resolved" and states["diego"] == "resolved" and states["hannah"] == "new"
    assert len(t["trend"]) == 2
    t = report_json(nightly, "--since", "60h")["tenants"][0]
    assert t["counts"]["new"] == 4 and t["counts"]["resolved"] == 3  # no baseline: all first seen in window


class PartialSource:
    """A cloud source whose read was cut off (as after throttling): complete=False."""

    def __init__(self, path: Path) -> None:
        self.inner = TenantFileSource(path)
        self.label = self.inner.label

    async def read(self, progress: Progress):
        snap = await self.inner.read(progress)
        return dataclasses.replace(snap, complete=False)


def test_a_partial_run_resolves_nothing(nightly: Path, tmp_path: Path):
    before = report_json(nightly)
    with Store(nightly) as store:
        out = asyncio.run(scan(PartialSource(write_tenant(tmp_path / "cut.json", ["lena"])), [], store))
    assert out.result.complete is False
    after = report_json(nightly)
    t = after["tenants"][0]
    assert t["last_run"] == out.run_id and t["last_run_complete"] is False
    assert t["counts"] == before["tenants"][0]["counts"]  # sales, tomasz, hannah are still open
    assert [f["state"] for f in t["findings"]] == [f["state"] for f in before["tenants"][0]["findings"]]
    r = cli("report", "--db", str(nightly), "-q")
    assert "(incomplete)" in r.stdout


def test_check_and_new_only_exit_codes(nightly: Path, tmp_path: Path):
    assert cli("report", "--db", str(nightly), "--check", "-q").exit_code == 1
    assert cli("report", "--db", str(nightly), "--check", "--new-only", "-q").exit_code == 1
    same = write_tenant(tmp_path / "same.json", ["lena", "sales", "tomasz", "hannah"])
    scan_file(nightly, same)  # nothing new since the previous run
    assert cli("report", "--db", str(nightly), "--check", "--new-only", "-q").exit_code == 0
    assert cli("report", "--db", str(nightly), "--check", "-q").exit_code == 1
    scan_file(nightly, write_tenant(tmp_path / "clean.json", []))
    assert cli("report", "--db", str(nightly), "--check", "-q").exit_code == 0


def test_keep_days_prunes_old_runs_but_keeps_the_latest(nightly: Path):
    r = cli("report", "--db", str(nightly), "--keep-days", "1.5", "--format", "json")
    assert r.exit_code == 0
    assert "deleted 1 run" in r.stderr
    with sqlite3.connect(nightly) as c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
        orphans = c.execute("SELECT COUNT(*) FROM findings WHERE run_id NOT IN (SELECT id FROM runs)").fetchone()
        assert orphans[0] == 0
    r = cli("report", "--db", str(nightly), "--keep-days", "0.0001", "-q", "--format", "json")
    t = json.loads(r.stdout)["tenants"][0]
    assert t["counts"]["open"] == 4 and len(t["trend"]) == 1  # the latest complete run survives


def test_tenant_name_filter_and_multiple_tenants(nightly: Path, tmp_path: Path):
    other = write_tenant(tmp_path / "fab.json", ["diego"], org_id="11111111-2222-3333-4444-555555555555",
                         name="Fabrikam")
    scan_file(nightly, other)
    doc = report_json(nightly)
    assert [t["name"] for t in doc["tenants"]] == ["Contoso", "Fabrikam"]
    doc = report_json(nightly, "--tenant-name", "fabrikam")
    assert [t["name"] for t in doc["tenants"]] == ["Fabrikam"]
    assert doc["tenants"][0]["counts"]["new"] == 1
    doc = report_json(nightly, "--tenant-name", "Fabrikam", "--tenant-name", "contoso")
    assert len(doc["tenants"]) == 2


@pytest.mark.parametrize("args,msg", [
    (["--since", "yesterday"], "--since"), (["--last", "0"], "--last"),
    (["--since", "1d", "--last", "2"], "not both"), (["--stuck-after", "soon"], "--stuck-after"),
    (["--format", "pdf"], "--format"), (["--new-only"], "--check"), (["--keep-days", "0"], "--keep-days"),
])
def test_bad_options_exit_2_with_one_line(nightly: Path, args, msg):
    r = cli("report", "--db", str(nightly), *args)
    assert r.exit_code == 2
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_empty_database_is_a_clear_error(tmp_path: Path):
    r = cli("report", "--db", str(tmp_path / "empty.db"))
    assert r.exit_code == 2 and "no scan in the database" in r.stderr
