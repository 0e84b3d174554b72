"""scan --all: every tenant of the config, concurrently; one failing tenant never stops the others."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.config import TenantConfig, parse_config
from reconciler.core.errors import NetworkError
from reconciler.multiscan import _build, exit_code, scan_all
from reconciler.sources.base import Progress
from tests.history.helpers import write_tenant

runner = CliRunner()


def make_config(tmp_path: Path, extra: str = "") -> Path:
    for i, (name, keep) in enumerate([("alpha", ["lena"]), ("beta", ["diego", "priya"])]):
        write_tenant(tmp_path / f"{name}.json", keep, org_id=f"00000000-0000-0000-0000-00000000000{i}", name=name)
    cfg = tmp_path / "reconciler.toml"
    cfg.write_text('db = "r.db"\n[tenants.alpha]\ntenant_file = "alpha.json"\n'
                   '[tenants.beta]\ntenant_file = "beta.json"\n' + extra)
    return cfg


def test_scan_all_stores_every_tenant(tmp_path: Path):
    cfg = make_config(tmp_path)
    r = runner.invoke(app, ["scan", "--all", "--config", str(cfg), "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [(t["name"], t["findings"], t["new"], t["complete"]) for t in doc["tenants"]] == \
        [("alpha", 1, 1, True), ("beta", 2, 2, True)]
    assert "tenant alpha: 1 finding(s), 1 new, complete" in r.stderr
    with sqlite3.connect(tmp_path / "r.db") as c:  # the config's db
        assert c.execute("SELECT COUNT(*) FROM runs WHERE complete = 1").fetchone()[0] == 2
    r = runner.invoke(app, ["scan", "--all", "--config", str(cfg), "--check", "--new-only", "-q"])
    assert r.exit_code == 0  # nothing new the second time
    r = runner.invoke(app, ["scan", "--all", "--config", str(cfg), "--check", "-q"])
    assert r.exit_code == 1


def test_one_broken_tenant_does_not_stop_the_others(tmp_path: Path):
    cfg = make_config(tmp_path, '[tenants.gamma]\ntenant_file = "missing.json"\n')
    r = runner.invoke(app, ["scan", "--all", "--config", str(cfg), "--format", "csv", "--parallel", "3"])
    assert r.exit_code == 2  # gamma's bad input; alpha and beta were stored
    assert "tenant gamma: error:" in r.stderr and "missing.json: no such file" in r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("name,tenant,run") and len(lines) == 4
    with sqlite3.connect(tmp_path / "r.db") as c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


class Unreachable:
    label = "graph"

    async def read(self, progress: Progress):
        raise NetworkError("graph.microsoft.com: connection reset after 10 attempts")


def test_directory_errors_are_reported_per_tenant_with_exit_5(tmp_path: Path):
    cfg = parse_config(make_config(tmp_path).read_text() + '[tenants.down]\ngraph = true\n',
                       tmp_path / "reconciler.toml")

    def build(t: TenantConfig):
        return (Unreachable(), []) if t.name == "down" else _build(t)

    outcomes = scan_all(cfg, tmp_path / "r.db", build=build)
    assert [o.ok for o in outcomes] == [True, True, False]
    assert outcomes[2].error == "graph.microsoft.com: connection reset after 10 attempts; nothing was stored"
    assert exit_code(outcomes) == 5 and exit_code(outcomes, check=True) == 5
    assert exit_code(outcomes[:2], check=True) == 1 and exit_code(outcomes[:2]) == 0


def test_scan_all_refuses_mixed_sources_and_missing_config(tmp_path: Path):
    r = runner.invoke(app, ["scan", "--all", "--tenant", "x.json", "--config", str(make_config(tmp_path))])
    assert r.exit_code == 2 and "--all scans the tenants of the config" in r.stderr
    r = runner.invoke(app, ["scan", "--all"])
    assert r.exit_code == 2 and "--all needs a config file" in r.stderr


def test_scan_check_new_only_single_tenant(tmp_path: Path):
    db = tmp_path / "r.db"
    one = write_tenant(tmp_path / "one.json", ["lena"])
    two = write_tenant(tmp_path / "two.json", ["lena", "diego"])
    args = ["--db", str(db), "--check", "--new-only", "-q", "-f", "json"]
    assert runner.invoke(app, ["scan", "--tenant", str(one), *args]).exit_code == 1  # first ever: all new
    assert runner.invoke(app, ["scan", "--tenant", str(one), *args]).exit_code == 0
    assert runner.invoke(app, ["scan", "--tenant", str(two), *args]).exit_code == 1
    assert runner.invoke(app, ["scan", "--tenant", str(two), "--db", str(db), "--new-only"]).exit_code == 2


def test_per_forest_ldap_password_comes_from_its_reference(tmp_path: Path, monkeypatch):
    cfg = parse_config(make_config(tmp_path).read_text() +
                       '[[tenants.alpha.ldap]]\nurl = "ldaps://127.0.0.1:1636"\nbind_dn = "CN=svc,DC=corp"\n'
                       'password_env = "ALPHA_LDAP_PW"\n', tmp_path / "reconciler.toml")
    alpha = cfg.tenant("alpha")
    monkeypatch.setenv("ALPHA_LDAP_PW", "pw-from-ref")
    _, readers = _build(alpha)
    assert len(readers) == 1 and "1636" in readers[0].label
    monkeypatch.setenv("RECONCILER_LDAP_PASSWORD", "global-pw")
    outcomes = scan_all(cfg, tmp_path / "r.db", names=["alpha", "beta"])
    assert not outcomes[0].ok and "RECONCILER_LDAP_PASSWORD is set" in outcomes[0].error
    assert outcomes[0].error_exit == 2 and outcomes[1].ok
    assert "pw-from-ref" not in outcomes[0].error and "global-pw" not in outcomes[0].error


def test_graph_secret_references_are_read_per_tenant(tmp_path: Path, monkeypatch):
    cfg = parse_config('[tenants.a]\ngraph_url = "http://127.0.0.1:9/v1.0"\nauth = "secret"\n'
                       'tenant_id = "t"\nclient_id = "c"\nclient_secret_env = "A_SECRET"\n',
                       tmp_path / "reconciler.toml")
    t = cfg.tenant("a")
    (o,) = scan_all(cfg, tmp_path / "r.db")
    assert not o.ok and "A_SECRET is not set" in o.error  # read at use, named, never guessed from AZURE_*
    monkeypatch.setenv("A_SECRET", "s3cr3t-value")
    assert t.secret_env() == {"AZURE_CLIENT_SECRET": "s3cr3t-value"}
    (o,) = scan_all(cfg, tmp_path / "r.db")
    assert not o.ok and "s3cr3t-value" not in (o.error or "")


def test_database_precedence_cli_then_env_then_config(tmp_path: Path, monkeypatch):
    cfg = make_config(tmp_path)
    env_db = tmp_path / "env.db"
    monkeypatch.setenv("RECONCILER_DB", str(env_db))
    assert runner.invoke(app, ["scan", "--all", "--config", str(cfg), "-q"]).exit_code == 0
    assert env_db.exists() and not (tmp_path / "r.db").exists()
    cli_db = tmp_path / "cli.db"
    assert runner.invoke(app, ["scan", "--all", "--config", str(cfg), "--db", str(cli_db), "-q"]).exit_code == 0
    assert cli_db.exists()
    r = runner.invoke(app, ["report", "--config", str(cfg), "-f", "json", "-q"])  # env db: one run each
    assert r.exit_code == 0 and len(json.loads(r.stdout)["tenants"]) == 2
