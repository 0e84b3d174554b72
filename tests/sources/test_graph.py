"""GraphSource against the Graph emulator: in-process (ASGITransport) and over real HTTP."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from reconciler.cli import app as cli_app
from reconciler.core.errors import PermissionDenied
from reconciler.core.matcher import match
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.sources.base import NullProgress
from reconciler.sources.graph import GraphSource, holder_filters, odata_quote
from reconciler.sources.graph_http import GraphHttp
from reconciler.sources.tenantfile import read_tenant_file, tenant_from_document

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "sample" / "sample-tenant.json"
ALL_PERMS = {"User.Read.All", "Group.Read.All", "OrgContact.Read.All", "RoleManagement.Read.Directory",
             "Organization.Read.All", "OnPremDirectorySynchronization.Read.All"}


class Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.counters: dict[str, int] = {}

    def note(self, message: str) -> None:
        self.notes.append(message)

    def advance(self, n: int = 1, **counters: int) -> None:
        for k, v in counters.items():
            self.counters[k] = self.counters.get(k, 0) + v


def source(tenant: Any, strategy: str = "auto", config: EmulatorConfig | None = None, token: str | None = None,
           **kw: Any) -> tuple[GraphSource, Any]:
    app = create_app(tenant, config or EmulatorConfig())

    def factory() -> GraphHttp:
        return GraphHttp("http://emulator/v1.0", (lambda: token) if token else None,
                         transport=httpx.ASGITransport(app), backoff_base=0.01, backoff_cap=0.05)
    return GraphSource(factory, strategy=strategy, **kw), app


# these Graph sources have no Connect Health reader (no ARM): the tenant file is read without it to compare
NO_HEALTH = ("connect", "cloud_sync", "exchange")


def findings(snapshot: Any) -> list[dict[str, Any]]:
    return [f.data() for f in match(snapshot)]


def doc_findings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return findings(tenant_from_document(copy.deepcopy(doc), "<doc>"))


# ---------------------------------------------------------------- a synthetic tenant


def _user(i: int, upn: str, **kw: Any) -> dict[str, Any]:
    return {"id": str(uuid.UUID(int=i)), "userPrincipalName": upn, "displayName": upn.split("@")[0],
            "mail": kw.pop("mail", None), "proxyAddresses": kw.pop("proxy", []), "userType": "Member",
            "accountEnabled": True, "onPremisesSyncEnabled": kw.pop("synced", None),
            "onPremisesImmutableId": kw.pop("anchor", None), "onPremisesProvisioningErrors": kw.pop("errors", []),
            **kw}


def _err(prop: str, value: str) -> list[dict[str, Any]]:
    return [{"category": "PropertyConflict", "propertyCausingError": prop, "value": value,
             "occurredDateTime": "2026-11-01T10:00:00Z"}]


def synthetic(n_users: int = 60) -> dict[str, Any]:
    """Filler users plus conflicts that exercise every holder kind, quotes and odd first characters."""
    users = [_user(i, f"{'abcdefghijklmnopqrstuvwxyz0123456789_-'[i % 38]}user{i}@contoso.com",
                   mail=f"user{i}@contoso.com", proxy=[f"SMTP:user{i}@contoso.com", f"sip:user{i}@contoso.com"])
             for i in range(1, n_users + 1)]
    base = 10_000_000
    users += [
        _user(base + 1, "o'brien1234@contoso.onmicrosoft.com", synced=True, anchor="QUJD",
              errors=_err("UserPrincipalName", "o'brien@contoso.com")),
        _user(base + 2, "o'brien@contoso.com", mail="o'brien@contoso.com"),  # cloud-only twin, quote in value
        _user(base + 3, "priya@contoso.com", synced=True, anchor="REVG",
              errors=_err("ProxyAddresses", "smtp:sales@contoso.com")),
        _user(base + 4, "ghost@contoso.com", synced=True, anchor="R0hJ",
              errors=_err("ProxyAddress", "ghost.old@contoso.com")),
        _user(base + 5, "x500@contoso.com", proxy=["X500:/o=ex/cn=nobody@contoso.com"], synced=True,
              errors=_err("ProxyAddress", "nobody@contoso.com")),
        _user(base + 6, "#weird@contoso.com", synced=True, anchor="SktM",
              errors=[{"category": "DataValidationFailed", "propertyCausingError": "UserPrincipalName",
                       "value": "#weird@contoso.com"}]),
    ]
    groups = [{"id": str(uuid.UUID(int=base + 20)), "displayName": "Sales", "mail": "sales@contoso.com",
               "proxyAddresses": ["SMTP:sales@contoso.com"], "mailEnabled": True, "securityEnabled": False,
               "groupTypes": []},
              {"id": str(uuid.UUID(int=base + 21)), "displayName": "Tier0", "isAssignableToRole": True,
               "securityEnabled": True, "mailEnabled": False, "groupTypes": [],
               "members": [str(uuid.UUID(int=base + 2))]}]
    contacts = [{"id": str(uuid.UUID(int=base + 30)), "displayName": "Priya ext", "mail": "ext@fabrikam.com",
                 "proxyAddresses": ["SMTP:ext@fabrikam.com", "smtp:sales@contoso.com"]}]
    deleted = [_user(base + 40, "ghost.old@contoso.com", deletedDateTime="2026-11-20T00:00:00Z")]
    return {"schema": "reconciler.tenant/1",
            "organization": {"id": "11111111-2222-3333-4444-555555555555", "displayName": "Contoso",
                             "verifiedDomains": [{"name": "contoso.onmicrosoft.com", "isInitial": True}]},
            "onPremisesSynchronization": {"features": {"blockSoftMatchEnabled": False}},
            "users": users, "groups": groups, "contacts": contacts, "deletedUsers": deleted, "deletedGroups": [],
            "directoryRoles": [{"id": "r1", "displayName": "Global Administrator",
                                "roleTemplateId": "62e90394-69f5-4237-9190-012177145e10",
                                "members": [str(uuid.UUID(int=base + 21))]}],
            "roleAssignments": [{"id": "a1", "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10",
                                 "principalId": str(uuid.UUID(int=base + 21)), "directoryScopeId": "/"}]}


# ---------------------------------------------------------------- pure helpers


def test_odata_quote_doubles_single_quotes() -> None:
    assert odata_quote("o'brien@x.com") == "'o''brien@x.com'"
    assert odata_quote("''") == "''''''"


def test_holder_filters_stay_within_15_clauses() -> None:
    vals = [f"v{i}@x.com" for i in range(11)]
    user_filters = holder_filters(vals, has_upn=True)
    assert len(user_filters) == 3  # 5 values x 3 clauses per request
    assert all(f.count(" or ") + 1 <= 15 for f in user_filters)
    assert "proxyAddresses/any(p:p eq 'smtp:v0@x.com')" in user_filters[0]
    assert all("userPrincipalName" not in f for f in holder_filters(vals, has_upn=False))


# ---------------------------------------------------------------- same findings as the tenant file


@pytest.mark.parametrize("strategy", ["targeted", "full", "auto"])
def test_sample_in_process_same_findings_as_tenant_file(strategy: str) -> None:
    src, _ = source(SAMPLE, strategy)
    snap = asyncio.run(src.read(NullProgress()))
    assert findings(snap) == findings(read_tenant_file(SAMPLE))
    assert snap.features == json.loads(SAMPLE.read_text())["onPremisesSynchronization"]["features"]


@pytest.mark.parametrize("strategy", ["targeted", "full"])
def test_synthetic_tenant_same_findings_including_quotes_and_deleted(strategy: str) -> None:
    doc = synthetic()
    src, _ = source(copy.deepcopy(doc), strategy)
    snap = asyncio.run(src.read(NullProgress()))
    got = findings(snap)
    assert got == doc_findings(doc)
    by_value = {f["conflict"]["value"]: f for f in got}
    # the holder is in a role-assignable group with Global Administrator: never soft-matched
    assert by_value["o'brien@contoso.com"]["scenario"] == "admin_role_conflict"
    assert {h["type"] for h in by_value["smtp:sales@contoso.com"]["holders"]} == {"group", "contact"}
    assert by_value["ghost.old@contoso.com"]["scenario"] == "deleted_holder"
    assert by_value["nobody@contoso.com"]["scenario"] == "no_holder"  # X500 never makes a holder
    assert by_value["#weird@contoso.com"]["scenario"] == "data_validation"  # other categories are not dropped
    assert snap.role_assignments and snap.group_members == {str(uuid.UUID(int=10_000_021)):
                                                            (str(uuid.UUID(int=10_000_002)),)}
    assert snap.directory_role_members == {"Global Administrator": (str(uuid.UUID(int=10_000_021)),)}


def test_targeted_reads_only_a_few_objects() -> None:
    doc = synthetic(400)
    src, app = source(doc, "targeted")
    snap = asyncio.run(src.read(NullProgress()))
    assert len(snap.objects) < 15  # error objects and holders, not the 400 filler users
    assert src.counters["batches"] >= 1 and src.counters["requests"] < 20


def test_full_read_partitions_users_and_loses_nothing() -> None:
    doc = synthetic(4200)
    src, app = source(copy.deepcopy(doc), "full", EmulatorConfig(page_size=999))
    snap = asyncio.run(src.read(NullProgress()))
    assert findings(snap) == doc_findings(doc)
    filters = [e.get("query", {}).get("$filter", "") for e in app.state.emulator.log]
    assert sum("startswith(userPrincipalName" in f for f in filters) >= 8


def test_auto_explains_its_choice_with_verbose_notes() -> None:
    p = Notes()
    src, _ = source(synthetic(), "auto")
    asyncio.run(src.read(p))
    assert src.chosen == "targeted"
    assert any(n.startswith("strategy auto -> targeted") for n in p.notes)
    assert p.counters["requests"] > 0 and p.counters["objects"] > 0


def test_throttle_storm_and_faults_lose_no_object() -> None:
    doc = synthetic(300)
    cfg = EmulatorConfig(page_size=50, throttle="storm", fault_rate=0.1, seed=7, time_scale=0.001)
    for strategy in ("targeted", "full"):
        src, app = source(copy.deepcopy(doc), strategy, cfg)
        snap = asyncio.run(src.read(NullProgress()))
        assert findings(snap) == doc_findings(doc)
        assert src.counters["throttled"] > 0 and src.counters["retries"] > 0


# ---------------------------------------------------------------- permissions


def test_missing_user_permission_names_it() -> None:
    src, _ = source(SAMPLE, config=EmulatorConfig(permissions={"t": ALL_PERMS - {"User.Read.All"}}), token="t")
    with pytest.raises(PermissionDenied, match="User.Read.All") as ei:
        asyncio.run(src.read(NullProgress()))
    assert ei.value.exit_code == 5 and "client-request-id" in str(ei.value)


def test_application_permissions_leave_flags_and_eligibility_unknown() -> None:
    perms = ALL_PERMS - {"OnPremDirectorySynchronization.Read.All"}
    doc = synthetic()
    doc["roleEligibilitySchedules"] = []
    src, _ = source(doc, config=EmulatorConfig(permissions={"t": perms}), token="t")
    p = Notes()
    snap = asyncio.run(src.read(p))
    assert snap.features is None and any("Global Administrator" in n for n in p.notes)
    assert snap.role_assignments is not None  # RoleManagement.Read.Directory reads these
    assert findings(snap) == doc_findings(synthetic())


# ---------------------------------------------------------------- --save-tenant


@pytest.mark.parametrize("strategy", ["targeted", "full"])
def test_save_tenant_round_trips(tmp_path: Path, strategy: str) -> None:
    out = tmp_path / "saved.json"
    doc = synthetic(4200 if strategy == "full" else 50)
    src, _ = source(copy.deepcopy(doc), strategy, EmulatorConfig(page_size=999), save_tenant=out)
    asyncio.run(src.read(NullProgress()))
    saved = orjson.loads(out.read_bytes())
    assert saved["schema"] == "reconciler.tenant/1"
    assert doc_findings(saved) == doc_findings(doc)
    if strategy == "full":
        assert len(saved["users"]) == len(doc["users"])  # partitioned spools merged, nothing doubled
    tier0 = [g for g in saved["groups"] if g.get("isAssignableToRole")]
    assert tier0 and tier0[0]["members"] == [str(uuid.UUID(int=10_000_002))]
    assert not list(tmp_path.glob(".*part"))


# ---------------------------------------------------------------- the CLI, over real HTTP


def _scan_json(args: list[str], tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    r = CliRunner().invoke(cli_app, ["scan", *args, "--format", "json", "--db", str(tmp_path / "r.db")])
    out = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}
    for f in out.get("findings", []):
        f.pop("generated", None)
    out.pop("generated", None)
    return r.exit_code, out, r.stderr


@pytest.mark.parametrize("strategy", ["auto", "full"])
def test_cli_scan_graph_url_equals_scan_tenant(tmp_path: Path, strategy: str) -> None:
    doc_path = tmp_path / "t.json"
    doc_path.write_bytes(orjson.dumps(synthetic()))
    for tenant in (SAMPLE, doc_path):
        code_t, by_file, _ = _scan_json(["--tenant", str(tenant)], tmp_path)
        with serve_in_thread(create_app(tenant, EmulatorConfig())) as url:
            code_g, by_graph, err = _scan_json(["--graph-url", url, "--auth", "none", "--strategy", strategy],
                                               tmp_path)
        assert (code_g, code_t) == (0, 0), err
        assert by_graph["findings"] == by_file["findings"] and by_graph["findings"]


def test_cli_auth_none_refused_for_remote_url(tmp_path: Path) -> None:
    code, _, err = _scan_json(["--graph-url", "https://graph.microsoft.com/v1.0", "--auth", "none"], tmp_path)
    assert code == 2 and "loopback" in err


def test_cli_forbidden_exits_5_naming_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_GRAPH_TOKEN", "secret-token-value")
    cfg = EmulatorConfig(permissions={"secret-token-value": ALL_PERMS - {"OrgContact.Read.All"}})
    with serve_in_thread(create_app(SAMPLE, cfg)) as url:
        code, _, err = _scan_json(["--graph-url", url, "--auth", "token"], tmp_path)
    assert code == 5 and "OrgContact.Read.All" in err and "secret-token-value" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_help_imports_no_msgraph_or_azure() -> None:
    code = ("import sys; from reconciler.cli import app; "
            "bad=[m for m in sys.modules if m.startswith(('msgraph','azure','kiota'))]; print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


# ---------------------------------------------------------------- generated tenants (reconciler.emulator.generate)


def _generated(tmp_path: Path, users: int, seed: int, per_1000: float = 10.0, connect_only: bool = False) -> Path:
    from reconciler.emulator.generate import DEFAULT_MIX, FINDING_SCENARIOS, GenerateOptions, generate

    tenant = tmp_path / f"gen-{users}-{seed}.json"
    mix = {k: v for k, v in DEFAULT_MIX.items() if k in FINDING_SCENARIOS[:8]} if connect_only else dict(DEFAULT_MIX)
    generate(GenerateOptions(users=users, errors_per_1000=per_1000, seed=seed, mix=mix), tenant,
             tmp_path / f"g{seed}.ldif")
    return tenant


@pytest.mark.parametrize("seed,strategy", [(1, "targeted"), (2, "full"), (3, "auto")])
def test_generated_tenants_in_process_same_findings(tmp_path: Path, seed: int, strategy: str) -> None:
    tenant = _generated(tmp_path, 1500, seed)
    src, _ = source(tenant, strategy, EmulatorConfig(page_size=999))
    got = findings(asyncio.run(src.read(NullProgress())))
    assert got == findings(read_tenant_file(tenant, NO_HEALTH)) and len(got) >= 8
    assert {f["scenario"] for f in got} >= {"cloud_only_twin", "unsupported"}


def test_generated_tenant_partitioned_full_read_over_http(tmp_path: Path) -> None:
    tenant = _generated(tmp_path, 4500, 5)
    _, by_file, _ = _scan_json(["--tenant", str(tenant), "--errors", ",".join(NO_HEALTH)], tmp_path)
    with serve_in_thread(create_app(tenant, EmulatorConfig(page_size=999))) as url:
        code, by_graph, err = _scan_json(["--graph-url", url, "--auth", "none", "--strategy", "full"], tmp_path)
    assert code == 0, err
    assert by_graph["findings"] == by_file["findings"]


def test_auto_goes_full_when_lookups_exceed_budget_and_pages(tmp_path: Path) -> None:
    tenant = _generated(tmp_path, 1500, 4, per_1000=20)
    p = Notes()
    src, _ = source(tenant, "auto", EmulatorConfig(page_size=999), targeted_max_lookups=1)
    got = findings(asyncio.run(src.read(p)))
    assert src.chosen == "full" and got == findings(read_tenant_file(tenant, NO_HEALTH))
    assert any(n.startswith("strategy auto -> full") and "a full read pages" in n for n in p.notes)
    assert src.seen["users"] == 1500


def test_more_error_objects_than_one_page(tmp_path: Path) -> None:
    tenant = _generated(tmp_path, 2800, 6, per_1000=500, connect_only=True)  # > 999 error objects: it pages
    src, _ = source(tenant, "auto", EmulatorConfig(page_size=999))
    got = findings(asyncio.run(src.read(NullProgress())))
    assert len(got) > 999 and got == findings(read_tenant_file(tenant, NO_HEALTH))


class _RefuseStartswith(httpx.AsyncBaseTransport):
    """The emulator, except that (like a stricter Graph) it refuses startswith() filters."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app)
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "startswith" in str(request.url):
            self.refused += 1
            return httpx.Response(400, json={"error": {"code": "Request_UnsupportedQuery", "message": "no"}})
        return await self.inner.handle_async_request(request)


def test_refused_partitions_fall_back_to_one_chain_and_save_everything_once(tmp_path: Path) -> None:
    doc = synthetic(4200)
    transport = _RefuseStartswith(create_app(copy.deepcopy(doc), EmulatorConfig(page_size=999)))
    out = tmp_path / "saved.json"
    src = GraphSource(lambda: GraphHttp("http://emulator/v1.0", None, transport=transport),
                      strategy="full", save_tenant=out)
    p = Notes()
    snap = asyncio.run(src.read(p))
    assert transport.refused >= 1 and any("refused startswith" in n for n in p.notes)
    assert src.seen["users"] == len(doc["users"]) and findings(snap) == doc_findings(doc)
    saved = orjson.loads(out.read_bytes())
    for key in ("users", "groups", "contacts", "deletedUsers"):
        assert sorted(o["id"] for o in saved[key]) == sorted(o["id"] for o in doc[key]), key


class _ForbidContactDump(_RefuseStartswith):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/contacts") and "filter" not in str(request.url):
            return httpx.Response(403, json={"error": {"code": "Authorization_RequestDenied", "message": "no"}})
        return await self.inner.handle_async_request(request)


def test_failed_full_read_leaves_no_partial_tenant_file(tmp_path: Path) -> None:
    transport = _ForbidContactDump(create_app(synthetic(4200), EmulatorConfig(page_size=999)))
    out = tmp_path / "saved.json"
    src = GraphSource(lambda: GraphHttp("http://emulator/v1.0", None, transport=transport),
                      strategy="full", save_tenant=out)
    with pytest.raises(PermissionDenied, match="OrgContact.Read.All"):
        asyncio.run(src.read(NullProgress()))
    assert list(tmp_path.iterdir()) == []
