"""--auth modes, national clouds and the cached token provider."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import app as cli_app
from reconciler.core.errors import AuthError, UsageError
from reconciler.sources.auth import CLOUDS, build_credential, cloud, provider_for, static_token_provider, token_provider

ENV = {"AZURE_TENANT_ID": "tid", "AZURE_CLIENT_ID": "cid", "AZURE_CLIENT_SECRET": "s3cret"}


def test_national_clouds() -> None:
    assert cloud("global").base_url == "https://graph.microsoft.com/v1.0"
    assert cloud("usgov").base_url == "https://graph.microsoft.us/v1.0"
    assert cloud("usgov-dod").base_url == "https://dod-graph.microsoft.us/v1.0"
    assert cloud("china").scope == "https://microsoftgraph.chinacloudapi.cn/.default"
    assert CLOUDS["china"].authority == "login.chinacloudapi.cn"
    with pytest.raises(UsageError, match="--cloud"):
        cloud("mars")


@pytest.mark.parametrize("mode,env,cls", [
    ("secret", ENV, "ClientSecretCredential"),
    ("environment", ENV, "EnvironmentCredential"),
    ("device-code", {}, "DeviceCodeCredential"),
    ("azure-cli", {}, "AzureCliCredential"),
    ("managed-identity", {}, "ManagedIdentityCredential"),
])
def test_modes_build_the_matching_credential(mode: str, env: dict[str, str], cls: str) -> None:
    assert type(build_credential(mode, env=env)).__name__ == cls


def test_secret_credential_uses_the_national_cloud_authority() -> None:
    cred = build_credential("secret", env=ENV, cloud_name="usgov")
    assert "login.microsoftonline.us" in cred._authority


def test_environment_with_overrides_uses_them(tmp_path: Path) -> None:
    cred = build_credential("environment", tenant_id="other-tenant", env=ENV)
    assert type(cred).__name__ == "ClientSecretCredential" and cred._tenant_id == "other-tenant"


def test_certificate_needs_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        build_credential("certificate", certificate=tmp_path / "nope.pem", env=ENV)
    with pytest.raises(UsageError, match="--certificate"):
        build_credential("certificate", env=ENV)


def test_workload_identity_kubernetes_and_github(tmp_path: Path) -> None:
    tok = tmp_path / "token"
    tok.write_text("jwt")
    k8s = build_credential("workload-identity", env={**ENV, "AZURE_FEDERATED_TOKEN_FILE": str(tok)})
    assert type(k8s).__name__ == "WorkloadIdentityCredential"
    gh = build_credential("workload-identity", env={**ENV, "ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh.test/x",
                                                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"})
    assert type(gh).__name__ == "ClientAssertionCredential"
    with pytest.raises(UsageError, match="AZURE_FEDERATED_TOKEN_FILE"):
        build_credential("workload-identity", env=ENV)


def test_missing_settings_are_usage_errors_naming_the_variable() -> None:
    with pytest.raises(UsageError, match="AZURE_CLIENT_SECRET"):
        build_credential("secret", env={"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"})
    with pytest.raises(UsageError, match="AZURE_TENANT_ID"):
        build_credential("environment", env={})
    with pytest.raises(UsageError, match="RECONCILER_GRAPH_TOKEN"):
        static_token_provider({})


def test_token_and_none_modes() -> None:
    assert provider_for("none") is None
    p = provider_for("token", env={"RECONCILER_GRAPH_TOKEN": " abc "})
    assert p is not None and p() == "abc"


class _Cred:
    def __init__(self, lifetime: float = 3600, fail: bool = False) -> None:
        self.calls = 0
        self.lifetime, self.fail = lifetime, fail

    def get_token(self, scope: str) -> Any:
        self.calls += 1
        if self.fail:
            raise RuntimeError("AADSTS7000215: Invalid client secret provided.\nTrace ID: x")

        class T:
            token = f"tok{self.calls}"
            expires_on = int(time.time() + self.lifetime)
        return T()


def test_token_provider_caches_and_is_single_flight() -> None:
    cred = _Cred()
    get = token_provider(cred, "https://graph.microsoft.com/.default")

    async def go() -> list[str]:
        return list(await asyncio.gather(*(get() for _ in range(10))))

    assert asyncio.run(go()) == ["tok1"] * 10 and cred.calls == 1


def test_token_provider_refreshes_near_expiry() -> None:
    cred = _Cred(lifetime=60)  # inside the 5-minute margin: fetched again
    get = token_provider(cred, "scope")
    asyncio.run(get())
    asyncio.run(get())
    assert cred.calls == 2


def test_token_failure_is_one_line_auth_error() -> None:
    get = token_provider(_Cred(fail=True), "scope", "secret")
    with pytest.raises(AuthError) as ei:
        asyncio.run(get())
    assert "AADSTS7000215" in str(ei.value) and "\n" not in str(ei.value) and ei.value.exit_code == 5


def test_cli_secret_without_environment_exits_2(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli_app, ["scan", "--graph", "--auth", "secret", "--db", str(tmp_path / "d.db")])
    assert r.exit_code == 2 and "AZURE_TENANT_ID" in r.stderr
