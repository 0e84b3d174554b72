"""Cloud Sync failures from provisioning logs: which events count, what the text names, the limiter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from reconciler.core.model import DUPLICATE, PROXY, UPN, Scenario
from reconciler.sources.cloudsync import (
    JOB_PREFIX,
    WindowLimiter,
    failure_records,
    is_cloud_sync_failure,
    modified_values,
    provisioning_filter,
    text_values,
)
from tests.origins.origins_helpers import _TEXTS, REAL_FAILURE, UNIQUENESS_TEXT, failure

GUID = "5e6c9a0e-ab4d-5239-8ad0-174391d110eb"
WEEK = datetime.now(UTC) - timedelta(days=7)


def test_the_documented_failure_is_not_a_cloud_sync_job():
    assert REAL_FAILURE["provisioningStatusInfo"]["status"] == "failure"
    assert not is_cloud_sync_failure(REAL_FAILURE, None)  # ContosoOutDelta.*: an app provisioning job
    assert failure_records([REAL_FAILURE], None) == ([], [])


def test_job_status_and_window_decide_what_counts():
    ok = failure(1, GUID, reason=UNIQUENESS_TEXT)
    assert ok["jobId"].startswith(JOB_PREFIX) and is_cloud_sync_failure(ok, WEEK)
    assert not is_cloud_sync_failure(failure(2, GUID, reason="x", status="success"), WEEK)
    assert not is_cloud_sync_failure(failure(3, GUID, reason="x", status="skipped"), WEEK)
    assert not is_cloud_sync_failure(failure(4, GUID, reason="x", hours_ago=24 * 8), WEEK)
    assert not is_cloud_sync_failure(failure(5, GUID, reason="x", job="ad2aadprovisioning.x"), WEEK)  # case-sensitive
    q = provisioning_filter(WEEK)
    assert "provisioningStatusInfo/status eq 'failure'" in q and "contains(jobId,'AD2AADProvisioning.')" in q
    assert q.startswith("activityDateTime gt 20") and q.split(" and ")[0].endswith("Z")


def test_values_from_the_text_brackets_addresses_and_codes():
    assert text_values("… [UserPrincipalName john@contoso.com;] …") == [(UPN, "john@contoso.com")]
    assert text_values("[ProxyAddresses SMTP:j@contoso.com;]") == [(PROXY, "j@contoso.com")]
    assert text_values("the value a@contoso.com is used", "AzureActiveDirectoryDuplicateUserPrincipalName") == \
        [(UPN, "a@contoso.com")]
    real = _TEXTS["texts"][0]["text"]  # cut at 'ProxyAdd…' in the stored report: names no value
    assert text_values(real) == []


def test_a_failure_naming_no_value_carries_modified_properties_as_candidates():
    mods = [{"displayName": "userPrincipalName", "oldValue": None, "newValue": "nia@contoso.com"},
            {"displayName": "proxyAddresses", "oldValue": None,
             "newValue": '["SMTP:nia@contoso.com","smtp:nia.old@contoso.com","X500:/o=x"]'},
            {"displayName": "displayName", "oldValue": None, "newValue": "Nia"}]
    d = failure(1, GUID, reason=_TEXTS["texts"][0]["text"], modified=mods)
    assert modified_values(d) == [(UPN, "nia@contoso.com"), (PROXY, "nia@contoso.com"), (PROXY, "nia.old@contoso.com")]
    (rec,), warns = failure_records([d], WEEK)
    assert not warns and rec.error.value == "" and rec.error.nature == DUPLICATE
    assert rec.onprem_guid == GUID and rec.object_id is None and rec.candidates == tuple(modified_values(d))
    assert rec.error.origin == "cloud_sync"


def test_other_failures_are_reported_as_they_are():
    manager = _TEXTS["texts"][2]["text"]
    (rec,), _ = failure_records([failure(1, GUID, reason=manager, code="ReferenceOutOfScope")], WEEK)
    assert rec.error.nature is None and rec.error.description.startswith("We were unable to assign")
    admin = "The user holds an administrator role and cannot be matched: an attribute value violates a uniqueness constraint"
    (rec,), _ = failure_records([failure(2, GUID, reason=admin)], WEEK)
    assert rec.error.nature == Scenario.ADMIN_ROLE_CONFLICT.value


def test_a_repeated_failure_is_kept_once_with_its_latest_time():
    text = UNIQUENESS_TEXT + " [UserPrincipalName a@contoso.com;]"
    recs, _ = failure_records([failure(i, GUID, reason=text, hours_ago=i) for i in range(1, 6)], WEEK)
    assert len(recs) == 1
    latest = datetime.fromisoformat(recs[0].error.occurred.replace("Z", "+00:00"))
    assert datetime.now(UTC) - latest < timedelta(hours=1, minutes=5)


def test_a_time_stamp_that_is_not_iso_is_kept_raw_with_a_warning():
    d = failure(1, GUID, reason=UNIQUENESS_TEXT + " [UserPrincipalName a@contoso.com;]")
    d["activityDateTime"] = "yesterday-ish"
    (rec,), warns = failure_records([d], WEEK)
    assert rec.error.occurred == "yesterday-ish" and "not ISO 8601" in warns[0]
    d["activityDateTime"] = "12/01/2026 10:15:00 PM"  # 12 January or 1 December: never guessed
    (rec,), warns = failure_records([d], None)
    assert rec.error.occurred == "12/01/2026 10:15:00 PM" and "day and month cannot be told apart" in warns[0]
    d["activityDateTime"] = "12/13/2026 10:15:00 PM"  # only one reading: normalised (local time, no zone)
    (rec,), warns = failure_records([d], None)
    assert rec.error.occurred == "2026-12-13T22:15:00" and not warns


def test_window_limiter_never_lets_six_requests_into_ten_seconds():
    now = [0.0]
    stamps: list[float] = []

    async def sleep(s: float) -> None:
        now[0] += s

    async def go() -> None:
        lim = WindowLimiter(5, 10.0, clock=lambda: now[0], sleep=sleep)
        for _ in range(23):
            await lim.acquire()
            stamps.append(now[0])
            now[0] += 0.05
    asyncio.run(go())
    for i, t in enumerate(stamps):
        assert sum(1 for u in stamps[i:] if u - t < 10.0) <= 5
    assert stamps[-1] < 50  # and it does not wait longer than it must (23 requests: 4 full windows)
