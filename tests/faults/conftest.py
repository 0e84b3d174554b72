"""Fault-suite fixtures: tenants, a fault-free baseline per tenant, and the CLI scan helper.

Every scan goes through ``reconciler scan --graph-url URL`` (typer's CliRunner) against the
emulator served over real HTTP on loopback (``serve_in_thread``), so resets, truncated bodies
and stalls cross a real socket.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import app as cli_app
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "sample" / "sample-tenant.json"
SAMPLE_LDIF = ROOT / "fixtures" / "sample" / "sample-onprem.ldif"
TOKEN = "fault-suite-token-value"
#: every test scans with Retry-After and stalls shrunk by this factor
TIME_SCALE = 0.002


@dataclass
class Tenant:
    """A tenant file plus how the suite scans it (strategy, on-prem file, emulator page cap)."""

    name: str
    path: Path
    onprem: Path
    strategy: str
    page_cap: int | None
    baseline: list[dict[str, Any]]
    baseline_db: Path

    def args(self) -> list[str]:
        return ["--strategy", self.strategy, "--onprem", str(self.onprem)]

    def config(self, **faults: Any) -> EmulatorConfig:
        return EmulatorConfig(page_cap=self.page_cap, time_scale=TIME_SCALE, **faults)


@dataclass
class Scan:
    code: int
    findings: list[dict[str, Any]]
    stderr: str
    stats: dict[str, Any]
    log: list[dict[str, Any]]

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def _findings(stdout: str) -> list[dict[str, Any]]:
    if not stdout.strip().startswith("{"):
        return []
    doc = json.loads(stdout)
    out = []
    for f in doc.get("findings", []):
        f.pop("generated", None)
        out.append(f)
    return out


def run_scan(tenant: Tenant, config: EmulatorConfig, db: Path, auth: str = "none") -> Scan:
    """``reconciler scan --graph-url URL --auth AUTH`` against the emulator serving ``tenant``."""
    app = create_app(tenant.path, config)
    with serve_in_thread(app) as url:
        r = CliRunner().invoke(cli_app, ["scan", "--graph-url", url, "--auth", auth, *tenant.args(),
                                         "--format", "json", "--db", str(db)])
    em = app.state.emulator
    return Scan(r.exit_code, _findings(r.stdout), r.stderr, dict(em.stats), list(em.log))


def report(db: Path) -> dict[str, Any]:
    r = CliRunner().invoke(cli_app, ["report", "--db", str(db), "--format", "json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _make(tmp: Path, name: str, path: Path, onprem: Path, strategy: str, page_cap: int | None) -> Tenant:
    db = tmp / f"{name}-baseline.db"
    t = Tenant(name, path, onprem, strategy, page_cap, [], db)
    clean = run_scan(t, t.config(), db)
    assert clean.code == 0 and clean.findings, clean.stderr
    t.baseline = clean.findings
    return t


@pytest.fixture(scope="session")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tenant]:
    """``sample`` (auto strategy: mostly $batch) and ``generated`` (full strategy, 20-object pages)."""
    from reconciler.emulator.generate import GenerateOptions, generate

    tmp = tmp_path_factory.mktemp("fault-tenants")
    gen, ldif = tmp / "generated.json", tmp / "generated.ldif"
    generate(GenerateOptions(users=300, errors_per_1000=40, seed=3), gen, ldif)
    return {"sample": _make(tmp, "sample", SAMPLE, SAMPLE_LDIF, "auto", None),
            "generated": _make(tmp, "generated", gen, ldif, "full", 20)}


@pytest.fixture(params=["sample", "generated"])
def tenant(request: pytest.FixtureRequest, tenants: dict[str, Tenant]) -> Tenant:
    return tenants[request.param]


@pytest.fixture
def fast_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short client timeout and backoff, through the documented environment knobs."""
    monkeypatch.setenv("RECONCILER_GRAPH_TIMEOUT", "0.25")
    monkeypatch.setenv("RECONCILER_GRAPH_BACKOFF_CAP", "0.02")


def assert_identical(tenant: Tenant, scan: Scan, *, faulted: bool = True) -> None:
    """Completed, with exactly the fault-free findings (ids, scenarios, holders, everything)."""
    assert scan.code == 0, scan.stderr
    if faulted:
        assert scan.stats["faults"] > 0, "the emulator injected no fault: the test proves nothing"
    assert [f["id"] for f in scan.findings] == [f["id"] for f in tenant.baseline]
    assert [(f["scenario"], f["holders"]) for f in scan.findings] == \
        [(f["scenario"], f["holders"]) for f in tenant.baseline]
    assert scan.findings == tenant.baseline


def succeeded(scan: Scan) -> int:
    m = re.search(r"after (\d+) successful Graph requests?", scan.stderr)
    assert m, scan.stderr
    return int(m.group(1))


def failed_after_good_run(tenant: Tenant, config: EmulatorConfig, tmp_path: Path, auth: str = "none") -> Scan:
    """A good run is in the database; a faulted scan must exit 5 with one line and change nothing."""
    db = tmp_path / "runs.db"
    shutil.copy(tenant.baseline_db, db)
    before = report(db)["tenants"][0]
    scan = run_scan(tenant, config, db, auth)
    assert scan.code == 5, scan.stderr
    assert scan.findings == [], "a failed scan printed findings"
    assert len(scan.error_lines) == 1, scan.stderr
    line = scan.error_lines[0]
    assert line.startswith("reconciler: error: ") and "nothing was stored" in line
    assert "Traceback" not in scan.stderr and TOKEN not in scan.stderr
    m = re.search(r"after (\d+) successful Graph requests?", line)
    assert m, line
    served = sum(1 for e in scan.log if 200 <= e["status"] < 300 and "fault" not in e)
    # what the client counted never exceeds what the server answered (requests cut off by the failure may be missing)
    assert int(m.group(1)) <= served, (line, served)
    after = report(db)["tenants"][0]
    assert after["last_run"] == before["last_run"]
    assert after["counts"]["open"] == len(tenant.baseline) and after["counts"]["resolved"] == 0
    assert {f["id"] for f in after["findings"] if f["state"] != "resolved"} == {f["id"] for f in tenant.baseline}
    return scan
