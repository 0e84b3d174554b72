"""reconciler.toml: a tenant's Connect Health ARM root and its ARM token (by reference), and `scan --all`
reading Connect Health beside Graph for a tenant of the config file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.config import SecretRef, parse_config
from reconciler.emulator import create_app, serve_in_thread
from tests.origins.health_helpers import item, tenant
from tests.origins.test_health_scan import user


def test_health_url_and_arm_token_by_reference(tmp_path: Path, monkeypatch) -> None:
    cfg = parse_config('[tenants.contoso]\ngraph = true\nauth = "token"\ntoken_env = "CONTOSO_GRAPH"\n'
                       'arm_token_env = "CONTOSO_ARM"\nhealth_url = "https://management.azure.com"\n',
                       tmp_path / "reconciler.toml")
    t = cfg.tenant("contoso")
    assert t.arm_token == SecretRef(env="CONTOSO_ARM") and t.source_options().health_url == \
        "https://management.azure.com"
    monkeypatch.setenv("CONTOSO_GRAPH", "g-tok")
    monkeypatch.setenv("CONTOSO_ARM", "a-tok")
    assert t.secret_env() == {"RECONCILER_GRAPH_TOKEN": "g-tok", "RECONCILER_ARM_TOKEN": "a-tok"}


def test_scan_all_reads_connect_health_for_a_config_tenant(tmp_path: Path) -> None:
    doc = tenant([item(6, "IdentityDataValidationFailed", "UserPrincipalName", "mia müller@contoso.com",
                       anchor="ANCHOR6==")], [user("u-bad", "mia@contoso.onmicrosoft.com", synced=True,
                                                    anchor="ANCHOR6==")])
    with serve_in_thread(create_app(doc)) as url:
        root = url.rsplit("/v1.0", 1)[0]
        cfg = tmp_path / "reconciler.toml"
        cfg.write_text(f'db = "r.db"\n[tenants.alpha]\ngraph_url = "{url}"\nauth = "none"\n'
                       f'health_url = "{root}/arm"\n')
        r = CliRunner().invoke(app, ["scan", "--all", "--config", str(cfg), "--format", "json"])
    assert r.exit_code == 0, r.output
    (t,) = json.loads(r.stdout)["tenants"]
    assert (t["name"], t["findings"], t["complete"]) == ("alpha", 1, True)  # no Connect error: it came from ARM
    with sqlite3.connect(tmp_path / "r.db") as c:
        (data,) = c.execute("SELECT data FROM findings").fetchone()
    f = json.loads(data)
    assert f["scenario"] == "data_validation" and f["conflict"]["origins"] == ["health"]
