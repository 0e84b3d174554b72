"""Cloud Sync failures and Exchange errors in the real shapes (fixtures/origins), with our values."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.conftest import FIXTURES, SAMPLE_TENANT

ORIGINS_DIR = FIXTURES / "origins"
_FAILURE = json.loads((ORIGINS_DIR / "provisioning-objectsummary-failure.json").read_text())
REAL_FAILURE: dict[str, Any] = _FAILURE["response"]["value"][0]
_TEXTS = json.loads((ORIGINS_DIR / "cloud-sync-failure-texts.json").read_text())
UNIQUENESS_TEXT: str = _TEXTS["texts"][0]["text"].split(" This attribute, in particular")[0]
JOB_ID: str = _TEXTS["agent_level_codes"]["job_id_example"]
_XML = json.loads((ORIGINS_DIR / "service-provisioning-xml-error.json").read_text())
XML_ERROR: dict[str, Any] = _XML["resource"]["value"]
EXCHANGE_DUP_TEXT: str = _XML["exchange_description_texts"][0]["text"]  # "The proxy address "smtp:<…>" is already …
EXCHANGE_GUID_TEXT: str = _XML["exchange_description_texts"][2]["text"]  # ExchangeGuid used by another recipient

# the sample tenant's objects the tests refer to
LENA_CLOUD, LENA_GUID = "14640a13-e0b4-4c90-b811-71b226216542", "f1e0e901-5dc9-4af4-aea0-aa934c8b1f73"
LENA_TWIN = "a7b7cb9f-2a42-4c08-9c58-07e42ace933e"
OMAR_CLOUD, SALES_GROUP = "7007e688-1548-4bdc-83ca-c97b3ec2d379", "a57af953-2c35-4445-aa93-9702ad6d7a32"
ALICE_GUID = "99c489ba-f903-4eea-b9c2-c8f2be2ea358"


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def failure(n: int, guid: str, *, reason: str, code: str = "", target: str = "", hours_ago: float = 2,
            job: str = JOB_ID, status: str = "failure", name: str | None = None, action: str = "create",
            identity_type: str = "User", modified: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A provisioningObjectSummary shaped exactly like the documented failed event, with our values."""
    d = copy.deepcopy(REAL_FAILURE)
    d.update({"id": f"prov-{n}", "activityDateTime": ago(hours_ago), "jobId": job, "provisioningAction": action,
              "changeId": str(uuid.UUID(int=n)), "cycleId": str(uuid.UUID(int=10_000 + n))})
    d["sourceSystem"]["displayName"] = "Active Directory"
    d["targetSystem"]["displayName"] = "Azure Active Directory"
    d["sourceIdentity"].update({"id": guid, "displayName": name or f"object {n}", "identityType": identity_type})
    d["targetIdentity"].update({"id": target, "displayName": name or "", "identityType": identity_type})
    d["provisioningStatusInfo"]["status"] = status
    d["provisioningStatusInfo"]["errorInformation"].update({"errorCode": code, "reason": reason})
    d["provisioningSteps"][1]["description"] = f"Failed to {action} {identity_type} '{name or n}' in Azure Active Directory"
    if modified is not None:
        d["modifiedProperties"] = modified
    return d


def xml_error(description: str, *, code: str = "ExB10BE9", resolved: bool = False,
              instance: str = "exchange/NAMPRD09-001-01") -> dict[str, Any]:
    """A serviceProvisioningXmlError with the errorDetail layout public scripts parse."""
    e = dict(XML_ERROR)
    detail = (f'<ServiceInstance Name="{instance}"><ObjectErrors><ErrorRecord><ErrorCode>{code}</ErrorCode>'
              f"<ErrorDescription>{_xml_escape(description)}</ErrorDescription></ErrorRecord></ObjectErrors>"
              "</ServiceInstance>")
    e.update({"errorDetail": detail, "isResolved": resolved, "serviceInstance": instance})
    return e


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sample_doc() -> dict[str, Any]:
    doc = json.loads(SAMPLE_TENANT.read_text())
    doc.setdefault("roleAssignments", [])
    doc.setdefault("roleEligibilitySchedules", [])
    return doc


def user(doc: dict[str, Any], oid: str) -> dict[str, Any]:
    return next(u for u in doc["users"] if u["id"] == oid)


def ldif_user(path: Path, cn: str, guid: str, upn: str, mail: str) -> Path:
    """A one-user LDIF (an AD object Cloud Sync could not create in the cloud)."""
    raw = base64.b64encode(uuid.UUID(guid).bytes_le).decode()
    path.write_text(
        f"dn: CN={cn},OU=Sync,DC=corp,DC=contoso,DC=com\nobjectClass: top\nobjectClass: person\n"
        f"objectClass: organizationalPerson\nobjectClass: user\ncn: {cn}\nobjectGUID:: {raw}\n"
        f"userPrincipalName: {upn}\nmail: {mail}\nproxyAddresses: SMTP:{mail}\nsAMAccountName: {cn.split()[0]}\n"
        "userAccountControl: 512\n\n", encoding="utf-8")
    return path


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: Any, token: str | None = None) -> tuple[int, str, str]:
    if token is not None:
        monkeypatch.setenv("RECONCILER_GRAPH_TOKEN", token)
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr


def by_key(findings: list[dict[str, Any]]) -> dict[tuple[str | None, str, str], dict[str, Any]]:
    def folded(v: str) -> str:
        v = v.casefold()
        return v[5:] if v.startswith("smtp:") else v
    return {((f["object"] or {}).get("id"), f["conflict"]["property"], folded(f["conflict"]["value"])): f
            for f in findings}
