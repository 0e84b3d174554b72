"""reconciler.toml: tenants, secrets only by reference, clear errors with file and place."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.config import SecretRef, find_config, load_config, parse_config
from reconciler.core.errors import BadInput, UsageError

runner = CliRunner()

GOOD = """
db = "state/r.db"
parallel = 4

[notify]
url_env = "TEAMS_HOOK"
detail = "values"

[tenants.contoso]
graph = true
tenant_id = "00000000-0000-0000-0000-000000000001"
client_id = "11111111-1111-1111-1111-111111111111"
auth = "certificate"
certificate = "certs/contoso.pem"
certificate_password_env = "CONTOSO_CERT_PASSWORD"
max_concurrency = 4
onprem = ["exports/contoso.ldif"]

[[tenants.contoso.ldap]]
url = "ldaps://dc1.corp.contoso.com:636"
bind_dn = "CN=svc,DC=corp,DC=contoso,DC=com"
password_env = "CONTOSO_LDAP_PASSWORD"

[[tenants.contoso.ldap]]
url = "ldaps://dc1.emea.contoso.com:636"
bind_dn = "CN=svc,DC=emea,DC=contoso,DC=com"
password_file = "/run/secrets/emea"

[tenants.fabrikam]
tenant_file = "fabrikam.json"
"""


def test_a_full_config(tmp_path: Path):
    cfg = parse_config(GOOD, tmp_path / "reconciler.toml")
    assert cfg.db == tmp_path / "state" / "r.db" and cfg.parallel == 4
    assert cfg.notify.url == SecretRef(env="TEAMS_HOOK") and cfg.notify.detail == "values"
    c = cfg.tenant("Contoso")
    assert c.graph and c.auth == "certificate" and c.certificate == tmp_path / "certs" / "contoso.pem"
    assert c.certificate_password == SecretRef(env="CONTOSO_CERT_PASSWORD") and c.max_concurrency == 4
    assert [f.bind_dn for f in c.ldap] == ["CN=svc,DC=corp,DC=contoso,DC=com", "CN=svc,DC=emea,DC=contoso,DC=com"]
    assert c.ldap[1].password == SecretRef(file=Path("/run/secrets/emea"))
    opts = c.ldap_options()
    assert [o.ldap for o in opts] == [["ldaps://dc1.corp.contoso.com:636"], ["ldaps://dc1.emea.contoso.com:636"]]
    f = cfg.tenant("fabrikam")
    assert f.source_options().tenant == tmp_path / "fabrikam.json"
    with pytest.raises(UsageError, match="no tenant named 'nope'"):
        cfg.tenant("nope")


@pytest.mark.parametrize("key", ["client_secret", "password", "token", "certificate_password"])
def test_inline_secrets_are_refused_without_echoing_them(tmp_path: Path, key: str):
    text = f'[tenants.a]\ngraph = true\n{key} = "Sup3r-s3cret!"\n'
    with pytest.raises(BadInput) as e:
        parse_config(text, tmp_path / "r.toml")
    msg = str(e.value)
    assert "Sup3r-s3cret!" not in msg and f"{key}_env" in msg and "tenants.a." + key in msg
    assert e.value.line == 3 and e.value.exit_code == 2


def test_inline_ldap_password_is_refused(tmp_path: Path):
    text = '[tenants.a]\ngraph = true\n[[tenants.a.ldap]]\nurl = "ldaps://dc:636"\npassword = "x"\n'
    with pytest.raises(BadInput, match=r"tenants\.a\.ldap\[0\]\.password"):
        parse_config(text, tmp_path / "r.toml")


@pytest.mark.parametrize("text,where,what", [
    ("[tenants.a]\ngraph = true\ncolour = 1\n", "tenants.a.colour", "unknown key"),
    ("[tenants.a]\ngraph = true\ntenant_file = 'x.json'\n", "tenants.a", "exactly one cloud source"),
    ("[tenants.a]\ngraph = true\nauth = 'password'\n", "tenants.a.auth", "expected one of"),
    ("parallel = 0\n[tenants.a]\ngraph = true\n", "parallel", "whole number"),
    ("[tenants.a]\ngraph = true\nclient_secret_env = 'A B'\n", "client_secret_env", "variable name"),
    ("db = 'x'\n", "tenants", "no tenants"),
    ("[[tenants]]\nname = 'a'\ngraph = true\n", "tenants", "[tenants.NAME]"),
    ("[notify]\ndetail = 'all'\n[tenants.a]\ngraph = true\n", "notify.detail", "counts"),
])
def test_bad_configs_name_the_place(tmp_path: Path, text: str, where: str, what: str):
    with pytest.raises(BadInput) as e:
        parse_config(text, tmp_path / "r.toml")
    assert where in str(e.value) and what in str(e.value) and str(tmp_path / "r.toml") in str(e.value)


def test_toml_syntax_error_has_line_and_column(tmp_path: Path):
    p = tmp_path / "r.toml"
    p.write_text("[tenants.a]\ngraph = tru\n")
    with pytest.raises(BadInput) as e:
        load_config(p)
    assert e.value.line == 2 and "not valid TOML" in str(e.value)


def test_where_the_config_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert find_config(None) is None  # nothing in the (temporary) user config dir
    user = tmp_path / "config" / "reconciler" / "reconciler.toml"  # XDG_CONFIG_HOME from conftest
    user.parent.mkdir(parents=True)
    user.write_text("[tenants.a]\ngraph = true\n")
    assert find_config(None) == user
    monkeypatch.setenv("RECONCILER_CONFIG", str(tmp_path / "env.toml"))
    assert find_config(None) == tmp_path / "env.toml"
    assert find_config(tmp_path / "cli.toml") == tmp_path / "cli.toml"


def test_secret_refs_read_at_use_and_fail_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(UsageError, match="HOOK is not set"):
        SecretRef(env="HOOK").read()
    monkeypatch.setenv("HOOK", "https://example.invalid/x")
    assert SecretRef(env="HOOK").read() == "https://example.invalid/x"
    (tmp_path / "s").write_text("value\n")
    assert SecretRef(file=tmp_path / "s").read() == "value"
    with pytest.raises(UsageError, match="cannot read the secret file"):
        SecretRef(file=tmp_path / "missing").read()


def test_cli_rejects_inline_secret_with_exit_2(tmp_path: Path):
    p = tmp_path / "reconciler.toml"
    p.write_text('[tenants.a]\ngraph = true\nclient_secret = "hunter2"\n')
    r = runner.invoke(app, ["report", "--config", str(p), "--db", str(tmp_path / "r.db")])
    assert r.exit_code == 2
    assert "hunter2" not in r.output and "hunter2" not in r.stderr
    assert f"{p}:3 (tenants.a.client_secret)" in r.stderr
