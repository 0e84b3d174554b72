"""Connect Health (origin ``health``): decoding the real shape, the ARM reader against the emulator's ARM API,
paging, refusals as warnings, and the management-scope token for every national cloud."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from reconciler.core.model import DUPLICATE, Origin
from reconciler.emulator import EmulatorConfig, create_app
from reconciler.emulator.arm import READ_ACTION, ArmOptions, create_arm_app
from reconciler.sources.auth import ARM_TOKEN_ENV, CLOUDS, arm_token_provider, cloud, token_provider
from reconciler.sources.health import (
    BUCKETS,
    PERMISSION,
    HealthReader,
    decode,
    http_factory,
    records_from_items,
    scenario_for,
)
from tests.origins.health_helpers import EVERY_TYPE, EXPECTED_SCENARIO, REAL_ITEM, SERVICES, item, tenant

ARM = "http://emulator.test/arm"


def reader_for(app: Any, tokens: Any = None, base: str = ARM) -> HealthReader:
    return HealthReader(http_factory(base, tokens, transport=httpx.ASGITransport(app), backoff_base=0.01))


def read(app: Any, tokens: Any = None, base: str = ARM) -> Any:
    """Read through the emulator; an ARM app on its own (not mounted at /arm) answers at the root."""
    return asyncio.run(reader_for(app, tokens, base).read())


# --------------------------------------------------------------------------- decoding


def test_the_published_example_decodes_with_both_objects() -> None:
    e = decode(REAL_ITEM, "DuplicateAttributeError")
    assert (e.id, e.type, e.attribute, e.occurred) == ("SampleMergedExportErrorId", "AttributeValueMustBeUnique",
                                                      "OnPremiseSecurityIdentifier", "2018-04-30T22:04:36.043Z")
    assert e.source_anchor == "SampleSourceAnchor" and e.existing["sourceOfAuthority"] == "Active Directory"
    assert e.dn == "CN=SampleDN" and e.object_type == "user"
    # a SID conflict is not an address conflict: reported as is, never classified as a UPN/proxy duplicate
    assert e.scenario == "unsupported"


def test_a_time_connect_health_does_not_know_is_unknown_not_year_one() -> None:
    """.NET's DateTime.MinValue (the example's existingObject.timeOccurred) where the time is not known: no
    finding 'occurred' in year 1 (reports would call it stuck for 2,000 years); the error's creation instead."""
    e = decode({**REAL_ITEM, "timeOccurred": "0001-01-01T00:00:00Z"}, "DuplicateAttributeError")
    assert e.occurred == "2018-04-30T22:13:47.638099Z"  # createdDate, 7 fraction digits cut to 6
    e = decode({**REAL_ITEM, "timeOccurred": "0001-01-01T00:00:00Z", "createdDate": None,
                "timeFirstOccurred": "0001-01-01T00:00:00"})
    assert e.occurred is None and e.first_occurred is None
    assert decode({**REAL_ITEM, "timeOccurred": "2018-05-01T00:00:00+02:00"}).occurred == "2018-04-30T22:00:00Z"


@pytest.mark.parametrize("it", EVERY_TYPE, ids=lambda i: i["type"])
def test_every_error_type_maps_to_its_scenario(it: dict[str, Any]) -> None:
    assert decode(it).scenario == EXPECTED_SCENARIO[it["id"]]


def test_an_unknown_type_falls_back_to_its_bucket() -> None:
    assert scenario_for("SomethingNew", "LargeAttribute") == "large_attribute"
    assert scenario_for("SomethingNew", "FederatedDomainChange") == "federated_domain_change"
    assert scenario_for("SomethingNew", "Others") == "unsupported"
    assert scenario_for("attributevaluemustbeunique", None, "proxyAddresses") == "duplicate"


def test_records_carry_origin_nature_anchor_and_the_existing_object_as_evidence() -> None:
    existing = {"displayName": "Lena (cloud)", "userPrincipalName": "lena@contoso.com",
                "sourceOfAuthority": "Microsoft Entra ID", "sourceAnchor": None}
    recs = records_from_items([item(1, "AttributeValueMustBeUnique", "ProxyAddresses", "smtp:lena@contoso.com",
                                    existing=existing), item(6, "IdentityDataValidationFailed", "UserPrincipalName",
                                                             "bad user@contoso.com"), "not an object"])
    dup, bad = recs
    assert dup.error.origin == Origin.HEALTH.value and dup.error.nature == DUPLICATE
    assert dup.error.normalized_property == "ProxyAddress" and dup.error.value == "smtp:lena@contoso.com"
    assert dup.onprem_anchor == "ANCHOR1==" and dup.object_id is None
    assert any("Lena (cloud) <lena@contoso.com>" in line for line in dup.evidence)
    assert bad.error.nature == "data_validation" and bad.error.value == "bad user@contoso.com"


def test_the_same_error_twice_is_one_record() -> None:
    assert len(records_from_items([item(1, "LargeObject", "userCertificate", "16")] * 2)) == 1


# --------------------------------------------------------------------------- reader against the emulator


def test_reads_every_bucket_of_the_sync_service() -> None:
    app = create_app(tenant(EVERY_TYPE))
    got = read(app)
    assert got.read and not got.warnings
    assert got.services == ["AadSyncService-contoso.onmicrosoft.com"]
    assert sorted(i["id"] for i in got.items) == sorted(i["id"] for i in EVERY_TYPE)
    log = app.state.arm.log
    assert sorted(e["query"].get("errorBucket") for e in log[1:]) == sorted(BUCKETS)  # read in parallel
    assert [got.buckets[i["id"]] for i in got.items] == sorted((got.buckets[i["id"]] for i in got.items),
                                                               key=BUCKETS.index)  # kept in bucket order
    assert all(e["query"]["api-version"] == "2014-01-01" for e in log)
    assert log[0]["query"]["serviceType"] == "AadSyncService"
    assert got.requests == 1 + len(BUCKETS)
    # every item came back exactly as the tenant file holds it
    assert {i["id"]: i for i in got.items}["mee-4"] == EVERY_TYPE[3]
    assert got.buckets["mee-4"] == "DataMismatch" and got.buckets["mee-7"] == "LargeAttribute"


def test_follows_next_links_page_by_page() -> None:
    errors = [item(n, "AttributeValueMustBeUnique", "UserPrincipalName", f"u{n}@contoso.com") for n in range(7)]
    graph = create_app(tenant(errors))
    arm = create_arm_app(graph.state.emulator, ArmOptions(page_size=3))
    got = read(arm, base="http://arm.test")
    assert len(got.items) == 7 and got.read
    pages = [e for e in arm.state.arm.log if e["query"].get("errorBucket") == "DuplicateAttributeError"]
    assert [p["items"] for p in pages] == [3, 3, 1]
    assert [p["query"].get("skipToken") for p in pages] == [None, "3", "6"]


def test_no_connect_health_list_means_no_service_a_warning_not_no_errors() -> None:
    got = read(create_app(tenant(None)))
    assert not got.read and got.items == []
    assert "no Entra Connect sync service" in got.warnings[0] and "not 'no errors'" in got.warnings[0]


def test_an_empty_list_is_read_and_means_no_errors() -> None:
    got = read(create_app(tenant([])))
    assert got.read and got.items == [] and got.warnings == []


@pytest.mark.parametrize("held,status", [({"User.Read.All"}, "403"), (None, "401")])
def test_a_refusal_is_a_warning_naming_the_rbac_role(held: set[str] | None, status: str) -> None:
    perms = {"good": {"User.Read.All", READ_ACTION}}
    if held is not None:
        perms["limited"] = held
    app = create_app(tenant(EVERY_TYPE), EmulatorConfig(permissions=perms))
    got = read(app, (lambda: "limited") if held is not None else (lambda: "unknown-token"))
    assert not got.read and got.items == []
    assert f"refused the request ({status})" in got.warnings[0] and PERMISSION in got.warnings[0]
    assert "limited" not in got.warnings[0] and "unknown-token" not in got.warnings[0]  # no token in output
    ok = read(app, lambda: "good")
    assert ok.read and len(ok.items) == len(EVERY_TYPE)


def test_an_arm_that_refuses_everyone_even_without_graph_tokens() -> None:
    graph = create_app(tenant(EVERY_TYPE))
    got = read(create_arm_app(graph.state.emulator, ArmOptions(refuse=True)), base="http://arm.test")
    assert not got.read and "(403)" in got.warnings[0]


def test_api_version_and_bucket_are_required_by_the_emulator() -> None:
    app = create_app(tenant(EVERY_TYPE))

    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=ARM) as c:
            base = "/providers/Microsoft.ADHybridHealthService/services"
            a = await c.get(base)
            b = await c.get(base + "/AadSyncService-contoso.onmicrosoft.com/exporterrors/listV2",
                            params={"api-version": "2014-01-01"})
            d = await c.get(base + "/nope/exporterrors/listV2", params={"api-version": "2014-01-01",
                                                                        "errorBucket": "Others"})
            e = await c.get(base + "/AadSyncService-contoso.onmicrosoft.com/exporterrors/counts",
                            params={"api-version": "2014-01-01"})
            counts = {r["errorBucket"]: r["count"] for r in e.json()["value"]}
            assert counts["All"] == len(EVERY_TYPE) and counts["DataMismatch"] == 3
            assert a.json()["error"]["code"] == "MissingApiVersionParameter"
            return [a.status_code, b.status_code, d.status_code, e.status_code]
    assert asyncio.run(go()) == [400, 400, 404, 200]


def test_the_services_shape_matches_the_published_example() -> None:
    app = create_app(tenant([]))

    async def go() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=ARM) as c:
            r = await c.get("/providers/Microsoft.ADHybridHealthService/services",
                            params={"serviceType": "AadSyncService", "api-version": "2014-01-01"})
            return dict(r.json())
    body = asyncio.run(go())
    real = SERVICES["services"]["response"]
    assert set(body) == set(real)
    assert set(body["value"][0]) <= set(real["value"][0])


def _mock_reader(handler: Any) -> HealthReader:
    return HealthReader(http_factory("https://management.azure.com", lambda: "tok",
                                     transport=httpx.MockTransport(handler), backoff_base=0.0,
                                     sleep=_no_sleep))


async def _no_sleep(_: float) -> None:
    return None


def test_a_next_link_to_another_host_is_refused_and_the_token_never_sent_there() -> None:
    hosts: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        hosts.append(req.url.host)
        if req.url.path.endswith("/services"):
            return httpx.Response(200, json={"value": [{"serviceName": "s1", "type": "AadSyncService"}]})
        return httpx.Response(200, json={"value": [item(1, "LargeObject", "userCertificate", "16")],
                                         "nextLink": "https://evil.example/steal"})
    got = asyncio.run(_mock_reader(handler).read())
    assert not got.read and "another host" in got.warnings[0]
    assert set(hosts) == {"management.azure.com"}


def test_throttling_is_retried_with_retry_after_and_then_read() -> None:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req.url.path)
        assert req.headers["authorization"] == "Bearer tok"
        if len(calls) == 2:
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {"code": "TooManyRequests"}})
        if req.url.path.endswith("/services"):
            return httpx.Response(200, json={"value": [{"serviceName": "s1", "type": "AadSyncService"}],
                                             "nextLink": None})
        return httpx.Response(200, json={"value": []})
    got = asyncio.run(_mock_reader(handler).read())
    assert got.read and len(calls) == 2 + len(BUCKETS)


def test_a_server_error_after_retries_is_a_warning_not_a_crash() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"code": "ServiceUnavailable"}})
    got = asyncio.run(_mock_reader(handler).read())
    assert not got.read and "Connect Health was not read" in got.warnings[0]
    assert "Graph" not in got.warnings[0]


# --------------------------------------------------------------------------- ARM tokens and clouds


@pytest.mark.parametrize("name,arm", [("global", "https://management.azure.com"),
                                      ("usgov", "https://management.usgovcloudapi.net"),
                                      ("usgov-dod", "https://management.usgovcloudapi.net"),
                                      ("china", "https://management.chinacloudapi.cn")])
def test_each_national_cloud_has_its_arm_endpoint_and_scope(name: str, arm: str) -> None:
    assert cloud(name).arm == arm and cloud(name).arm_scope == arm + "/.default"
    assert set(CLOUDS) == {"global", "usgov", "usgov-dod", "china"}


class _Cred:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, scope: str) -> Any:
        self.scopes.append(scope)
        return type("T", (), {"token": f"tok-for-{scope}", "expires_on": 4102444800})()


def test_the_arm_token_comes_from_the_same_credential_for_the_management_scope() -> None:
    cred = _Cred()
    graph = token_provider(cred, cloud("usgov").scope, "secret")
    arm = arm_token_provider(graph, "secret", cloud_name="usgov")
    assert asyncio.run(arm()) == "tok-for-https://management.usgovcloudapi.net/.default"  # type: ignore[misc]
    assert asyncio.run(graph()) == "tok-for-https://graph.microsoft.us/.default"  # type: ignore[misc]
    assert cred.scopes == ["https://management.usgovcloudapi.net/.default", "https://graph.microsoft.us/.default"]


def test_token_and_none_modes_for_arm() -> None:
    assert arm_token_provider(None, "none") is None
    p = arm_token_provider(None, "token", env={ARM_TOKEN_ENV: " arm-tok "})
    assert p is not None and p() == "arm-tok"
    from reconciler.core.errors import UsageError

    with pytest.raises(UsageError, match=ARM_TOKEN_ENV):
        arm_token_provider(None, "token", env={})


# --------------------------------------------------------------------------- which ARM, which token


class _Opts:
    def __init__(self, **kw: Any) -> None:
        self.health_url, self.graph, self.graph_url, self.auth, self.cloud, self.env = None, False, None, "none", \
            "global", {}
        self.__dict__.update(kw)


def test_reader_for_the_options() -> None:
    from reconciler.core.errors import UsageError
    from reconciler.sources.health import reader_for

    r = reader_for(_Opts(health_url="http://127.0.0.1:8400/arm/"), None)
    assert r is not None and r.label == "http://127.0.0.1:8400/arm"
    assert reader_for(_Opts(graph_url="http://127.0.0.1:8400/v1.0"), None) is None  # no ARM known
    for bad, what in (("http://arm.example/arm", "plain http"), ("ftp://127.0.0.1/arm", "http(s) URL"),
                      ("https://arm.example/arm", "--auth none")):
        with pytest.raises(UsageError, match=re.escape(what)):
            reader_for(_Opts(health_url=bad), None)
    cred = _Cred()
    live = reader_for(_Opts(graph=True, auth="secret", cloud="china"), token_provider(cred, "g", "secret"))
    assert live is not None and live.label == "https://management.chinacloudapi.cn"
    # --auth token with no ARM token: the origin is a warning, the scan goes on
    tok = reader_for(_Opts(graph=True, auth="token"), lambda: "graph-token")
    got = asyncio.run(tok.read())  # type: ignore[union-attr]
    assert not got.read and ARM_TOKEN_ENV in got.warnings[0] and "not 'no errors'" in got.warnings[0]


def test_hostile_arm_bodies_are_read_defensively_and_a_next_link_loop_ends() -> None:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(str(req.url))
        if req.url.path.endswith("/services"):
            return httpx.Response(200, json={"value": [{"serviceName": "s1", "type": "AadSyncService"}, "junk", 7]})
        bucket = req.url.params.get("errorBucket")
        if bucket == "DuplicateAttributeError":  # a nextLink that points back at itself
            return httpx.Response(200, json={"value": [item(1, "LargeObject", "userCertificate", "16"), "x", None],
                                             "nextLink": str(req.url)})
        if bucket == "DataMismatch":
            return httpx.Response(200, json={"value": {"not": "a list"}})
        return httpx.Response(200, content=b"[]")
    got = asyncio.run(_mock_reader(handler).read())
    assert got.read and [i["id"] for i in got.items] == ["mee-1"]
    assert len(calls) == 1 + len(BUCKETS)  # the self-referencing nextLink was not followed again
    assert decode({"type": 5, "attributeName": None, "incomingObject": "nope"}).scenario == "unsupported"
