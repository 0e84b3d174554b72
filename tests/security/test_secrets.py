"""Secrets never reach stdout, stderr, the database, plan/report/tenant files or error lines.

Every command runs with secret-bearing settings (client secret, certificate password, LDAP password,
bearer token) against the emulator over real HTTP; then every byte the run produced is searched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from tests.conftest import SAMPLE_LDIF, SAMPLE_TENANT

TOKEN = "eyJ0eXAi.S3CR3T-T0KEN-payload.sig-7f3a9c"
SECRETS = {
    "RECONCILER_GRAPH_TOKEN": TOKEN,
    "AZURE_CLIENT_SECRET": "Cl1ent~S3cret.Value-9d8e7f",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD": "C3rt-P@ssw0rd-4b5c",
    "RECONCILER_LDAP_PASSWORD": "Ld@p-P@ss-w0rd-1a2b",
}
ALL_READ = {"User.Read.All", "Group.Read.All", "OrgContact.Read.All", "RoleManagement.Read.Directory",
            "Organization.Read.All", "User.ReadUpdate.All", "User.DeleteRestore.All", "User.ReadWrite.All"}


@pytest.fixture(scope="module")
def graph_url() -> Iterator[str]:
    app_ = create_app(SAMPLE_TENANT, EmulatorConfig(permissions={TOKEN: ALL_READ}))
    with serve_in_thread(app_) as url:
        yield url


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    return dict(SECRETS)


def _leaks(text: str | bytes) -> list[str]:
    blob = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return [name for name, secret in SECRETS.items() if secret.encode() in blob]


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout + r.stderr


def test_no_command_leaks_a_secret(tmp_path: Path, graph_url: str, env: dict[str, str]):
    db = str(tmp_path / "r.db")
    g = ["--graph-url", graph_url, "--auth", "token"]
    transcript: list[tuple[tuple[str, ...], int, str]] = []

    def run(*args: str) -> int:
        code, out = _run(*args)
        transcript.append((args, code, out))
        return code

    assert run("scan", *g, "--onprem", str(SAMPLE_LDIF), "--db", db, "-v", "--format", "json",
               "-o", str(tmp_path / "findings.json"), "--save-tenant", str(tmp_path / "saved.json")) == 0
    assert run("explain", "lena.fischer@contoso.com", "--db", db) == 0
    assert run("plan", "--db", db, "-o", str(tmp_path / "plan.json"), "--review", str(tmp_path / "plan.md")) == 0
    assert run("apply", str(tmp_path / "plan.json"), *g, "--db", db) in (0, 4)
    assert run("report", "--db", db, "--format", "html", "-o", str(tmp_path / "report.html")) == 0
    assert run("check-onprem", "--onprem", str(SAMPLE_LDIF), *g, "--format", "json",
               "-o", str(tmp_path / "checks.json")) == 0
    # failure paths: a refused token, an unreachable DC with a password, a secret credential that cannot
    # reach its authority (loopback-only tests), a bad certificate password
    assert run("scan", "--graph-url", graph_url.replace("/v1.0", "/v1.0"), "--auth", "none", "--db", db) == 5
    assert run("scan", "--tenant", str(SAMPLE_TENANT), "--ldap", "ldaps://127.0.0.1:1", "--bind-dn",
               "CN=svc,DC=corp,DC=contoso,DC=com", "--db", db) == 5
    assert run("scan", "--graph-url", graph_url, "--auth", "secret", "--tenant-id",
               "00000000-0000-0000-0000-000000000001", "--client-id", "00000000-0000-0000-0000-000000000002",
               "--db", db) in (2, 5)
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    assert run("scan", "--graph-url", graph_url, "--auth", "certificate", "--certificate", str(cert),
               "--tenant-id", "00000000-0000-0000-0000-000000000001", "--client-id",
               "00000000-0000-0000-0000-000000000002", "--db", db) in (2, 5)

    for args, code, out in transcript:
        assert not _leaks(out), (args, code, out)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"r.db", "findings.json", "saved.json", "plan.json", "plan.md",
                                       "report.html", "checks.json"}
    for p in files:
        assert not _leaks(p.read_bytes()), p


def test_verbose_and_error_lines_name_what_failed_not_the_secret(tmp_path: Path, graph_url: str, env):
    code, out = _run("scan", "--graph-url", graph_url, "--auth", "none", "--db", str(tmp_path / "r.db"), "-v")
    assert code == 5
    assert "401" in out or "authentic" in out.lower()
    assert not _leaks(out)
    assert "Traceback" not in out
