"""Every origin end to end: a tenant with Connect, Cloud Sync and Exchange errors, served by the emulator
over loopback HTTP, scanned by the CLI (scan --graph-url … --format json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.anchors import guid_to_immutable_id
from reconciler.core.matcher import finding_id
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from tests.conftest import SAMPLE_LDIF
from tests.privilege.sets import READ_REQUIRED

from .origins_helpers import (
    ALICE_GUID,
    EXCHANGE_GUID_TEXT,
    LENA_CLOUD,
    LENA_GUID,
    LENA_TWIN,
    OMAR_CLOUD,
    SALES_GROUP,
    UNIQUENESS_TEXT,
    by_key,
    failure,
    ldif_user,
    run_cli,
    sample_doc,
    user,
    xml_error,
)

NORA_GUID = "3b0d7a52-64c4-4f0e-9d1e-5a7c2f41b001"
NORA_HOLDER = "c0ffee00-0000-4000-8000-00000000n0ra".replace("n0ra", "0001")


def tenant() -> dict[str, Any]:
    doc = sample_doc()
    # Cloud Sync: Lena's update failed on the UPN the cloud-only twin holds (Connect reports it too)
    lena_text = f"{UNIQUENESS_TEXT} This attribute, in particular, appears to have an invalid value: " \
                "UserPrincipalName lena.fischer@contoso.com"
    nora_text = UNIQUENESS_TEXT  # names no value: the on-prem object's values decide
    doc["provisioningLogs"] = [
        failure(1, LENA_GUID, reason=lena_text, target=LENA_CLOUD, action="update", name="Lena Fischer"),
        failure(2, LENA_GUID, reason=lena_text, target=LENA_CLOUD, action="update", name="Lena Fischer",
                hours_ago=30),  # the same failure, an earlier cycle: still one finding
        failure(3, NORA_GUID, reason=nora_text, name="Nora Quist"),  # a create that failed: no cloud object
        failure(4, ALICE_GUID, reason=lena_text, hours_ago=24 * 9),  # outside the 7-day window
        failure(5, ALICE_GUID, reason=lena_text, job="ContosoOutDelta.7928d5b574424a97"),  # not a Cloud Sync job
        failure(6, ALICE_GUID, reason=lena_text, status="success"),
    ]
    # a cloud-only account already holds Nora's address
    doc["users"].append({"id": NORA_HOLDER, "displayName": "Nora Quist (cloud)", "userPrincipalName": "nora.quist@contoso.com",
                         "mail": "nora.quist@contoso.com", "proxyAddresses": ["SMTP:nora.quist@contoso.com"],
                         "userType": "Member", "accountEnabled": True, "onPremisesSyncEnabled": None,
                         "onPremisesImmutableId": None, "assignedLicenses": [], "onPremisesProvisioningErrors": []})
    # Exchange: Omar's address is used by the Sales group (Connect reports the same conflict)
    user(doc, OMAR_CLOUD)["serviceProvisioningErrors"] = [
        xml_error('The proxy address "SMTP:sales@contoso.com" is already being used by the proxy addresses or '
                  'LegacyExchangeDN of "Sales". Please choose another proxy address.'),
        xml_error('The proxy address "SMTP:old.omar@contoso.com" is already being used by the proxy addresses or '
                  'LegacyExchangeDN. Please choose another proxy address.', resolved=True),  # resolved: ignored
    ]
    alice = next(u for u in doc["users"] if u.get("onPremisesImmutableId") == guid_to_immutable_id(ALICE_GUID))
    alice["serviceProvisioningErrors"] = [xml_error(EXCHANGE_GUID_TEXT, code="ExA1B2C3")]
    return doc


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("origins")
    nora = ldif_user(tmp / "nora.ldif", "Nora Quist", NORA_GUID, "nora.quist@contoso.com", "nora.quist@contoso.com")
    doc = tenant()
    mp = pytest.MonkeyPatch()
    try:
        with serve_in_thread(create_app(doc)) as url:
            code, out, err = run_cli(mp, "scan", "--graph-url", url, "--auth", "none", "--onprem", SAMPLE_LDIF,
                                     "--onprem", nora, "--db", tmp / "r.db", "--format", "json")
            code_file, out_file, _ = run_cli(mp, "scan", "--tenant", _write(tmp / "t.json", doc), "--onprem",
                                             SAMPLE_LDIF, "--onprem", nora, "--db", tmp / "f.db", "--format", "json")
    finally:
        mp.undo()
    assert code == 0 and code_file == 0, err
    return {"doc": doc, "findings": json.loads(out)["findings"], "file": json.loads(out_file)["findings"],
            "stderr": err}


def _write(p: Path, doc: dict[str, Any]) -> Path:
    p.write_text(json.dumps(doc))
    return p


def test_one_conflict_reported_by_two_origins_is_one_finding(scanned):
    got = by_key(scanned["findings"])
    lena = got[(LENA_CLOUD, "UserPrincipalName", "lena.fischer@contoso.com")]
    assert lena["conflict"]["origin"] == "connect" and lena["conflict"]["origins"] == ["connect", "cloud_sync"]
    assert lena["scenario"] == "cloud_only_twin" and lena["holders"][0]["id"] == LENA_TWIN
    assert any("Cloud Sync soft-matches on the SMTP proxy address only" in r for r in lena["reasons"])
    omar = got[(OMAR_CLOUD, "ProxyAddress", "sales@contoso.com")]
    assert omar["conflict"]["origins"] == ["connect", "exchange"]
    assert omar["holders"][0]["id"] == SALES_GROUP and omar["scenario"] == "cloud_only_other_type"
    # every finding id is unique: nothing is reported twice
    assert len({f["id"] for f in scanned["findings"]}) == len(scanned["findings"])


def test_a_cloud_sync_failure_naming_no_value_uses_the_onprem_values(scanned):
    nora = [f for f in scanned["findings"] if f["object"] is None]
    assert len(nora) == 1
    f = nora[0]
    anchor = guid_to_immutable_id(NORA_GUID)
    assert f["id"] == finding_id(scanned["doc"]["organization"]["id"], f"onprem:{anchor}", "UserPrincipalName",
                                 "nora.quist@contoso.com")
    assert f["conflict"]["origins"] == ["cloud_sync"] and f["conflict"]["value"] == "nora.quist@contoso.com"
    assert f["source"]["object_guid"] == NORA_GUID and f["holders"][0]["id"] == NORA_HOLDER
    assert f["scenario"] == "cloud_only_twin"
    assert any("names no value" in e for e in f["evidence"])


def test_exchange_errors_resolved_ignored_others_reported(scanned):
    values = {f["conflict"]["value"].casefold() for f in scanned["findings"]}
    assert not any("old.omar" in v for v in values)  # resolved: ignored
    svc = [f for f in scanned["findings"] if f["scenario"] == "service_error"]
    assert len(svc) == 1 and svc[0]["conflict"]["origins"] == ["exchange"]
    assert "ExchangeGuid" in svc[0]["conflict"]["description"] and svc[0]["conflict"]["code"] == "ExA1B2C3"


def test_only_cloud_sync_failures_inside_the_window_count(scanned):
    cs = [f for f in scanned["findings"] if "cloud_sync" in f["conflict"]["origins"]]
    assert len(cs) == 2  # Lena (merged with connect) and Nora; Alice's old, foreign-job and success events are not


def test_tenant_file_and_emulator_give_the_same_findings(scanned):
    def key(fs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((f["id"], f["scenario"], tuple(f["conflict"]["origins"])) for f in fs)
    assert key(scanned["findings"]) == key(scanned["file"])


def test_errors_option_narrows_the_origins(tmp_path, monkeypatch):
    doc = tenant()
    with serve_in_thread(create_app(doc)) as url:
        code, out, err = run_cli(monkeypatch, "scan", "--graph-url", url, "--auth", "none", "--errors", "exchange",
                                 "--db", tmp_path / "r.db", "--format", "json")
    assert code == 0, err
    found = json.loads(out)["findings"]
    assert found and all(f["conflict"]["origins"] == ["exchange"] for f in found)


def test_a_refused_optional_origin_is_a_warning_and_the_rest_intact(tmp_path, monkeypatch):
    doc = tenant()
    tokens = {"reads": set(READ_REQUIRED), "reads+audit": set(READ_REQUIRED) | {"AuditLog.Read.All"}}
    with serve_in_thread(create_app(doc, EmulatorConfig(permissions=tokens))) as url:
        code, out, err = run_cli(monkeypatch, "scan", "--graph-url", url, "--auth", "token", "--onprem", SAMPLE_LDIF,
                                 "--db", tmp_path / "r.db", "--format", "json", token="reads")
        code2, out2, _ = run_cli(monkeypatch, "scan", "--graph-url", url, "--auth", "token", "--onprem", SAMPLE_LDIF,
                                 "--db", tmp_path / "r2.db", "--format", "json", token="reads+audit")
    assert code == 0 and code2 == 0, err
    assert "AuditLog.Read.All" in err and "Cloud Sync was not read" in err and "not 'no errors'" in err
    refused, allowed = json.loads(out)["findings"], json.loads(out2)["findings"]
    assert not any("cloud_sync" in f["conflict"]["origins"] for f in refused)
    assert any("cloud_sync" in f["conflict"]["origins"] for f in allowed)
    # the rest of the scan is intact: every other conflict is still there
    others = {f["id"] for f in allowed if f["conflict"]["origins"] != ["cloud_sync"]}
    assert others == {f["id"] for f in refused}


def test_save_tenant_keeps_every_origin(tmp_path, monkeypatch):
    doc = tenant()
    nora = ldif_user(tmp_path / "nora.ldif", "Nora Quist", NORA_GUID, "nora.quist@contoso.com", "nora.quist@contoso.com")
    saved = tmp_path / "saved.json"
    with serve_in_thread(create_app(doc)) as url:
        code, live, err = run_cli(monkeypatch, "scan", "--graph-url", url, "--auth", "none", "--onprem", SAMPLE_LDIF,
                                  "--onprem", nora, "--db", tmp_path / "a.db", "--format", "json",
                                  "--save-tenant", saved)
    assert code == 0, err
    file_doc = json.loads(saved.read_text())
    assert len(file_doc["provisioningLogs"]) == 3  # the failures read (window, job and status filtered)
    assert any(u.get("serviceProvisioningErrors") for u in file_doc["users"])
    code, again, err = run_cli(monkeypatch, "scan", "--tenant", saved, "--onprem", SAMPLE_LDIF, "--onprem", nora,
                               "--db", tmp_path / "b.db", "--format", "json")
    assert code == 0, err
    ids = lambda out: sorted((f["id"], tuple(f["conflict"]["origins"])) for f in json.loads(out)["findings"])  # noqa: E731
    assert ids(again) == ids(live)
