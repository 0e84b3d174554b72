"""The emulator's GET /auditLogs/provisioning: Graph's filter rules, paging, permission and its own throttle."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from reconciler.emulator import EmulatorConfig, create_app
from tests.origins.origins_helpers import REAL_FAILURE, failure, sample_doc

GUID = "5e6c9a0e-ab4d-5239-8ad0-174391d110eb"


def _doc(n: int = 12) -> dict[str, Any]:
    doc = sample_doc()
    doc["provisioningLogs"] = [failure(i, GUID, reason="r", hours_ago=i, status="failure" if i % 3 else "success")
                               for i in range(1, n + 1)] + [copy.deepcopy(REAL_FAILURE)]
    return doc


def client(doc: dict[str, Any], **cfg: Any) -> TestClient:
    return TestClient(create_app(doc, EmulatorConfig(**cfg)), base_url="http://emulator/v1.0")


def get(c: TestClient, params: dict[str, str], token: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return c.get("/auditLogs/provisioning", params=params, headers=headers)


def test_filters_are_graphs_eq_contains_gt_lt_and_case_sensitive():
    c = client(_doc(), time_scale=1e-9)  # the 5-per-10-s window shrinks to nothing here
    ids = lambda r: [d["id"] for d in r.json()["value"]]  # noqa: E731
    r = get(c, {"$filter": "provisioningStatusInfo/status eq 'failure' and contains(jobId,'AD2AADProvisioning.')",
                "$top": "100"})
    assert r.status_code == 200 and len(ids(r)) == 8  # 12 events, every third a success; the app job excluded
    assert ids(r) == sorted(ids(r), key=lambda i: int(i.split("-")[1]))  # newest first
    assert ids(get(c, {"$filter": "contains(jobId,'ad2aadprovisioning.')"})) == []  # case-sensitive
    assert ids(get(c, {"$filter": "provisioningStatusInfo/status eq 'Failure'"})) == []
    r = get(c, {"$filter": "activityDateTime lt 2020-01-01T00:00:00Z"})
    assert ids(r) == [REAL_FAILURE["id"]]  # times compare as times
    for bad in ("startswith(jobId,'AD2AAD')", "provisioningStatusInfo/status ne 'failure'", "not(x eq 'y')"):
        r = get(c, {"$filter": bad})
        assert r.status_code == 400, bad
    assert get(c, {"$top": "1001"}).status_code == 400


def test_paging_through_next_links():
    c = client(_doc(20), time_scale=1e-9)  # the 5-per-10-s window shrinks to nothing here
    seen: list[str] = []
    r = get(c, {"$filter": "contains(jobId,'AD2AADProvisioning.')", "$top": "3"})
    pages = 0
    while True:
        body = r.json()
        seen += [d["id"] for d in body["value"]]
        pages += 1
        if "@odata.nextLink" not in body:
            break
        r = c.get(body["@odata.nextLink"].replace("http://emulator/v1.0", ""))
    assert pages == 7 and len(seen) == len(set(seen)) == 20


def test_the_report_throttle_5_per_10_seconds_per_app():
    c = client(_doc(), permissions={"a": {"AuditLog.Read.All"}, "b": {"AuditLog.Read.All"}})
    codes = [get(c, {}, "a").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = get(c, {}, "a")
    assert r.status_code == 429 and 0 < float(r.headers["Retry-After"]) <= 10
    assert get(c, {}, "b").status_code == 200  # per app: another app still has its budget


def test_only_audit_log_read_all_reads_it():
    c = client(_doc(), permissions={"dir": {"Directory.Read.All"}, "audit": {"AuditLog.Read.All"}})
    assert get(c, {}, "dir").status_code == 403
    assert get(c, {}, "audit").status_code == 200


@pytest.mark.parametrize("key", ["users", "groups", "contacts"])
def test_service_provisioning_errors_are_served_on_select(key):
    doc = sample_doc()
    doc[key][0]["serviceProvisioningErrors"] = [{"createdDateTime": "2026-12-01T00:00:00Z", "isResolved": False,
                                                 "serviceInstance": "exchange/X", "errorDetail": "<a/>"}]
    c = client(doc, time_scale=1e-9)  # the 5-per-10-s window shrinks to nothing here
    r = c.get(f"/{key}", params={"$select": "id,serviceProvisioningErrors", "$top": "999"})
    got = {d["id"]: d["serviceProvisioningErrors"] for d in r.json()["value"]}
    assert got[doc[key][0]["id"]][0]["serviceInstance"] == "exchange/X"


def test_a_retry_after_its_retry_after_is_served():
    from reconciler.emulator.auditlogs import ReportThrottle

    now = [0.0]
    t = ReportThrottle(1.0, clock=lambda: now[0])
    for _ in range(5):
        assert t.charge("app") == 0
        now[0] += 0.1
    wait = t.charge("app")  # the 6th inside 10 s: throttled, and it still counts
    assert wait > 0
    now[0] += wait
    assert t.charge("app") == 0  # honouring Retry-After is enough, even though the 429 counted
