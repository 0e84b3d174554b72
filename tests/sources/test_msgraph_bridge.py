"""entra-reconciler[msgraph]: a script's configured GraphServiceClient is the Graph source.

A real msgraph GraphServiceClient (the SDK, not a stand-in) with an azure-identity-shaped credential is
handed to reconciler.scan / reconciler.apply; the emulator over loopback HTTP checks the bearer token on
every request, so a scan that succeeds proves the client's credential reached reconciler's own HTTP client.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip("msgraph")

from azure.core.credentials import AccessToken  # noqa: E402
from kiota_authentication_azure.azure_identity_authentication_provider import (  # noqa: E402
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient  # noqa: E402

import reconciler  # noqa: E402
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread  # noqa: E402
from reconciler.sources.msgraph_bridge import from_graph_service_client  # noqa: E402
from tests.conftest import SAMPLE_LDIF, SAMPLE_TENANT  # noqa: E402

READ = ["User.Read.All", "Group.Read.All", "OrgContact.Read.All", "Organization.Read.All",
        "RoleManagement.Read.Directory"]
WRITE = [*READ, "User.DeleteRestore.All", "Group.ReadWrite.All"]


class Credential:
    """azure-identity's TokenCredential shape; records the scopes it was asked for."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, 4_102_444_800)


def client_for(url: str, credential: Credential) -> GraphServiceClient:
    """What a script builds for a Graph at ``url`` (allowed hosts: the emulator's loopback address)."""
    auth = AzureIdentityAuthenticationProvider(credential, allowed_hosts=["127.0.0.1"])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = url
    return GraphServiceClient(request_adapter=adapter)


@pytest.fixture(scope="module")
def graph_url():
    perms = {"reader": set(READ), "writer": set(WRITE)}
    with serve_in_thread(create_app(json.loads(SAMPLE_TENANT.read_text()), EmulatorConfig(permissions=perms))) as url:
        yield url


def test_a_scan_through_the_scripts_client_finds_what_the_tenant_file_finds(graph_url, tmp_path):
    cred = Credential("reader")
    outcome = reconciler.scan(graph_client=client_for(graph_url, cred), onprem=[SAMPLE_LDIF], db=tmp_path / "r.db")
    offline = reconciler.scan(tenant=SAMPLE_TENANT, onprem=[SAMPLE_LDIF], store=False)
    assert sorted(f.id for f in outcome.result.findings) == sorted(f.id for f in offline.result.findings)
    assert cred.scopes and all(s == ("http://127.0.0.1/.default",) for s in cred.scopes)  # the client's scope rule


def test_the_clients_credential_is_what_the_server_sees(graph_url, tmp_path):
    """A credential whose token the tenant does not accept fails the scan (exit 5 class), naming no secret."""
    with pytest.raises(reconciler.DirectoryError) as e:
        reconciler.scan(graph_client=client_for(graph_url, Credential("stranger")), store=False)
    assert "stranger" not in str(e.value)


def test_apply_doit_writes_through_the_scripts_client(graph_url, tmp_path):
    db = tmp_path / "r.db"
    writer = client_for(graph_url, Credential("writer"))
    reconciler.scan(graph_client=writer, onprem=[SAMPLE_LDIF], db=db)
    plan = reconciler.plan(db=db, out=tmp_path / "p.json", scenarios={"deleted_holder"}, allow_purge=True)
    assert plan.steps
    done = reconciler.apply(tmp_path / "p.json", graph_client=writer, db=db, doit=True)
    assert done.summary() == {"done": len(plan.steps)}
    after = reconciler.scan(graph_client=writer, onprem=[SAMPLE_LDIF], store=False)
    assert "deleted_holder" not in {f.scenario.value for f in after.result.findings}


def test_a_national_cloud_client_keeps_its_cloud():
    """The base URL and the token scope come from the client: a US Government client stays there."""
    cred = Credential("t")
    client = GraphServiceClient(credentials=cred, scopes=["https://graph.microsoft.us/.default"])
    client.request_adapter.base_url = "https://graph.microsoft.us/v1.0"
    base, token = from_graph_service_client(client)
    assert base == "https://graph.microsoft.us/v1.0"
    assert asyncio.run(token()) == "t" and cred.scopes == [("https://graph.microsoft.us/.default",)]


def test_something_that_is_not_a_client_is_a_usage_error():
    with pytest.raises(reconciler.UsageError, match="GraphServiceClient"):
        reconciler.scan(graph_client=object(), store=False)
    with pytest.raises(reconciler.UsageError, match="only one cloud source"):
        reconciler.scan(graph_client=object(), graph_url="http://127.0.0.1:1/v1.0", store=False)
